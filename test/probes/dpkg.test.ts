import { spawn, spawnSync } from 'node:child_process'
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, test } from 'vitest'
import {
  collectDpkgFiles,
  dpkgFileListPath,
  readDpkgDatabase,
} from '../../src/probes/packages/dpkg/database.js'
import {
  isExcludedByDpkg,
  isLocalepurgeFile,
  parseDpkgPathFilters,
} from '../../src/probes/packages/dpkg/exclusions.js'
import { dpkgProbe } from '../../src/probes/packages/dpkg/manager.js'
import {
  parseConffileEntries,
  parseConffiles,
  parseDpkgDiversions,
  parseDpkgList,
  parseDpkgStanzas,
  parseDpkgStatus,
  parseMd5sums,
} from '../../src/probes/packages/dpkg/parse.js'
import {
  type DpkgFileChange,
  type DpkgVerifyError,
  verifyDpkgPackages,
} from '../../src/probes/packages/dpkg/verify.js'

// The fixture root holds real stanzas and real md5sums lines copied from a Debian 12 host (stand-in
// binaries with their own MD5), and these departures from what the packages installed:
// - /usr/share/doc/hostname/copyright has a line appended (tampered);
// - /lib/x86_64-linux-gnu/libanl.so.1 was deleted (missing);
// - /bin/login was diverted locally (`dpkg-divert --local --rename`) and the .distrib copy is gone;
// - /usr/share/man/* was never installed (`path-exclude` in etc/dpkg/dpkg.cfg.d/excludes);
// - the conffile /etc/login.defs was edited by the site;
// - /lib is an absolute symlink (/lib -> /usr/lib) that must resolve inside the root.
// cron (deinstall ok config-files) and curl (install ok half-installed) are the real stanzas with
// their Status changed; ntp is a hand-made purged stanza.
const FIXTURE = fileURLToPath(new URL('../fixtures/roots/debian-12', import.meta.url))
const fixture = { rootDir: FIXTURE, live: false }

const temps: string[] = []
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true })
})

/** A writable copy of the fixture root, symlinks kept as they are. */
function copyOfFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'driftwatch-dpkg-'))
  temps.push(dir)
  cpSync(FIXTURE, dir, { recursive: true, verbatimSymlinks: true })
  return dir
}

function stanza(status: string, more = ''): string {
  return `Package: curl\nStatus: ${status}\nArchitecture: amd64\nVersion: 7.88.1-10+deb12u5\n${more}`
}

// debsums itself, to compare with where it is installed.
const HAS_DPKG = existsSync('/var/lib/dpkg/status')
const HAS_DEBSUMS = spawnSync('debsums', ['--version']).error === undefined
const REQUIRED = process.env.DRIFTWATCH_REQUIRE_INTEGRATION === '1'

/** Runs debsums and resolves with its stderr, where `-s` reports. */
function runDebsums(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('debsums', args, {
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.on('error', reject)
    child.on('close', () => resolve(stderr))
  })
}

/** What debsums reported, as `<kind> <path> <package name>` lines; paths relative to `root`. */
function debsumsFindings(stderr: string, root: string): string[] {
  const prefix = root === '/' ? '' : root
  const findings: string[] = []
  for (const line of stderr.split('\n')) {
    let m = /^debsums: (changed|missing) file (.+) \(from (\S+) package\)$/.exec(line)
    if (m)
      findings.push(`${m[1] === 'changed' ? 'modified' : 'missing'} ${m[2]?.slice(prefix.length)} ${m[3]}`)
    m = /^debsums: can't check (\S+) file (.+) \(not a regular file\)$/.exec(line)
    if (m) findings.push(`modified ${m[2]?.slice(prefix.length)} ${m[1]}`)
    m = /^debsums: can't open (\S+) file (.+) \((.+)\)$/.exec(line)
    if (m)
      findings.push(
        `${m[3] === 'Not a directory' ? 'missing' : 'error'} ${m[2]?.slice(prefix.length)} ${m[1]}`,
      )
  }
  return findings.map((f) => f.replace(/:[^: ]+$/, '')).sort()
}

async function ourFindings(rootDir: string, live: boolean): Promise<string[]> {
  const findings: string[] = []
  const name = (subject: string) => subject.split(':')[1]
  const changes = await verifyDpkgPackages(
    { rootDir, live },
    { onError: (e) => findings.push(`error ${e.path} ${name(e.subject)}`) },
  )
  for (const c of changes) findings.push(`${c.kind} ${c.path} ${name(c.subject)}`)
  return findings.sort()
}

