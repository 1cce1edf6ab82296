import type { ProbeRun } from '../protocol/report.js'
import type { Probe, ProbeContext } from './types.js'

/**
 * Runs one probe, timing it; a failure becomes the run's error instead of an exception. Each
 * probe starts in a turn of the event loop of its own: during a scan, this thread hands out
 * the walk's work between probes instead of after all of them.
 */
export async function runProbe<T>(
  probe: Probe<T>,
  context: ProbeContext,
  use: (result: T) => void,
): Promise<ProbeRun> {
  await new Promise((resolve) => setImmediate(resolve))
  const started = performance.now()
  try {
    use(await probe.collect(context))
    return { name: probe.name, ok: true, durationMs: Math.round(performance.now() - started) }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return {
      name: probe.name,
      ok: false,
      durationMs: Math.round(performance.now() - started),
      error: message,
    }
  }
}
