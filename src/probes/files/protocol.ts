import type { Policy } from '../../config/policy.js'
import type { EntryIndex } from '../../manifest/entry-index.js'
import type { FileEntry } from '../../manifest/schema.js'
import type { SharedByteLimit } from './rate-limit.js'
import type { SharedCache } from './stat-cache.js'

/** What a worker should record beyond type, mode and owner (bit flags). */
export const WANT = { sha256: 1, caps: 2, xattrs: 4, mtime: 8 } as const

export interface FileResult {
  /** Absent when the file vanished between the directory listing and its stat. */
  entry?: FileEntry
  /**
   * The stat the digest belongs to (STAT_FIELDS doubles at `statOffset`): the one the file was
   * read with, or the lstat the cached digest was found by.
   */
  stat?: Float64Array
  statOffset?: number
  /** A reason the entry is incomplete (permission denied, kept changing while read). */
  error?: string
  /** The digest came from the stat cache: the file was not read. */
  cached?: true
  bytesHashed: number
}

export interface ProbeError {
  subject: string
  message: string
}

export interface WorkerInit {
  rootDir: string
  files: Policy['files']
  /** The scan cache to reuse verdicts and digests from (quick mode), loaded and checked by the main thread. */
  cache?: SharedCache
  /**
   * One byte per manifest file entry, set by a worker when a cache verdict or the entry index
   * says the entry is there unchanged (with either of them).
   */
  marks?: SharedArrayBuffer
  /** With the cache: one byte per cache record, set when its verdict was used. */
  hits?: SharedArrayBuffer
  /** Send each entry's stat with it (for a new cache). */
  withStats: boolean
  /** The bytes per second all workers together may read to hash, when limited. */
  hashLimit?: SharedByteLimit
}

/** A directory to list, with the device it is on. */
export interface DirToList {
  path: string
  dev: number
}

/** A unit of walk work: list directories (and those below them), or inspect a batch of files split off a large one. */
export type WalkJob =
  | { kind: 'dirs'; dirs: DirToList[] }
  /**
   * Files with their lstat results, STAT_FIELDS doubles each, in the same order; when they are
   * of one directory listing, the directory and their names as listed, each NUL-terminated.
   */
  | { kind: 'files'; paths: string[]; stats: Float64Array; dir?: string; names?: Buffer }

export type ToWorker =
  | { type: 'init'; init: WorkerInit }
  /**
   * The manifest's entries indexed by path, and the marks (the cache's, if any): an entry
   * recorded from now on that matches one is marked, and sent only when its stat is wanted.
   */
  | { type: 'index'; entryIndex: EntryIndex; marks: SharedArrayBuffer }
  | { type: 'job'; job: WalkJob }
  | { type: 'finish' }

export type FromWorker =
  | {
      type: 'done'
      /** Work split off this job, to be shared out. */
      jobs: WalkJob[]
      /**
       * JSON of the entries this job recorded, in no particular order: with the entry index,
       * only those that matched no manifest entry, unless `withStats` asks for all.
       */
      entries: string
      /** The worker had the entry index: the entries sent are those that matched no manifest entry. */
      checked?: true
      /**
       * With the entry index and `withStats`: the scan cache records of the entries that
       * matched (not sent), and the capabilities of those that have some (record, string).
       */
      records?: ArrayBuffer
      recordCaps?: [number, string][]
      /**
       * With `withStats`: the stat each entry was recorded with, STAT_FIELDS doubles each in the
       * same order (errno -1 where there is none: the entry could not be read).
       */
      stats?: Float64Array
      errors: ProbeError[]
      files: number
      bytesHashed: number
      /** How long this job waited for the hash limit. */
      waitedMs: number
    }
  | { type: 'result' }

export type CacheStatus =
  | { state: 'absent' }
  | { state: 'loaded'; entries: number }
  /** Made for another manifest: not used, replaced. */
  | { state: 'other-manifest' }
  | { state: 'discarded'; reason: string }
