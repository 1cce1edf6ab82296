import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  chmodSync,
  chownSync,
  linkSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { encodeManifest, openManifest, readManifest, writeManifest } from '../../src/manifest/io.js'
import { MANIFEST_SCHEMA, type Manifest } from '../../src/manifest/schema.js'
import { runCli, tempDir } from '../helpers/cli.js'
import { CACHE_HEADER, forgeRecordTimes, recordOffsets } from '../helpers/scan-cache.js'
import { buildImageRoot } from '../helpers/tree.js'

/*
 * The scan cache's verdicts let a quick scan skip every entry whose stat at its path is the
 * one it had when it last matched the manifest. These tests change a real tree in each way
 * that must not hide behind a verdict, and check that a quick scan with a warm cache reports
 * exactly what a full scan (which trusts no cache) reports.
 */

let dir: { path: string; cleanup: () => void }
let root: string
let manifest: string
let state: string

/** A small image root, its manifest, and a state directory for the scan cache. */
async function imageWithManifest() {
  dir = tempDir()
  root = join(dir.path, 'root')
  manifest = join(dir.path, 'm.json.gz')
  state = join(dir.path, 'state')
  buildImageRoot(root)
  await capture()
}
afterEach(() => dir.cleanup())

const capture = () => runCli(['manifest', 'capture', '--image', 'v@1', '--root', root, '--out', manifest])

interface Scan {
  code: number | null
  report: {
    drift: { subject: string; change: string; attributes?: string[] }[]
    scan: { files: number; bytesHashed: number }
  }
  stderr: string
}

const scan = async (mode: 'quick' | 'full'): Promise<Scan> => {
  const args = ['scan', '--manifest', manifest, '--root', root, '--mode', mode, '--format', 'json']
  // A full scan is given no state directory: it reads everything and leaves nothing behind.
  const r = await runCli(mode === 'quick' ? [...args, '--state-dir', state] : args)
  return { code: r.code, report: JSON.parse(r.stdout), stderr: r.stderr }
}

/** The drift a report names, comparable across scans. */
const driftOf = (s: Scan) => JSON.stringify(s.report.drift)

/** Quick with a warm cache and full agree, and the quick scan found what `expected` says. */
async function expectSameAsFull(expected: { subject: string; change: string; attributes?: string[] }[]) {
  const quick = await scan('quick')
  const full = await scan('full')
  expect(quick.stderr).toBe('')
  expect(driftOf(quick)).toBe(driftOf(full))
  expect(quick.code).toBe(full.code)
  expect(quick.report.scan.files).toBe(full.report.scan.files)
  expect(quick.report.drift).toEqual(expected.map((e) => expect.objectContaining(e)))
  return quick
}

const cacheFile = () => join(state, readdirSync(state)[0] as string)

const verdicts = (data: Buffer) => recordOffsets(data).map((at) => data.readUInt32LE(at + 68))
/** Rewrites the checksum, as only a forger would: the cache's own checks must still hold. */
const reseal = (data: Buffer) => {
  createHash('sha256')
    .update(data.subarray(0, 64))
    .update(data.subarray(CACHE_HEADER))
    .digest()
    .copy(data, 64)
}

