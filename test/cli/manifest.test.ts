import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { appendFileSync, chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { runCli, tempDir } from '../helpers/cli.js'
import { buildImageRoot } from '../helpers/tree.js'

let dir: { path: string; cleanup: () => void }
let root: string
const path = (name: string) => join(dir.path, name)

beforeAll(async () => {
  dir = tempDir()
  root = path('root')
  buildImageRoot(root)
  expect((await runCli(['keygen', '--out', path('image')])).code).toBe(0)
  expect((await runCli(['keygen', '--out', path('other')])).code).toBe(0)
  const capture = await runCli([
    'manifest',
    'capture',
    '--image',
    'web@1',
    '--root',
    root,
    '--out',
    path('web.json.gz'),
    '--sign',
    path('image.key'),
  ])
  expect(capture.code).toBe(0)
})
afterAll(() => dir.cleanup())

describe('keygen', () => {
  test('writes a private key readable by its owner only, and refuses to overwrite', async () => {
    expect(statSync(path('image.key')).mode & 0o777).toBe(0o600)
    expect(readFileSync(path('image.pub'), 'utf8')).toContain('BEGIN PUBLIC KEY')
    const again = await runCli(['keygen', '--out', path('image')])
    expect(again.code).toBe(2)
    expect(again.stderr).toMatch(/already exists/)
  })
})

describe('signed manifests', () => {
  test('capture writes a gzipped manifest and FILE.sig; verify checks both', async () => {
    expect(readFileSync(path('web.json.gz')).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]))
    const sig = JSON.parse(readFileSync(path('web.json.gz.sig'), 'utf8'))
    expect(sig).toMatchObject({
      schema: 'driftwatch.signature/v1',
      algorithm: 'ed25519',
      digest: expect.stringMatching(/^sha256:/),
    })
    const verify = await runCli([
      'manifest',
      'verify',
      path('web.json.gz'),
      '--key',
      path('image.pub'),
      '--format',
      'json',
    ])
    expect(verify.code).toBe(0)
    expect(JSON.parse(verify.stdout)).toMatchObject({
      valid: true,
      digest: sig.digest,
      signature: { verified: true },
    })
  })

  test('the wrong key: verify and scan --key exit 3', async () => {
    const verify = await runCli(['manifest', 'verify', path('web.json.gz'), '--key', path('other.pub')])
    expect(verify.code).toBe(3)
    expect(verify.stderr).toMatch(/signature does not verify/)
    const scan = await runCli([
      'scan',
      '--manifest',
      path('web.json.gz'),
      '--root',
      root,
      '--key',
      path('other.pub'),
    ])
    expect(scan.code).toBe(3)
    expect(scan.stdout).toBe('')
  })

  test('a signature of another manifest: exit 3', async () => {
    const other = path('other.json')
    await runCli(['manifest', 'capture', '--image', 'web@2', '--root', root, '--out', other])
    writeFileSync(`${other}.sig`, readFileSync(path('web.json.gz.sig')))
    const verify = await runCli(['manifest', 'verify', other, '--key', path('image.pub')])
    expect(verify.code).toBe(3)
    expect(verify.stderr).toMatch(/the manifest was changed after it was signed/)
  })

  test('unsigned manifest with --key: exit 3; without --key it is valid', async () => {
    const unsigned = path('unsigned.json')
    await runCli(['manifest', 'capture', '--image', 'web@3', '--root', root, '--out', unsigned])
    expect((await runCli(['manifest', 'verify', unsigned, '--key', path('image.pub')])).code).toBe(3)
    expect((await runCli(['manifest', 'verify', unsigned])).code).toBe(0)
  })

  test('scan --key with the right key proceeds', async () => {
    const scan = await runCli([
      'scan',
      '--manifest',
      path('web.json.gz'),
      '--root',
      root,
      '--key',
      path('image.pub'),
    ])
    expect(scan.code).toBe(0)
  })
})

