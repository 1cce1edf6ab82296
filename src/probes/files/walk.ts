import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { PathMatcher } from '../../config/path-matcher.js'
import type { Policy } from '../../config/policy.js'
import type { FileEntry } from '../../manifest/schema.js'
import { fsprobe, ST, STAT_FIELDS } from '../../native/fsprobe.js'
import { compareCodeUnits } from '../../util/compare.js'
import { describeErrno } from './inspect.js'
import type { CacheStatus, FromWorker, ProbeError, ToWorker, WalkJob, WorkerInit } from './protocol.js'
import { deviceOf, entryFromStat, isDirectoryMode } from './record.js'
import { joinRoot } from './root-path.js'
import { StatCache } from './stat-cache.js'

export type { ProbeError } from './protocol.js'

// Jobs queued per worker: enough to hide the round trip to this thread.
const JOBS_IN_FLIGHT_PER_WORKER = 4
const ENOENT = 2
const ENOTDIR = 20

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
  /**
   * Takes the entries as they are recorded, with the errors of the same paths; when given,
   * the walk keeps none of them (a scan compares them as they come, a capture keeps them).
   */
  onEntries?: (entries: FileEntry[], errors: ProbeError[]) => void
}

export interface WalkResult {
  /** Every recorded entry, in no particular order; empty when `onEntries` took them. */
  entries: FileEntry[]
  /** How many entries were recorded. */
  files: number
  errors: ProbeError[]
  bytesHashed: number
  cache: CacheStatus
  /** Digests to remember for the next quick scan, encoded for saveStatCache. */
  digests: Uint8Array[]
  /** How many digests were read now rather than found in the stat cache. */
  freshDigests: number
}

/**
 * The files probe: walks the root by the policy and records every matching entry. Worker
 * threads, one per core, list directories and hash files; this thread hands out jobs and
 * gathers what they record. Never follows a symlink, never opens anything but a regular file,
 * never descends into /proc, /sys, /dev or /run, and by default stays on the file system
 * where it started.
 */
export async function walkFiles(options: WalkOptions): Promise<WalkResult> {
  const { rootDir, policy } = options
  const matcher = new PathMatcher(policy.files)
  const result: WalkResult = {
    entries: [],
    errors: [],
    bytesHashed: 0,
    cache: { state: 'absent' },
    digests: [],
    freshDigests: 0,
    files: 0,
  }
  const queue: WalkJob[] = []

  for (const start of matcher.walkStarts) {
    const st = new Float64Array(STAT_FIELDS)
    const errno = fsprobe.lstat(joinRoot(rootDir, start), st)
    if (errno !== 0) {
      if (errno !== ENOENT && errno !== ENOTDIR)
        result.errors.push({ subject: start, message: describeErrno(errno) })
      continue
    }
    if (!isDirectoryMode(st[ST.mode] as number)) {
      if (matcher.records(start)) queue.push({ kind: 'files', paths: [start], stats: st })
      continue
    }
    if (matcher.records(start)) {
      const entry = entryFromStat(start, st, 0, matcher.attributesOf(start).has('mtime'))
      if (options.onEntries) options.onEntries([entry], [])
      else result.entries.push(entry)
      result.files++
    }
    queue.push({ kind: 'dir', path: start, dev: deviceOf(st, 0) })
  }

  const { shared, status } = StatCache.load(options.cacheFile)
  result.cache = status
  const init: WorkerInit = { rootDir, files: policy.files, ...(shared ? { cache: shared } : {}) }
  const size = Math.max(1, options.workers ?? availableParallelism())
  const workers = Array.from(
    { length: size },
    () =>
      new Worker(workerUrl(), {
        workerData: init,
        // A small young generation keeps each worker's memory flat; its garbage is short-lived.
        resourceLimits: { maxYoungGenerationSizeMb: 8 },
      }),
  )
  try {
    await runWorkers(workers, queue, result, options)
  } finally {
    await Promise.all(workers.map((w) => w.terminate()))
  }
  result.errors.sort((a, b) => compareCodeUnits(a.subject, b.subject))
  return result
}

/** Hands jobs to workers until the queue is empty and nobody is busy, gathering what they record. */
function runWorkers(
  workers: Worker[],
  queue: WalkJob[],
  result: WalkResult,
  { onProgress, onEntries }: Pick<WalkOptions, 'onProgress' | 'onEntries'>,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const inFlight = workers.map(() => 0)
    let finishing = false
    let finished = 0
    let failed = false

    const post = (i: number, message: ToWorker) => (workers[i] as Worker).postMessage(message)
    const pump = () => {
      for (let i = 0; i < workers.length; i++) {
        while ((inFlight[i] as number) < JOBS_IN_FLIGHT_PER_WORKER && queue.length > 0) {
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
        if (!finishing || finished < workers.length)
          fail(new Error(`walk worker exited with code ${code} before finishing`))
      })
      worker.on('message', (message: FromWorker) => {
        if (message.type === 'done') {
          inFlight[i] = (inFlight[i] as number) - 1
          queue.push(...message.jobs)
          pump()
          const entries = JSON.parse(message.entries) as FileEntry[]
          if (onEntries) onEntries(entries, message.errors)
          else for (const entry of entries) result.entries.push(entry)
          for (const error of message.errors) result.errors.push(error)
          result.files += message.files
          result.bytesHashed += message.bytesHashed
          onProgress?.({ files: result.files, bytesHashed: result.bytesHashed })
        } else if (message.type === 'result') {
          result.digests.push(message.digests)
          result.freshDigests += message.fresh
          finished++
          if (finished === workers.length) resolve()
        }
      })
    })
    pump()
  })
}

export function byPath(a: { path: string }, b: { path: string }): number {
  return compareCodeUnits(a.path, b.path)
}

/** The compiled worker next to this module; under vitest (sources in src/) the build in dist/. */
function workerUrl(): URL {
  const here = import.meta.url
  if (here.endsWith('.ts')) return new URL('../../../dist/probes/files/walk-worker.js', here)
  return new URL('./walk-worker.js', here)
}
