import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import {
  mergeSysctl,
  normalizeSysctlKey,
  orderSysctlFiles,
  parseSysctlConf,
  sysctlEntries,
  sysctlFiles,
  sysctlLoader,
  sysctlProbe,
  sysctlProcPath,
} from '../../src/probes/sysctl.js'
import { tempDir } from '../helpers/cli.js'

const fixtureRoot = fileURLToPath(new URL('../fixtures/roots/sysctl', import.meta.url))

function valuesOf(entries: { key: string; value: unknown }[]): Record<string, unknown> {
  return Object.fromEntries(entries.map((e) => [e.key, e.value]))
}

describe('sysctl key names', () => {
  test.each([
    { key: 'kernel.domainname', normalized: 'kernel.domainname', proc: '/proc/sys/kernel/domainname' },
    { key: 'kernel/domainname', normalized: 'kernel.domainname', proc: '/proc/sys/kernel/domainname' },
    {
      key: 'net.ipv4.conf.enp3s0/200.forwarding',
      normalized: 'net.ipv4.conf.enp3s0/200.forwarding',
      proc: '/proc/sys/net/ipv4/conf/enp3s0.200/forwarding',
    },
    {
      key: 'net/ipv4/conf/enp3s0.200/forwarding',
      normalized: 'net.ipv4.conf.enp3s0/200.forwarding',
      proc: '/proc/sys/net/ipv4/conf/enp3s0.200/forwarding',
    },
    {
      key: 'net.ipv4.conf.*.rp_filter',
      normalized: 'net.ipv4.conf.*.rp_filter',
      proc: '/proc/sys/net/ipv4/conf/*/rp_filter',
    },
    { key: 'vm', normalized: 'vm', proc: '/proc/sys/vm' },
  ])('$key', ({ key, normalized, proc }) => {
    expect(normalizeSysctlKey(key)).toBe(normalized)
    expect(sysctlProcPath(normalized)).toBe(proc)
  })
})

describe('sysctl.d lines', () => {
  test.each([
    {
      line: 'kernel.pid_max = 4194304',
      parsed: [{ key: 'kernel.pid_max', value: '4194304', ignoreErrors: false }],
    },
    {
      line: 'kernel.pid_max=4194304',
      parsed: [{ key: 'kernel.pid_max', value: '4194304', ignoreErrors: false }],
    },
    { line: '  kernel/sysrq = 16  ', parsed: [{ key: 'kernel.sysrq', value: '16', ignoreErrors: false }] },
    {
      line: '-net.core.default_qdisc = fq_codel',
      parsed: [{ key: 'net.core.default_qdisc', value: 'fq_codel', ignoreErrors: true }],
    },
    {
      line: 'net.ipv4.tcp_rmem = 4096\t131072   6291456',
      parsed: [{ key: 'net.ipv4.tcp_rmem', value: '4096 131072 6291456', ignoreErrors: false }],
    },
    { line: 'kernel.domainname =', parsed: [{ key: 'kernel.domainname', value: '', ignoreErrors: false }] },
    {
      line: 'net.ipv4.ping_group_range = 0 2147483647 # no',
      parsed: [{ key: 'net.ipv4.ping_group_range', value: '0 2147483647 # no', ignoreErrors: false }],
    },
    { line: '# kernel.sysrq = 1', parsed: [] },
    { line: '; kernel.sysrq = 1', parsed: [] },
    { line: '   ', parsed: [] },
    // A glob exclusion declares no value; a line without `=` is skipped.
    { line: '-net.ipv4.conf.all.rp_filter', parsed: [] },
    { line: 'kernel.sysrq', parsed: [] },
    { line: '= 1', parsed: [] },
  ])('$line', ({ line, parsed }) => {
    expect(parseSysctlConf(line)).toEqual(parsed)
  })

  test('later lines and later files win', () => {
    const declared = mergeSysctl(['a.b = 1\na.b = 2\nc.d = 1\n', 'c.d = 3\n'])
    expect(Object.fromEntries(declared)).toEqual({ 'a.b': '2', 'c.d': '3' })
  })
})