describe('parseDpkgStatus', () => {
  test.each([
    { status: 'install ok installed', installed: true, state: undefined },
    { status: 'hold ok installed', installed: true, state: undefined },
    // Selected for removal but still on disk: what is installed is what the state says.
    { status: 'deinstall ok installed', installed: true, state: undefined },
    { status: 'install ok half-installed', installed: false, state: 'half-installed' },
    { status: 'install reinstreq half-installed', installed: false, state: 'half-installed' },
    { status: 'install ok unpacked', installed: false, state: 'unpacked' },
    { status: 'install ok half-configured', installed: false, state: 'half-configured' },
    { status: 'install ok triggers-awaited', installed: false, state: 'triggers-awaited' },
    { status: 'install ok triggers-pending', installed: false, state: 'triggers-pending' },
    { status: 'deinstall ok config-files', installed: false, state: 'config-files' },
    { status: 'purge ok not-installed', installed: false, state: undefined },
    { status: 'install ok not-installed', installed: false, state: undefined },
  ])('Status: $status', ({ status, installed, state }) => {
    const { packages, problems } = parseDpkgStatus(stanza(status))
    expect(packages.length).toBe(installed ? 1 : 0)
    expect(problems.map((p) => p.state)).toEqual(state ? [state] : [])
  })

  test.each([
    { fields: 'Architecture: amd64\nVersion: 2.36-9+deb12u4', arch: 'amd64', version: '2.36-9+deb12u4' },
    { fields: 'Architecture: all\nVersion: 1.5.82', arch: 'all', version: '1.5.82' },
    { fields: 'Architecture: i386\nVersion: 1:4.13+dfsg1-1', arch: 'i386', version: '1:4.13+dfsg1-1' },
    { fields: 'ARCHITECTURE: arm64\nversion: 2:9.0.1378-2', arch: 'arm64', version: '2:9.0.1378-2' },
    { fields: 'Version: 1.0', arch: '', version: '1.0' },
  ])('arch and version from "$fields"', ({ fields, arch, version }) => {
    const { packages } = parseDpkgStatus(`Package: p\nStatus: install ok installed\n${fields}\n`)
    expect(packages).toEqual([{ manager: 'deb', name: 'p', arch, version }])
  })

  test('stanzas are separated by blank lines; continuation lines belong to their field', () => {
    const text = [
      'Package: a',
      'Status: install ok installed',
      'Architecture: amd64',
      'Description: first line',
      ' more text',
      ' .',
      'Version: 1',
      '',
      '',
      'Package: b',
      'Status: install ok installed',
      'Architecture: amd64',
      'Version: 2',
    ].join('\n')
    expect(parseDpkgStatus(text).packages.map((p) => `${p.name}=${p.version}`)).toEqual(['a=1', 'b=2'])
    expect(parseDpkgStanzas(text)[0]?.get('description')).toBe('first line\nmore text\n.')
  })

  test('the fixture status, read by the probe', async () => {
    expect(await dpkgProbe.collect(fixture)).toEqual([
      { manager: 'deb', name: 'base-files', arch: 'amd64', version: '12.4+deb12u11' },
      { manager: 'deb', name: 'hostname', arch: 'amd64', version: '3.23+nmu1' },
      { manager: 'deb', name: 'libc6', arch: 'amd64', version: '2.36-9+deb12u14' },
      { manager: 'deb', name: 'login', arch: 'amd64', version: '1:4.13+dfsg1-1+deb12u1' },
      { manager: 'deb', name: 'cron', arch: 'amd64', version: '3.0pl1-162', state: 'config-files' },
      { manager: 'deb', name: 'curl', arch: 'amd64', version: '7.88.1-10+deb12u14', state: 'half-installed' },
    ])
  })

  test('a distroless image: one stanza per package in status.d/, no Status line, md5sums beside', async () => {
    const root = mkdtempSync(join(tmpdir(), 'driftwatch-dpkg-'))
    temps.push(root)
    mkdirSync(join(root, 'var/lib/dpkg/status.d'), { recursive: true })
    // As gcr.io/distroless/base-debian12 ships them: `dpkg-deb --field` of each package.
    writeFileSync(
      join(root, 'var/lib/dpkg/status.d/base-files'),
      'Package: base-files\nVersion: 12.4+deb12u5\nArchitecture: amd64\nEssential: yes\nMaintainer: Santiago Vila <sanvila@debian.org>\nInstalled-Size: 341\nPre-Depends: awk\nDescription: Debian base system miscellaneous files\n',
    )
    writeFileSync(
      join(root, 'var/lib/dpkg/status.d/libc6'),
      'Package: libc6\nSource: glibc\nVersion: 2.36-9+deb12u4\nArchitecture: amd64\nMulti-Arch: same\n',
    )
    writeFileSync(
      join(root, 'var/lib/dpkg/status.d/libc6.md5sums'),
      '0b2ec2bc9fbd3d5a1c1c3d7d1b7d9e80  lib/x86_64-linux-gnu/libc.so.6\n',
    )
    expect(await dpkgProbe.collect({ rootDir: root, live: false })).toEqual([
      { manager: 'deb', name: 'base-files', arch: 'amd64', version: '12.4+deb12u5' },
      { manager: 'deb', name: 'libc6', arch: 'amd64', version: '2.36-9+deb12u4' },
    ])
  })

  test('a root without a dpkg status is not a dpkg system', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'driftwatch-dpkg-'))
    temps.push(empty)
    expect(await dpkgProbe.collect({ rootDir: empty, live: false })).toEqual([])
    expect(await verifyDpkgPackages({ rootDir: empty, live: false })).toEqual([])
  })
})

