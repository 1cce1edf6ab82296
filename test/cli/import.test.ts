import { execFileSync } from 'node:child_process'
import {
  appendFileSync,
  chmodSync,
  cpSync,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { runCli, tempDir } from '../helpers/cli.js'

const fixture = (path: string) => fileURLToPath(new URL(`../fixtures/${path}`, import.meta.url))
const GOSS = fixture('declared/goss.yaml')
const SBOM = fixture('declared/web-base.cdx.json')

let dir: { path: string; cleanup: () => void }
let root: string
let manifest: string

/**
 * The image the Goss file describes: the Debian 12 fixture root with its unit files (ssh
 * enabled, cron not), its accounts and a sysctl.d file. It also holds what the Goss file does
 * not state (curl half-installed, other users, other files), which must not be reported.
 */
beforeEach(() => {
  dir = tempDir()
  root = join(dir.path, 'root')
  manifest = join(dir.path, 'imported.json')
  execFileSync('cp', ['-a', fixture('roots/debian-12'), root])
  cpSync(fixture('roots/systemd/usr/lib/systemd'), join(root, 'usr/lib/systemd'), { recursive: true })
  mkdirSync(join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true })
  symlinkSync(
    '/lib/systemd/system/ssh.service',
    join(root, 'etc/systemd/system/multi-user.target.wants/ssh.service'),
  )
  for (const file of ['passwd', 'group'])
    cpSync(fixture(`roots/accounts/etc/${file}`), join(root, 'etc', file))
  mkdirSync(join(root, 'etc/sysctl.d'))
  writeFileSync(
    join(root, 'etc/sysctl.d/99-hardening.conf'),
    'kernel.kptr_restrict = 1\nnet.ipv4.ip_forward = 0\n',
  )
})
afterEach(() => dir.cleanup())

const importFile = (from: string, file: string, ...extra: string[]) =>
  runCli(['manifest', 'import', '--from', from, file, '--image', 'web-base@2026.11.27-1', ...extra])

const scan = async () => {
  const r = await runCli(['scan', '--manifest', manifest, '--root', root, '--format', 'json'])
  expect(r.stderr).toBe('')
  const report = JSON.parse(r.stdout)
  return {
    code: r.code,
    drift: report.drift as { kind: string; change: string; subject: string; [k: string]: unknown }[],
    report,
  }
}