describe('quick scans with a warm scan cache', () => {
  beforeEach(imageWithManifest)

  test('an unchanged tree: every entry is known from its verdict, nothing is read, no drift', async () => {
    const first = await scan('quick')
    expect(first.code).toBe(0)
    expect(first.report.scan.bytesHashed).toBeGreaterThan(0)
    const data = readFileSync(cacheFile())
    // One verdict per manifest entry: every entry of the tree matched.
    const named = verdicts(data).filter((v) => v > 0)
    expect(named.length).toBe(data.readUInt32LE(16))
    expect(new Set(named).size).toBe(named.length)
    expect(statSync(cacheFile()).mode & 0o777).toBe(0o600)
    const second = await expectSameAsFull([])
    expect(second.report.scan.bytesHashed).toBe(0)
    expect(second.report.scan.files).toBe(first.report.scan.files)
    // Nothing new was learned: the cache is left as it was.
    expect(readFileSync(cacheFile()).equals(data)).toBe(true)
  })

  test('content changed with size and mtime put back (ctime moved)', async () => {
    await scan('quick')
    const ls = join(root, 'usr/bin/ls')
    const before = statSync(ls, { bigint: true })
    // touch -r copies the timestamps to the nanosecond; utimes through a Date would not.
    const reference = join(dir.path, 'reference')
    writeFileSync(reference, '')
    execFileSync('touch', ['-r', ls, reference])
    const content = readFileSync(ls)
    content[content.length - 2] = 0x21
    writeFileSync(ls, content)
    execFileSync('touch', ['-r', reference, ls])
    const after = statSync(ls, { bigint: true })
    expect(after.mtimeNs).toBe(before.mtimeNs)
    expect(after.size).toBe(before.size)
    expect(after.ctimeNs).not.toBe(before.ctimeNs)
    const quick = await expectSameAsFull([
      { subject: '/usr/bin/ls', change: 'modified', attributes: ['sha256'] },
    ])
    expect(quick.report.scan.bytesHashed).toBe(content.length)
  })

  test('a mode change and an owner change', async () => {
    await scan('quick')
    chmodSync(join(root, 'usr/bin/cat'), 0o4755)
    chmodSync(join(root, 'usr/share/doc/base'), 0o700)
    chownSync(join(root, 'usr/lib/libc.so.6'), 1, 1)
    await expectSameAsFull([
      { subject: '/usr/bin/cat', change: 'modified', attributes: ['mode'] },
      { subject: '/usr/lib/libc.so.6', change: 'modified', attributes: ['uid', 'gid'] },
      { subject: '/usr/share/doc/base', change: 'modified', attributes: ['mode'] },
    ])
  })

  test('a file renamed: the same inode at another path', async () => {
    await scan('quick')
    renameSync(join(root, 'usr/bin/cat'), join(root, 'usr/bin/kitty'))
    await expectSameAsFull([
      { subject: '/usr/bin/cat', change: 'removed' },
      { subject: '/usr/bin/kitty', change: 'added' },
    ])
  })

  test('a directory renamed: the files below keep inode and ctime, only their paths change', async () => {
    await scan('quick')
    const readme = join(root, 'usr/share/doc/base/README')
    const ctime = statSync(readme).ctimeMs
    renameSync(join(root, 'usr/share/doc/base'), join(root, 'usr/share/doc/other'))
    expect(statSync(join(root, 'usr/share/doc/other/README')).ctimeMs).toBe(ctime)
    await expectSameAsFull([
      { subject: '/usr/share/doc/base', change: 'removed' },
      { subject: '/usr/share/doc/base/README', change: 'removed' },
      { subject: '/usr/share/doc/other', change: 'added' },
      { subject: '/usr/share/doc/other/README', change: 'added' },
    ])
  })

  test('a new hard link to a known file', async () => {
    await scan('quick')
    linkSync(join(root, 'usr/bin/ls'), join(root, 'usr/bin/ls2'))
    await expectSameAsFull([{ subject: '/usr/bin/ls2', change: 'added' }])
  })

  test('a file replaced by another of the same size (a new inode)', async () => {
    await scan('quick')
    const lib = join(root, 'usr/lib/libc.so.6')
    const size = statSync(lib).size
    writeFileSync(`${lib}.new`, 'x'.repeat(size))
    renameSync(`${lib}.new`, lib)
    await expectSameAsFull([{ subject: '/usr/lib/libc.so.6', change: 'modified', attributes: ['sha256'] }])
  })

  test('a file removed: its entry, never marked, is reported', async () => {
    await scan('quick')
    rmSync(join(root, 'usr/share/doc/base/README'))
    await expectSameAsFull([{ subject: '/usr/share/doc/base/README', change: 'removed' }])
  })

  test('a drifted file stays drifted, scan after scan', async () => {
    await scan('quick')
    writeFileSync(join(root, 'usr/bin/cat'), '#!/bin/sh\necho dog\n')
    await expectSameAsFull([{ subject: '/usr/bin/cat', change: 'modified', attributes: ['sha256'] }])
    const again = await expectSameAsFull([
      { subject: '/usr/bin/cat', change: 'modified', attributes: ['sha256'] },
    ])
    // Its digest was known from the cache: the file was not read again.
    expect(again.report.scan.bytesHashed).toBe(0)
  })

  test('another manifest: the cache made for the old one is not used', async () => {
    await scan('quick')
    writeFileSync(join(root, 'usr/bin/new-tool'), '#!/bin/sh\n')
    await capture()
    const quick = await expectSameAsFull([])
    expect(quick.report.scan.bytesHashed).toBeGreaterThan(0)
    // And the cache is now the new manifest's.
    expect((await expectSameAsFull([])).report.scan.bytesHashed).toBe(0)
  })
})

