import { createHash } from 'node:crypto'
import {
  type BigIntStats,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
} from 'node:fs'
import { constants as osConstants } from 'node:os'
import { pathHash, statWords } from './cache-key.js'
import {
  CACHE_KEY_WORDS,
  CACHE_RECORD_BYTES,
  CACHE_STAT_WORDS,
  CACHE_VERDICT_WORD,
  CAPS_PER_FILE,
  DIGEST_BYTES,
  HASH_CHANGED,
  HASH_NOT_FILE,
  LAZY_FILES_MAX,
  NOT_STATED,
  ST,
  STAT_FIELDS,
} from './constants.js'
import type { FsProbeBinding } from './fsprobe.js'

/*
 * The native addon's interface in JavaScript, for hosts where no addon loads (another
 * architecture, musl, no compiler) and for tests (DRIFTWATCH_NATIVE=0). The same results,
 * slower: a Stats object per lstat, one call per file. Node has no extended attribute calls:
 * capabilities and other extended attributes are not read (the scan leaves them unchecked,
 * see src/scan/run.ts, and says so on stderr).
 */

const HASH_BUFFER = Buffer.allocUnsafe(128 << 10)
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK
let noatime = constants.O_NOATIME ?? 0
const S_IFREG = constants.S_IFREG
const NS = 1_000_000_000n
const CACHE_WORDS = CACHE_RECORD_BYTES / 4

function errnoOf(error: unknown): number {
  const code = (error as { code?: string }).code
  const known = code ? (osConstants.errno as Record<string, number>)[code] : undefined
  if (known !== undefined) return known
  const errno = (error as { errno?: number }).errno
  return typeof errno === 'number' ? Math.abs(errno) : osConstants.errno.EIO
}

function fillStat(out: Float64Array, o: number, st: BigIntStats): void {
  const time = (ns: bigint, k: number) => {
    // tv_sec and tv_nsec: the seconds rounded down, so that tv_nsec is in [0, 1e9).
    let sec = ns / NS
    let nsec = ns % NS
    if (nsec < 0n) {
      sec -= 1n
      nsec += NS
    }
    out[o + k] = Number(sec)
    out[o + k + 1] = Number(nsec)
  }
  out[o + ST.mode] = Number(st.mode)
  out[o + ST.uid] = Number(st.uid)
  out[o + ST.gid] = Number(st.gid)
  out[o + ST.size] = Number(st.size)
  out[o + ST.devHi] = Number(st.dev >> 32n)
  out[o + ST.devLo] = Number(st.dev & 0xffffffffn)
  out[o + ST.inoHi] = Number(st.ino >> 32n)
  out[o + ST.inoLo] = Number(st.ino & 0xffffffffn)
  time(st.mtimeNs, ST.mtimeSec)
  time(st.ctimeNs, ST.ctimeSec)
  out[o + ST.errno] = 0
}

function failStat(out: Float64Array, o: number, errno: number): void {
  out.fill(0, o, o + STAT_FIELDS)
  out[o + ST.errno] = errno
}

function lstatInto(path: string | Buffer, out: Float64Array, o: number): number {
  try {
    fillStat(out, o, lstatSync(path, { bigint: true }))
    return 0
  } catch (error) {
    const errno = errnoOf(error)
    failStat(out, o, errno)
    return errno
  }
}

function joinName(dir: string | Buffer, name: Buffer): Buffer {
  const base = typeof dir === 'string' ? Buffer.from(dir) : dir
  const slash = base.length > 0 && base[base.length - 1] === 0x2f ? 0 : 1
  const out = Buffer.allocUnsafe(base.length + slash + name.length)
  base.copy(out, 0)
  if (slash) out[base.length] = 0x2f
  name.copy(out, base.length + slash)
  return out
}

/** A directory to list, refused when it is a symlink (the addon opens it with O_NOFOLLOW). */
function checkDirectory(path: string | Buffer): void {
  const st = lstatSync(path)
  if (st.isSymbolicLink())
    throw Object.assign(new Error(`opendir: ${String(path)}: symlink`), { code: 'ELOOP' })
}

/** Marks the manifest entry a cache record's verdict names when the record has this key and stat (see fsprobe.c's cache_mark). */
function cacheMark(words: Uint32Array, key: Uint32Array, marks: Uint8Array, hits: Uint8Array): boolean {
  let lo = 0
  let hi = Math.floor(words.length / CACHE_WORDS)
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const r = mid * CACHE_WORDS
    let order = 0
    for (let k = 0; k < CACHE_KEY_WORDS && order === 0; k++) {
      const x = words[r + k] as number
      const y = key[k] as number
      if (x !== y) order = x < y ? -1 : 1
    }
    if (order < 0) lo = mid + 1
    else if (order > 0) hi = mid
    else {
      for (let k = CACHE_KEY_WORDS; k < CACHE_STAT_WORDS; k++) if (words[r + k] !== key[k]) return false
      const verdict = words[r + CACHE_VERDICT_WORD] as number
      if (verdict === 0 || verdict > marks.length || mid >= hits.length) return false
      marks[verdict - 1] = 1
      hits[mid] = 1
      return true
    }
  }
  return false
}

