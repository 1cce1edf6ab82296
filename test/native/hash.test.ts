import { createHash } from 'node:crypto'
import { closeSync, ftruncateSync, mkdirSync, openSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CACHE_KEY_WORDS, CACHE_RECORD_BYTES } from '../../src/native/constants.js'
import { fsprobe, HASH_CHANGED, NOT_STATED, ST, STAT_FIELDS } from '../../src/native/fsprobe.js'
import { packRecords } from '../../src/probes/files/stat-cache.js'
import { tempDir } from '../helpers/cli.js'

let dir: { path: string; cleanup: () => void }
beforeAll(() => {
  dir = tempDir()
})
afterAll(() => dir.cleanup())

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex')

/** hashFile's answer for one path: its status and, when it read the file, the digest and size. */
function hashOne(path: string) {
  const stat = new Float64Array(STAT_FIELDS)
  const digest = Buffer.alloc(32)
  const status = fsprobe.hashFile(path, false, stat, digest, Buffer.alloc(64))
  return { status, digest: digest.toString('hex'), size: stat[ST.size] }
}

describe('native hashing', () => {
  test('files of every size around the read buffer give the digest of their bytes', () => {
    // Sizes around the read buffer (128 KiB) and a few of its multiples.
    const sizes = [0, 1, 131_071, 131_072, 262_143, 262_144, 262_145, 4_194_304, 4_194_305, 9_000_001]
    for (const size of sizes) {
      const data = Buffer.alloc(size)
      for (let i = 0; i < size; i += 4093) data[i] = (i * 7) & 0xff
      const path = join(dir.path, `sized-${size}`)
      writeFileSync(path, data)
      expect(hashOne(path), `size ${size}`).toEqual({ status: 0, digest: sha256(data), size })
    }
  })

  test('a file that changes while it is hashed: "changed", or the digest of one whole version', async () => {
    // Another thread cuts the file to nothing and back to its size as fast as it can, while
    // this one hashes it with plain reads: each answer is one whole version of the file, or
    // "changed while read" (the stat after reading differs), never a mix, never a crash.
    const path = join(dir.path, 'truncated')
    const size = 8 << 20
    writeFileSync(path, Buffer.alloc(0))
    const fd = openSync(path, 'r+')
    ftruncateSync(fd, size)
    const control = new Int32Array(new SharedArrayBuffer(4))
    const truncator = new Worker(
      `const { ftruncateSync } = require('node:fs')
       const { workerData: { fd, size, control } } = require('node:worker_threads')
       while (Atomics.load(control, 0) === 0) { ftruncateSync(fd, 0); ftruncateSync(fd, size) }`,
      { eval: true, workerData: { fd, size, control } },
    )
    const zeros = sha256(Buffer.alloc(size))
    const empty = sha256('')
    const statuses = new Set<number>()
    try {
      for (let attempt = 0; attempt < 400 && !statuses.has(HASH_CHANGED); attempt++) {
        const r = hashOne(path)
        statuses.add(r.status)
        if (r.status === 0) expect([`0:${empty}`, `${size}:${zeros}`]).toContain(`${r.size}:${r.digest}`)
        else expect([HASH_CHANGED, -2]).toContain(r.status)
      }
    } finally {
      Atomics.store(control, 0, 1)
      await new Promise((resolve) => truncator.once('exit', resolve))
      closeSync(fd)
    }
    expect(statuses).toContain(HASH_CHANGED)
    writeFileSync(path, 'after\n')
    expect(hashOne(path)).toEqual({ status: 0, digest: sha256('after\n'), size: 6 })
  })

  test('hashFiles: names of one directory as listed (ASCII, UTF-8, other bytes), each status its own', () => {
    const root = join(dir.path, 'batch')
    mkdirSync(root)
    const names = [
      Buffer.from('plain'),
      Buffer.from('naïve-日本'),
      Buffer.from([0x66, 0xff, 0x2e, 0x62, 0x69, 0x6e]),
    ]
    const contents = ['one\n', 'two'.repeat(100_000), 'three\n']
    for (const [k, name] of names.entries())
      writeFileSync(Buffer.concat([Buffer.from(`${root}/`), name]), contents[k] as string)
    mkdirSync(join(root, 'a-directory'))
    const listed = [...names, Buffer.from('missing'), Buffer.from('a-directory')]
    const joined = Buffer.concat(listed.flatMap((name) => [name, Buffer.from([0])]))
    const starts = new Int32Array(listed.length)
    for (let k = 1; k < listed.length; k++) starts[k] = joined.indexOf(0, starts[k - 1]) + 1
    const status = new Int32Array(listed.length)
    const stats = new Float64Array(listed.length * STAT_FIELDS)
    const digests = Buffer.alloc(listed.length * 32)
    const caps = Buffer.alloc(listed.length * 64)
    fsprobe.hashFiles(root, joined, starts, new Uint8Array(listed.length), status, stats, digests, caps)
    expect([...status]).toEqual([0, 0, 0, -2, -100001])
    contents.forEach((content, k) => {
      expect(digests.toString('hex', k * 32, k * 32 + 32)).toBe(sha256(content))
      expect(stats[k * STAT_FIELDS + ST.size]).toBe(Buffer.byteLength(content))
    })
    expect(() =>
      fsprobe.hashFiles(join(root, 'gone'), joined, starts, new Uint8Array(5), status, stats, digests, caps),
    ).toThrow(/ENOENT|opendir/)
    expect(() =>
      fsprobe.hashFiles(
        root,
        joined,
        Int32Array.of(joined.length),
        new Uint8Array(1),
        status,
        stats,
        digests,
        caps,
      ),
    ).toThrow(RangeError)
  })
})