describe('sysctl.d precedence', () => {
  test('names sort across directories; the first directory holding a name wins it', () => {
    const files = orderSysctlFiles([
      { dir: '/etc/sysctl.d', names: ['99-protect-links.conf', '60-hardening.conf', 'README.sysctl'] },
      { dir: '/run/sysctl.d', names: ['10-cloud.conf'] },
      { dir: '/usr/local/lib/sysctl.d', names: [] },
      { dir: '/usr/lib/sysctl.d', names: ['50-default.conf', '50-pid-max.conf', '99-protect-links.conf'] },
      { dir: '/lib/sysctl.d', names: ['50-pid-max.conf', '30-postgresql-shm.conf'] },
    ])
    expect(files).toEqual([
      { name: '10-cloud.conf', dir: '/run/sysctl.d' },
      { name: '30-postgresql-shm.conf', dir: '/lib/sysctl.d' },
      { name: '50-default.conf', dir: '/usr/lib/sysctl.d' },
      { name: '50-pid-max.conf', dir: '/usr/lib/sysctl.d' },
      { name: '60-hardening.conf', dir: '/etc/sysctl.d' },
      { name: '99-protect-links.conf', dir: '/etc/sysctl.d' },
    ])
  })

  test('running values replace declared ones, declared values stand where the kernel has none', () => {
    const entries = sysctlEntries(
      new Map([
        ['net.ipv4.ip_forward', '1'],
        ['net.bridge.bridge-nf-call-iptables', '0'],
      ]),
      new Map([
        ['net.ipv4.ip_forward', '0'],
        ['kernel.randomize_va_space', '2'],
      ]),
    )
    expect(entries).toEqual([
      { key: 'sysctl:kernel.randomize_va_space', value: '2' },
      { key: 'sysctl:net.bridge.bridge-nf-call-iptables', value: '0' },
      { key: 'sysctl:net.ipv4.ip_forward', value: '0' },
    ])
  })
})

