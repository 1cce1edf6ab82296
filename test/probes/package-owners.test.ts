import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { packageOwners } from '../../src/probes/packages/registry.js'

// The Debian 12 fixture root (see dpkg.test.ts): /bin and /lib are symlinks into /usr, so
// dpkg's lists name paths that are elsewhere on this root.
const FIXTURE = fileURLToPath(new URL('../fixtures/roots/debian-12', import.meta.url))
const context = { rootDir: FIXTURE, live: false }
const { packages } = loadPolicy()

describe('packageOwners', () => {
  const all = packageOwners(context, packages)

  test('a listed path through a directory symlink is owned where it is; shared directories by none', () => {
    expect(all.get('/usr/bin/hostname')).toBe('deb:hostname:amd64')
    expect(all.has('/bin/hostname')).toBe(false)
    expect(all.has('/usr/share/doc')).toBe(false)
  })

  test('asked for some paths: the same owners as the whole map has for them, and no others', () => {
    const wanted = ['/usr/bin/hostname', '/etc/issue', '/usr/share/doc', '/usr/bin/nothing-owns-this']
    const some = packageOwners(context, packages, new Set(wanted))
    const expected = new Map(wanted.filter((p) => all.has(p)).map((p) => [p, all.get(p)]))
    expect(expected.size).toBe(2)
    expect(some).toEqual(expected)
  })
})