describe('a scan cache that is not as written is never trusted', () => {
  beforeEach(imageWithManifest)

  test('a forged verdict (checksum not fixed): discarded, said on stderr, the change found', async () => {
    await scan('quick')
    // Tamper with a file, then make its record claim the new stat; the verdict it keeps would
    // hide the change if it were believed.
    const cat = join(root, 'usr/bin/cat')
    writeFileSync(cat, readFileSync(cat, 'utf8').replace('cat', 'dog'))
    const st = statSync(cat, { bigint: true })
    const file = cacheFile()
    const data = readFileSync(file)
    const forged = forgeRecordTimes(data, st)
    expect(forged).toBe(1)
    writeFileSync(file, data)
    const quick = await scan('quick')
    expect(quick.stderr).toMatch(
      /stat cache .* was discarded \(checksum mismatch\); every file was read again/,
    )
    expect(quick.report.drift).toEqual([
      expect.objectContaining({ subject: '/usr/bin/cat', attributes: ['sha256'] }),
    ])
    expect(quick.report.scan.bytesHashed).toBeGreaterThan(0)
  })

  test.each([
    {
      name: 'a verdict that names no manifest entry',
      reason: 'a verdict names no manifest entry',
      edit: (data: Buffer) => {
        data.writeUInt32LE(data.readUInt32LE(16) + 5, CACHE_HEADER + 68)
        reseal(data)
      },
    },
    {
      name: 'a cache cut short',
      reason: 'truncated',
      edit: (data: Buffer) => data.subarray(0, data.length - 7),
    },
    {
      name: 'not a cache at all',
      reason: 'not a driftwatch stat cache',
      edit: () => Buffer.from('garbage'),
    },
  ])('$name: discarded and said so', async ({ edit, reason }) => {
    await scan('quick')
    const file = cacheFile()
    const data = readFileSync(file)
    writeFileSync(file, edit(data) ?? data)
    const quick = await scan('quick')
    expect(quick.stderr).toContain(`was discarded (${reason}); every file was read again`)
    expect(quick.report.drift).toEqual([])
    expect(quick.report.scan.bytesHashed).toBeGreaterThan(0)
    // A good cache is written in its place.
    expect((await scan('quick')).stderr).toBe('')
  })
})

