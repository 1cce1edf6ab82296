import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { manifestDigest, readManifest, writeManifest } from '../../src/manifest/io.js'
import { MANIFEST_SCHEMA, type Manifest } from '../../src/manifest/schema.js'
import { tempDir } from '../helpers/cli.js'

let dir: { path: string; cleanup: () => void }
beforeAll(() => {
  dir = tempDir()
})
afterAll(() => dir.cleanup())

const manifest: Manifest = {
  schema: MANIFEST_SCHEMA,
  image: { id: 'web', version: '1', capturedAt: '2026-11-27T00:00:00.000Z' },
  policy: loadPolicy(),
  files: [
    {
      path: '/usr/bin/caf\udce9',
      type: 'file',
      mode: '0755',
      uid: 0,
      gid: 0,
      size: 3,
      sha256: 'a'.repeat(64),
    },
    {
      path: '/usr/bin/ls',
      type: 'file',
      mode: '4755',
      uid: 0,
      gid: 0,
      size: 10,
      sha256: 'b'.repeat(64),
      package: 'deb:coreutils:amd64',
    },
  ],
  packages: [{ manager: 'deb', name: 'coreutils', arch: 'amd64', version: '9.1-1' }],
  config: [{ key: 'sysctl:net.ipv4.ip_forward', value: '0' }],
}

describe('manifest files', () => {
  test('write then read gives the same manifest and digest, plain and gzipped', () => {
    for (const name of ['m.json', 'm.json.gz']) {
      const file = join(dir.path, name)
      const digest = writeManifest(file, manifest)
      const read = readManifest(file)
      expect(read.digest).toBe(digest)
      expect(read.manifest.files).toEqual(manifest.files)
      expect(read.manifest.files[0]?.path).toBe('/usr/bin/caf\udce9')
    }
  })

  test('the digest leads the file and covers the canonical content without it', () => {
    const file = join(dir.path, 'lead.json')
    const digest = writeManifest(file, manifest)
    const text = readFileSync(file, 'utf8')
    expect(text.startsWith(`{"digest":"${digest}",`)).toBe(true)
    expect(manifestDigest(manifest)).toBe(digest)
  })

  test('a re-formatted manifest (pretty-printed, keys reordered) keeps its digest: the slow path', () => {
    const file = join(dir.path, 'pretty.json')
    const digest = writeManifest(file, manifest)
    const parsed = JSON.parse(readFileSync(file, 'utf8'))
    const reordered = { schema: parsed.schema, files: parsed.files, digest: parsed.digest, ...parsed }
    writeFileSync(file, JSON.stringify(reordered, null, 4))
    expect(readManifest(file).digest).toBe(digest)
    writeFileSync(`${file}.gz`, gzipSync(JSON.stringify(reordered, null, 1)))
    expect(readManifest(`${file}.gz`).digest).toBe(digest)
  })

  test.each([
    {
      name: 'a file entry changed',
      edit: (m: Manifest) => ({ ...m, files: [{ ...m.files[0], size: 4 }, m.files[1]] }),
    },
    {
      name: 'a package changed',
      edit: (m: Manifest) => ({ ...m, packages: [{ ...m.packages[0], version: '9.2-1' }] }),
    },
    {
      name: 'the policy changed',
      edit: (m: Manifest) => ({
        ...m,
        policy: { ...m.policy, files: { ...m.policy.files, include: ['/opt/**'] } },
      }),
    },
  ])('$name after capture: integrity failure, on both paths', ({ edit }) => {
    const file = join(dir.path, 'tampered.json')
    const digest = writeManifest(file, manifest)
    const tampered = { ...edit(JSON.parse(readFileSync(file, 'utf8'))), digest }
    writeFileSync(
      file,
      `{"digest":"${digest}",${JSON.stringify({ ...tampered, digest: undefined }).slice(1)}`,
    )
    expect(() => readManifest(file)).toThrow(/does not match the recorded/)
    writeFileSync(file, JSON.stringify(tampered, null, 2))
    expect(() => readManifest(file)).toThrow(/does not match the recorded/)
  })
})
