import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { ScanAnswer, ScanJob } from './scan-job.js'

/** Runs one scan and answers; `signal` abandons it (the scan's process is ended). */
export type Scanner = (job: ScanJob, signal: AbortSignal) => Promise<ScanAnswer>

/**
 * Runs each scan in a child process of its own, so that its memory goes back to the system
 * when it ends. Abandoning a scan ends the child with SIGTERM (its scan cache is written
 * atomically, so it is left whole, old or new).
 */
export const forkScanner: Scanner = (job, signal) =>
  new Promise((resolve, reject) => {
    const compiled = import.meta.url.endsWith('.js')
    const module = fileURLToPath(new URL(compiled ? './scan-child.js' : './scan-child.ts', import.meta.url))
    const child: ChildProcess = fork(module, [], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      // Run from sources (tests), the child needs the same TypeScript loader.
      execArgv: compiled ? [] : ['--import', 'tsx'],
    })
    let answer: ScanAnswer | undefined
    const abandon = () => child.kill('SIGTERM')
    signal.addEventListener('abort', abandon, { once: true })
    child.once('message', (message) => {
      answer = message as ScanAnswer
    })
    child.once('error', (error) => {
      signal.removeEventListener('abort', abandon)
      reject(error)
    })
    child.once('exit', (code, killed) => {
      signal.removeEventListener('abort', abandon)
      if (answer) resolve(answer)
      else if (signal.aborted) reject(new ScanAbandoned())
      else reject(new Error(`the scan process ended without an answer (${killed ?? `exit ${code}`})`))
    })
    child.send(job)
  })

export class ScanAbandoned extends Error {
  constructor() {
    super('the scan was abandoned')
    this.name = 'ScanAbandoned'
  }
}
