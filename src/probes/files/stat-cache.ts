import { createHash } from 'node:crypto'
import { closeSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { errnoCode } from '../../errors.js'
import { ST } from '../../native/fsprobe.js'
import { writeFileAtomic } from '../../util/atomic.js'
import type { CacheStatus } from './protocol.js'

/*
 * The stat cache of quick scans. A file's content is known not to have changed while its
 * device, inode, size, mtime and ctime (in nanoseconds) are all the same: ctime cannot be set
 * from user space, so even a `touch -d` back to the old time is seen. The cache maps
 * (device, inode) to that stat and the digest and capabilities read when the file had it.
 *
 * Binary, so that loading it costs a read and a checksum, not a parse:
 *   magic "DWSC0002" | u32 count | u32 caps JSON length | sha256 of everything after it (32 B)
 *   count records of 96 bytes, sorted by (dev, ino), each 16 little-endian u32 words
 *     dev_hi dev_lo ino_hi ino_lo size_hi size_lo mtime_sec_hi mtime_sec_lo mtime_nsec
 *     ctime_sec_hi ctime_sec_lo ctime_nsec caps_index+1 (0: none) 0 0 0
 *   then the 32-byte sha256
 *   caps JSON: an array of capability strings
 * It is written atomically (temporary file, fsync, rename) and readable by its owner only;
 * a cache that fails any check is discarded, never trusted.
 */
const MAGIC = Buffer.from('DWSC0002')
const HEADER = 8 + 4 + 4 + 32
const RECORD = 96
/** Record stride in 32-bit words. */
const WORDS = RECORD / 4

export interface CacheRecord {
  /** The file's stat, STAT_FIELDS doubles (see src/native/fsprobe.ts). */
  stat: Float64Array
  sha256: string
  caps?: string
}

export function statCacheFile(stateDir: string, rootDir: string, policyDigest: string): string {
  const id = createHash('sha256').update(`${rootDir}\0${policyDigest}`).digest('hex').slice(0, 16)
  return join(stateDir, `statcache-${id}.bin`)
}

/** The stat as the cache's first 12 words. */
function statWords(s: Float64Array, o: number, out: Uint32Array, at: number): void {
  const split = (value: number, k: number) => {
    out[at + k] = Math.floor(value / 2 ** 32) >>> 0
    out[at + k + 1] = value >>> 0
  }
  out[at] = s[o + ST.devHi] as number
  out[at + 1] = s[o + ST.devLo] as number
  out[at + 2] = s[o + ST.inoHi] as number
  out[at + 3] = s[o + ST.inoLo] as number
  split(s[o + ST.size] as number, 4)
  split(s[o + ST.mtimeSec] as number, 6)
  out[at + 8] = s[o + ST.mtimeNsec] as number
  split(s[o + ST.ctimeSec] as number, 9)
  out[at + 11] = s[o + ST.ctimeNsec] as number
}

/** A loaded cache: look a file up by its stat; a hit only when every field of the stat matches. */
export class StatCache {
  static readonly empty = new StatCache(new Uint32Array(0), Buffer.alloc(0), [])
  private readonly probe = new Uint32Array(12)

  private constructor(
    private readonly words: Uint32Array,
    private readonly bytes: Buffer,
    private readonly caps: string[],
  ) {}

  get size(): number {
    return this.words.length / WORDS
  }

  lookup(s: Float64Array, o: number): { sha256: string; caps?: string } | undefined {
    const key = this.probe
    statWords(s, o, key, 0)
    const w = this.words
    let lo = 0
    let hi = this.size - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const at = mid * WORDS
      const order = compareWords(w, at, key, 0, 4)
      if (order < 0) lo = mid + 1
      else if (order > 0) hi = mid - 1
      else {
        if (compareWords(w, at + 4, key, 4, 8) !== 0) return undefined
        const capsIndex = w[at + 12] as number
        const sha256 = this.bytes.toString('hex', mid * RECORD + 64, mid * RECORD + 96)
        const caps = capsIndex ? this.caps[capsIndex - 1] : undefined
        return caps ? { sha256, caps } : { sha256 }
      }
    }
    return undefined
  }

  /** A cache over checked bytes from `load` (shared between threads without a copy). */
  static fromShared(shared: SharedCache | undefined): StatCache {
    if (!shared) return StatCache.empty
    const bytes = Buffer.from(shared.buffer, HEADER, shared.count * RECORD)
    return new StatCache(new Uint32Array(shared.buffer, HEADER, shared.count * WORDS), bytes, shared.caps)
  }

  /**
   * Reads and checks a cache file; anything wrong with it gives no cache and says why. The
   * records are copied into shared memory, so every walk worker reads the one copy.
   */
  static load(file: string | undefined): { shared?: SharedCache; status: CacheStatus } {
    if (!file) return { status: { state: 'absent' } }
    let data: Buffer
    try {
      data = readIntoShared(file)
    } catch (error) {
      const code = errnoCode(error)
      if (code === 'ENOENT') return { status: { state: 'absent' } }
      return discard(`cannot read: ${code ?? String(error)}`)
    }
    if (data.length < HEADER || !data.subarray(0, 8).equals(MAGIC))
      return discard('not a driftwatch stat cache')
    const count = data.readUInt32LE(8)
    const capsLength = data.readUInt32LE(12)
    if (data.length !== HEADER + count * RECORD + capsLength) return discard('truncated')
    const checksum = createHash('sha256').update(data.subarray(HEADER)).digest()
    if (!checksum.equals(data.subarray(16, HEADER))) return discard('checksum mismatch')
    let caps: unknown
    try {
      caps = JSON.parse(data.toString('utf8', HEADER + count * RECORD))
    } catch {
      return discard('capabilities table is not JSON')
    }
    if (!Array.isArray(caps) || !caps.every((c) => typeof c === 'string'))
      return discard('capabilities table is malformed')
    return {
      shared: { buffer: data.buffer as SharedArrayBuffer, count, caps },
      status: { state: 'loaded', entries: count },
    }
  }
}

