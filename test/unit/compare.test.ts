import { describe, expect, test } from 'vitest'
import { type Policy, PolicySchema } from '../../src/config/policy.js'
import { compareFiles, summarize } from '../../src/drift/compare.js'
import type { FileEntry } from '../../src/manifest/schema.js'

const policy: Policy = PolicySchema.parse({
  schema: 'driftwatch.policy/v1',
  files: {
    include: ['/**'],
    exclude: [],
    oneFileSystem: true,
    defaultAttributes: ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'target', 'caps'],
    defaultSeverity: 'medium',
    rules: [
      { match: ['/usr/bin/**'], severity: 'critical' },
      { match: ['/etc/**'], severity: 'high' },
      { match: ['/var/touchy/**'], severity: 'low', attributes: ['type', 'mtime'] },
    ],
  },
})

const ls: FileEntry = {
  path: '/usr/bin/ls',
  type: 'file',
  mode: '0755',
  uid: 0,
  gid: 0,
  size: 10,
  sha256: 'a'.repeat(64),
}
const conf: FileEntry = {
  path: '/etc/app.conf',
  type: 'file',
  mode: '0644',
  uid: 0,
  gid: 0,
  size: 5,
  sha256: 'b'.repeat(64),
}
const link: FileEntry = {
  path: '/usr/bin/awk',
  type: 'symlink',
  mode: '0777',
  uid: 0,
  gid: 0,
  target: '/etc/alternatives/awk',
}
const sorted = (entries: FileEntry[]) => [...entries].reverse()
const compare = (expected: FileEntry[], observed: FileEntry[], complete = true) =>
  compareFiles(sorted(expected), sorted(observed), policy, { complete })

describe('compareFiles', () => {
  test('identical lists: no drift', () => {
    expect(compare([ls, conf, link], [ls, conf, link])).toEqual([])
  })

  test.each([
    { name: 'content', change: { sha256: 'c'.repeat(64) }, attributes: ['sha256'], severity: 'critical' },
    {
      name: 'content and size',
      change: { sha256: 'c'.repeat(64), size: 11 },
      attributes: ['size', 'sha256'],
      severity: 'critical',
    },
    { name: 'mode', change: { mode: '0775' }, attributes: ['mode'], severity: 'critical' },
    { name: 'owner', change: { uid: 1000 }, attributes: ['uid'], severity: 'critical' },
  ])('modified $name on a binary', ({ change, attributes, severity }) => {
    const [item] = compare([ls], [{ ...ls, ...change }])
    expect(item).toMatchObject({
      kind: 'file',
      change: 'modified',
      subject: '/usr/bin/ls',
      attributes,
      severity,
    })
  })

  test('gaining setuid is critical anywhere', () => {
    const before = { ...conf, path: '/opt/tool', mode: '0755' }
    const [item] = compare([before], [{ ...before, mode: '4755' }])
    expect(item).toMatchObject({
      attributes: ['mode'],
      severity: 'critical',
      expected: { mode: '0755' },
      actual: { mode: '4755' },
    })
  })

  test('losing setuid keeps the rule severity', () => {
    const before = { ...conf, path: '/opt/tool', mode: '4755' }
    expect(compare([before], [{ ...before, mode: '0755' }])[0]?.severity).toBe('medium')
  })

  test('gaining a capability is critical; in a captured manifest absent caps mean none', () => {
    const before = { ...conf, path: '/opt/ping' }
    const [item] = compare([before], [{ ...before, caps: 'cap_net_raw=ep' }])
    expect(item).toMatchObject({
      attributes: ['caps'],
      severity: 'critical',
      expected: { caps: null },
      actual: { caps: 'cap_net_raw=ep' },
    })
  })

  test('added and removed files', () => {
    const items = compare([ls, conf], [conf, { ...ls, path: '/usr/bin/nc' }])
    expect(items.map((i) => [i.change, i.subject, i.severity]).sort()).toEqual([
      ['added', '/usr/bin/nc', 'critical'],
      ['removed', '/usr/bin/ls', 'critical'],
    ])
  })

  test('an added setuid file is critical even where the rule says otherwise', () => {
    const [item] = compare([], [{ ...conf, path: '/var/touchy/x', mode: '4755' }])
    expect(item?.severity).toBe('critical')
  })

  test('a type change is reported as the type attribute alone', () => {
    const [item] = compare([ls], [{ ...link, path: '/usr/bin/ls' }])
    expect(item).toMatchObject({
      change: 'modified',
      attributes: ['type'],
      expected: { type: 'file' },
      actual: { type: 'symlink' },
    })
  })

  test('a symlink retargeted', () => {
    const [item] = compare([link], [{ ...link, target: '/tmp/evil' }])
    expect(item).toMatchObject({
      attributes: ['target'],
      expected: { target: '/etc/alternatives/awk' },
      actual: { target: '/tmp/evil' },
    })
  })

  test('timestamps are drift only where a rule asks', () => {
    const a = {
      path: '/var/touchy/f',
      type: 'file' as const,
      mode: '0644',
      mtime: '1.000000000',
      sha256: 'a'.repeat(64),
    }
    const b = { ...a, mtime: '2.000000000', sha256: 'f'.repeat(64) }
    expect(compare([a], [b])[0]).toMatchObject({ attributes: ['mtime'], severity: 'low' })
    const c = { ...conf, mtime: '1.0' }
    expect(compare([c], [{ ...c, mtime: '2.0' }])).toEqual([])
  })

  test('a declared entry leaves unstated attributes unchecked', () => {
    const declared: FileEntry = { path: '/usr/bin/ls', mode: '0755' }
    expect(compare([declared], [{ ...ls, sha256: 'd'.repeat(64), caps: 'cap_net_raw=ep' }], false)).toEqual(
      [],
    )
    expect(compare([declared], [{ ...ls, mode: '0777' }], false)[0]?.attributes).toEqual(['mode'])
  })

  test('what the probe could not read is not drift', () => {
    const { sha256: _s, ...unread } = ls
    const items = compareFiles([ls], [unread], policy, {
      complete: true,
      unreadable: new Set(['/usr/bin/ls']),
    })
    expect(items).toEqual([])
  })

  test('summary counts per severity', () => {
    const items = compare(
      [ls, conf],
      [
        { ...ls, uid: 5 },
        { ...conf, mode: '0600' },
      ],
    )
    expect(summarize(items)).toEqual({ total: 2, critical: 1, high: 1, medium: 0, low: 0, info: 0 })
  })
})
