import { execFileSync } from 'node:child_process'
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { runCli, tempDir } from '../helpers/cli.js'

const FIXTURE = fileURLToPath(new URL('../fixtures/roots/debian-12', import.meta.url))

let dir: { path: string; cleanup: () => void }
let root: string
let manifest: string

beforeEach(async () => {
  dir = tempDir()
  root = join(dir.path, 'root')
  execFileSync('cp', ['-a', FIXTURE, root])
  manifest = join(dir.path, 'manifest.json')
  const capture = await runCli(['manifest', 'capture', '--image', 'deb@1', '--root', root, '--out', manifest])
  expect(capture.code).toBe(0)
})
afterEach(() => dir.cleanup())

const scanJson = async (...extra: string[]) => {
  const r = await runCli(['scan', '--manifest', manifest, '--root', root, '--format', 'json', ...extra])
  return { code: r.code, report: JSON.parse(r.stdout), stderr: r.stderr }
}

/** What `apt-get install jq` leaves behind: a status stanza, a file list and the files. */
function installJq(): void {
  appendFileSync(
    join(root, 'var/lib/dpkg/status'),
    '\nPackage: jq\nStatus: install ok installed\nPriority: optional\nSection: utils\nArchitecture: amd64\nVersion: 1.6-2.1\nDescription: lightweight and flexible command-line JSON processor\n',
  )
  writeFileSync(
    join(root, 'var/lib/dpkg/info/jq.list'),
    '/.\n/usr\n/usr/bin\n/usr/bin/jq\n/usr/share/doc/jq\n/usr/share/doc/jq/copyright\n',
  )
  writeFileSync(join(root, 'usr/bin/jq'), '\x7fELF jq')
  mkdirSync(join(root, 'usr/share/doc/jq'), { recursive: true })
  writeFileSync(join(root, 'usr/share/doc/jq/copyright'), 'jq license')
}

describe('packages in capture and scan', () => {
  test('the manifest records packages (with their state) and owners of files', async () => {
    const { readFileSync } = await import('node:fs')
    const m = JSON.parse(readFileSync(manifest, 'utf8'))
    expect(m.packages).toEqual(
      expect.arrayContaining([expect.objectContaining({ manager: 'deb', name: 'hostname', arch: 'amd64' })]),
    )
    expect(m.files.find((f: { path: string }) => f.path === '/usr/bin/hostname').package).toBe(
      'deb:hostname:amd64',
    )
    expect(m.config.some((c: { key: string }) => c.key.startsWith('os:'))).toBe(true)
    expect((await scanJson()).code).toBe(0)
  })

  test('apt-get install reads as one package event with its files under it', async () => {
    installJq()
    const { code, report } = await scanJson()
    expect(code).toBe(1)
    const pkg = report.drift.find((d: { kind: string }) => d.kind === 'package')
    expect(pkg).toMatchObject({
      change: 'added',
      subject: 'deb:jq:amd64',
      actual: { version: '1.6-2.1' },
    })
    const files = report.drift.filter((d: { kind: string }) => d.kind === 'file')
    expect(files.map((f: { subject: string }) => f.subject).sort()).toEqual([
      '/usr/bin/jq',
      '/usr/share/doc/jq',
      '/usr/share/doc/jq/copyright',
    ])
    expect(files.every((f: { package?: string }) => f.package === 'deb:jq:amd64')).toBe(true)
    const text = await runCli(['scan', '--manifest', manifest, '--root', root])
    expect(text.stdout).toMatch(
      /Packages\n\s+high\s+added\s+deb:jq:amd64\s+1\.6-2\.1 installed\n\s+critical\s+added\s+\/usr\/bin\/jq/,
    )
    expect(text.stdout).not.toMatch(/^Files$/m)
  })

  test('a file changed behind the package manager is not attributed to a package event', async () => {
    writeFileSync(join(root, 'usr/bin/hostname'), 'trojan')
    const { report } = await scanJson()
    expect(report.drift).toEqual([
      expect.objectContaining({ kind: 'file', subject: '/usr/bin/hostname', attributes: ['size', 'sha256'] }),
    ])
    expect(report.drift[0].package).toBeUndefined()
  })
})

describe('packages verify', () => {
  test('a tampered package file is found and named with its package', async () => {
    // The fixture carries findings of its own (a diverted file, a localepurge'd one): the
    // tampered file must come on top of them.
    const before = await runCli(['packages', 'verify', '--root', root, '--format', 'json'])
    const baseline = JSON.parse(before.stdout).findings as { path: string }[]
    expect(baseline.some((f) => f.path === '/usr/sbin/nologin')).toBe(false)
    writeFileSync(join(root, 'usr/sbin/nologin'), 'trojan')
    const after = await runCli(['packages', 'verify', '--root', root, '--format', 'json'])
    expect(after.code).toBe(1)
    const findings = JSON.parse(after.stdout).findings as { path: string }[]
    expect(findings.filter((f) => !baseline.some((b) => b.path === f.path))).toEqual([
      { subject: 'deb:login:amd64', path: '/usr/sbin/nologin', kind: 'modified', conffile: false },
    ])
  })

  test('scan --verify-packages catches tampering outside the policy paths', async () => {
    const policy = join(dir.path, 'etc-only.yaml')
    writeFileSync(policy, 'schema: driftwatch.policy/v1\nfiles:\n  include: ["/etc/**"]\n')
    const m = join(dir.path, 'etc-only.json')
    await runCli(['manifest', 'capture', '--image', 'deb@2', '--root', root, '--out', m, '--policy', policy])
    writeFileSync(join(root, 'usr/sbin/nologin'), 'trojan')
    const without = await runCli(['scan', '--manifest', m, '--root', root, '--format', 'json'])
    expect(without.code).toBe(0)
    const withVerify = await runCli([
      'scan',
      '--manifest',
      m,
      '--root',
      root,
      '--format',
      'json',
      '--verify-packages',
    ])
    expect(withVerify.code).toBe(1)
    expect(JSON.parse(withVerify.stdout).drift).toContainEqual(
      expect.objectContaining({
        kind: 'file',
        change: 'modified',
        subject: '/usr/sbin/nologin',
        package: 'deb:login:amd64',
        // No rule in this policy names /usr: the policy's default severity.
        severity: 'medium',
      }),
    )
  })
})
