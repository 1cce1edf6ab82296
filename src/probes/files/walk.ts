import { lstatSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { PathMatcher } from '../../config/path-matcher.js'
import type { Policy } from '../../config/policy.js'
import { describeSystemError, errnoCode } from '../../errors.js'
import type { FileEntry } from '../../manifest/schema.js'
import type { CacheStatus, FromWorker, ProbeError, ToWorker, WalkJob, WorkerInit } from './protocol.js'
import { directoryEntry } from './record.js'
import { joinRoot } from './root-path.js'

export type { ProbeError } from './protocol.js'

// Two jobs queued per worker hide the round trip to the main thread.
const JOBS_IN_FLIGHT_PER_WORKER = 8

export interface WalkProgress {
  files: number
  bytesHashed: number
}

export interface WalkOptions {
  rootDir: string
  policy: Policy
  /** Stat cache to reuse digests from (quick mode); absent in full mode. */
  cacheFile?: string
  workers?: number
  onProgress?: (progress: WalkProgress) => void
}

export interface WalkResult {
  entries: FileEntry[]
  errors: ProbeError[]
  files: number
  bytesHashed: number
  cache: CacheStatus
  /** Digests to remember for the next quick scan, encoded for saveStatCache. */
  digests: Uint8Array[]
}

/**
 * The files probe: walks the root by the policy and records every matching entry. Worker
 * threads, one per core, list directories and hash files; this thread only hands out jobs.
 * Never follows a symlink, never opens anything but a regular file, never descends into
 * /proc, /sys, /dev or /run, and by default stays on the file system where it started.
 */
export async function walkFiles(options: WalkOptions): Promise<WalkResult> {
  const { rootDir, policy } = options
  const matcher = new PathMatcher(policy.files)
  const own: FileEntry[] = []
  const errors: ProbeError[] = []
  const queue: WalkJob[] = []

  for (const start of matcher.walkStarts) {
    let st: import('node:fs').BigIntStats
    try {
      st = lstatSync(joinRoot(rootDir, start), { bigint: true })
    } catch (error) {
      const code = errnoCode(error)
      if (code !== 'ENOENT' && code !== 'ENOTDIR')
        errors.push({ subject: start, message: describeSystemError(error) })
      continue
    }
    if (!st.isDirectory()) {
      if (matcher.records(start)) queue.push({ kind: 'files', paths: [start] })
      continue
    }
    if (matcher.records(start)) own.push(directoryEntry(start, st, matcher.attributesOf(start).has('mtime')))
    queue.push({ kind: 'dir', path: start, dev: String(st.dev) })
  }

  const init: WorkerInit = {
    rootDir,
    files: policy.files,
    ...(options.cacheFile ? { cacheFile: options.cacheFile } : {}),
  }
  const size = Math.max(1, options.workers ?? availableParallelism())
  const workers = Array.from({ length: size }, () => new Worker(workerUrl(), { workerData: init }))
  try {
    const results = await runWorkers(workers, queue, options.onProgress)
    const lists = [own, ...results.map((r) => JSON.parse(r.entries) as FileEntry[])]
    for (const r of results) errors.push(...r.errors)
    errors.sort((a, b) => compareStrings(a.subject, b.subject))
    const entries = mergeSorted(lists)
    return {
      entries,
      errors,
      files: entries.length,
      bytesHashed: results.reduce((sum, r) => sum + r.bytesHashed, 0),
      cache: results[0]?.cache ?? { state: 'absent' },
      digests: results.map((r) => r.digests),
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
}

interface WorkerOutcome {
  entries: string
  errors: ProbeError[]
  digests: Uint8Array
  bytesHashed: number
  cache: CacheStatus
}

/** Hands jobs to workers until the queue is empty and nobody is busy, then collects their records. */
function runWorkers(
  workers: Worker[],
  queue: WalkJob[],
  onProgress: ((p: WalkProgress) => void) | undefined,
): Promise<WorkerOutcome[]> {
  return new Promise((resolve, reject) => {
    const inFlight = workers.map(() => 0)
    const bytes = workers.map(() => 0)
    const outcomes: (WorkerOutcome | undefined)[] = workers.map(() => undefined)
    const caches: CacheStatus[] = workers.map(() => ({ state: 'absent' }))
    let files = 0
    let finishing = false
    let failed = false

    const post = (i: number, message: ToWorker) => (workers[i] as Worker).postMessage(message)
    const pump = () => {
      for (let i = 0; i < workers.length; i++) {
        while (
          inFlight[i] !== undefined &&
          (inFlight[i] as number) < JOBS_IN_FLIGHT_PER_WORKER &&
          queue.length > 0
        ) {
          // Last in, first out: depth first keeps the queue short on a deep tree.
          post(i, { type: 'job', job: queue.pop() as WalkJob })
          inFlight[i] = (inFlight[i] as number) + 1
        }
      }
      if (!finishing && queue.length === 0 && inFlight.every((n) => n === 0)) {
        finishing = true
        for (let i = 0; i < workers.length; i++) post(i, { type: 'finish' })
      }
    }
    const fail = (error: Error) => {
      if (failed) return
      failed = true
      reject(error)
    }

    workers.forEach((worker, i) => {
      worker.on('error', fail)
      worker.on('exit', (code) => {
        if (!outcomes[i]) fail(new Error(`walk worker exited with code ${code} before finishing`))
      })
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'ready') {
          caches[i] = message.cache
        } else if (message.type === 'done') {
          inFlight[i] = (inFlight[i] as number) - 1
          bytes[i] = (bytes[i] as number) + message.bytesHashed
          files += message.files
          queue.push(...message.jobs)
          onProgress?.({ files, bytesHashed: bytes.reduce((a, b) => a + b, 0) })
          pump()
        } else {
          outcomes[i] = { ...message, bytesHashed: bytes[i] as number, cache: caches[i] as CacheStatus }
          if (outcomes.every((o) => o !== undefined)) resolve(outcomes as WorkerOutcome[])
        }
      })
    })
    pump()
  })
}

/** Merges lists that are each sorted by path into one sorted list. */
function mergeSorted(lists: FileEntry[][]): FileEntry[] {
  let merged: FileEntry[] = []
  for (const list of lists) {
    if (merged.length === 0) {
      merged = list
      continue
    }
    const out: FileEntry[] = new Array(merged.length + list.length)
    let i = 0
    let j = 0
    let k = 0
    while (i < merged.length && j < list.length) {
      const a = merged[i] as FileEntry
      const b = list[j] as FileEntry
      if (compareStrings(a.path, b.path) <= 0) {
        out[k++] = a
        i++
      } else {
        out[k++] = b
        j++
      }
    }
    while (i < merged.length) out[k++] = merged[i++] as FileEntry
    while (j < list.length) out[k++] = list[j++] as FileEntry
    merged = out
  }
  return merged
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The compiled worker next to this module; under vitest (sources in src/) the build in dist/. */
function workerUrl(): URL {
  const here = import.meta.url
  if (here.endsWith('.ts')) return new URL('../../../dist/probes/files/walk-worker.js', here)
  return new URL('./walk-worker.js', here)
}
