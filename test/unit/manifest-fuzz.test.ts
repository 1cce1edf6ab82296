import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { DriftwatchError } from '../../src/errors.js'
import { encodeManifest, openManifest, readManifest } from '../../src/manifest/io.js'
import { MANIFEST_SCHEMA, type Manifest } from '../../src/manifest/schema.js'
import { generateKeys, loadPublicKey } from '../../src/manifest/signature.js'
import { tempDir } from '../helpers/cli.js'

// The manifest reader takes bytes from anywhere: arbitrary and mutated inputs end in a
// result or a DriftwatchError (exit 2 or 3), never another exception, and in bounded time
// (each run is a few milliseconds; fast-check's interruptAfterTimeLimit bounds the whole).

let dir: { path: string; cleanup: () => void }
let key: ReturnType<typeof loadPublicKey>
beforeAll(() => {
  dir = tempDir()
  generateKeys(join(dir.path, 'k'))
  key = loadPublicKey(join(dir.path, 'k.pub'))
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
    { path: '/usr/bin/ls', type: 'symlink', target: 'x', package: 'deb:coreutils:amd64' },
  ],
  packages: [{ manager: 'deb', name: 'coreutils', arch: 'amd64', version: '9.1-1' }],
  config: [{ key: 'sysctl:net.ipv4.ip_forward', value: '0' }],
}
const valid = encodeManifest(manifest)

/** Reads `bytes` every way a command does: whole, lazily (files and entry index too), and with a key. */
async function readEveryWay(bytes: Uint8Array): Promise<void> {
  const file = join(dir.path, 'fuzz.json')
  writeFileSync(file, bytes)
  writeFileSync(`${file}.sig`, '{}')
  const attempts: (() => unknown)[] = [
    () => readManifest(file),
    () => readManifest(file, { publicKey: key, signatureFile: `${file}.sig` }),
    async () => {
      const source = openManifest(file)
      source.files()
      await source.loadFiles()
      await source.entryIndex?.()
    },
  ]
  for (const attempt of attempts) {
    try {
      await attempt()
    } catch (error) {
      if (!(error instanceof DriftwatchError)) throw error
      expect(['INPUT_INVALID', 'INTEGRITY', 'NOT_FOUND', 'IO']).toContain(error.code)
    }
  }
}

/** A valid manifest with a few bytes changed, inserted or deleted; the digest in front made true again or not. */
const mutated = fc
  .tuple(
    fc.array(
      fc.record({
        at: fc.nat(valid.length - 1),
        kind: fc.constantFrom('set', 'insert', 'delete'),
        byte: fc.constantFrom(0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x00, 0xff, 0x20, 0x31),
      }),
      { minLength: 1, maxLength: 4 },
    ),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([edits, redigest, gzip]) => {
    let bytes = Buffer.from(valid)
    for (const { at, kind, byte } of edits) {
      const where = Math.min(at, bytes.length - 1)
      if (kind === 'set') bytes[where] = byte
      else if (kind === 'insert')
        bytes = Buffer.concat([bytes.subarray(0, where), Buffer.of(byte), bytes.subarray(where)])
      else bytes = Buffer.concat([bytes.subarray(0, where), bytes.subarray(where + 1)])
    }
    if (redigest && bytes.subarray(0, 18).toString() === '{"digest":"sha256:') {
      const body = bytes.subarray(18 + 66)
      const digest = createHash('sha256')
        .update('{')
        .update(body.toString('latin1').trimEnd(), 'latin1')
        .digest('hex')
      bytes = Buffer.concat([Buffer.from(`{"digest":"sha256:${digest}",`), body])
    }
    return gzip ? gzipSync(bytes) : bytes
  })

describe('the manifest reader under fuzzing', () => {
  test('arbitrary bytes: a result or a DriftwatchError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), (bytes) => readEveryWay(bytes)),
      { numRuns: 300, interruptAfterTimeLimit: 30_000 },
    )
  })

  test('arbitrary JSON values: a result or a DriftwatchError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), (value) =>
        readEveryWay(Buffer.from(JSON.stringify(value))),
      ),
      { numRuns: 300, interruptAfterTimeLimit: 30_000 },
    )
  })

  test('a valid manifest mutated (digest fixed up or not, gzipped or not): a result or a DriftwatchError', async () => {
    await fc.assert(
      fc.asyncProperty(mutated, (bytes) => readEveryWay(bytes)),
      {
        numRuns: 500,
        interruptAfterTimeLimit: 60_000,
      },
    )
  })

  test('deep nesting in place of the files: a DriftwatchError, not a stack overflow', async () => {
    const deep = `{"files":${'['.repeat(200_000)}${']'.repeat(200_000)}}`
    await readEveryWay(Buffer.from(deep))
  })
})
