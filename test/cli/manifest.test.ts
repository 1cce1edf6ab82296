import { execFileSync } from 'node:child_process'
import { appendFileSync, chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
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
