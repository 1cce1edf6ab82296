import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import {
  decodeAddress,
  osProbe,
  parseOsRelease,
  parseProcModules,
  parseProcNetSockets,
  unquoteShell,
} from '../../src/probes/os.js'
import { tempDir } from '../helpers/cli.js'

const fixtureRoot = fileURLToPath(new URL('../fixtures/roots/os', import.meta.url))
const proc = (name: string) => readFileSync(join(fixtureRoot, 'proc/net', name), 'utf8')

function valuesOf(entries: { key: string; value: unknown }[]): Record<string, unknown> {
  return Object.fromEntries(entries.map((e) => [e.key, e.value]))
}

describe('os-release values', () => {
  test.each([
    { raw: 'debian', value: 'debian' },
    { raw: '"Debian GNU/Linux 12 (bookworm)"', value: 'Debian GNU/Linux 12 (bookworm)' },
    { raw: "'single $quoted'", value: 'single $quoted' },
    { raw: '"a \\"quoted\\" \\$word \\\\ \\`x\\`"', value: 'a "quoted" $word \\ `x`' },
    { raw: '"keeps \\n as is"', value: 'keeps \\n as is' },
    { raw: 'bare\\ word', value: 'bare word' },
    { raw: '12 # a comment', value: '12' },
    { raw: 'rhel#fedora', value: 'rhel#fedora' },
    { raw: '"Web "\'tier\'', value: 'Web tier' },
    { raw: '', value: '' },
  ])('$raw', ({ raw, value }) => {
    expect(unquoteShell(raw)).toBe(value)
  })

  test('fields, comments and lines that are not assignments', () => {
    const fields = parseOsRelease(
      '# built by packer\nID=debian\n  VERSION_ID="12"\nnot an assignment\n1BAD=x\nexport X=1\n',
    )
    expect(Object.fromEntries(fields)).toEqual({ ID: 'debian', VERSION_ID: '12' })
  })
})

describe('/proc parsers', () => {
  test('module names, sorted', () => {
    expect(
      parseProcModules('nf_tables 303104 2 nft_chain_nat, Live 0x0\nena 139264 0 - Live 0x0\n\n'),
    ).toEqual(['ena', 'nf_tables'])
  })

  test.each([
    { hex: '0100007F', littleEndian: true, address: '127.0.0.1' },
    { hex: '7F000001', littleEndian: false, address: '127.0.0.1' },
    { hex: '0F02000A', littleEndian: true, address: '10.0.2.15' },
    { hex: '00000000', littleEndian: true, address: '0.0.0.0' },
    { hex: '00000000000000000000000000000000', littleEndian: true, address: '[::]' },
    { hex: '00000000000000000000000001000000', littleEndian: true, address: '[::1]' },
    { hex: '00000000000000000000000000000001', littleEndian: false, address: '[::1]' },
    { hex: '0000000000000000FFFF00000100007F', littleEndian: true, address: '[::ffff:127.0.0.1]' },
    { hex: '000080FE00000000FF3E5A0A07E2FEFF', littleEndian: true, address: '[fe80::a5a:3eff:fffe:e207]' },
    { hex: 'B80D0120000000000000000001000000', littleEndian: true, address: '[2001:db8::1]' },
    // RFC 5952 4.2.3: the longest run of zero groups is the one shortened.
    { hex: 'B80D0120000000000100000000000000', littleEndian: true, address: '[2001:db8::1:0:0]' },
    { hex: 'B80D0120000000000000010000000000', littleEndian: true, address: '[2001:db8:0:0:1::]' },
    // …and of two equally long runs, the first.
    { hex: 'B80D0120000000000000010001000000', littleEndian: true, address: '[2001:db8::1:0:0:1]' },
    { hex: 'XYZ', littleEndian: true, address: undefined },
  ])('$hex is $address', ({ hex, littleEndian, address }) => {
    expect(decodeAddress(hex, littleEndian)).toBe(address)
  })

  test.each([
    {
      table: 'tcp',
      listening: ['tcp:0.0.0.0:22', 'tcp:0.0.0.0:80', 'tcp:127.0.0.1:5432', 'tcp:127.0.0.1:6379'],
    },
    { table: 'tcp6', listening: ['tcp6:[::1]:6379', 'tcp6:[::]:22', 'tcp6:[::ffff:127.0.0.1]:8080'] },
    // The socket connected to the resolver (state 01) is not listening.
    { table: 'udp', listening: ['udp:0.0.0.0:68', 'udp:127.0.0.1:323'] },
    { table: 'udp6', listening: ['udp6:[::1]:323'] },
  ] as const)('$table: LISTEN and unconnected sockets only', ({ table, listening }) => {
    expect(parseProcNetSockets(proc(table), table, true)).toEqual(listening)
  })
})