describe('info files', () => {
  test.each([
    { text: '/.\n/bin\n/bin/hostname\n', paths: ['/bin', '/bin/hostname'] },
    { text: '/.\n/usr/share/doc/a b\n\n', paths: ['/usr/share/doc/a b'] },
    { text: '', paths: [] },
  ])('list $text', ({ text, paths }) => {
    expect(parseDpkgList(text)).toEqual(paths)
  })

  test.each([
    { line: '84663f46a29817d9b0641f960a551cdb  bin/hostname', path: '/bin/hostname' },
    { line: '84663f46a29817d9b0641f960a551cdb  ./bin/hostname', path: '/bin/hostname' },
    { line: '84663f46a29817d9b0641f960a551cdb bin/hostname', path: '/bin/hostname' },
    { line: '84663f46a29817d9b0641f960a551cdb  usr/share/doc/a b', path: '/usr/share/doc/a b' },
    { line: '84663F46A29817D9B0641F960A551CDB  bin/hostname', path: undefined },
    { line: '84663f46a29817d9b0641f960a551c  bin/hostname', path: undefined },
    { line: '84663f46a29817d9b0641f960a551cdb', path: undefined },
  ])('md5sums "$line"', ({ line, path }) => {
    const sums = parseMd5sums(`${line}\n`)
    expect([...sums.keys()]).toEqual(path ? [path] : [])
    if (path) expect(sums.get(path)).toBe('84663f46a29817d9b0641f960a551cdb')
  })

  test.each([
    { line: ' /etc/login.defs f43a7b1eb7e082f1d4e2cb8f8376e71b', obsolete: false, removeOnUpgrade: false },
    {
      line: ' /etc/login.defs f43a7b1eb7e082f1d4e2cb8f8376e71b obsolete',
      obsolete: true,
      removeOnUpgrade: false,
    },
    {
      line: ' /etc/login.defs f43a7b1eb7e082f1d4e2cb8f8376e71b remove-on-upgrade',
      obsolete: false,
      removeOnUpgrade: true,
    },
  ])('conffile "$line"', ({ line, obsolete, removeOnUpgrade }) => {
    expect(parseConffileEntries(line)).toEqual([
      { path: '/etc/login.defs', md5: 'f43a7b1eb7e082f1d4e2cb8f8376e71b', obsolete, removeOnUpgrade },
    ])
  })

  test('the Conffiles field of a real stanza, and a path with a space', () => {
    const field = parseDpkgStanzas(
      'Package: login\nConffiles:\n /etc/login.defs f43a7b1eb7e082f1d4e2cb8f8376e71b\n /etc/pam.d/login 5afbc06eb5f71fef25170cf3c936a442\n /etc/a b newconffile\n',
    )[0]?.get('conffiles')
    expect(parseConffiles(field ?? '')).toEqual(
      new Map([
        ['/etc/login.defs', 'f43a7b1eb7e082f1d4e2cb8f8376e71b'],
        ['/etc/pam.d/login', '5afbc06eb5f71fef25170cf3c936a442'],
        ['/etc/a b', 'newconffile'],
      ]),
    )
  })

  test('diversions: three lines each, ":" for a local one', () => {
    expect(
      parseDpkgDiversions('/bin/sh\n/bin/sh.distrib\ndash\n/usr/bin/login\n/usr/bin/login.distrib\n:\n'),
    ).toEqual(
      new Map([
        ['/bin/sh', { to: '/bin/sh.distrib', by: 'dash' }],
        ['/usr/bin/login', { to: '/usr/bin/login.distrib', by: 'local' }],
      ]),
    )
  })

  test.each([
    { name: 'libc6', arch: 'amd64', path: '/var/lib/dpkg/info/libc6:amd64.list' },
    { name: 'hostname', arch: 'amd64', path: '/var/lib/dpkg/info/hostname.list' },
    { name: 'cron', arch: 'amd64', path: '/var/lib/dpkg/info/cron.list' },
    { name: 'libc6', arch: 'i386', path: undefined },
    { name: 'curl', arch: 'amd64', path: undefined },
  ])('file list of $name:$arch', ({ name, arch, path }) => {
    expect(dpkgFileListPath(name, arch, FIXTURE)).toBe(path)
  })
})

