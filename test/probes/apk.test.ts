import { createHash } from 'node:crypto'
import { lstatSync, readFileSync, readlinkSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import {
  apkProbe,
  decodeApkChecksum,
  parseApkInstalled,
  readApkInstalled,
} from '../../src/probes/packages/apk.js'

// The fixture's database is in apk's real format: the musl and busybox stanzas are those of a real
// Alpine 3.16 x86_64 database, alpine-baselayout's that of a real 3.4.3-r1 one made x86_64, all
// trimmed to the files the fixture holds. Stand-in binaries carry their own checksums; the symlinks
// and /etc/motd are the real ones, so their checksums are the real ones too.
const ALPINE = fileURLToPath(new URL('../fixtures/roots/alpine', import.meta.url))
const DEBIAN = fileURLToPath(new URL('../fixtures/roots/debian-12', import.meta.url))

describe('decodeApkChecksum', () => {
  test.each([
    // sha1("/bin/busybox"): the checksum of busybox's /bin/sh symlink is that of its target.
    {
      value: 'Q1pcfTfDNEbNKQc2s1tia7da05M8Q=',
      digest: { algorithm: 'sha1', value: hex('sha1', '/bin/busybox') },
    },
    { value: `X1${hex('sha1', '/run')}`, digest: { algorithm: 'sha1', value: hex('sha1', '/run') } },
    { value: `Q2${b64('sha256', 'x')}`, digest: { algorithm: 'sha256', value: hex('sha256', 'x') } },
    { value: hex('md5', 'x'), digest: { algorithm: 'md5', value: hex('md5', 'x') } },
    { value: 'Q1pcfTfDNEbNKQc2s1ti', digest: undefined },
    { value: 'Q3pcfTfDNEbNKQc2s1tia7da05M8Q=', digest: undefined },
    { value: '', digest: undefined },
  ])('$value', ({ value, digest }) => {
    expect(decodeApkChecksum(value)).toEqual(digest)
  })
})

describe('parseApkInstalled', () => {
  test.each([
    {
      name: 'files are in the last F: directory, with the Z: after them',
      text: 'P:a\nV:1-r0\nA:x86_64\nF:etc\nR:motd\nZ:Q1SLkS9hBidUbPwwrw+XR0Whv3ww8=\nF:var\nR:run\na:0:0:777\nZ:Q11/SNZz/8cK2dSKK+cJpVrZIuF4Q=\n',
      files: [
        { path: '/etc' },
        {
          path: '/etc/motd',
          digest: { algorithm: 'sha1', value: '48b912f610627546cfc30af0f974745a1bf7c30f' },
        },
        { path: '/var' },
        { path: '/var/run', digest: { algorithm: 'sha1', value: hex('sha1', '/run') } },
      ],
    },
    {
      name: 'a directory with its M: and a file without a checksum',
      text: 'P:a\nV:1-r0\nA:x86_64\nF:tmp\nM:0:0:1777\nF:usr/bin\nR:tool\n\n',
      files: [{ path: '/tmp' }, { path: '/usr/bin' }, { path: '/usr/bin/tool' }],
    },
    { name: 'a package without files', text: 'P:a\nV:1-r0\nA:noarch\n', files: [] },
  ])('$name', ({ text, files }) => {
    const parsed = parseApkInstalled(text)
    expect(parsed.packages.length).toBe(1)
    expect(parsed.files.get(`apk:a:${parsed.packages[0]?.arch}`)).toEqual(files)
  })

  test('stanzas separated by blank lines; fields apk does not need ignored', () => {
    const text =
      'C:Q1aCu0LmUDoAFSOX49uHvkYC1WasQ=\nP:musl\nV:1.2.3-r0\nA:x86_64\nT:the musl c library\n\n\nP:zlib\nV:1.2.13-r1\nA:aarch64\np:so:libz.so.1=1.2.13'
    expect(parseApkInstalled(text).packages).toEqual([
      { manager: 'apk', name: 'musl', arch: 'x86_64', version: '1.2.3-r0' },
      { manager: 'apk', name: 'zlib', arch: 'aarch64', version: '1.2.13-r1' },
    ])
  })
})

describe('the apk probe on fixture roots', () => {
  test('packages of the Alpine root', async () => {
    expect(await apkProbe.collect({ rootDir: ALPINE, live: false })).toEqual([
      { manager: 'apk', name: 'musl', arch: 'x86_64', version: '1.2.3-r0' },
      { manager: 'apk', name: 'busybox', arch: 'x86_64', version: '1.35.0-r17' },
      { manager: 'apk', name: 'alpine-baselayout', arch: 'x86_64', version: '3.4.3-r1' },
    ])
  })

  test('every file checksum is that of the file in the root (a symlink: of its target)', () => {
    const db = readApkInstalled(ALPINE)
    const files = [...(db?.files.values() ?? [])].flat().filter((f) => f.digest)
    expect(files.map((f) => f.path).sort()).toEqual([
      '/bin/busybox',
      '/bin/sh',
      '/etc/motd',
      '/etc/securetty',
      '/lib/ld-musl-x86_64.so.1',
      '/lib/libc.musl-x86_64.so.1',
      '/var/run',
    ])
    for (const file of files) {
      const path = ALPINE + file.path
      const content = lstatSync(path).isSymbolicLink() ? readlinkSync(path) : readFileSync(path)
      expect({ path: file.path, sha1: createHash('sha1').update(content).digest('hex') }).toEqual({
        path: file.path,
        sha1: file.digest?.value,
      })
    }
  })

  test('a root without an apk database has no apk packages', async () => {
    expect(await apkProbe.collect({ rootDir: DEBIAN, live: false })).toEqual([])
  })
})

function hex(algorithm: string, text: string): string {
  return createHash(algorithm).update(text).digest('hex')
}

function b64(algorithm: string, text: string): string {
  return createHash(algorithm).update(text).digest('base64')
}
