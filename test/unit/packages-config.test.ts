import { describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { compareConfig, explainFileChanges } from '../../src/drift/config.js'
import { attributeFileChanges, comparePackages } from '../../src/drift/packages.js'
import type { PackageRecord } from '../../src/manifest/schema.js'
import type { DriftItem } from '../../src/protocol/report.js'

const deb = (name: string, version: string, extra: Partial<PackageRecord> = {}): PackageRecord => ({
  manager: 'deb',
  name,
  arch: 'amd64',
  version,
  ...extra,
})

describe('comparePackages', () => {
  test.each([
    { name: 'unchanged', observed: [deb('bash', '5.2')], changes: [] },
    {
      name: 'added',
      observed: [deb('bash', '5.2'), deb('curl', '7.88')],
      changes: [['added', 'deb:curl:amd64']],
    },
    { name: 'removed', observed: [], changes: [['removed', 'deb:bash:amd64']] },
    { name: 'upgraded', observed: [deb('bash', '5.3')], changes: [['modified', 'deb:bash:amd64']] },
    {
      name: 'half-installed',
      observed: [deb('bash', '5.2', { state: 'half-installed' })],
      changes: [['modified', 'deb:bash:amd64']],
    },
  ])('$name', ({ observed, changes }) => {
    const items = comparePackages([deb('bash', '5.2')], observed, 'high', { complete: true })
    expect(items.map((i) => [i.change, i.subject])).toEqual(changes)
  })

  test('a version change names both versions', () => {
    const [item] = comparePackages([deb('bash', '5.2')], [deb('bash', '5.3')], 'high', { complete: true })
    expect(item).toMatchObject({
      attributes: ['version'],
      expected: { version: '5.2' },
      actual: { version: '5.3' },
      severity: 'high',
    })
  })

  test('several packages under one subject compare as a version list', () => {
    const kernel = (v: string): PackageRecord => ({
      manager: 'rpm',
      name: 'kernel',
      arch: 'x86_64',
      version: v,
    })
    expect(
      comparePackages([kernel('5.14-1'), kernel('5.14-2')], [kernel('5.14-2'), kernel('5.14-1')], 'high', {
        complete: true,
      }),
    ).toEqual([])
    const [item] = comparePackages([kernel('5.14-1')], [kernel('5.14-1'), kernel('5.14-3')], 'high', {
      complete: true,
    })
    expect(item?.actual).toEqual({ version: '5.14-1, 5.14-3' })
  })

  test('a declared manifest leaves unstated packages unchecked', () => {
    expect(
      comparePackages([deb('bash', '5.2')], [deb('bash', '5.2'), deb('curl', '1')], 'high', {
        complete: false,
      }),
    ).toEqual([])
  })
})

describe('attributeFileChanges', () => {
  test('file changes of a changed package name it; others do not', () => {
    const items: DriftItem[] = [
      { kind: 'package', change: 'added', subject: 'deb:curl:amd64', severity: 'high' },
      { kind: 'file', change: 'added', subject: '/usr/bin/curl', severity: 'critical' },
      { kind: 'file', change: 'modified', subject: '/usr/bin/ls', severity: 'critical' },
      { kind: 'file', change: 'removed', subject: '/usr/share/doc/old/README', severity: 'low' },
    ]
    attributeFileChanges(items, {
      observed: new Map([
        ['/usr/bin/curl', 'deb:curl:amd64'],
        ['/usr/bin/ls', 'deb:coreutils:amd64'],
      ]),
      expected: new Map([['/usr/share/doc/old/README', 'deb:curl:amd64']]),
    })
    expect(items.map((i) => i.package)).toEqual([undefined, 'deb:curl:amd64', undefined, 'deb:curl:amd64'])
  })
})

describe('compareConfig', () => {
  const policy = loadPolicy().config
  test.each([
    {
      name: 'a sysctl changed',
      observed: [{ key: 'sysctl:net.ipv4.ip_forward', value: '1' }],
      change: ['modified', 'sysctl:net.ipv4.ip_forward', 'high'],
    },
    {
      name: 'a user added',
      observed: [
        { key: 'sysctl:net.ipv4.ip_forward', value: '0' },
        { key: 'user:mallory', value: { uid: 0 } },
      ],
      change: ['added', 'user:mallory', 'critical'],
    },
    { name: 'a key gone', observed: [], change: ['removed', 'sysctl:net.ipv4.ip_forward', 'high'] },
  ])('$name', ({ observed, change }) => {
    const items = compareConfig([{ key: 'sysctl:net.ipv4.ip_forward', value: '0' }], observed, policy, {
      complete: true,
    })
    expect(items.map((i) => [i.change, i.subject, i.severity])).toEqual([change])
  })

  test('live-only keys in incomplete namespaces and ignored keys are not drift', () => {
    const observed = [
      { key: 'sysctl:kernel.kptr_restrict', value: '1' },
      { key: 'os:kernel.release', value: '6.1.0' },
      { key: 'os:listening', value: ['tcp:0.0.0.0:22'] },
    ]
    expect(compareConfig([{ key: 'os:listening', value: [] }], observed, policy, { complete: true })).toEqual(
      [],
    )
  })

  test('values compare deeply', () => {
    const user = { uid: 33, gid: 33, home: '/var/www', shell: '/usr/sbin/nologin' }
    expect(
      compareConfig(
        [{ key: 'user:www-data', value: user }],
        [{ key: 'user:www-data', value: { ...user } }],
        policy,
        { complete: true },
      ),
    ).toEqual([])
    const [item] = compareConfig(
      [{ key: 'user:www-data', value: user }],
      [{ key: 'user:www-data', value: { ...user, shell: '/bin/bash' } }],
      policy,
      { complete: true },
    )
    expect(item).toMatchObject({
      change: 'modified',
      expected: user,
      actual: { shell: '/bin/bash' },
      severity: 'critical',
    })
  })

  test.each([
    { key: 'sshd:logingracetime', expected: '1m', actual: '60', drift: false },
    { key: 'sshd:match[user a].clientaliveinterval', expected: '5m', actual: '300s', drift: false },
    { key: 'sshd:permitrootlogin', expected: 'prohibit-password', actual: 'Without-Password', drift: false },
    { key: 'sshd:passwordauthentication', expected: 'no', actual: 'NO', drift: false },
    { key: 'sshd:compression', expected: 'delayed', actual: 'yes', drift: false },
    { key: 'sshd:loglevel', expected: 'INFO', actual: 'info', drift: false },
    { key: 'sshd:maxauthtries', expected: '3', actual: '03', drift: false },
    { key: 'sshd:permitrootlogin', expected: 'no', actual: 'prohibit-password', drift: true },
    { key: 'sshd:ciphers', expected: 'AES128-CTR', actual: 'aes128-ctr', drift: true },
    {
      key: 'sysctl:net.ipv4.tcp_rmem',
      expected: '4096 131072  6291456',
      actual: '4096\t131072 6291456',
      drift: false,
    },
  ])('$key: $expected and $actual are $drift drift', ({ key, expected, actual, drift }) => {
    const items = compareConfig([{ key, value: expected }], [{ key, value: actual }], policy, {
      complete: true,
    })
    expect(items.length > 0).toBe(drift)
    // The item still says what each side wrote.
    if (drift) expect(items[0]).toMatchObject({ expected, actual })
  })
})

describe('keys a file sets, and the file changes they explain', () => {
  const policy = loadPolicy().config
  test('in sysctl, a key only a host file sets is added with that file; a running-only key is not', () => {
    const items = compareConfig(
      [{ key: 'sysctl:kernel.sysrq', value: '16' }],
      [
        { key: 'sysctl:kernel.sysrq', value: '16' },
        { key: 'sysctl:net.ipv4.ip_forward', value: '1' },
        { key: 'sysctl:kernel.kptr_restrict', value: '1' },
      ],
      policy,
      {
        complete: true,
        sources: new Map([['sysctl:net.ipv4.ip_forward', ['/etc/sysctl.d/60-forward.conf']]]),
      },
    )
    expect(items).toEqual([
      {
        kind: 'config',
        change: 'added',
        subject: 'sysctl:net.ipv4.ip_forward',
        actual: '1',
        severity: 'high',
        source: '/etc/sysctl.d/60-forward.conf',
      },
    ])
  })

  const file = (subject: string, change: DriftItem['change'] = 'modified'): DriftItem => ({
    kind: 'file',
    change,
    subject,
    severity: 'critical',
  })
  const item = (subject: string): DriftItem => ({
    kind: 'config',
    change: 'added',
    subject,
    severity: 'high',
  })

  test.each([
    { path: '/etc/passwd', cause: 'user:mallory' },
    { path: '/etc/passwd-', cause: 'user:mallory' },
    { path: '/etc/subgid', cause: 'user:mallory' },
    { path: '/etc/gshadow-', cause: 'group:mallory' },
    { path: '/etc/ssh/sshd_config', cause: 'sshd:permitrootlogin' },
    { path: '/opt/ssh/site.conf', cause: 'sshd:permitrootlogin' },
    { path: '/etc/systemd/system/multi-user.target.wants/cron.service', cause: 'systemd:cron.service' },
    { path: '/lib/systemd/system/cron.service', cause: 'systemd:cron.service' },
    { path: '/etc/systemd/system/sshd.service', cause: 'systemd:sshd.service/alias-of' },
    { path: '/etc/sysctl.d/60-forward.conf', cause: 'sysctl:net.ipv4.ip_forward' },
    { path: '/etc/sysctl.d/70-other.conf', cause: undefined },
    { path: '/etc/motd', cause: undefined },
    { path: '/etc/systemd/system/cron.service.d/override.conf', cause: undefined },
  ])('$path is explained by $cause', ({ path, cause }) => {
    const items = [
      item('group:mallory'),
      item('user:mallory'),
      item('sshd:permitrootlogin'),
      item('systemd:cron.service'),
      item('systemd:sshd.service/alias-of'),
      item('sysctl:net.ipv4.ip_forward'),
      file(path),
    ]
    explainFileChanges(
      items,
      new Map([
        ['sysctl:net.ipv4.ip_forward', ['/etc/sysctl.d/60-forward.conf']],
        ['sshd:permitrootlogin', ['/opt/ssh/site.conf']],
      ]),
    )
    expect(items.at(-1)?.explainedBy).toBe(cause)
  })

  test('without a configuration change, no file is explained', () => {
    const items = [file('/etc/passwd')]
    explainFileChanges(items, new Map())
    expect(items[0]?.explainedBy).toBeUndefined()
  })
})