describe('os probe on the fixture root', () => {
  test('/etc/os-release fields', async () => {
    const entries = await osProbe.collect({ rootDir: fixtureRoot, live: false })
    expect(valuesOf(entries)).toEqual({
      'os:PRETTY_NAME': 'Debian GNU/Linux 12 (bookworm)',
      'os:NAME': 'Debian GNU/Linux',
      'os:VERSION_ID': '12',
      'os:VERSION': '12 (bookworm)',
      'os:VERSION_CODENAME': 'bookworm',
      'os:ID': 'debian',
      'os:HOME_URL': 'https://www.debian.org/',
      'os:SUPPORT_URL': 'https://www.debian.org/support',
      'os:BUG_REPORT_URL': 'https://bugs.debian.org/',
      'os:IMAGE_ID': 'web-base',
      'os:IMAGE_VERSION': '2026.11.27-1',
      'os:VARIANT': 'Web tier ("golden")',
    })
    expect(entries.map((e) => e.key)).toEqual([...entries.map((e) => e.key)].sort())
  })

  test('live: kernel and sockets from the root /proc', async () => {
    const values = valuesOf(await osProbe.collect({ rootDir: fixtureRoot, live: true }))
    expect(values['os:kernel.release']).toBe('6.1.0-28-cloud-amd64')
    expect(values['os:kernel.cmdline']).toMatch(
      /^BOOT_IMAGE=\/boot\/vmlinuz-6\.1\.0-28-cloud-amd64 root=PARTUUID=.* consoleblank=0$/,
    )
    expect(values['os:kernel.modules']).toEqual([
      'crc32c_intel',
      'ena',
      'libcrc32c',
      'nf_conntrack',
      'nf_defrag_ipv4',
      'nf_defrag_ipv6',
      'nf_nat',
      'nf_tables',
      'nfnetlink',
      'nft_chain_nat',
    ])
    expect(values['os:listening']).toEqual([
      'tcp6:[::1]:6379',
      'tcp6:[::]:22',
      'tcp6:[::ffff:127.0.0.1]:8080',
      'tcp:0.0.0.0:22',
      'tcp:0.0.0.0:80',
      'tcp:127.0.0.1:5432',
      'tcp:127.0.0.1:6379',
      'udp6:[::1]:323',
      'udp:0.0.0.0:68',
      'udp:127.0.0.1:323',
    ])
  })

  test('falls back to /usr/lib/os-release, through an in-root link', async () => {
    const dir = tempDir()
    try {
      mkdirSync(join(dir.path, 'usr/lib'), { recursive: true })
      mkdirSync(join(dir.path, 'etc'))
      writeFileSync(join(dir.path, 'usr/lib/os-release'), 'ID=alpine\nVERSION_ID=3.20.3\n')
      expect(valuesOf(await osProbe.collect({ rootDir: dir.path, live: false }))).toEqual({
        'os:ID': 'alpine',
        'os:VERSION_ID': '3.20.3',
      })
      // Debian's /etc/os-release is a link; an absolute one must resolve inside the root.
      symlinkSync('/usr/lib/os-release', join(dir.path, 'etc/os-release'))
      expect(valuesOf(await osProbe.collect({ rootDir: dir.path, live: false }))['os:ID']).toBe('alpine')
    } finally {
      dir.cleanup()
    }
  })
})

describe('os probe on this machine', () => {
  test('os-release and the running kernel', async () => {
    const values = valuesOf(await osProbe.collect({ rootDir: '/', live: true }))
    expect(values['os:ID']).toBeTypeOf('string')
    if (readFileSync('/etc/os-release', 'utf8').includes('ID=debian')) expect(values['os:ID']).toBe('debian')
    expect(values['os:kernel.release']).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim())
    expect(values['os:kernel.cmdline']).toBeTypeOf('string')
    expect(Array.isArray(values['os:listening'])).toBe(true)
    for (const socket of values['os:listening'] as string[]) {
      expect(socket).toMatch(/^(tcp|udp)6?:(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\]):\d+$/)
    }
  })
})
