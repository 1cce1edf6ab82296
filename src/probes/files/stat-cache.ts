import { createHash } from 'node:crypto'
import { closeSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { errnoCode } from '../../errors.js'
import { pathHash, statWords } from '../../native/cache-key.js'
import {
  CACHE_KEY_WORDS,
  CACHE_RECORD_BYTES,
  CACHE_STAT_WORDS,
  CACHE_VERDICT_WORD,
} from '../../native/constants.js'
import { writeFileAtomic } from '../../util/atomic.js'
import type { CacheStatus } from './protocol.js'

/*
 * The scan cache of quick scans, one per root, made for one manifest. A file's content is
 * known not to have changed while its device, inode, size, mtime and ctime (in nanoseconds)
 * are all the same: ctime cannot be set from user space, so even a `touch -d` back to the old
 * time is seen, and so are a chmod, a chown, an xattr written, a link made or a rename. Each
 * record holds such a stat of an entry at one path, with what was learned when the entry had
 * it: the digest and capabilities read, and the verdict, the index of the manifest's entry
 * the entry matched in every attribute. A quick scan that finds an entry with the same stat
 * at the same path knows, without reading anything, that it still matches that entry.
 *
 * Binary, so that loading it costs a read and a checksum, not a parse:
 *   header, HEADER bytes:
 *     magic "DWSC0003" | u32 record count | u32 caps JSON length | u32 manifest file count | u32 0
 *     | manifest digest (32 bytes) | 8 zero bytes | sha256 of header[0, 64) and all after the header
 *   count records of RECORD bytes, sorted by (dev, ino, path hash), each WORDS little-endian u32:
 *     0 dev_hi 1 dev_lo 2 ino_hi 3 ino_lo 4 path_hash_hi 5 path_hash_lo
 *     6 mode 7 uid 8 gid 9 size_hi 10 size_lo 11 mtime_sec_hi 12 mtime_sec_lo 13 mtime_nsec
 *     14 ctime_sec_hi 15 ctime_sec_lo 16 ctime_nsec
 *     17 verdict: manifest file index + 1 (0: none)  18 caps index + 1 (0: none)  19 flags
 *     20..27 sha256 (when flags has HAS_SHA256)
 *   caps JSON: an array of capability strings
 * It is written atomically (temporary file, fsync, rename) and readable by its owner only;
 * a cache that fails any check is discarded, never trusted, and one made for another manifest
 * is not used.
 */
const MAGIC = Buffer.from('DWSC0003')
const HEADER = 96
const CHECKED_HEADER = 64
const RECORD = CACHE_RECORD_BYTES
/** Record stride in 32-bit words. */
const WORDS = RECORD / 4
const KEY_WORDS = CACHE_KEY_WORDS
const STAT_WORDS = CACHE_STAT_WORDS
const VERDICT = CACHE_VERDICT_WORD
const CAPS = 18
const FLAGS = 19
const SHA256_BYTE = 80
/** The record holds a digest. */
const HAS_SHA256 = 1
/** Capabilities were read for the record (absent caps then mean none). */
const HAS_CAPS = 2

/** Where a root's scan cache is kept in a state directory. */
export function statCacheFile(stateDir: string, rootDir: string): string {
  const id = createHash('sha256').update(rootDir).digest('hex').slice(0, 16)
  return join(stateDir, `scancache-${id}.bin`)
}

/**
 * What the next quick scan should know of an entry recorded with `verdict` (the manifest entry
 * it is exactly, or -1): the verdict, and a file's digest and capabilities (`capsRead`: the
 * policy has them read). Nothing for an entry with other extended attributes, nor for one
 * that matched nothing and has no digest to spare a read.
 */
export function recordContent(
  entry: { sha256?: string; caps?: string; xattrs?: unknown },
  verdict: number,
  capsRead: boolean,
): RecordContent | undefined {
  if ((verdict < 0 && entry.sha256 === undefined) || entry.xattrs !== undefined) return undefined
  return {
    verdict,
    ...(entry.sha256 !== undefined ? { sha256: entry.sha256 } : {}),
    ...(entry.caps !== undefined ? { caps: entry.caps } : {}),
    capsRead,
  }
}

/** Bytes per cache record. */
export { CACHE_RECORD_BYTES }

/**
 * Writes the record of the entry at `fsPath` with stat `s` at `o` and content `entry` into
 * `record` (CACHE_RECORD_BYTES), all but its capabilities, which the writer numbers.
 * `hash`: two words of scratch.
 */
export function encodeRecord(
  fsPath: string | Buffer,
  s: Float64Array,
  o: number,
  entry: RecordContent,
  record: Buffer,
  hash: Uint32Array,
): void {
  const words = new Uint32Array(record.buffer, record.byteOffset, WORDS)
  pathHash(fsPath, hash, 0)
  statWords(s, o, hash, words, 0)
  words[VERDICT] = entry.verdict + 1
  words[CAPS] = 0
  let flags = 0
  if (entry.sha256 !== undefined) {
    flags |= HAS_SHA256
    record.write(entry.sha256, SHA256_BYTE, 'hex')
  } else {
    record.fill(0, SHA256_BYTE, RECORD)
  }
  if (entry.capsRead) flags |= HAS_CAPS
  words[FLAGS] = flags
}

/** A checked cache file in shared memory (records from offset HEADER), as handed to the walk workers. */
export interface SharedCache {
  buffer: SharedArrayBuffer
  count: number
  caps: string[]
}

/** What a record holds beyond the stat: the verdict, and a regular file's digest and capabilities. */
export interface RecordContent {
  /** The index of the manifest entry the entry matched in every attribute, or -1. */
  verdict: number
  sha256?: string
  caps?: string
  /** Capabilities were read: none recorded means none. */
  capsRead: boolean
}

/** What a record says of the entry it was made for. */
export interface CacheHit {
  /** The record's number, to mark it used. */
  record: number
  /** The index of the manifest entry it matched in every attribute, or -1. */
  verdict: number
}

/** A loaded cache: look an entry up by its stat; a hit only when every field of the stat matches. */
export class StatCache {
  static readonly empty = new StatCache(new Uint32Array(0), Buffer.alloc(0), [])
  private readonly probe = new Uint32Array(STAT_WORDS)
  private readonly hash = new Uint32Array(2)

  private constructor(
    private readonly words: Uint32Array,
    private readonly bytes: Buffer,
    private readonly caps: string[],
  ) {}

  get size(): number {
    return this.words.length / WORDS
  }

  /** The records, for the native scanDir to look entries up in. */
  get records(): Uint32Array {
    return this.words
  }

  /** The record of this entry at this path (as the file system takes it) with this very stat, or undefined. */
  find(fsPath: string | Buffer, s: Float64Array, o: number): CacheHit | undefined {
    if (this.size === 0) return undefined
    pathHash(fsPath, this.hash, 0)
    statWords(s, o, this.hash, this.probe, 0)
    const at = this.search(KEY_WORDS)
    if (
      at < 0 ||
      compareWords(this.words, at + KEY_WORDS, this.probe, KEY_WORDS, STAT_WORDS - KEY_WORDS) !== 0
    )
      return undefined
    return { record: at / WORDS, verdict: (this.words[at + VERDICT] as number) - 1 }
  }

  /**
   * The digest (and capabilities, when `withCaps`) of a file with this stat, from any record
   * of its inode: a hard link at another path has the same content.
   */
  lookup(s: Float64Array, o: number, withCaps = false): { sha256: string; caps?: string } | undefined {
    if (this.size === 0) return undefined
    this.hash.fill(0)
    statWords(s, o, this.hash, this.probe, 0)
    const w = this.words
    const need = HAS_SHA256 | (withCaps ? HAS_CAPS : 0)
    // The first record of the inode, then each one after it.
    for (
      let at = this.lowerBound(4);
      at < w.length && compareWords(w, at, this.probe, 0, 4) === 0;
      at += WORDS
    ) {
      if (((w[at + FLAGS] as number) & need) !== need) continue
      if (compareWords(w, at + KEY_WORDS, this.probe, KEY_WORDS, STAT_WORDS - KEY_WORDS) !== 0) continue
      const sha256 = this.bytes.toString('hex', at * 4 + SHA256_BYTE, at * 4 + SHA256_BYTE + 32)
      const capsIndex = w[at + CAPS] as number
      const caps = capsIndex ? this.caps[capsIndex - 1] : undefined
      return caps ? { sha256, caps } : { sha256 }
    }
    return undefined
  }

  /**
   * Whether a record says exactly what a new record of the entry would (see CacheWriter.add):
   * then it is kept as it is.
   */
  says(record: number, entry: RecordContent): boolean {
    const w = this.words
    const at = record * WORDS
    if ((w[at + VERDICT] as number) !== entry.verdict + 1) return false
    const flags = w[at + FLAGS] as number
    if (((flags & HAS_CAPS) !== 0) !== entry.capsRead) return false
    const capsIndex = w[at + CAPS] as number
    if ((capsIndex ? this.caps[capsIndex - 1] : undefined) !== (entry.caps || undefined)) return false
    if ((flags & HAS_SHA256) === 0) return entry.sha256 === undefined
    return entry.sha256 === this.bytes.toString('hex', at * 4 + SHA256_BYTE, at * 4 + SHA256_BYTE + 32)
  }

  /** A record's bytes and its capabilities, to copy into a new cache. */
  raw(record: number): { bytes: Buffer; caps?: string } {
    const capsIndex = this.words[record * WORDS + CAPS] as number
    const bytes = this.bytes.subarray(record * RECORD, (record + 1) * RECORD)
    return capsIndex ? { bytes, caps: this.caps[capsIndex - 1] as string } : { bytes }
  }

  /** The word offset of the record whose first `n` key words equal the probe's, or -1. */
  private search(n: number): number {
    const w = this.words
    let lo = 0
    let hi = this.size - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const order = compareWords(w, mid * WORDS, this.probe, 0, n)
      if (order < 0) lo = mid + 1
      else if (order > 0) hi = mid - 1
      else return mid * WORDS
    }
    return -1
  }

  /** The word offset of the first record whose first `n` key words are not below the probe's. */
  private lowerBound(n: number): number {
    const w = this.words
    let lo = 0
    let hi = this.size
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareWords(w, mid * WORDS, this.probe, 0, n) < 0) lo = mid + 1
      else hi = mid
    }
    return lo * WORDS
  }

  /** A cache over checked bytes from `load` (shared between threads without a copy). */
  static fromShared(shared: SharedCache | undefined): StatCache {
    if (!shared) return StatCache.empty
    const bytes = Buffer.from(shared.buffer, HEADER, shared.count * RECORD)
    return new StatCache(new Uint32Array(shared.buffer, HEADER, shared.count * WORDS), bytes, shared.caps)
  }

  /**
   * Reads and checks a cache file made for this manifest; anything wrong with it gives no
   * cache and says why. The records are copied into shared memory, so every walk worker reads
   * the one copy.
   */
  static load(
    file: string | undefined,
    manifest: { digest: string; fileCount: number },
  ): { shared?: SharedCache; status: CacheStatus } {
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
    const fileCount = data.readUInt32LE(16)
    if (data.length !== HEADER + count * RECORD + capsLength) return discard('truncated')
    const checksum = createHash('sha256')
      .update(data.subarray(0, CHECKED_HEADER))
      .update(data.subarray(HEADER))
      .digest()
    if (!checksum.equals(data.subarray(CHECKED_HEADER, HEADER))) return discard('checksum mismatch')
    if (!data.subarray(24, 56).equals(digestBytes(manifest.digest)))
      return { status: { state: 'other-manifest' } }
    if (fileCount !== manifest.fileCount) return discard('made for a manifest of another size')
    const words = new Uint32Array(data.buffer, HEADER, count * WORDS)
    for (let at = VERDICT; at < words.length; at += WORDS)
      if ((words[at] as number) > fileCount) return discard('a verdict names no manifest entry')
    let caps: unknown
    try {
      caps = JSON.parse(data.toString('utf8', HEADER + count * RECORD))
    } catch {
      return discard('capabilities table is not JSON')
    }
    if (!Array.isArray(caps) || !caps.every((c) => typeof c === 'string'))
      return discard('capabilities table is malformed')
    for (let at = CAPS; at < words.length; at += WORDS)
      if ((words[at] as number) > caps.length) return discard('capabilities table is malformed')
    return {
      shared: { buffer: data.buffer as SharedArrayBuffer, count, caps },
      status: { state: 'loaded', entries: count },
    }
  }
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

