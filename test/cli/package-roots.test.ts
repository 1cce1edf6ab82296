import { execFileSync } from 'node:child_process'
import { appendFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { runCli, tempDir } from '../helpers/cli.js'
import { hasTool } from '../helpers/tools.js'

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/roots/${name}`, import.meta.url))
const hasRpm = hasTool('rpm', 'rpm')

let dir: { path: string; cleanup: () => void }
beforeAll(() => {
  dir = tempDir()
})
afterAll(() => dir.cleanup())

/** Copies a fixture root, captures it, and returns helpers to scan it. */
async function captured(name: string) {
  const root = join(dir.path, `${name}-${Math.random().toString(36).slice(2)}`)
  cpSync(fixture(name), root, { recursive: true, verbatimSymlinks: true })
  const manifest = `${root}.json`
  const capture = await runCli([
    'manifest',
    'capture',
    '--image',
    `${name}@1`,
    '--root',
    root,
    '--out',
    manifest,
  ])
  expect(capture.code).toBe(0)
  const scan = async () => {
    const r = await runCli(['scan', '--manifest', manifest, '--root', root, '--format', 'json'])
    return {
      code: r.code,
      drift: JSON.parse(r.stdout).drift as {
        kind: string
        change: string
        subject: string
        package?: string
      }[],
    }
  }
  return { root, manifest, scan }
}

describe('an rpm root', () => {
  test('captures its packages, scans clean, and names the package of a tampered file', async () => {
    const { root, manifest, scan } = await captured('rpm')
    const m = JSON.parse(readFileSync(manifest, 'utf8'))
    expect(
      m.packages.map(
        (p: { manager: string; name: string; version: string }) => `${p.manager}:${p.name} ${p.version}`,
      ),
    ).toEqual(['rpm:driftwatch-fixture 1:1.2.3-4', 'rpm:driftwatch-tool 0.9-1'])
    expect(m.files.find((f: { path: string }) => f.path === '/usr/bin/driftwatch-tool').package).toBe(
      'rpm:driftwatch-tool:noarch',
    )
    expect((await scan()).code).toBe(0)
    writeFileSync(join(root, 'usr/bin/driftwatch-tool'), 'trojan')
    const verify = await runCli(['packages', 'verify', '--root', root, '--format', 'json'])
    expect(verify.code).toBe(1)
    expect(JSON.parse(verify.stdout).findings).toEqual([
      {
        subject: 'rpm:driftwatch-tool:noarch',
        path: '/usr/bin/driftwatch-tool',
        kind: 'modified',
        conffile: false,
      },
    ])
  })

  test.runIf(hasRpm)('rpm -e reads as one package event with its files under it', async () => {
    const { root, scan } = await captured('rpm')
    execFileSync('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '-e', '--nodeps', 'driftwatch-tool'], {
      stdio: 'ignore',
    })
    const { code, drift } = await scan()
    expect(code).toBe(1)
    expect(drift).toContainEqual(
      expect.objectContaining({ kind: 'package', change: 'removed', subject: 'rpm:driftwatch-tool:noarch' }),
    )
    const files = drift.filter((d) => d.kind === 'file')
    expect(files.map((f) => f.subject)).toContain('/usr/bin/driftwatch-tool')
    expect(files.every((f) => f.change === 'removed' && f.package === 'rpm:driftwatch-tool:noarch')).toBe(
      true,
    )
  })
})

describe('an apk root', () => {
  test('captures its packages, and `apk add` reads as one package event with its files', async () => {
    const { root, manifest, scan } = await captured('alpine')
    expect(JSON.parse(readFileSync(manifest, 'utf8')).packages.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['busybox', 'musl']),
    )
    expect((await scan()).code).toBe(0)
    appendFileSync(
      join(root, 'lib/apk/db/installed'),
      '\nC:Q1xyzxyzxyzxyzxyzxyzxyzxyzxyzxyzx=\nP:jq\nV:1.7.1-r0\nA:x86_64\nT:A lightweight and flexible command-line JSON processor\nF:usr/bin\nR:jq\nZ:Q1LX9tsNY2cWZqUiBaTzsF/9fJ2gA=\n',
    )
    cpSync(join(root, 'bin/busybox'), join(root, 'usr/bin/jq'), { force: true, recursive: false })
    const { code, drift } = await scan()
    expect(code).toBe(1)
    expect(drift).toContainEqual(
      expect.objectContaining({ kind: 'package', change: 'added', subject: 'apk:jq:x86_64' }),
    )
    expect(drift).toContainEqual(
      expect.objectContaining({
        kind: 'file',
        change: 'added',
        subject: '/usr/bin/jq',
        package: 'apk:jq:x86_64',
      }),
    )
  })
})