describe('sysctl probe on the fixture root', () => {
  const declared = {
    // /run's 10-cloud.conf sorts before /usr/lib's 50-default.conf, which sets sysrq again.
    'sysctl:kernel.sysrq': '16',
    'sysctl:net.ipv4.conf.eth0/100.forwarding': '1',
    'sysctl:vm.overcommit_memory': '2',
    'sysctl:kernel.core_uses_pid': '1',
    'sysctl:net.ipv4.conf.default.rp_filter': '2',
    'sysctl:net.ipv4.conf.*.rp_filter': '2',
    'sysctl:net.ipv4.conf.default.accept_source_route': '0',
    'sysctl:net.ipv4.conf.*.accept_source_route': '0',
    'sysctl:net.ipv4.conf.default.promote_secondaries': '1',
    'sysctl:net.ipv4.conf.*.promote_secondaries': '1',
    'sysctl:net.ipv4.ping_group_range': '0 2147483647',
    'sysctl:net.core.default_qdisc': 'fq_codel',
    // /usr/lib's 50-pid-max.conf shadows the older one in /lib.
    'sysctl:kernel.pid_max': '4194304',
    'sysctl:kernel.kptr_restrict': '2',
    'sysctl:kernel.yama.ptrace_scope': '1',
    'sysctl:kernel.dmesg_restrict': '1',
    'sysctl:net.ipv4.conf.all.accept_redirects': '0',
    'sysctl:net.ipv4.conf.all.send_redirects': '0',
    'sysctl:net.ipv4.tcp_rmem': '4096 131072 6291456',
    'sysctl:vm.swappiness': '10',
    // /etc's 99-protect-links.conf shadows /usr/lib's (which says 2, and sets fifos).
    'sysctl:fs.protected_regular': '0',
    'sysctl:fs.protected_hardlinks': '1',
    'sysctl:fs.protected_symlinks': '1',
    'sysctl:fs.protected_fifos': '1',
    // No systemd-sysctl in this root: procps's `sysctl --system` reads sysctl.conf last.
    'sysctl:net.ipv4.ip_forward': '1',
  }

  test('declared values from an image folder', async () => {
    const entries = await sysctlProbe.collect({ rootDir: fixtureRoot, live: false })
    expect(valuesOf(entries)).toEqual(declared)
    expect(entries.map((e) => e.key)).toEqual(Object.keys(declared).sort())
  })

  test('live: running values from the root /proc/sys, plus the security keys it has', async () => {
    const entries = await sysctlProbe.collect({ rootDir: fixtureRoot, live: true })
    expect(valuesOf(entries)).toEqual({
      ...declared,
      'sysctl:kernel.kptr_restrict': '1',
      'sysctl:net.ipv4.ip_forward': '0',
      'sysctl:kernel.randomize_va_space': '2',
      'sysctl:net.ipv4.tcp_syncookies': '1',
      'sysctl:net.ipv4.conf.all.rp_filter': '0',
      'sysctl:fs.suid_dumpable': '0',
    })
  })

  test('a file in /etc linked to /dev/null masks the vendor file of that name', async () => {
    const dir = tempDir()
    try {
      mkdirSync(join(dir.path, 'etc/sysctl.d'), { recursive: true })
      mkdirSync(join(dir.path, 'usr/lib/sysctl.d'), { recursive: true })
      writeFileSync(join(dir.path, 'usr/lib/sysctl.d/50-default.conf'), 'kernel.sysrq = 16\n')
      writeFileSync(join(dir.path, 'usr/lib/sysctl.d/50-pid-max.conf'), 'kernel.pid_max = 4194304\n')
      symlinkSync('/dev/null', join(dir.path, 'etc/sysctl.d/50-default.conf'))
      // An absolute link is followed inside the root, never to the host's file of that name
      // (Debian hosts have this one, with fs.protected_* in it; the root does not).
      symlinkSync('/usr/lib/sysctl.d/50-pid-max.conf', join(dir.path, 'etc/sysctl.d/60-copy.conf'))
      symlinkSync('/usr/lib/sysctl.d/99-protect-links.conf', join(dir.path, 'etc/sysctl.d/70-host.conf'))
      const entries = await sysctlProbe.collect({ rootDir: dir.path, live: false })
      expect(entries).toEqual([
        { key: 'sysctl:kernel.pid_max', value: '4194304', files: ['/etc/sysctl.d/60-copy.conf'] },
      ])
    } finally {
      dir.cleanup()
    }
  })

  test('a dangling link or a directory in /etc shadows nothing: the vendor file of that name is read', () => {
    const dir = tempDir()
    try {
      mkdirSync(join(dir.path, 'etc/sysctl.d/60-dir.conf'), { recursive: true })
      mkdirSync(join(dir.path, 'usr/lib/sysctl.d'), { recursive: true })
      writeFileSync(join(dir.path, 'usr/lib/sysctl.d/50-default.conf'), 'kernel.sysrq = 16\n')
      writeFileSync(join(dir.path, 'usr/lib/sysctl.d/60-dir.conf'), 'vm.swappiness = 10\n')
      symlinkSync('/nowhere', join(dir.path, 'etc/sysctl.d/50-default.conf'))
      expect(sysctlFiles(dir.path)).toEqual([
        '/usr/lib/sysctl.d/50-default.conf',
        '/usr/lib/sysctl.d/60-dir.conf',
      ])
    } finally {
      dir.cleanup()
    }
  })

  test.each([
    // Debian 12: procps.service is an alias of systemd-sysctl.service, which reads sysctl.conf
    // only through the 99-sysctl.conf link, in that slot.
    {
      loader: 'systemd-sysctl',
      binary: '/usr/lib/systemd/systemd-sysctl',
      forward: '0',
      file: '/etc/sysctl.d/99-zzz-local.conf',
    },
    // Without systemd, `sysctl --system` reads sysctl.conf again, last.
    { loader: 'procps', binary: undefined, forward: '1', file: '/etc/sysctl.conf' },
  ])('sysctl.conf linked as 99-sysctl.conf, read by $loader', async ({ loader, binary, forward, file }) => {
    const dir = tempDir()
    try {
      mkdirSync(join(dir.path, 'etc/sysctl.d'), { recursive: true })
      writeFileSync(join(dir.path, 'etc/sysctl.conf'), 'net.ipv4.ip_forward = 1\n')
      symlinkSync('../sysctl.conf', join(dir.path, 'etc/sysctl.d/99-sysctl.conf'))
      writeFileSync(join(dir.path, 'etc/sysctl.d/99-zzz-local.conf'), 'net.ipv4.ip_forward = 0\n')
      if (binary) {
        mkdirSync(join(dir.path, 'usr/lib/systemd'), { recursive: true })
        writeFileSync(join(dir.path, binary), '')
      }
      expect(sysctlLoader(dir.path)).toBe(loader)
      expect(await sysctlProbe.collect({ rootDir: dir.path, live: false })).toEqual([
        { key: 'sysctl:net.ipv4.ip_forward', value: forward, files: [file] },
      ])
    } finally {
      dir.cleanup()
    }
  })

  test('a root without any sysctl files declares nothing', async () => {
    const dir = tempDir()
    try {
      expect(await sysctlProbe.collect({ rootDir: dir.path, live: false })).toEqual([])
    } finally {
      dir.cleanup()
    }
  })
})

describe('sysctl probe on this machine', () => {
  test('running values of the security keys', async () => {
    const values = valuesOf(await sysctlProbe.collect({ rootDir: '/', live: true }))
    expect(values['sysctl:kernel.randomize_va_space']).toMatch(/^[0-2]$/)
    expect(values['sysctl:net.ipv4.ip_forward']).toMatch(/^[01]$/)
    for (const value of Object.values(values)) expect(value).toBeTypeOf('string')
  })
})