function scanDir(
  path: string | Buffer,
  lazyOrWords?: boolean | Uint32Array,
  marks?: Uint8Array,
  hits?: Uint8Array,
): [Buffer, Float64Array] | [Buffer, Float64Array, Uint8Array] {
  checkDirectory(path)
  const entries = readdirSync(path, { withFileTypes: true, encoding: 'buffer' })
  const words = lazyOrWords instanceof Uint32Array ? lazyOrWords : undefined
  const regular = entries.reduce((n, e) => n + (e.isFile() ? 1 : 0), 0)
  const lazy = lazyOrWords === true && regular <= LAZY_FILES_MAX
  const names = Buffer.concat(entries.flatMap((e) => [e.name, Buffer.alloc(1)]))
  const stats = new Float64Array(entries.length * STAT_FIELDS)
  const marked = new Uint8Array(entries.length)
  const hash = new Uint32Array(2)
  const key = new Uint32Array(CACHE_STAT_WORDS)
  entries.forEach((entry, k) => {
    const o = k * STAT_FIELDS
    if (lazy && entry.isFile()) {
      stats[o + ST.mode] = S_IFREG
      stats[o + ST.errno] = NOT_STATED
      return
    }
    const fsPath = joinName(path, entry.name)
    if (lstatInto(fsPath, stats, o) !== 0 || !words || !marks || !hits) return
    pathHash(fsPath, hash, 0)
    statWords(stats, o, hash, key, 0)
    marked[k] = cacheMark(words, key, marks, hits) ? 1 : 0
  })
  return words ? [names, stats, marked] : [names, stats]
}

function openNoFollow(path: string | Buffer): number {
  try {
    return openSync(path, OPEN_FLAGS | noatime)
  } catch (error) {
    if (noatime && (error as { code?: string }).code === 'EPERM') {
      noatime = 0
      return openSync(path, OPEN_FLAGS)
    }
    throw error
  }
}

function sameContentStat(a: BigIntStats, b: BigIntStats): boolean {
  return (
    a.dev === b.dev &&
    a.ino === b.ino &&
    a.size === b.size &&
    a.mtimeNs === b.mtimeNs &&
    a.ctimeNs === b.ctimeNs
  )
}

/** hashFile's work, its results at offsets of the caller's arrays; capabilities are never read here. */
function hashAt(path: string | Buffer, stat: Float64Array, o: number, digest: Buffer, d: number): number {
  let fd: number
  try {
    fd = openNoFollow(path)
  } catch (error) {
    return -errnoOf(error)
  }
  try {
    const before = fstatSync(fd, { bigint: true })
    if (!before.isFile()) return HASH_NOT_FILE
    const hash = createHash('sha256')
    const size = Number(before.size)
    // Stop at the size fstat gave: the fstat after reading catches a file that grew meanwhile.
    let total = 0
    while (total < size) {
      const n = readSync(fd, HASH_BUFFER, 0, HASH_BUFFER.length, total)
      if (n === 0) break
      hash.update(HASH_BUFFER.subarray(0, n))
      total += n
    }
    const after = fstatSync(fd, { bigint: true })
    if (!sameContentStat(before, after)) return HASH_CHANGED
    hash.digest().copy(digest, d)
    fillStat(stat, o, after)
    return 0
  } catch (error) {
    return -errnoOf(error)
  } finally {
    closeSync(fd)
  }
}

export const jsBinding: FsProbeBinding = {
  scanDir: scanDir as FsProbeBinding['scanDir'],
  lstat: (path, out) => lstatInto(path, out, 0),
  fstat(fd, out) {
    try {
      fillStat(out, 0, fstatSync(fd, { bigint: true }))
      return 0
    } catch (error) {
      const errno = errnoOf(error)
      failStat(out, 0, errno)
      return errno
    }
  },
  hashFile: (path, _wantCaps, stat, digest) => hashAt(path, stat, 0, digest, 0),
  hashFiles(dir, names, starts, _wantCaps, status, stats, digests, caps) {
    if (
      status.length < starts.length ||
      stats.length < starts.length * STAT_FIELDS ||
      digests.length < starts.length * DIGEST_BYTES ||
      caps.length < starts.length * CAPS_PER_FILE
    )
      throw new TypeError('hashFiles: the result arrays must be sized for every file')
    checkDirectory(dir)
    for (let k = 0; k < starts.length; k++) {
      const start = starts[k] as number
      const end = names.indexOf(0, start)
      if (start < 0 || end < 0)
        throw new RangeError('hashFiles: a start is not that of a NUL-terminated name in names')
      const path = joinName(dir, names.subarray(start, end))
      status[k] = hashAt(path, stats, k * STAT_FIELDS, digests, k * DIGEST_BYTES)
    }
  },
  getXattr: () => null,
  listXattr: () => [],
}
