import type { Worker } from 'node:worker_threads'
import { PathMatcher } from '../../config/path-matcher.js'
import type { Policy } from '../../config/policy.js'
import { fileEntryJson } from '../../manifest/canonical.js'
import { type EntryIndex, EntryMatcher } from '../../manifest/entry-index.js'
import type { FileEntry } from '../../manifest/schema.js'
import { fsprobe, ST, STAT_FIELDS } from '../../native/fsprobe.js'
import { compareCodeUnits } from '../../util/compare.js'
import { describeErrno } from './inspect.js'
import type { FromWorker, ProbeError, ToWorker, WalkJob, WorkerInit } from './protocol.js'
import { sharedByteLimit } from './rate-limit.js'
import { deviceOf, entryFromStat, isDirectoryMode } from './record.js'
import { joinRoot } from './root-path.js'
import { type SharedCache, StatCache } from './stat-cache.js'
import { startWalkers, type Walkers } from './walkers.js'

export type { ProbeError } from './protocol.js'
export { startWalkers, type Walkers } from './walkers.js'

// Jobs queued per worker: enough to hide the round trip to this thread, few enough that no
// worker holds work another one could be doing.
const JOBS_IN_FLIGHT_PER_WORKER = 2
const ENOENT = 2
const ENOTDIR = 20

export interface WalkProgress {
  files: number
  bytesHashed: number
}

/** A scan cache for the walk to use (quick mode), loaded and checked by the caller. */
export interface WalkCache {
  shared: SharedCache
  /** One byte per manifest file entry: set when a cache verdict says the entry is there unchanged. */
  marks: Uint8Array
  /** One byte per cache record: set when its verdict was used. */
  hits: Uint8Array
}

/** The manifest's entries indexed by path, for the walk to match what it records against. */
export interface WalkIndex {
  index: EntryIndex
  /**
   * One byte per manifest file entry, set when a recorded entry is exactly it: the cache's
   * marks when there is a cache.
   */
  marks: Uint8Array
}

/** Entries as they are recorded, with the errors of the same paths. */
export interface WalkBatch {
  entries: FileEntry[]
  errors: ProbeError[]
  /** With `withStats`: the stat of each entry, STAT_FIELDS doubles each (errno -1: none). */
  stats?: Float64Array
  /**
   * For entries matched on this thread (recorded before the workers had the entry index): the
   * manifest entry each is exactly (it is marked), or -1.
   */
  verdicts?: Int32Array
  /**
   * With an entry index and `withStats`: scan cache records (see encodeRecord) of entries
   * that matched and are not in `entries`, with the capabilities of those that have some.
   */
  records?: Uint8Array
  recordCaps?: [number, string][]
}

export interface WalkOptions {
  rootDir: string
  policy: Policy
  /** The scan cache to take verdicts and digests from (quick mode); absent in full mode. */
  cache?: WalkCache
  /**
   * The manifest's entry index, being built (off the main thread) while the walk starts: an
   * entry that matches a manifest entry is marked, and only what the scan cache should know
   * of it is handed to `onEntries`. Entries recorded before it is ready wait for it here.
   */
  index?: Promise<WalkIndex | undefined>
  /** Hand each entry's stat to `onEntries` (to make a new scan cache). */
  withStats?: boolean
  /** At most so many bytes a second read to hash, by all workers together (see rate-limit.ts). */
  hashBytesPerSecond?: number
  workers?: number
  /** Workers started ahead (see `startWalkers`), used instead of starting `workers` now. */
  walkers?: Walkers
  /** Stops the walk: it rejects, and its workers are ended. */
  signal?: AbortSignal
  onProgress?: (progress: WalkProgress) => void
  /**
   * Takes the entries as they are recorded; when given, the walk keeps none of them (a scan
   * compares them as they come, a capture keeps them). An entry that a cache verdict marked
   * is counted but never handed over.
   */
  onEntries?: (batch: WalkBatch) => void
}

export interface WalkResult {
  /** Every recorded entry, in no particular order; empty when `onEntries` took them. */
  entries: FileEntry[]
  /** How many entries were recorded. */
  files: number
  errors: ProbeError[]
  bytesHashed: number
  /** How long the workers waited for the hash limit, added up. */
  waitedMs: number
}

/**
 * The files probe: walks the root by the policy and records every matching entry. Worker
 * threads, one per core, list directories and hash files; this thread hands out jobs and
 * gathers what they record. Never follows a symlink, never opens anything but a regular file,
 * never descends into /proc, /sys, /dev or /run, and by default stays on the file system
 * where it started.
 */