/** A checked cache file in shared memory (records from offset HEADER), as handed to the walk workers. */
export interface SharedCache {
  buffer: SharedArrayBuffer
  count: number
  caps: string[]
}

/** Reads a whole file straight into shared memory: the workers read that one copy. */
function readIntoShared(file: string): Buffer {
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    const data = Buffer.from(new SharedArrayBuffer(size))
    let offset = 0
    while (offset < size) {
      const n = readSync(fd, data, offset, size - offset, offset)
      if (n === 0) break
      offset += n
    }
    return data.subarray(0, offset)
  } finally {
    closeSync(fd)
  }
}

function discard(reason: string): { status: CacheStatus } {
  return { status: { state: 'discarded', reason } }
}

function compareWords(a: Uint32Array, ai: number, b: Uint32Array, bi: number, n: number): number {
  for (let k = 0; k < n; k++) {
    const x = a[ai + k] as number
    const y = b[bi + k] as number
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/** Encodes records as cache records (sorted and merged when the cache is saved). */
export function encodeRecords(records: CacheRecord[]): Uint8Array {
  const caps: string[] = []
  const body = Buffer.alloc(records.length * RECORD)
  const words = new Uint32Array(body.buffer, body.byteOffset, records.length * WORDS)
  records.forEach((r, i) => {
    statWords(r.stat, 0, words, i * WORDS)
    words[i * WORDS + 12] = r.caps ? caps.push(r.caps) : 0
    body.write(r.sha256, i * RECORD + 64, 'hex')
  })
  const trailer = Buffer.from(JSON.stringify(caps))
  const out = new Uint8Array(4 + body.length + trailer.length)
  new DataView(out.buffer).setUint32(0, records.length, true)
  out.set(body, 4)
  out.set(trailer, 4 + body.length)
  return out
}

/** Merges encoded record tables (one per worker) and writes the cache, owner-readable only. */
export function saveStatCache(file: string, parts: Uint8Array[]): void {
  const total = parts.reduce(
    (n, part) => n + new DataView(part.buffer, part.byteOffset).getUint32(0, true),
    0,
  )
  const records = Buffer.alloc(total * RECORD)
  const caps: string[] = []
  let count = 0
  for (const part of parts) {
    const buf = Buffer.from(part.buffer, part.byteOffset, part.byteLength)
    const n = buf.readUInt32LE(0)
    buf.copy(records, count * RECORD, 4, 4 + n * RECORD)
    const partCaps = JSON.parse(buf.toString('utf8', 4 + n * RECORD)) as string[]
    for (let i = count; i < count + n; i++) {
      const index = records.readUInt32LE(i * RECORD + 48)
      if (index) records.writeUInt32LE(caps.push(partCaps[index - 1] as string), i * RECORD + 48)
    }
    count += n
  }
  // Sorted by (dev, ino) for binary search, through an index: no record is moved twice.
  const words = new Uint32Array(records.buffer, records.byteOffset, total * WORDS)
  const order = Array.from({ length: total }, (_, i) => i).sort((a, b) =>
    compareWords(words, a * WORDS, words, b * WORDS, 4),
  )
  const sorted = Buffer.alloc(total * RECORD)
  let unique = 0
  for (let k = 0; k < order.length; k++) {
    const i = order[k] as number
    // Hard links share an inode: one record of it is enough.
    if (k > 0 && compareWords(words, i * WORDS, words, (order[k - 1] as number) * WORDS, 4) === 0) continue
    records.copy(sorted, unique++ * RECORD, i * RECORD, (i + 1) * RECORD)
  }
  const payload = Buffer.concat([sorted.subarray(0, unique * RECORD), Buffer.from(JSON.stringify(caps))])
  const header = Buffer.alloc(HEADER)
  MAGIC.copy(header, 0)
  header.writeUInt32LE(unique, 8)
  header.writeUInt32LE(payload.length - unique * RECORD, 12)
  createHash('sha256').update(payload).digest().copy(header, 16)
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  writeFileAtomic(file, Buffer.concat([header, payload]), 0o600)
}