describe('path filters and localepurge', () => {
  // The filters of Ubuntu's minimal images, and the space-separated form Dpkg::Conf also reads.
  const filters = parseDpkgPathFilters(
    [
      '# Drop all documentation but the copyright files',
      'path-exclude=/usr/share/doc/*',
      'path-include=/usr/share/doc/*/copyright',
      'path-exclude /usr/share/man/*',
      'path-exclude = "/usr/share/locale/[!e]*"',
      'force-unsafe-io',
    ].join('\n'),
  )
  test.each([
    { path: '/usr/share/doc/curl/README', excluded: true },
    { path: '/usr/share/doc/curl/examples/a.c', excluded: true },
    { path: '/usr/share/doc/curl/copyright', excluded: false },
    { path: '/usr/share/man/man1/curl.1.gz', excluded: true },
    { path: '/usr/share/locale/de/LC_MESSAGES/curl.mo', excluded: true },
    { path: '/usr/share/locale/en/LC_MESSAGES/curl.mo', excluded: false },
    { path: '/usr/bin/curl', excluded: false },
  ])('$path excluded: $excluded', ({ path, excluded }) => {
    expect(isExcludedByDpkg(path, filters)).toBe(excluded)
  })

  const keep = new Set(['en', 'en_US'])
  test.each([
    { path: '/usr/share/locale/de/LC_MESSAGES/shadow.mo', purged: true },
    { path: '/usr/share/locale/en/LC_MESSAGES/shadow.mo', purged: false },
    { path: '/usr/share/man/fr/man8/nologin.8.gz', purged: true },
    { path: '/usr/share/gnome/help/gedit/de/index.docbook', purged: true },
    { path: '/usr/share/vim/vim90/lang/de/LC_MESSAGES/vim.mo', purged: true },
    { path: '/usr/bin/login', purged: false },
  ])('localepurge $path: $purged', ({ path, purged }) => {
    expect(isLocalepurgeFile(path, keep)).toBe(purged)
  })
})

describe('collectDpkgFiles', () => {
  test('a package with a locally diverted file and conffiles', () => {
    expect(collectDpkgFiles(fixture, { name: 'login', arch: 'amd64' })).toEqual([
      { path: '/bin' },
      // dpkg installed /bin/login as /bin/login.distrib: `dpkg-divert --local --rename`.
      { path: '/bin/login.distrib', digest: { algorithm: 'md5', value: '66e1b2f69d114838f0ef642888d81ab0' } },
      { path: '/etc' },
      {
        path: '/etc/login.defs',
        digest: { algorithm: 'md5', value: 'f43a7b1eb7e082f1d4e2cb8f8376e71b' },
        conffile: true,
      },
      { path: '/etc/pam.d' },
      {
        path: '/etc/pam.d/login',
        digest: { algorithm: 'md5', value: '5afbc06eb5f71fef25170cf3c936a442' },
        conffile: true,
      },
      { path: '/usr' },
      { path: '/usr/sbin' },
      { path: '/usr/sbin/nologin', digest: { algorithm: 'md5', value: 'ee3ce1a9fb1f088c5eea3904eb99379e' } },
      { path: '/usr/share' },
      { path: '/usr/share/lintian' },
      { path: '/usr/share/lintian/overrides' },
      {
        path: '/usr/share/lintian/overrides/login',
        digest: { algorithm: 'md5', value: '59d56da30dad09bc375fd989e769e6c7' },
      },
    ])
  })

  test('a Multi-Arch: same package, its info files named <name>:<arch>', () => {
    const files = collectDpkgFiles(fixture, { name: 'libc6', arch: 'amd64' }, readDpkgDatabase(FIXTURE))
    expect(files.filter((f) => f.digest).map((f) => f.path)).toEqual([
      '/etc/ld.so.conf.d/x86_64-linux-gnu.conf',
      '/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
      '/lib/x86_64-linux-gnu/libanl.so.1',
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/usr/share/doc/libc6/changelog.gz',
      '/usr/share/lintian/overrides/libc6',
    ])
    expect(files.find((f) => f.conffile)?.path).toBe('/etc/ld.so.conf.d/x86_64-linux-gnu.conf')
  })

  test('a package without a file list has no files', () => {
    expect(collectDpkgFiles(fixture, { name: 'curl', arch: 'amd64' })).toEqual([])
  })
})

