import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { HashDone, HashInit, HashJob, HashResult } from './hash-worker.js'

export type { HashResult } from './hash-worker.js'

/** A file to hash: its path inside the root and the digest its package manager keeps. */
export interface FileToHash {
  path: string
  algorithm: HashJob['algorithm']
}

/** Files per job sent to a worker: small enough to share the work out evenly at the end. */
const PATHS_PER_JOB = 64
/** Jobs queued per worker, so none waits on the round trip to this thread. */
const JOBS_IN_FLIGHT_PER_WORKER = 2

/** The batch being hashed: what is sent so far, what came back, and how to answer the caller. */
interface Batch {
  files: readonly FileToHash[]
  results: HashResult[]
  next: number
  inFlight: number
  resolve: (results: HashResult[]) => void
  reject: (error: Error) => void
}

/**
 * The one way package verification hashes files: worker threads, one per core by default,
 * each reading with plain synchronous reads (see hash-worker.ts). Why threads and not promises
 * over libuv's pool: on the 99 329 files of a Debian host's md5sums (2 cores, 3 runs, medians),
 * a whole dpkg verification this way took 10.7 CPU-s and 24 s wall, where hashing the same files
 * with promises, 16 at a time, took 24.3 CPU-s and 49 s.
 *
 * The workers start at once, so they boot while the caller reads the database; `hash` takes
 * one batch at a time, and `close` ends them (call it in a finally). A worker that fails
 * fails the batch running and every later one.
 */
export class HashPool {
  private readonly workers: Worker[]
  private batch: Batch | undefined
  private failure: Error | undefined

  constructor(rootDir: string, concurrency: number = availableParallelism()) {
    const init: HashInit = { rootDir }
    this.workers = Array.from({ length: Math.max(1, concurrency) }, () => {
      const worker = new Worker(workerUrl(), { workerData: init })
      worker.on('message', (done: HashDone) => this.received(worker, done))
      worker.on('error', (error) => this.fail(error))
      worker.on('exit', (code) => this.fail(new Error(`package hash worker exited with code ${code}`)))
      return worker
    })
  }

  /** Hashes the files, a few jobs queued on each worker; the results are in the same order. */
  hash(files: readonly FileToHash[]): Promise<HashResult[]> {
    if (this.batch) throw new Error('HashPool.hash: a batch is already running')
    if (this.failure) return Promise.reject(this.failure)
    if (files.length === 0) return Promise.resolve([])
    return new Promise<HashResult[]>((resolve, reject) => {
      this.batch = { files, results: new Array(files.length), next: 0, inFlight: 0, resolve, reject }
      for (const worker of this.workers) for (let i = 0; i < JOBS_IN_FLIGHT_PER_WORKER; i++) this.send(worker)
    })
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()))
  }

  /** Sends the worker the next files of one algorithm, up to PATHS_PER_JOB of them. */
  private send(worker: Worker): void {
    const batch = this.batch
    if (!batch || batch.next >= batch.files.length) return
    const start = batch.next
    const algorithm = (batch.files[start] as FileToHash).algorithm
    let end = start + 1
    while (
      end < batch.files.length &&
      end - start < PATHS_PER_JOB &&
      batch.files[end]?.algorithm === algorithm
    )
      end++
    const job: HashJob = { start, algorithm, paths: batch.files.slice(start, end).map((f) => f.path) }
    batch.next = end
    batch.inFlight++
    worker.postMessage(job)
  }

  private received(worker: Worker, done: HashDone): void {
    const batch = this.batch
    if (!batch) return
    done.results.forEach((result, k) => {
      batch.results[done.start + k] = result
    })
    batch.inFlight--
    this.send(worker)
    if (batch.inFlight === 0 && batch.next >= batch.files.length) {
      this.batch = undefined
      batch.resolve(batch.results)
    }
  }

  /** A worker failed or exited: the batch running, if any, fails with it, and so will later ones. */
  private fail(error: Error): void {
    this.failure ??= error
    const batch = this.batch
    this.batch = undefined
    batch?.reject(error)
  }
}

/** The compiled worker next to this module; under vitest (sources in src/) the build in dist/. */
function workerUrl(): URL {
  const here = import.meta.url
  if (here.endsWith('.ts')) return new URL('../../../dist/probes/packages/hash-worker.js', here)
  return new URL('./hash-worker.js', here)
}
