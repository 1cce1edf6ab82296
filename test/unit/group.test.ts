import { describe, expect, test } from 'vitest'
import { plainStyle } from '../../src/cli/output.js'
import { renderDrift } from '../../src/cli/render.js'
import { groupDrift } from '../../src/drift/group.js'
import type { DriftItem } from '../../src/protocol/report.js'

const pkg = (subject: string, change: DriftItem['change'] = 'added'): DriftItem => ({
  kind: 'package',
  change,
  subject,
  actual: { version: '1.0' },
  severity: 'high',
})
const file = (subject: string, owner?: string): DriftItem => ({
  kind: 'file',
  change: 'added',
  subject,
  severity: 'critical',
  ...(owner ? { package: owner } : {}),
})
const config = (subject: string): DriftItem => ({
  kind: 'config',
  change: 'modified',
  subject,
  expected: '0',
  actual: '1',
  severity: 'high',
})

describe('groupDrift', () => {
  test('no drift: three empty groups', () => {
    expect(groupDrift([])).toEqual({ packages: [], files: [], config: [] })
  })

  test.each([
    {
      name: 'a file of a package change sits under it',
      items: [pkg('deb:curl:amd64'), file('/usr/bin/curl', 'deb:curl:amd64')],
      packages: [{ item: 'deb:curl:amd64', files: ['/usr/bin/curl'] }],
      files: [],
    },
    {
      name: 'the file may come before its package',
      items: [file('/usr/bin/curl', 'deb:curl:amd64'), pkg('deb:curl:amd64')],
      packages: [{ item: 'deb:curl:amd64', files: ['/usr/bin/curl'] }],
      files: [],
    },
    {
      name: 'a file of an unchanged package stays among the files',
      items: [pkg('deb:curl:amd64'), file('/usr/bin/ls', 'deb:coreutils:amd64')],
      packages: [{ item: 'deb:curl:amd64', files: [] }],
      files: ['/usr/bin/ls'],
    },
    {
      name: 'a file of no package stays among the files',
      items: [file('/etc/motd'), pkg('deb:curl:amd64')],
      packages: [{ item: 'deb:curl:amd64', files: [] }],
      files: ['/etc/motd'],
    },
    {
      name: 'input order is kept within each group',
      items: [
        pkg('deb:zsh:amd64'),
        file('/usr/bin/zsh', 'deb:zsh:amd64'),
        file('/etc/b'),
        pkg('deb:apt:amd64'),
        file('/etc/a'),
        file('/usr/bin/zsh5', 'deb:zsh:amd64'),
        file('/usr/bin/apt', 'deb:apt:amd64'),
        file('/usr/bin/apt-get', 'deb:apt:amd64'),
      ],
      packages: [
        { item: 'deb:zsh:amd64', files: ['/usr/bin/zsh', '/usr/bin/zsh5'] },
        { item: 'deb:apt:amd64', files: ['/usr/bin/apt', '/usr/bin/apt-get'] },
      ],
      files: ['/etc/b', '/etc/a'],
    },
    {
      name: 'two items of one subject (rpm kernels): files under the first',
      items: [
        pkg('rpm:kernel:x86_64', 'modified'),
        pkg('rpm:kernel:x86_64', 'added'),
        file('/boot/vmlinuz', 'rpm:kernel:x86_64'),
      ],
      packages: [
        { item: 'rpm:kernel:x86_64', files: ['/boot/vmlinuz'] },
        { item: 'rpm:kernel:x86_64', files: [] },
      ],
      files: [],
    },
  ])('$name', ({ items, packages, files }) => {
    const grouped = groupDrift(items)
    expect(
      grouped.packages.map((p) => ({ item: p.item.subject, files: p.files.map((f) => f.subject) })),
    ).toEqual(packages)
    expect(grouped.files.map((f) => f.subject)).toEqual(files)
    expect(grouped.config).toEqual([])
  })

  test('config items are listed apart, in order, and items are not copied', () => {
    const items = [config('sysctl:b'), pkg('deb:curl:amd64'), config('sysctl:a')]
    const grouped = groupDrift(items)
    expect(grouped.config.map((c) => c.item.subject)).toEqual(['sysctl:b', 'sysctl:a'])
    expect(grouped.config[0]?.item).toBe(items[0])
    expect(grouped.packages[0]?.item).toBe(items[1])
  })

  test('every item is in exactly one place', () => {
    const items = [
      pkg('deb:curl:amd64'),
      file('/usr/bin/curl', 'deb:curl:amd64'),
      file('/etc/motd'),
      file('/usr/bin/ls', 'deb:coreutils:amd64'),
      config('sysctl:net.ipv4.ip_forward'),
      { ...file('/etc/sysctl.d/99-forward.conf'), explainedBy: 'sysctl:net.ipv4.ip_forward' },
      { ...file('/etc/sysctl.d/98-gone.conf'), explainedBy: 'sysctl:kernel.gone' },
    ]
    const grouped = groupDrift(items)
    const placed = [
      ...grouped.packages.flatMap((p) => [p.item, ...p.files]),
      ...grouped.files,
      ...grouped.config.flatMap((c) => [c.item, ...c.files]),
    ]
    expect(new Set(placed)).toEqual(new Set(items))
    expect(placed).toHaveLength(items.length)
  })
})

