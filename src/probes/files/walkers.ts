import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

// Starting the walk's workers needs nothing of the walk: this module is small, so that a
// command can start them before it loads the rest, and they boot meanwhile.

/** Walk workers, started before the walk they serve so that they boot meanwhile; used once. */
export interface Walkers {
  readonly workers: Worker[]
  /** What went wrong with a worker before the walk began to watch them, if anything. */
  failure(): Error | undefined
  /** Ends the workers (a walk does when it is over; a caller that never walks must). */
  stop(): Promise<void>
}

/** Starts the walk workers, one per core unless told. */
export function startWalkers(count?: number): Walkers {
  const size = Math.max(1, count ?? availableParallelism())
  const workers = Array.from(
    { length: size },
    () =>
      new Worker(workerUrl(), {
        // A small young generation keeps each worker's memory flat; its garbage is short-lived.
        resourceLimits: { maxYoungGenerationSizeMb: 8 },
      }),
  )
  let failure: Error | undefined
  for (const worker of workers) {
    worker.once('error', (error) => {
      failure ??= error
    })
    worker.once('exit', (code) => {
      failure ??= new Error(`walk worker exited with code ${code} before the walk`)
    })
  }
  let stopping: Promise<void> | undefined
  return {
    workers,
    failure: () => failure,
    stop: () => {
      stopping ??= Promise.all(workers.map((w) => w.terminate())).then(() => undefined)
      return stopping
    },
  }
}

/** The compiled worker next to this module; under vitest (sources in src/) the build in dist/. */
function workerUrl(): URL {
  const here = import.meta.url
  if (here.endsWith('.ts')) return new URL('../../../dist/probes/files/walk-worker.js', here)
  return new URL('./walk-worker.js', here)
}