describe('manifest import --from goss', () => {
  beforeEach(async () => {
    const r = await importFile('goss', GOSS, '--out', manifest)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
  })

  test('says what it imported and what it leaves unchecked', async () => {
    const out = join(dir.path, 'again.json')
    const r = await importFile('goss', GOSS, '--out', out)
    expect(r.stdout).toMatch(
      /^imported web-base@2026\.11\.27-1 from goss\.yaml \(goss\): 4 files, 1 absent path, 6 packages, 8 config keys\n/,
    )
    expect(r.stdout).toContain(`  manifest  ${out}\n`)
    expect(r.stdout).toMatch(/ {2}digest {4}sha256:[0-9a-f]{64}\n/)
    expect(r.stdout).toContain('  left unchecked: 2 service.running, 2 user.groups\n')
    const json = await importFile('goss', GOSS, '--out', out, '--format', 'json')
    expect(JSON.parse(json.stdout)).toMatchObject({
      image: 'web-base@2026.11.27-1',
      from: 'goss',
      files: 4,
      absent: 1,
      packages: 6,
      config: 8,
      unchecked: { 'service.running': 2, 'user.groups': 2 },
      skipped: { total: 0 },
      manifest: out,
      digest: expect.stringMatching(/^sha256:/),
    })
  })

  test('writes a valid declared manifest that watches only the declared paths', async () => {
    const m = JSON.parse(readFileSync(manifest, 'utf8'))
    expect(m.image).toMatchObject({
      id: 'web-base',
      version: '2026.11.27-1',
      capturedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      source: { declared: true, from: 'goss', file: 'goss.yaml' },
    })
    expect(m.policy.files.include).toEqual([
      '/bin',
      '/etc/debian_version',
      '/etc/issue',
      '/usr/bin/telnet',
      '/usr/sbin',
    ])
    expect(m.files.find((f: { path: string }) => f.path === '/etc/issue')).toEqual({
      path: '/etc/issue',
      type: 'file',
      mode: '0644',
      owner: 'root',
      group: 'root',
      sha256: 'f9a39dacf9cd1b775a0c79672dfa2a063af0f250e2f0a6e57eabf003f5be6e6b',
    })
    const verify = await runCli(['manifest', 'verify', manifest])
    expect(verify.code).toBe(0)
    const show = await runCli(['manifest', 'show', manifest, '--format', 'json'])
    expect(JSON.parse(show.stdout)).toMatchObject({ declared: true, packages: 6, config: 8 })
  })

  test('a root that satisfies it scans clean, though it holds much the Goss file does not state', async () => {
    const { code, drift, report } = await scan()
    expect(drift).toEqual([])
    expect(code).toBe(0)
    expect(report.scan.files).toBe(4)
  })

  test('unstated things are not reported', async () => {
    // A file, a package, a user and a unit the Goss file says nothing of, all changed.
    writeFileSync(join(root, 'etc/issue.net'), 'tampered\n')
    writeFileSync(join(root, 'usr/bin/hostname'), 'tampered\n')
    appendFileSync(
      join(root, 'var/lib/dpkg/status'),
      '\nPackage: jq\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.6-2.1\n',
    )
    appendFileSync(join(root, 'etc/passwd'), 'mallory:x:0:0::/root:/bin/bash\n')
    symlinkSync(
      '/lib/systemd/system/cron.service',
      join(root, 'etc/systemd/system/multi-user.target.wants/e2scrub_reap.service'),
    )
    // Fields of a stated user that the Goss file does not state.
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8')
    writeFileSync(
      join(root, 'etc/passwd'),
      passwd.replace('www-data:x:33:33:www-data:', 'www-data:x:33:33:Web server:'),
    )
    const { code, drift } = await scan()
    expect(drift).toEqual([])
    expect(code).toBe(0)
  })

  test('a root that does not satisfy it: exit 1 with precisely the stated things that differ', async () => {
    chmodSync(join(root, 'etc/issue'), 0o666)
    // hostname gone from the package database
    const status = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8')
    writeFileSync(join(root, 'var/lib/dpkg/status'), status.replace(/Package: hostname\n[\s\S]*?\n\n/, ''))
    rmSync(join(root, 'etc/systemd/system/multi-user.target.wants/ssh.service'))
    const { code, drift } = await scan()
    expect(code).toBe(1)
    expect(drift.map((d) => [d.kind, d.change, d.subject, d.severity])).toEqual([
      ['file', 'modified', '/etc/issue', 'high'],
      ['package', 'removed', 'deb:hostname:*', 'high'],
      ['config', 'modified', 'systemd:ssh.service', 'high'],
    ])
    expect(drift[0]).toMatchObject({
      attributes: ['mode'],
      expected: { mode: '0644' },
      actual: { mode: '0666' },
    })
    expect(drift[2]).toMatchObject({
      expected: { oneOf: expect.arrayContaining(['enabled', 'static']) },
      actual: 'disabled',
    })
    expect(drift[1]).toMatchObject({ expected: { version: '3.23+nmu1' } })
  })

  test('what must be absent, present; a stated user field changed; an upgrade', async () => {
    appendFileSync(
      join(root, 'var/lib/dpkg/status'),
      '\nPackage: telnet\nStatus: install ok installed\nArchitecture: amd64\nVersion: 0.17+2.4-2\n',
    )
    writeFileSync(join(root, 'usr/bin/telnet'), '\x7fELF telnet')
    const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8')
    writeFileSync(
      join(root, 'etc/passwd'),
      passwd.replace('/var/www:/usr/sbin/nologin', '/var/www:/bin/bash'),
    )
    const status = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8')
    writeFileSync(
      join(root, 'var/lib/dpkg/status'),
      status.replace('Version: 2.36-9+deb12u14', 'Version: 2.36-9+deb12u15'),
    )
    const { code, drift } = await scan()
    expect(code).toBe(1)
    expect(drift.map((d) => [d.kind, d.change, d.subject])).toEqual([
      ['file', 'added', '/usr/bin/telnet'],
      ['config', 'modified', 'user:www-data'],
      ['package', 'modified', 'deb:libc6:amd64'],
      ['package', 'added', 'deb:telnet:amd64'],
    ])
    expect(drift[1]).toMatchObject({
      expected: { uid: 33, gid: 33, home: '/var/www', shell: '/usr/sbin/nologin' },
      actual: { uid: 33, gid: 33, home: '/var/www', shell: '/bin/bash' },
    })
    expect(drift[2]).toMatchObject({
      expected: { version: '2.36-9+deb12u14' },
      actual: { version: '2.36-9+deb12u15' },
    })
    expect(drift[3]).toMatchObject({ actual: { version: '0.17+2.4-2' } })
    // The text report reads the same.
    const text = await runCli(['scan', '--manifest', manifest, '--root', root])
    expect(text.code).toBe(1)
    expect(text.stdout).toContain('deb:telnet:amd64  0.17+2.4-2 installed')
    expect(text.stdout).toContain('/usr/bin/telnet')
  })

  test('signed with --sign, verified with the public key', async () => {
    const keys = join(dir.path, 'image')
    expect((await runCli(['keygen', '--out', keys])).code).toBe(0)
    const out = join(dir.path, 'signed.json.gz')
    const r = await importFile('goss', GOSS, '--out', out, '--sign', `${keys}.key`)
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(`  signature ${out}.sig\n`)
    const verify = await runCli(['manifest', 'verify', out, '--key', `${keys}.pub`])
    expect(verify.stdout).toContain('signature verified')
    expect(verify.code).toBe(0)
  })

  test('without --out the manifest is the one document on stdout; notes go to stderr', async () => {
    const r = await importFile('goss', GOSS)
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).image.source).toEqual({ declared: true, from: 'goss', file: 'goss.yaml' })
    expect(r.stderr).toBe('driftwatch: left unchecked: 2 service.running, 2 user.groups\n')
  })
})