describe('file changes a configuration change explains', () => {
  test('sit under that item, one event per cause; an unknown cause leaves the file apart', () => {
    const items = [
      { ...config('user:mallory'), change: 'added' as const },
      { ...file('/etc/passwd'), explainedBy: 'user:mallory' },
      { ...file('/etc/shadow-'), explainedBy: 'user:mallory' },
      { ...file('/etc/motd'), explainedBy: 'user:nobody-changed' },
    ]
    const grouped = groupDrift(items)
    expect(grouped.config).toHaveLength(1)
    expect(grouped.config[0]?.files.map((f) => f.subject)).toEqual(['/etc/passwd', '/etc/shadow-'])
    expect(grouped.files.map((f) => f.subject)).toEqual(['/etc/motd'])
  })

  test('a package change comes first: its file stays under the package', () => {
    const items = [
      pkg('deb:openssh-server:amd64'),
      config('sshd:permitrootlogin'),
      { ...file('/etc/ssh/sshd_config', 'deb:openssh-server:amd64'), explainedBy: 'sshd:permitrootlogin' },
    ]
    const grouped = groupDrift(items)
    expect(grouped.packages[0]?.files).toHaveLength(1)
    expect(grouped.config[0]?.files).toEqual([])
  })

  test('the text shows the files under their item', () => {
    const lines = renderDrift(
      [
        { ...config('sysctl:net.ipv4.ip_forward'), source: '/etc/sysctl.d/99-forward.conf' },
        {
          ...file('/etc/sysctl.d/99-forward.conf'),
          severity: 'high',
          explainedBy: 'sysctl:net.ipv4.ip_forward',
        },
      ],
      plainStyle,
    )
    expect(lines.join('\n')).toBe(
      [
        '',
        'Configuration',
        '  high     modified  sysctl:net.ipv4.ip_forward  0 -> 1  (/etc/sysctl.d/99-forward.conf)',
        '      high     added  /etc/sysctl.d/99-forward.conf',
      ].join('\n'),
    )
  })
})

describe('renderDrift over groupDrift', () => {
  test('packages with their files, then files, then configuration', () => {
    const lines = renderDrift(
      [
        config('sysctl:net.ipv4.ip_forward'),
        file('/usr/bin/curl', 'deb:curl:amd64'),
        file('/usr/bin/ls', 'deb:coreutils:amd64'),
        pkg('deb:curl:amd64'),
      ],
      plainStyle,
    )
    expect(lines.join('\n')).toBe(
      [
        '',
        'Packages',
        '  high     added  deb:curl:amd64  1.0 installed',
        '      critical added  /usr/bin/curl  [deb:curl:amd64]',
        '',
        'Files',
        '  critical added  /usr/bin/ls  [deb:coreutils:amd64]',
        '',
        'Configuration',
        '  high     modified  sysctl:net.ipv4.ip_forward  0 -> 1',
      ].join('\n'),
    )
  })

  test('at most 20 files under a package, then a count', () => {
    const files = Array.from({ length: 23 }, (_, i) => file(`/usr/lib/x/${i}`, 'deb:x:amd64'))
    const lines = renderDrift([pkg('deb:x:amd64'), ...files], plainStyle)
    expect(lines).toHaveLength(2 + 1 + 20 + 1)
    expect(lines.at(-1)).toBe('      … and 3 more files')
  })
})
