import type { Policy } from '../../config/policy.js'
import type { FileEntry } from '../../manifest/schema.js'
import type { StatIdentity } from './stat-cache.js'

/** What a worker should record beyond type, mode and owner (bit flags). */
export const WANT = { sha256: 1, caps: 2, xattrs: 4, mtime: 8 } as const

export interface FileJob {
  path: string
  want: number
}

export interface FileResult {
  /** Absent when the file vanished between the directory listing and its stat. */
  entry?: FileEntry
  /** The stat the digest belongs to, for the stat cache. */
  stat?: StatIdentity
  /** A reason the entry is incomplete (permission denied, kept changing while read). */
  error?: string
  bytesHashed: number
}

export interface ProbeError {
  subject: string
  message: string
}

export interface WorkerInit {
  rootDir: string
  files: Policy['files']
  /** The stat cache to reuse digests from (quick mode). */
  cacheFile?: string
}

/** A unit of walk work: list one directory, or inspect a batch of files split off a large one. */
export type WalkJob = { kind: 'dir'; path: string; dev: string } | { kind: 'files'; paths: string[] }

export type ToWorker = { type: 'job'; job: WalkJob } | { type: 'finish' }

export type FromWorker =
  | { type: 'ready'; cache: CacheStatus }
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
  | { type: 'result'; /** Stat cache records, encoded (see stat-cache.ts). */ digests: Uint8Array }

export type CacheStatus =
  | { state: 'absent' }
  | { state: 'loaded'; entries: number }
  | { state: 'discarded'; reason: string }
