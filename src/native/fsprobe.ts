import { createRequire } from 'node:module'
import { constants } from 'node:os'

/** Doubles per entry in a stat result, and what each one is (see src/native/fsprobe.c). */
export const STAT_FIELDS = 13
/** The errno of a regular file that scanDir(path, true) left unstated. */
export const NOT_STATED = -1
export const ST = {
  mode: 0,
  uid: 1,
  gid: 2,
  size: 3,
  devHi: 4,
  devLo: 5,
  inoHi: 6,
  inoLo: 7,
  mtimeSec: 8,
  mtimeNsec: 9,
  ctimeSec: 10,
  ctimeNsec: 11,
  errno: 12,
} as const

interface FsProbeBinding {
  /** Where the top-level members of a JSON object are: 5 numbers each (key start, key end, value start, value end, element count or -1); null when not one object. */
  outlineJson(data: Buffer): Float64Array | null
  /** Where each element of the JSON array at data[start, end) is: (start, end) pairs; null when not one array. */
  outlineJsonArray(data: Buffer, start: number, end: number): Float64Array | null
  /**
   * Lists a directory and lstats every entry: names NUL-terminated, STAT_FIELDS doubles each.
   * With `lazyFiles`, a regular file (by its directory entry) is not lstat'ed: its stat is
   * mode S_IFREG with errno NOT_STATED, to be taken when it is opened.
   */
  scanDir(path: string | Buffer, lazyFiles?: boolean): [names: Buffer, stats: Float64Array]
  /**
   * The same, and each entry whose very stat at its path the scan cache's records (`words`)
   * hold with a verdict marks that verdict's manifest entry in `marks` and the record in
   * `hits`, and is 1 in `marked` (see src/probes/files/stat-cache.ts).
   */
  scanDir(
    path: string | Buffer,
    words: Uint32Array,
    marks: Uint8Array,
    hits: Uint8Array,
  ): [names: Buffer, stats: Float64Array, marked: Uint8Array]
  /** lstat into out[0..STAT_FIELDS); returns the errno, 0 on success. */
  lstat(path: string | Buffer, out: Float64Array): number
  /** fstat into out[0..STAT_FIELDS); returns the errno, 0 on success. */
  fstat(fd: number, out: Float64Array): number
  /**
   * Reads and hashes a regular file in one call (see fsprobe.c): the capability's length (0:
   * none) with the stat after reading in `stat`, the sha256 in `digest` and the capability in
   * `caps`; or -errno; or -100000 when it changed while read, -100001 when it is no regular file.
   */
  hashFile(path: string | Buffer, wantCaps: boolean, stat: Float64Array, digest: Buffer, caps: Buffer): number
  /**
   * hashFile for files of one directory, each opened relative to it: file k is the
   * NUL-terminated name at names[starts[k]], its capability read when wantCaps[k] is 1. Its
   * status goes to status[k], its stat to stats[k * STAT_FIELDS], its digest to
   * digests[k * 32] and its capability to caps[k * 64]. Throws when the directory cannot be
   * opened.
   */
  hashFiles(
    dir: string | Buffer,
    names: Buffer,
    starts: Int32Array,
    wantCaps: Uint8Array,
    status: Int32Array,
    stats: Float64Array,
    digests: Buffer,
    caps: Buffer,
  ): void
  /**
   * How many hashes so far, in any thread, found their file truncated under the mapping they
   * read it through (and answered "changed while read"): for tests and diagnostics.
   */
  mappedTruncations(): number
  /**
   * In the thread pool: copies `source` into `shared` (shared memory, the same length) and
   * indexes by path the file entries of the JSON array at shared[start, end) (see fsprobe.c):
   * `index` sized by the caller, its word 1 the slot count. Resolves to the entry count, or -1
   * when the array is not as expected, an entry has no path, or two share one.
   */
  indexEntriesAsync(
    source: Uint8Array,
    shared: Uint8Array,
    start: number,
    end: number,
    index: Uint32Array,
  ): Promise<number>
  /**
   * For each NUL-separated canonical entry text: the index of the manifest entry it equals
   * but for "package" (marked 1 in `marks`), or -1.
   */
  matchEntries(
    bytes: Uint8Array,
    index: Uint32Array,
    texts: Buffer,
    marks: Uint8Array,
    verdicts: Int32Array,
  ): void
  /**
   * Scan cache records (112 bytes each) sorted by key (first 6 u32: device, inode, path hash),
   * one per key with the last given winning, written to `out`; returns how many.
   */
  packRecords(records: Uint8Array, out: Uint8Array): number
  /** fgetxattr: the value, or null when the file has no such attribute. */
  getXattr(fd: number, name: string): Buffer | null
  /** flistxattr: attribute names. */
  listXattr(fd: number): string[]
}

// Built by `npm ci` (node-gyp, binding.gyp at the package root); the same relative path
// holds from src/native/ (tests) and from dist/native/ (the built CLI).
const require = createRequire(import.meta.url)
export const fsprobe: FsProbeBinding = require('../../build/Release/driftwatch_native.node')

const ERRNO_NAMES: Record<number, string> = {}
// The first name of each number (EAGAIN, not its alias EWOULDBLOCK).
for (const [name, errno] of Object.entries(constants.errno)) ERRNO_NAMES[errno] ??= name

/** ENOENT, EACCES, … for an errno number from a stat result. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`
}