describe('manifest show and diff', () => {
  test('show summarizes files and privileged entries', async () => {
    const show = await runCli(['manifest', 'show', path('web.json.gz'), '--format', 'json'])
    expect(show.code).toBe(0)
    const info = JSON.parse(show.stdout)
    expect(info.image).toMatchObject({ id: 'web', version: '1' })
    expect(info.files.total).toBeGreaterThan(5)
    expect(info.signature).toBe(`${path('web.json.gz')}.sig`)
    const text = await runCli(['manifest', 'show', path('web.json.gz')])
    expect(text.stdout).toMatch(/web@1 captured/)
  })

  test('diff names what changed between two captures, exit 1; the same image twice, exit 0', async () => {
    const copy = path('root2')
    execFileSync('cp', ['-a', root, copy])
    appendFileSync(join(copy, 'usr/bin/ls'), 'patched')
    chmodSync(join(copy, 'usr/bin/cat'), 0o4755)
    mkdirSync(join(copy, 'opt/new'), { recursive: true })
    await runCli(['manifest', 'capture', '--image', 'web@2', '--root', copy, '--out', path('web2.json')])
    const diff = await runCli([
      'manifest',
      'diff',
      path('web.json.gz'),
      path('web2.json'),
      '--format',
      'json',
    ])
    expect(diff.code).toBe(1)
    const subjects = JSON.parse(diff.stdout).drift.map(
      (d: { subject: string; change: string }) => `${d.change} ${d.subject}`,
    )
    expect(subjects).toEqual(
      expect.arrayContaining(['modified /usr/bin/ls', 'modified /usr/bin/cat', 'added /opt/new']),
    )
    const same = await runCli(['manifest', 'diff', path('web.json.gz'), path('web.json.gz')])
    expect(same.code).toBe(0)
    expect(same.stdout).toMatch(/no differences/)
  })
})

/** A refusal as the CLI contract says: the exit code, one line naming the file, and no stack trace. */
function expectRefused(result: { code: number | null; stderr: string }, code: number, file: string) {
  expect(result.code).toBe(code)
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines[0]).toContain(file)
  expect(lines.filter((line) => !line.startsWith('  hint: '))).toHaveLength(1)
  expect(result.stderr).not.toMatch(/internal error|\n\s+at /)
}

describe('manifests read with bounds', () => {
  // Each is refused by `scan`, `manifest verify` and `manifest show` alike, before it is read.
  const commands = (file: string) => [
    ['scan', '--manifest', file, '--root', root],
    ['manifest', 'verify', file],
    ['manifest', 'show', file],
  ]

  test('/dev/zero is no regular file: exit 2 at once, not a read to the end of memory', async () => {
    for (const args of commands('/dev/zero')) {
      const result = await runCli(args)
      expectRefused(result, 2, '/dev/zero')
      expect(result.stderr).toMatch(/no regular file \(a character device\)/)
    }
  })

  test('a FIFO with no writer, and a directory: exit 2, nothing waits for a writer', async () => {
    const fifo = path('manifest.fifo')
    execFileSync('mkfifo', [fifo])
    for (const args of commands(fifo)) {
      const result = await runCli(args)
      expectRefused(result, 2, fifo)
      expect(result.stderr).toMatch(/no regular file \(a FIFO\)/)
    }
    const result = await runCli(['manifest', 'verify', root])
    expectRefused(result, 2, root)
    expect(result.stderr).toMatch(/no regular file \(a directory\)/)
  })

  test('a 600 MB sparse file: exit 2 naming the limit, before a byte of it is read', async () => {
    const sparse = path('sparse.json')
    execFileSync('truncate', ['-s', '600M', sparse])
    for (const args of commands(sparse)) {
      const result = await runCli(args)
      expectRefused(result, 2, sparse)
      expect(result.stderr).toMatch(/larger than driftwatch reads \(629145600 bytes, the limit is 256 MiB\)/)
    }
  })

  test('a gzip bomb (320 KB that inflate to 320 MiB): exit 2, inflated no further than the limit', async () => {
    // Concatenated gzip members inflate to the concatenation of their contents.
    const member = gzipSync(Buffer.alloc(16 << 20))
    const bomb = path('bomb.json.gz')
    writeFileSync(bomb, Buffer.concat(Array.from({ length: 20 }, () => member)))
    for (const args of commands(bomb)) {
      const result = await runCli(args)
      expectRefused(result, 2, bomb)
      expect(result.stderr).toMatch(
        /larger than driftwatch reads \(more after gunzip, the limit is 256 MiB\)/,
      )
    }
  })

  test('a key or a signature that is no regular file: exit 2 or 3, one line', async () => {
    const signed = path('web.json.gz')
    expectRefused(await runCli(['manifest', 'verify', signed, '--key', '/dev/zero']), 2, '/dev/zero')
    const copy = path('sigfifo.json.gz')
    writeFileSync(copy, readFileSync(signed))
    execFileSync('mkfifo', [`${copy}.sig`])
    const result = await runCli(['manifest', 'verify', copy, '--key', path('image.pub')])
    expectRefused(result, 2, `${copy}.sig`)
  })
})

