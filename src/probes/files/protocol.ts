import type { Policy } from '../../config/policy.js'
import type { FileEntry } from '../../manifest/schema.js'
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
   * With the cache: one byte per manifest file entry, set by a worker when a cache verdict
   * says the entry is there unchanged; and one byte per cache record, set when it was used.
   */
  marks?: SharedArrayBuffer
  hits?: SharedArrayBuffer
  /** Send each entry's stat with it (for a new cache). */
  withStats: boolean
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

export type ToWorker = { type: 'init'; init: WorkerInit } | { type: 'job'; job: WalkJob } | { type: 'finish' }

export type FromWorker =
  | {
      type: 'done'
      /** Work split off this job, to be shared out. */
      jobs: WalkJob[]
      /** JSON of the entries this job recorded, in no particular order. */
      entries: string
      /**
       * With `withStats`: the stat each entry was recorded with, STAT_FIELDS doubles each in the
       * same order (errno -1 where there is none: the entry could not be read).
       */
      stats?: Float64Array
      errors: ProbeError[]
      files: number
      bytesHashed: number
    }
  | { type: 'result' }

export type CacheStatus =
  | { state: 'absent' }
  | { state: 'loaded'; entries: number }
  /** Made for another manifest: not used, replaced. */
  | { state: 'other-manifest' }
  | { state: 'discarded'; reason: string }