const TAMPERED: DpkgFileChange = {
  subject: 'deb:hostname:amd64',
  path: '/usr/share/doc/hostname/copyright',
  kind: 'modified',
  conffile: false,
}
const DIVERTED_AWAY: DpkgFileChange = {
  subject: 'deb:login:amd64',
  path: '/bin/login.distrib',
  kind: 'missing',
  conffile: false,
}
const DELETED: DpkgFileChange = {
  subject: 'deb:libc6:amd64',
  path: '/lib/x86_64-linux-gnu/libanl.so.1',
  kind: 'missing',
  conffile: false,
}

describe('verifyDpkgPackages on fixture roots', () => {
  test('reports the tampered, the deleted and the diverted-away file; not the edited conffile', async () => {
    const errors: DpkgVerifyError[] = []
    expect(await verifyDpkgPackages(fixture, { onError: (e) => errors.push(e) })).toEqual([
      DIVERTED_AWAY,
      DELETED,
      TAMPERED,
    ])
    expect(errors).toEqual([])
  })

  test('with conffiles, the edited conffile too', async () => {
    expect(await verifyDpkgPackages(fixture, { conffiles: true, concurrency: 1 })).toEqual([
      DIVERTED_AWAY,
      { subject: 'deb:login:amd64', path: '/etc/login.defs', kind: 'modified', conffile: true },
      DELETED,
      TAMPERED,
    ])
  })

  test.each([
    {
      name: 'a changed file another package also lists is not reported (dpkg-query -S names both)',
      change: (root: string) =>
        appendFileSync(join(root, 'var/lib/dpkg/info/login.list'), `${TAMPERED.path}\n`),
      expected: [DIVERTED_AWAY, DELETED],
    },
    {
      name: 'a changed file no longer in its package list (taken over by another) is not reported',
      change: (root: string) =>
        writeFileSync(
          join(root, 'var/lib/dpkg/info/hostname.list'),
          '/.\n/bin\n/bin/hostname\n/usr/share/doc/hostname/changelog.gz\n',
        ),
      expected: [DIVERTED_AWAY, DELETED],
    },
    {
      name: 'a file replaced by a directory is modified',
      change: (root: string) => {
        unlinkSync(join(root, 'usr/share/doc/libc6/changelog.gz'))
        mkdirSync(join(root, 'usr/share/doc/libc6/changelog.gz'))
      },
      expected: [
        DIVERTED_AWAY,
        DELETED,
        TAMPERED,
        {
          subject: 'deb:libc6:amd64',
          path: '/usr/share/doc/libc6/changelog.gz',
          kind: 'modified',
          conffile: false,
        },
      ],
    },
    {
      name: 'a file whose directory became a file is missing',
      change: (root: string) => {
        rmSync(join(root, 'usr/share/lintian'), { recursive: true })
        writeFileSync(join(root, 'usr/share/lintian'), 'not a directory\n')
      },
      expected: [
        DIVERTED_AWAY,
        DELETED,
        TAMPERED,
        {
          subject: 'deb:libc6:amd64',
          path: '/usr/share/lintian/overrides/libc6',
          kind: 'missing',
          conffile: false,
        },
        {
          subject: 'deb:login:amd64',
          path: '/usr/share/lintian/overrides/login',
          kind: 'missing',
          conffile: false,
        },
      ],
    },
    {
      name: 'a translation localepurge deleted is not missing',
      change: (root: string) => {
        appendFileSync(
          join(root, 'var/lib/dpkg/info/login.md5sums'),
          '5d96a3abf85d98e1ca0bc41d42a90eba  usr/share/locale/de/LC_MESSAGES/shadow.mo\n',
        )
        writeFileSync(join(root, 'etc/locale.nopurge'), 'MANDELETE\nen\nen_US.UTF-8\n')
      },
      expected: [DIVERTED_AWAY, DELETED, TAMPERED],
      debsumsReadsHostConfig: true,
    },
    {
      name: 'a translation deleted without localepurge is missing',
      change: (root: string) =>
        appendFileSync(
          join(root, 'var/lib/dpkg/info/login.md5sums'),
          '5d96a3abf85d98e1ca0bc41d42a90eba  usr/share/locale/de/LC_MESSAGES/shadow.mo\n',
        ),
      expected: [
        DIVERTED_AWAY,
        DELETED,
        TAMPERED,
        {
          subject: 'deb:login:amd64',
          path: '/usr/share/locale/de/LC_MESSAGES/shadow.mo',
          kind: 'missing',
          conffile: false,
        },
      ],
    },
    {
      name: "a package's own diversion does not move its own file",
      change: (root: string) => {
        writeFileSync(join(root, 'var/lib/dpkg/diversions'), '/bin/login\n/bin/login.distrib\nlogin\n')
        unlinkSync(join(root, 'usr/bin/login'))
      },
      expected: [
        { subject: 'deb:login:amd64', path: '/bin/login', kind: 'missing', conffile: false },
        DELETED,
        TAMPERED,
      ],
    },
  ])('$name', async ({ change, expected, debsumsReadsHostConfig }) => {
    const root = copyOfFixture()
    change(root)
    expect(await verifyDpkgPackages({ rootDir: root, live: false })).toEqual(expected)
    // debsums reads /etc/locale.nopurge from the host, not from the root it checks.
    if (HAS_DEBSUMS && !debsumsReadsHostConfig) {
      expect(await ourFindings(root, false)).toEqual(
        debsumsFindings(await runDebsums(['-s', '-r', root]), root),
      )
    }
  })

  test('a symlink loop is an error for that file, not a crash', async () => {
    const root = copyOfFixture()
    rmSync(join(root, 'usr/share/doc/libc6/changelog.gz'))
    symlinkSync('changelog.gz', join(root, 'usr/share/doc/libc6/changelog.gz'))
    const errors: DpkgVerifyError[] = []
    await verifyDpkgPackages({ rootDir: root, live: false }, { onError: (e) => errors.push(e) })
    expect(errors).toEqual([
      { subject: 'deb:libc6:amd64', path: '/usr/share/doc/libc6/changelog.gz', message: 'ELOOP' },
    ])
  })
})

