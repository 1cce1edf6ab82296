import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { errnoCode } from '../../errors.js'
import type { CacheStatus } from './protocol.js'

/*
 * The stat cache of quick scans. A file's content is known not to have changed while its
 * device, inode, size, mtime and ctime (in nanoseconds) are all the same: ctime cannot be set
 * from user space, so even a `touch -d` to an old time is seen. The cache maps (device, inode)
 * to that stat and the digest and capabilities read when the file had it.
 *
 * Binary, so that loading it costs a read and a checksum, not a parse:
 *   magic "DWSC0001" | u32 count | u32 caps JSON length | sha256 of everything after it (32 B)
 *   count records of 80 bytes, sorted by (dev, ino):
 *     u64 dev | u64 ino | u64 size | u64 mtimeNs | u64 ctimeNs | u32 capsIndex+1 (0: none) |
 *     u32 reserved | 32 B sha256
 *   caps JSON: an array of capability strings
 * It is written to a temporary file, fsynced and renamed, so a reader sees the old or the
 * new cache, never half of one; a cache that fails any check is discarded, never trusted.
 */
const MAGIC = Buffer.from('DWSC0001')
const HEADER = 8 + 4 + 4 + 32
const RECORD = 80

export interface StatIdentity {
  dev: bigint
  ino: bigint
  size: bigint
  mtimeNs: bigint
  ctimeNs: bigint
}

export interface CacheRecord extends StatIdentity {
  sha256: string
  caps?: string
}

export function statCacheFile(stateDir: string, rootDir: string, policyDigest: string): string {
  const id = createHash('sha256').update(`${rootDir}\0${policyDigest}`).digest('hex').slice(0, 16)
  return join(stateDir, `statcache-${id}.bin`)
}

/** A loaded cache: look a file up by its stat; a hit only when every field of the stat matches. */
export class StatCache {
  static readonly empty = new StatCache(new BigUint64Array(0), Buffer.alloc(0), [])

  private constructor(
    private readonly words: BigUint64Array,
    private readonly bytes: Buffer,
    private readonly caps: string[],
  ) {}

  get size(): number {
    return this.words.length / (RECORD / 8)
  }

  lookup(st: StatIdentity): { sha256: string; caps?: string } | undefined {
    const w = this.words
    const stride = RECORD / 8
    let lo = 0
    let hi = this.size - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const at = mid * stride
      const dev = w[at] as bigint
      const ino = w[at + 1] as bigint
      if (dev < st.dev || (dev === st.dev && ino < st.ino)) lo = mid + 1
      else if (dev > st.dev || ino > st.ino) hi = mid - 1
      else {
        if (w[at + 2] !== st.size || w[at + 3] !== st.mtimeNs || w[at + 4] !== st.ctimeNs) return undefined
        const offset = mid * RECORD
        const capsIndex = this.bytes.readUInt32LE(offset + 40)
        const sha256 = this.bytes.toString('hex', offset + 48, offset + 80)
        const caps = capsIndex ? this.caps[capsIndex - 1] : undefined
        return caps ? { sha256, caps } : { sha256 }
      }
    }
    return undefined
  }

  /** Reads and checks a cache file; anything wrong with it gives an empty cache and says why. */
  static load(file: string | undefined): { cache: StatCache; status: CacheStatus } {
    if (!file) return { cache: StatCache.empty, status: { state: 'absent' } }
    let data: Buffer
    try {
      data = readFileSync(file)
    } catch (error) {
      const code = errnoCode(error)
      if (code === 'ENOENT') return { cache: StatCache.empty, status: { state: 'absent' } }
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
    // Copied to an aligned buffer: a BigUint64Array view needs an offset that is a multiple of 8.
    const records = Buffer.alloc(count * RECORD)
    data.copy(records, 0, HEADER, HEADER + count * RECORD)
    const words = new BigUint64Array(records.buffer, records.byteOffset, (count * RECORD) / 8)
    return { cache: new StatCache(words, records, caps), status: { state: 'loaded', entries: count } }
  }
}

function discard(reason: string): { cache: StatCache; status: CacheStatus } {
  return { cache: StatCache.empty, status: { state: 'discarded', reason } }
}

/**
 * Encodes records as the cache's record table (sorted when the cache is saved). Capability
 * strings are kept aside as a JSON table after the records and referenced by index.
 */
export function encodeRecords(records: CacheRecord[]): Uint8Array {
  const sorted = records
  const body = Buffer.alloc(sorted.length * RECORD)
  const caps: string[] = []
  let count = 0
  for (const r of sorted) {
    const at = count++ * RECORD
    body.writeBigUInt64LE(r.dev, at)
    body.writeBigUInt64LE(r.ino, at + 8)
    body.writeBigUInt64LE(r.size, at + 16)
    body.writeBigUInt64LE(r.mtimeNs, at + 24)
    body.writeBigUInt64LE(r.ctimeNs, at + 32)
    body.writeUInt32LE(r.caps ? caps.push(r.caps) : 0, at + 40)
    body.write(r.sha256, at + 48, 'hex')
  }
  const trailer = Buffer.from(JSON.stringify(caps))
  const out = new Uint8Array(4 + count * RECORD + trailer.length)
  Buffer.from(out.buffer).writeUInt32LE(count, 0)
  out.set(body.subarray(0, count * RECORD), 4)
  out.set(trailer, 4 + count * RECORD)
  return out
}

/** Merges encoded record tables (one per worker) and writes the cache atomically, owner-readable only. */
export function saveStatCache(file: string, parts: Uint8Array[]): void {
  const records: Buffer[] = []
  const caps: string[] = []
  for (const part of parts) {
    const buf = Buffer.from(part.buffer, part.byteOffset, part.byteLength)
    const count = buf.readUInt32LE(0)
    const partCaps = JSON.parse(buf.toString('utf8', 4 + count * RECORD)) as string[]
    for (let i = 0; i < count; i++) {
      const record = Buffer.from(buf.subarray(4 + i * RECORD, 4 + (i + 1) * RECORD))
      const index = record.readUInt32LE(40)
      if (index) record.writeUInt32LE(caps.push(partCaps[index - 1] as string), 40)
      records.push(record)
    }
  }
  // Two workers may both have seen one inode through two hard links: keep one record.
  const keyed = records.map((r) => ({ dev: r.readBigUInt64LE(0), ino: r.readBigUInt64LE(8), r }))
  keyed.sort(byIdentity)
  const unique = keyed
    .filter((k, i) => i === 0 || byIdentity(k, keyed[i - 1] as { dev: bigint; ino: bigint }) !== 0)
    .map((k) => k.r)
  const payload = Buffer.concat([...unique, Buffer.from(JSON.stringify(caps))])
  const header = Buffer.alloc(HEADER)
  MAGIC.copy(header, 0)
  header.writeUInt32LE(unique.length, 8)
  header.writeUInt32LE(payload.length - unique.length * RECORD, 12)
  createHash('sha256').update(payload).digest().copy(header, 16)
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  const fd = openSync(tmp, 'w', 0o600)
  try {
    writeSync(fd, header)
    writeSync(fd, payload)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, file)
}

function byIdentity(a: { dev: bigint; ino: bigint }, b: { dev: bigint; ino: bigint }): number {
  if (a.dev !== b.dev) return a.dev < b.dev ? -1 : 1
  return a.ino < b.ino ? -1 : a.ino > b.ino ? 1 : 0
}