describe('a manifest read for a scan: its files parsed only when asked for', () => {
  beforeEach(() => {
    dir = tempDir()
  })

  const entries = [
    {
      path: '/usr/bin/caf\udce9',
      type: 'file',
      mode: '0755',
      uid: 0,
      gid: 0,
      size: 3,
      sha256: 'a'.repeat(64),
    },
    { path: '/usr/bin/ls', type: 'file', mode: '4755', uid: 0, gid: 0, size: 10, sha256: 'b'.repeat(64) },
  ] as const
  const whole = (): Manifest => ({
    schema: MANIFEST_SCHEMA,
    image: { id: 'web', version: '1', capturedAt: '2026-11-27T00:00:00.000Z' },
    policy: loadPolicy(),
    files: entries.map((e) => ({ ...e })),
    packages: [{ manager: 'deb', name: 'coreutils', arch: 'amd64', version: '9.1-1' }],
    config: [{ key: 'sysctl:net.ipv4.ip_forward', value: '0' }],
  })
  /** A manifest file as encodeManifest writes it, with `edit` applied to its text and the digest made right. */
  const writeEdited = (file: string, edit: (text: string) => string) => {
    const text = edit(encodeManifest(whole()).toString('utf8').trimEnd())
    const rest = text.slice(text.indexOf(',') + 1)
    const digest = `sha256:${createHash('sha256').update(`{${rest}`).digest('hex')}`
    writeFileSync(file, `{"digest":"${digest}",${rest}\n`)
  }

  test.each(['m.json', 'm.json.gz', 'pretty.json'])(
    '%s: the same manifest and digest as a whole read',
    (name) => {
      const file = join(dir.path, name)
      writeManifest(file, whole())
      if (name === 'pretty.json')
        writeFileSync(file, JSON.stringify(JSON.parse(readFileSync(file, 'utf8')), null, 2))
      const { manifest: read, digest } = readManifest(file)
      const opened = openManifest(file)
      expect(opened.digest).toBe(digest)
      expect(opened.fileCount).toBe(2)
      const { files, ...head } = read
      expect(opened.head).toEqual(head)
      expect(opened.files()).toEqual(files)
    },
  )

  test('only some entries, parsed alone: the same as those of a whole read', () => {
    const file = join(dir.path, 'm.json')
    writeManifest(file, whole())
    const { files } = readManifest(file).manifest
    expect(openManifest(file).filesAt?.([1])).toEqual([files[1]])
    expect(openManifest(file).filesAt?.([0, 1])).toEqual(files)
    // After a whole parse, from the parsed entries.
    const opened = openManifest(file)
    opened.files()
    expect(opened.filesAt?.([1])).toEqual([files[1]])
  })

  test('an entry parsed alone that is not valid: none given, and a whole read says where', () => {
    const file = join(dir.path, 'bad.json')
    writeEdited(file, (text) => text.replace('"mode":"4755"', '"mode":"9999"'))
    const opened = openManifest(file)
    expect(opened.filesAt?.([0])).toHaveLength(1)
    expect(opened.filesAt?.([1])).toBeUndefined()
    expect(() => opened.files()).toThrow(/files\[1\]\.mode/)
  })

  test('a file entry that is not valid: the error a whole read gives, when the files are asked for', () => {
    const file = join(dir.path, 'bad.json')
    writeEdited(file, (text) => text.replace('"mode":"4755"', '"mode":"9999"'))
    expect(() => readManifest(file)).toThrow(/files\[1\]\.mode/)
    const opened = openManifest(file)
    expect(opened.fileCount).toBe(2)
    expect(() => opened.files()).toThrow(/files\[1\]\.mode/)
  })

  test('a member named twice is read as a whole read reads it', () => {
    const file = join(dir.path, 'twice.json')
    writeEdited(file, (text) => text.replace(',"image":', ',"files":[],"image":'))
    expect(readManifest(file).manifest.files).toEqual([])
    const opened = openManifest(file)
    expect(opened.fileCount).toBe(0)
    expect(opened.files()).toEqual([])
  })

  test('content changed after capture: an integrity failure before anything is used', () => {
    const file = join(dir.path, 'tampered.json')
    writeManifest(file, whole())
    writeFileSync(file, readFileSync(file, 'utf8').replace('"size":10', '"size":11'))
    expect(() => openManifest(file)).toThrow(/does not match the recorded/)
  })
})