describe('packRecords', () => {
  const RECORD = CACHE_RECORD_BYTES
  const KEY_WORDS = CACHE_KEY_WORDS
  /** The reference: sort by key words (then by position), keep the last of each key. */
  function reference(records: Buffer): Buffer {
    const count = records.length / RECORD
    const key = (i: number) => [...Array(KEY_WORDS)].map((_, w) => records.readUInt32LE(i * RECORD + 4 * w))
    const order = [...Array(count).keys()].sort((a, b) => {
      const [x, y] = [key(a), key(b)]
      for (let w = 0; w < KEY_WORDS; w++)
        if (x[w] !== y[w]) return (x[w] as number) < (y[w] as number) ? -1 : 1
      return a - b
    })
    const kept = order.filter(
      (i, k) => k + 1 === count || key(i).join() !== key(order[k + 1] as number).join(),
    )
    return Buffer.concat(kept.map((i) => records.subarray(i * RECORD, (i + 1) * RECORD)))
  }

  test('sorts by key as unsigned words, one record per key, the last given winning', () => {
    let seed = 7
    const random = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
      return seed
    }
    for (const count of [0, 1, 2, 50, 3000]) {
      const records = Buffer.alloc(count * RECORD)
      for (let i = 0; i < count; i++) {
        // Few distinct keys, so that many repeat; words above 2^31 test unsigned order.
        for (let w = 0; w < KEY_WORDS; w++)
          records.writeUInt32LE(w === 3 ? (random() % 4) * 0x40000000 : random() % 3, i * RECORD + 4 * w)
        records.writeUInt32LE(i, i * RECORD + 4 * KEY_WORDS) // which record this is
      }
      const out = Buffer.alloc(records.length)
      const unique = packRecords(records, out)
      expect(out.subarray(0, unique * RECORD).equals(reference(records)), `count ${count}`).toBe(true)
    }
    expect(() => packRecords(Buffer.alloc(RECORD + 1), Buffer.alloc(RECORD + 1))).toThrow(TypeError)
  })
})

describe('scanDir with lazy files', () => {
  test("a small directory: regular files by type only (NOT_STATED), the rest lstat'ed; a large one: all", () => {
    const S_IFMT = 0o170000
    const small = join(dir.path, 'lazy-small')
    mkdirSync(join(small, 'sub'), { recursive: true })
    writeFileSync(join(small, 'file'), 'x')
    symlinkSync('file', join(small, 'link'))
    const [names, stats] = fsprobe.scanDir(small, true)
    const listed = new Map(
      names
        .toString()
        .split('\0')
        .slice(0, -1)
        .map((name, k) => [name, stats.subarray(k * STAT_FIELDS, (k + 1) * STAT_FIELDS)]),
    )
    expect([...listed.keys()].sort()).toEqual(['file', 'link', 'sub'])
    expect(listed.get('file')?.[ST.errno]).toBe(NOT_STATED)
    expect((listed.get('file')?.[ST.mode] as number) & S_IFMT).toBe(0o100000)
    expect(listed.get('file')?.[ST.size]).toBe(0) // unknown until opened
    expect(listed.get('link')?.[ST.errno]).toBe(0)
    expect((listed.get('link')?.[ST.mode] as number) & S_IFMT).toBe(0o120000)
    expect(listed.get('sub')?.[ST.errno]).toBe(0)
    // More regular files than a walk keeps in one job: their sizes are needed to split it.
    const large = join(dir.path, 'lazy-large')
    mkdirSync(large)
    for (let i = 0; i < 65; i++) writeFileSync(join(large, `f${i}`), 'y'.repeat(i))
    const [, largeStats] = fsprobe.scanDir(large, true)
    for (let k = 0; k < 65; k++) expect(largeStats[k * STAT_FIELDS + ST.errno]).toBe(0)
  })
})
