import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { runCli, tempDir } from '../helpers/cli.js'
import { forgeRecordTimes } from '../helpers/scan-cache.js'
import { buildImageRoot } from '../helpers/tree.js'

let dir: { path: string; cleanup: () => void }
let root: string
let manifest: string
let state: string

beforeEach(async () => {
  dir = tempDir()
  root = join(dir.path, 'root')
  manifest = join(dir.path, 'm.json')
  state = join(dir.path, 'state')
  buildImageRoot(root)
  await runCli(['manifest', 'capture', '--image', 'q@1', '--root', root, '--out', manifest])
})
afterEach(() => dir.cleanup())

const quick = async () => {
  const r = await runCli([
    'scan',
    '--manifest',
    manifest,
    '--root',
    root,
    '--mode',
    'quick',
    '--state-dir',
    state,
    '--format',
    'json',
  ])
  return { code: r.code, report: JSON.parse(r.stdout), stderr: r.stderr }
}

describe('quick mode', () => {
  test('the first quick scan hashes everything and keeps a cache; the next hashes nothing', async () => {
    const first = await quick()
    expect(first.code).toBe(0)
    expect(first.report.scan.bytesHashed).toBeGreaterThan(0)
    const cacheFiles = readdirSync(state)
    expect(cacheFiles).toHaveLength(1)
    expect(statSync(join(state, cacheFiles[0] as string)).mode & 0o777).toBe(0o600)
    const second = await quick()
    expect(second.code).toBe(0)
    expect(second.report.scan.bytesHashed).toBe(0)
  })

  test('a content change with size and mtime put back is still caught (ctime changed)', async () => {
    await quick()
    const ls = join(root, 'usr/bin/ls')
    const before = statSync(ls)
    const original = readFileSync(ls)
    const tampered = Buffer.from(original)
    tampered[0] = 0x23 === tampered[0] ? 0x24 : 0x23
    writeFileSync(ls, tampered)
    utimesSync(ls, before.atime, before.mtime)
    const after = await quick()
    expect(after.code).toBe(1)
    expect(after.report.drift).toEqual([
      expect.objectContaining({ subject: '/usr/bin/ls', attributes: ['sha256'] }),
    ])
  })

  test('a corrupt cache is discarded, never trusted', async () => {
    await quick()
    // Tamper with a file (same size), then forge its cache record to match the new stat while
    // keeping the old digest, without fixing the checksum: trusted, it would hide the change.
    const cat = join(root, 'usr/bin/cat')
    writeFileSync(cat, readFileSync(cat, 'utf8').replace('cat', 'bad'))
    const st = statSync(cat, { bigint: true })
    const cacheFile = join(state, readdirSync(state)[0] as string)
    const data = readFileSync(cacheFile)
    const forged = forgeRecordTimes(data, st) > 0
    expect(forged).toBe(true)
    writeFileSync(cacheFile, data)
    const after = await quick()
    expect(after.code).toBe(1)
    expect(after.report.drift.map((d: { subject: string }) => d.subject)).toEqual(['/usr/bin/cat'])
    expect(after.stderr).toMatch(
      /stat cache .* was discarded \(checksum mismatch\); every file was read again/,
    )
    // A file that is not a cache at all is ignored the same way.
    writeFileSync(cacheFile, 'garbage')
    expect((await quick()).code).toBe(1)
  })

  test('a cache made for another root is not used', async () => {
    await quick()
    const other = join(dir.path, 'other')
    execFileSync('cp', ['-a', root, other])
    const r = await runCli([
      'scan',
      '--manifest',
      manifest,
      '--root',
      other,
      '--mode',
      'quick',
      '--state-dir',
      state,
      '--format',
      'json',
    ])
    expect(JSON.parse(r.stdout).scan.bytesHashed).toBeGreaterThan(0)
  })
})
