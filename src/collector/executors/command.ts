import { spawn } from 'node:child_process'
import {
  clip,
  type DispatchRequest,
  type DispatchResult,
  dispatchDocument,
  type Executor,
  OUTPUT_LIMIT,
} from './types.js'

/**
 * Runs a program (no shell) with the host's facts in its environment; exit 0 means the
 * replacement was started. Output (stdout and stderr, interleaved) is kept in the record.
 */
export class CommandExecutor implements Executor {
  readonly type = 'command'

  constructor(readonly options: { run: readonly string[]; timeoutMs: number }) {}

  dispatch(request: DispatchRequest): Promise<DispatchResult> {
    const [program, ...args] = this.options.run
    if (program === undefined) throw new Error('command executor without a program')
    return new Promise((resolve) => {
      let output = ''
      const keep = (chunk: Buffer) => {
        if (output.length < OUTPUT_LIMIT * 2) output += chunk.toString('utf8')
      }
      const child = spawn(program, args, {
        env: { ...inheritedEnv(), ...commandEnv(request) },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      child.stdout.on('data', keep)
      child.stderr.on('data', keep)
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        child.kill('SIGTERM')
        setTimeout(() => child.kill('SIGKILL'), 5000).unref()
      }, this.options.timeoutMs)
      child.on('error', (error) => {
        clearTimeout(timer)
        resolve({
          ok: false,
          output: clip(`command ${program}: ${(error as NodeJS.ErrnoException).code ?? error.message}`),
        })
      })
      child.on('close', (code, signal) => {
        clearTimeout(timer)
        const how = timedOut
          ? `killed after ${this.options.timeoutMs} ms`
          : signal !== null
            ? `killed by ${signal}`
            : `exit ${code}`
        resolve({ ok: !timedOut && code === 0, output: clip(`command ${how}${output ? `\n${output}` : ''}`) })
      })
    })
  }
}

/** The service's PATH and locale only: the collector's own secrets stay out of the command. */
function inheritedEnv(): Record<string, string> {
  const kept: Record<string, string> = {}
  for (const name of [
    'PATH',
    'HOME',
    'LANG',
    'LC_ALL',
    'TZ',
    'AWS_REGION',
    'AWS_DEFAULT_REGION',
    'CLOUDSDK_CONFIG',
    'KUBECONFIG',
  ]) {
    const value = process.env[name]
    if (value !== undefined) kept[name] = value
  }
  return kept
}

/** The host's facts as DRIFTWATCH_* variables; each label also as DRIFTWATCH_LABEL_<KEY>. */
export function commandEnv(request: DispatchRequest): Record<string, string> {
  const { host, replacement, cloud } = request
  const env: Record<string, string> = {
    DRIFTWATCH_REPLACEMENT_ID: replacement.id,
    DRIFTWATCH_GROUP: replacement.group,
    DRIFTWATCH_HOST_ID: host.id,
    DRIFTWATCH_HOSTNAME: host.hostname,
    DRIFTWATCH_LABELS: JSON.stringify(host.labels),
    DRIFTWATCH_IMAGE: host.imageId === null ? '' : `${host.imageId}@${host.imageVersion ?? ''}`,
    DRIFTWATCH_CLOUD_PROVIDER: cloud?.provider ?? '',
    DRIFTWATCH_INSTANCE_ID: cloud?.instanceId ?? '',
    DRIFTWATCH_REPLACEMENT: JSON.stringify(dispatchDocument(request)),
  }
  for (const [key, value] of Object.entries(host.labels)) {
    env[`DRIFTWATCH_LABEL_${key.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`] = value
  }
  return env
}