describe.skipIf(!HAS_DPKG || (!HAS_DEBSUMS && !REQUIRED))('the same findings as debsums -s', () => {
  test('on the fixture root', async () => {
    if (!HAS_DEBSUMS) throw new Error('debsums is not installed (apt-get install debsums)')
    expect(await ourFindings(FIXTURE, false)).toEqual(
      debsumsFindings(await runDebsums(['-s', '-r', FIXTURE]), FIXTURE),
    )
  })

  // debsums takes a minute or more over a whole machine: the test compares a sample of packages
  // under 20 MB each (up to 5 with findings here, and every 25th of the rest); the whole
  // comparison is bench/packages-vs-debsums.sh.
  test('on this machine, a sample of its packages', { timeout: 600_000 }, async () => {
    if (!HAS_DEBSUMS) throw new Error('debsums is not installed (apt-get install debsums)')
    const ours = await ourFindings('/', true)
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format, not a template
    const format = '${db:Status-Abbrev}\t${Installed-Size}\t${Package}\n'
    const small = spawnSync('dpkg-query', ['-W', '-f', format], { encoding: 'utf8' })
      .stdout.split('\n')
      .map((line) => line.split('\t'))
      .filter(([status, kib]) => status?.startsWith('ii') && Number(kib) < 20_000)
      .map(([, , name]) => name as string)
    const smallSet = new Set(small)
    const packageOf = (finding: string) => finding.split(' ').at(-1) as string
    const withFindings = [...new Set(ours.map(packageOf))].filter((name) => smallSet.has(name)).slice(0, 5)
    const sample = new Set([...withFindings, ...small.filter((_name, i) => i % 25 === 0)])
    expect(sample.size).toBeGreaterThan(0)
    const theirs = debsumsFindings(await runDebsums(['-s', ...sample]), '/')
    expect(ours.filter((finding) => sample.has(packageOf(finding)))).toEqual(theirs)
  })
})