export async function walkFiles(options: WalkOptions): Promise<WalkResult> {
  const { rootDir, policy, cache } = options
  const matcher = new PathMatcher(policy.files)
  const result: WalkResult = { entries: [], errors: [], bytesHashed: 0, files: 0, waitedMs: 0 }
  const queue: WalkJob[] = []
  // Walk starts that are directories, recorded here; handed over once the index is known.
  const starts: WalkBatch[] = []

  for (const start of matcher.walkStarts) {
    const st = new Float64Array(STAT_FIELDS)
    const errno = fsprobe.lstat(joinRoot(rootDir, start), st)
    if (errno !== 0) {
      if (errno !== ENOENT && errno !== ENOTDIR)
        result.errors.push({ subject: start, message: describeErrno(errno) })
      continue
    }
    const isDir = isDirectoryMode(st[ST.mode] as number)
    // A walk start is looked up in the cache here, as a worker looks up what it lists.
    const marked = matcher.records(start) && cache !== undefined && markByVerdict(cache, rootDir, start, st)
    if (!isDir) {
      if (marked) result.files++
      else if (matcher.records(start)) queue.push({ kind: 'files', paths: [start], stats: st })
      continue
    }
    if (matcher.records(start)) {
      result.files++
      if (!marked) {
        // In canonical member order, as the workers send theirs.
        const entry = JSON.parse(
          fileEntryJson(entryFromStat(start, st, 0, matcher.attributesOf(start).has('mtime'))),
        ) as FileEntry
        starts.push({ entries: [entry], errors: [], ...(options.withStats ? { stats: st } : {}) })
      }
    }
    queue.push({ kind: 'dirs', dirs: [{ path: start, dev: deviceOf(st, 0) }] })
  }

  const init: WorkerInit = {
    rootDir,
    files: policy.files,
    withStats: options.withStats === true,
    ...(options.hashBytesPerSecond ? { hashLimit: sharedByteLimit(options.hashBytesPerSecond) } : {}),
    ...(cache
      ? {
          cache: cache.shared,
          marks: cache.marks.buffer as SharedArrayBuffer,
          hits: cache.hits.buffer as SharedArrayBuffer,
        }
      : {}),
  }
  const walkers = options.walkers ?? startWalkers(options.workers)
  const { workers } = walkers
  try {
    const failed = walkers.failure()
    if (failed) throw failed
    for (const worker of workers) worker.postMessage({ type: 'init', init } satisfies ToWorker)
    await runWorkers(workers, queue, result, starts, options)
  } finally {
    await walkers.stop()
  }
  result.errors.sort((a, b) => compareCodeUnits(a.subject, b.subject))
  return result
}

/** Marks the manifest entry a cache verdict names for this entry with this stat, if any. */
function markByVerdict(cache: WalkCache, rootDir: string, path: string, st: Float64Array): boolean {
  const hit = StatCache.fromShared(cache.shared).find(joinRoot(rootDir, path), st, 0)
  if (!hit || hit.verdict < 0) return false
  cache.marks[hit.verdict] = 1
  cache.hits[hit.record] = 1
  return true
}

/**
 * Hands jobs to workers until the queue is empty and nobody is busy, gathering what they
 * record. The entry index is sent to them when it is ready; what they recorded before it was
 * waits for it, and is matched here.
 */
function runWorkers(
  workers: Worker[],
  queue: WalkJob[],
  result: WalkResult,
  starts: WalkBatch[],
  { onProgress, onEntries, signal, index, cache }: WalkOptions,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const inFlight = workers.map(() => 0)
    let finishing = false
    let finished = 0
    let failed = false
    let entryMatcher: EntryMatcher | undefined
    // Batches recorded while the index is being built; undefined once it is ready or failed.
    let waiting: WalkBatch[] | undefined = index ? [] : undefined

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
    // `checked`: a worker that had the index sent it, and it holds only what matched nothing.
    const deliver = (batch: WalkBatch, checked = false) => {
      if (waiting) {
        waiting.push(batch)
        return
      }
      if (!onEntries) {
        for (const entry of batch.entries) result.entries.push(entry)
        return
      }
      if (entryMatcher && !checked) {
        // Recorded before the workers had the index: matched here, but never an entry that
        // could not be read.
        const unreadable = new Set(batch.errors.map((e) => e.subject))
        batch.verdicts = entryMatcher.match(
          batch.entries.map((e) => (unreadable.has(e.path) ? '' : fileEntryJson(e))),
        )
      }
      if (batch.entries.length === 0 && batch.errors.length === 0 && !batch.records) return
      onEntries(batch)
    }
    const fail = (error: Error) => {
      if (failed) return
      failed = true
      reject(error)
    }
    if (signal?.aborted) return fail(new Error('walk aborted'))
    signal?.addEventListener('abort', () => fail(new Error('walk aborted')), { once: true })

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
          deliver(
            {
              entries: JSON.parse(message.entries) as FileEntry[],
              errors: message.errors,
              ...(message.stats ? { stats: message.stats } : {}),
              ...(message.records
                ? { records: new Uint8Array(message.records), recordCaps: message.recordCaps ?? [] }
                : {}),
            },
            message.checked === true,
          )
          for (const error of message.errors) result.errors.push(error)
          result.files += message.files
          result.bytesHashed += message.bytesHashed
          result.waitedMs += message.waitedMs
          onProgress?.({ files: result.files, bytesHashed: result.bytesHashed })
        } else if (message.type === 'result') {
          finished++
          // Done when the workers are and the index has come (or failed).
          if (finished === workers.length) indexed.then(() => resolve())
        }
      })
    })
    const indexed = (index ?? Promise.resolve(undefined)).then((walkIndex) => {
      if (walkIndex) {
        if (cache && cache.marks !== walkIndex.marks)
          throw new Error('walkFiles: the cache and the index must share marks')
        entryMatcher = new EntryMatcher(walkIndex.index, walkIndex.marks)
        const marks = walkIndex.marks.buffer as SharedArrayBuffer
        if (!finishing)
          for (let i = 0; i < workers.length; i++)
            post(i, { type: 'index', entryIndex: walkIndex.index, marks })
      }
      const held = waiting ?? []
      waiting = undefined
      for (const batch of held) deliver(batch)
    })
    indexed.catch(fail)
    pump()
    for (const batch of starts) deliver(batch)
  })
}

export function byPath(a: { path: string }, b: { path: string }): number {
  return compareCodeUnits(a.path, b.path)
}
