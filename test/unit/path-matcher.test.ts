import { describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { PathMatcher } from '../../src/config/path-matcher.js'
import type { Policy } from '../../src/config/policy.js'

const files = (over: Partial<Policy['files']>): Policy['files'] => ({
  include: ['/usr/**'],
  exclude: [],
  oneFileSystem: true,
  defaultAttributes: ['type', 'mode', 'sha256'],
  defaultSeverity: 'medium',
  rules: [],
  ...over,
})

describe('PathMatcher', () => {
  test('walk starts are the static prefixes of the include globs, nested ones dropped', () => {
    const m = new PathMatcher(files({ include: ['/usr/**', '/usr/bin/*', '/home/*/.ssh/**', '/etc/passwd'] }))
    expect(m.walkStarts).toEqual(['/etc/passwd', '/home', '/usr'])
  })

  test('a file name holding a newline or another control character is matched like any other', () => {
    const m = new PathMatcher(
      files({ include: ['/usr/**', '/etc/*.conf'], exclude: ['/usr/share/**'], rules: [] }),
    )
    for (const path of ['/usr/bin/nl\nx', '/usr/bin/cr\r\u001b[2J', '/usr/a\nb/c', '/etc/x\ny.conf'])
      expect(m.records(path), JSON.stringify(path)).toBe(true)
    expect(m.records('/usr/share/a\nb')).toBe(false)
    expect(m.mayContain('/usr/a\nb')).toBe(true)
  })

  test.each([
    { dir: '/home', may: true },
    { dir: '/home/alice', may: true },
    { dir: '/home/alice/.ssh', may: true },
    { dir: '/home/alice/src', may: false },
    { dir: '/var', may: false },
    { dir: '/usr/lib/deep/er', may: true },
  ])('descends into $dir: $may', ({ dir, may }) => {
    const m = new PathMatcher(files({ include: ['/usr/**', '/home/*/.ssh/**'] }))
    expect(m.mayContain(dir)).toBe(may)
  })

  test('exclude wins over include; dotfiles match', () => {
    const m = new PathMatcher(
      files({ include: ['/etc/**'], exclude: ['/etc/machine-id', '/etc/ssh/ssh_host_*'] }),
    )
    expect(m.records('/etc/.pwd.lock')).toBe(true)
    expect(m.records('/etc/machine-id')).toBe(false)
    expect(m.records('/etc/ssh/ssh_host_ed25519_key')).toBe(false)
    expect(m.records('/etc/ssh/sshd_config')).toBe(true)
  })

  test('the first matching rule sets severity and attributes', () => {
    const m = new PathMatcher(
      files({
        rules: [
          { match: ['/usr/bin/**'], severity: 'critical' },
          { match: ['/usr/share/**'], severity: 'low', attributes: ['type', 'mtime'] },
          { match: ['/usr/**'], severity: 'high' },
        ],
      }),
    )
    expect(m.severityOf('/usr/bin/ls')).toBe('critical')
    expect(m.severityOf('/usr/share/doc/x')).toBe('low')
    expect([...m.attributesOf('/usr/share/doc/x')]).toEqual(['type', 'mtime'])
    expect(m.severityOf('/usr/local/x')).toBe('high')
    expect(m.severityOf('/opt/x')).toBe('medium')
    expect([...m.attributesOf('/usr/bin/ls')]).toEqual(['type', 'mode', 'sha256'])
  })

  test('the default policy watches binaries as critical and skips per-instance files', () => {
    const m = new PathMatcher(loadPolicy().files)
    expect(m.severityOf('/usr/bin/ls')).toBe('critical')
    expect(m.severityOf('/etc/sudoers.d/admins')).toBe('critical')
    expect(m.severityOf('/etc/default/grub')).toBe('high')
    expect(m.records('/etc/machine-id')).toBe(false)
    expect(m.records('/etc/hostname')).toBe(false)
    expect(m.records('/var/log/syslog')).toBe(false)
    expect(m.records('/root/.ssh/authorized_keys')).toBe(true)
  })
})