function digestBytes(digest: string): Buffer {
  const hex = digest.startsWith('sha256:') ? digest.slice(7) : ''
  const bytes = Buffer.alloc(32)
  if (/^[0-9a-f]{64}$/.test(hex)) bytes.write(hex, 'hex')
  return bytes
}

function compareWords(a: Uint32Array, ai: number, b: Uint32Array, bi: number, n: number): number {
  for (let k = 0; k < n; k++) {
    const x = a[ai + k] as number
    const y = b[bi + k] as number
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

/**
 * The records of a new cache: those of the loaded cache that were used and are still true,
 * then what this scan learned. Built on the main thread as the walk's entries are compared.
 */
export class CacheWriter {
  private records = Buffer.alloc(0)
  private count = 0
  private readonly caps: string[] = []
  private readonly capsIndex = new Map<string, number>()
  private readonly hash = new Uint32Array(2)

  /** `expected`: about how many records there will be (a manifest's file count), to allocate once. */
  constructor(private readonly expected: number) {}

  get size(): number {
    return this.count
  }

  /**
   * Adds what is known of the entry at `fsPath` with stat `s` at `o`: the manifest entry it
   * matched (or -1), and for a regular file its digest and capabilities (when read).
   */
  add(fsPath: string | Buffer, s: Float64Array, o: number, entry: RecordContent): void {
    const record = this.next()
    encodeRecord(fsPath, s, o, entry, record, this.hash)
    if (entry.caps) record.writeUInt32LE(this.capsNumber(entry.caps), CAPS * 4)
  }

  /**
   * Adds records made elsewhere by `encodeRecord` (a walk worker's), with the capabilities of
   * those that have some: (record number in `records`, capability string) pairs.
   */
  addEncoded(records: Uint8Array, caps: [number, string][]): void {
    const count = records.length / RECORD
    const first = this.count
    this.reserve(first + count)
    this.records.set(records, first * RECORD)
    this.count += count
    for (const [k, capability] of caps)
      this.records.writeUInt32LE(this.capsNumber(capability), (first + k) * RECORD + CAPS * 4)
  }

  /** Keeps a record of the loaded cache as it is. */
  keep(cache: StatCache, record: number): void {
    const target = this.next()
    const { bytes, caps } = cache.raw(record)
    bytes.copy(target)
    if (caps !== undefined) target.writeUInt32LE(this.capsNumber(caps), CAPS * 4)
  }

  /** Writes the cache for this manifest, owner-readable only. */
  save(file: string, manifest: { digest: string; fileCount: number }): void {
    const total = this.count
    const capsJson = Buffer.from(JSON.stringify(this.caps))
    const room = Buffer.alloc(HEADER + total * RECORD + capsJson.length)
    // Sorted by key for binary search, one record per key: a later one (what this scan
    // learned) wins.
    const unique = packRecords(
      this.records.subarray(0, total * RECORD),
      room.subarray(HEADER, HEADER + total * RECORD),
    )
    const out = room.subarray(0, HEADER + unique * RECORD + capsJson.length)
    capsJson.copy(out, HEADER + unique * RECORD)
    MAGIC.copy(out, 0)
    out.writeUInt32LE(unique, 8)
    out.writeUInt32LE(capsJson.length, 12)
    out.writeUInt32LE(manifest.fileCount, 16)
    digestBytes(manifest.digest).copy(out, 24)
    createHash('sha256')
      .update(out.subarray(0, CHECKED_HEADER))
      .update(out.subarray(HEADER))
      .digest()
      .copy(out, CHECKED_HEADER)
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    writeFileAtomic(file, out, 0o600)
  }

  /** A capability string's index + 1 in the new cache's table. */
  private capsNumber(caps: string): number {
    let index = this.capsIndex.get(caps)
    if (index === undefined) {
      index = this.caps.push(caps)
      this.capsIndex.set(caps, index)
    }
    return index
  }

  private next(): Buffer {
    this.reserve(this.count + 1)
    return this.records.subarray(this.count * RECORD, ++this.count * RECORD)
  }

  /** Room for `total` records. */
  private reserve(total: number): void {
    if (total * RECORD <= this.records.length) return
    // Room for about every entry at once, allocated when the first record comes.
    const grown = Buffer.alloc(
      Math.max(
        this.records.length * 2,
        total * RECORD,
        (this.expected + (this.expected >>> 4) + 1024) * RECORD,
      ),
    )
    this.records.copy(grown, 0, 0, this.count * RECORD)
    this.records = grown
  }
}

/**
 * Scan cache records sorted by key (their first KEY_WORDS words: device, inode, path hash),
 * one per key with the last given winning, written to `out`; returns how many.
 */
export function packRecords(records: Uint8Array, out: Uint8Array): number {
  if (records.length % RECORD !== 0 || out.length < records.length)
    throw new TypeError('packRecords: records must be whole records, and out as large')
  const count = records.length / RECORD
  // Records are 4-byte aligned in a buffer of their own: read as words where they are.
  const words =
    records.byteOffset % 4 === 0
      ? new Uint32Array(records.buffer, records.byteOffset, count * WORDS)
      : new Uint32Array(records.slice().buffer)
  const order = new Uint32Array(count)
  for (let k = 0; k < count; k++) order[k] = k
  order.sort((i, j) => {
    const a = i * WORDS
    const b = j * WORDS
    for (let w = 0; w < KEY_WORDS; w++) {
      const x = words[a + w] as number
      const y = words[b + w] as number
      if (x !== y) return x < y ? -1 : 1
    }
    return i - j
  })
  let unique = 0
  for (let k = 0; k < count; k++) {
    const r = order[k] as number
    const next = order[k + 1]
    if (next !== undefined && compareWords(words, r * WORDS, words, next * WORDS, KEY_WORDS) === 0) continue
    out.set(records.subarray(r * RECORD, (r + 1) * RECORD), unique++ * RECORD)
  }
  return unique
}