describe('manifest import --from cyclonedx', () => {
  test('a syft SBOM: the skipped components are counted; the root scans clean, then a version changes', async () => {
    const r = await importFile('cyclonedx', SBOM, '--out', manifest)
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/: 0 files, 4 packages, 0 config keys\n/)
    expect(r.stdout).toContain('  skipped 2 entries (1 pkg:npm, 1 type operating-system)\n')
    const first = await scan()
    expect(first.drift).toEqual([])
    expect(first.code).toBe(0)
    expect(first.report.scan.files).toBe(0)
    const status = readFileSync(join(root, 'var/lib/dpkg/status'), 'utf8')
    writeFileSync(
      join(root, 'var/lib/dpkg/status'),
      status.replace('Version: 3.23+nmu1', 'Version: 3.23+nmu2'),
    )
    const second = await scan()
    expect(second.code).toBe(1)
    expect(second.drift).toEqual([
      {
        kind: 'package',
        change: 'modified',
        subject: 'deb:hostname:amd64',
        attributes: ['version'],
        expected: { version: '3.23+nmu1' },
        actual: { version: '3.23+nmu2' },
        severity: 'high',
      },
    ])
  })
})

describe('manifest import: bad usage and input, exit 2 with one clear line', () => {
  test.each([
    {
      name: 'an unknown format',
      args: ['--from', 'ansible', GOSS, '--image', 'a@1'],
      stderr:
        /error: option '--from <format>' argument 'ansible' is invalid\. Allowed choices are goss, cyclonedx\./,
    },
    {
      name: 'no image',
      args: ['--from', 'goss', GOSS],
      stderr: /error: required option '--image <id@version>' not specified/,
    },
    {
      name: 'a bad image reference',
      args: ['--from', 'goss', GOSS, '--image', 'web-base'],
      stderr: /^driftwatch: --image web-base: expected ID@VERSION\n {2}hint: /,
    },
    {
      name: '--manager with an SBOM',
      args: ['--from', 'cyclonedx', SBOM, '--image', 'a@1', '--manager', 'rpm'],
      stderr:
        /^driftwatch: --manager applies to --from goss only: a CycloneDX purl names its own package type\n/,
    },
    {
      name: '--sign without --out',
      args: ['--from', 'goss', GOSS, '--image', 'a@1', '--sign', '/nonexistent.key'],
      stderr: /^driftwatch: --sign needs --out/,
    },
    {
      name: 'a missing file',
      args: ['--from', 'goss', '/nonexistent/goss.yaml', '--image', 'a@1'],
      stderr: /^driftwatch: \/nonexistent\/goss\.yaml: cannot read \(ENOENT\)\n/,
    },
    {
      name: 'an SBOM given as a Goss file',
      args: ['--from', 'goss', SBOM, '--image', 'a@1'],
      stderr: new RegExp(
        `^driftwatch: ${SBOM.replace(/[.]/g, '\\.')}: \\(top level\\): this is a CycloneDX SBOM, not a Goss file\\n {2}hint: import it with --from cyclonedx`,
      ),
    },
  ])('$name', async ({ args, stderr }) => {
    const r = await runCli(['manifest', 'import', ...args])
    expect(r.code).toBe(2)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(stderr)
  })

  test('a Goss file with resource types driftwatch cannot check: they are skipped and counted', async () => {
    const file = join(dir.path, 'goss.yaml')
    writeFileSync(
      file,
      `${readFileSync(GOSS, 'utf8')}port:\n    tcp:22:\n        listening: true\n        ip:\n            - 0.0.0.0\n`,
    )
    const plain = await importFile('goss', file, '--out', manifest)
    expect(plain.code).toBe(0)
    expect(plain.stdout).toContain('  skipped 1 entry (1 port resource)\n')
  })

  test('the package manager is detected from --root, as Goss detects it on the host', async () => {
    const file = join(dir.path, 'goss.yaml')
    writeFileSync(file, 'package:\n  musl:\n    installed: true\n')
    const alpine = join(dir.path, 'alpine')
    mkdirSync(join(alpine, 'lib/apk/db'), { recursive: true })
    writeFileSync(join(alpine, 'lib/apk/db/installed'), 'P:musl\nV:1.2.4-r2\nA:x86_64\n\n')
    expect((await importFile('goss', file, '--root', alpine, '--out', manifest)).code).toBe(0)
    expect(JSON.parse(readFileSync(manifest, 'utf8')).packages).toEqual([
      { manager: 'apk', name: 'musl', arch: '*', version: '*' },
    ])
    // --manager says otherwise; a root with no package database cannot tell.
    expect(
      (await importFile('goss', file, '--root', alpine, '--manager', 'rpm', '--out', manifest)).code,
    ).toBe(0)
    expect(JSON.parse(readFileSync(manifest, 'utf8')).packages[0].manager).toBe('rpm')
    const empty = join(dir.path, 'empty')
    mkdirSync(empty)
    const r = await importFile('goss', file, '--root', empty, '--out', manifest)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--root .*: no dpkg, rpm or apk database .*\n {2}hint: say it with --manager/)
  })

  test('a Goss file with nothing driftwatch can check is refused', async () => {
    const file = join(dir.path, 'goss.yaml')
    writeFileSync(file, 'command:\n  uptime:\n    exit-status: 0\nprocess:\n  sshd:\n    running: true\n')
    const r = await importFile('goss', file, '--out', manifest)
    expect(r.code).toBe(2)
    expect(r.stderr).toBe(
      `driftwatch: ${file}: nothing driftwatch can check (skipped: 1 command resource, 1 process resource)\n` +
        '  hint: a declared manifest needs packages, files, services, users, groups or kernel parameters it can compare\n',
    )
  })

  test("owners given by name are the scanned root's: a name it does not know is drift", async () => {
    const file = join(dir.path, 'goss.yaml')
    writeFileSync(
      file,
      'file:\n  /etc/issue:\n    exists: true\n    owner: root\n    group: root\n  /etc/debian_version:\n    exists: true\n    owner: nobody-here\n',
    )
    expect((await importFile('goss', file, '--out', manifest)).code).toBe(0)
    expect((await scan()).drift).toEqual([
      {
        kind: 'config',
        change: 'removed',
        subject: 'user:nobody-here',
        expected: { owns: ['/etc/debian_version'] },
        severity: 'critical',
      },
    ])
    // root is uid 0 in this root's passwd: a file given to uid 1000 is no longer root's.
    execFileSync('chown', ['1000:0', join(root, 'etc/issue')])
    const { drift } = await scan()
    expect(drift.map((d) => [d.subject, d.attributes, d.expected, d.actual])).toEqual([
      ['user:nobody-here', undefined, { owns: ['/etc/debian_version'] }, undefined],
      ['/etc/issue', ['uid'], { uid: 0 }, { uid: 1000 }],
    ])
  })
})