describe('verify first: nothing parses a manifest before its digest and signature hold', () => {
  /** The bytes of web.json.gz, gunzipped, with `edit` applied and the digest in front made true again. */
  function forged(edit: (content: string) => string): string {
    const text = gunzipSync(readFileSync(path('web.json.gz'))).toString('utf8')
    const content = edit(`{${text.trimEnd().slice(text.indexOf(',') + 1)}`)
    const digest = createHash('sha256').update(content).digest('hex')
    return `{"digest":"sha256:${digest}",${content.slice(1)}\n`
  }

  test('bytes that are no JSON, digest made to match, signed by no one: exit 3 with --key, exit 2 without', async () => {
    const file = path('forged.json')
    writeFileSync(
      file,
      forged((content) => `${content.slice(0, 40)}\u0000\u0001 not json`),
    )
    writeFileSync(`${file}.sig`, readFileSync(path('web.json.gz.sig')))
    // With a key the signature fails first: the parser never sees the forged bytes.
    const keyed = await runCli(['manifest', 'verify', file, '--key', path('image.pub')])
    expectRefused(keyed, 3, `${file}.sig`)
    expect(keyed.stderr).toMatch(/signs sha256:[0-9a-f]+, but the manifest's digest is/)
    const scan = await runCli(['scan', '--manifest', file, '--root', root, '--key', path('image.pub')])
    expectRefused(scan, 3, `${file}.sig`)
    // Without one, the digest holds and the parser says where the JSON breaks.
    const unkeyed = await runCli(['manifest', 'verify', file])
    expectRefused(unkeyed, 2, file)
    expect(unkeyed.stderr).toMatch(/not valid JSON/)
  })

  test('a changed byte under the digest: exit 3 before parsing, with or without a key', async () => {
    const file = path('changed.json')
    const text = gunzipSync(readFileSync(path('web.json.gz'))).toString('utf8')
    writeFileSync(
      file,
      text.replace('"schema":"driftwatch.manifest/v1"', '"schema":"driftwatch.manifest/v9"'),
    )
    writeFileSync(`${file}.sig`, readFileSync(path('web.json.gz.sig')))
    const keyed = await runCli(['manifest', 'verify', file, '--key', path('image.pub')])
    expectRefused(keyed, 3, file)
    expect(keyed.stderr).toMatch(/content digest .* does not match the recorded/)
    expectRefused(await runCli(['manifest', 'verify', file]), 3, file)
  })

  test('a signed manifest re-formatted (same content, other bytes): exit 3 with --key, valid without', async () => {
    const file = path('pretty.json')
    const text = gunzipSync(readFileSync(path('web.json.gz'))).toString('utf8')
    writeFileSync(file, JSON.stringify(JSON.parse(text), null, 2))
    writeFileSync(`${file}.sig`, readFileSync(path('web.json.gz.sig')))
    const keyed = await runCli(['manifest', 'verify', file, '--key', path('image.pub')])
    expectRefused(keyed, 3, file)
    expect(keyed.stderr).toMatch(/not in the form driftwatch writes/)
    expect((await runCli(['manifest', 'verify', file])).code).toBe(0)
  })
})
