import type { Policy } from '../../config/policy.js'
import type { FileEntry } from '../../manifest/schema.js'
import type { SharedCache } from './stat-cache.js'

/** What a worker should record beyond type, mode and owner (bit flags). */
export const WANT = { sha256: 1, caps: 2, xattrs: 4, mtime: 8 } as const

export interface FileResult {
  /** Absent when the file vanished between the directory listing and its stat. */
  entry?: FileEntry
  /** The stat the digest belongs to, for the stat cache (STAT_FIELDS doubles). */
  stat?: Float64Array
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
  /** The stat cache to reuse digests from (quick mode), loaded and checked by the main thread. */
  cache?: SharedCache
}

/** A unit of walk work: list one directory, or inspect a batch of files split off a large one. */
export type WalkJob =
  | { kind: 'dir'; path: string; dev: number }
  /** Files with their lstat results, STAT_FIELDS doubles each, in the same order. */
  | { kind: 'files'; paths: string[]; stats: Float64Array }

export type ToWorker = { type: 'job'; job: WalkJob } | { type: 'finish' }

export type FromWorker =
  | {
      type: 'done'
      /** Work split off this job, to be shared out. */
      jobs: WalkJob[]
      /** JSON of the entries this job recorded, in no particular order. */
      entries: string
      errors: ProbeError[]
      files: number
      bytesHashed: number
    }
  | {
      type: 'result'
      /** Stat cache records, encoded (see stat-cache.ts). */
      digests: Uint8Array
      /** How many of them were read now rather than found in the cache. */
      fresh: number
    }

export type CacheStatus =
  | { state: 'absent' }
  | { state: 'loaded'; entries: number }
  | { state: 'discarded'; reason: string }
