import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { DEV_NULL, listRootDir, readRootTextConfined, resolveInRoot } from '../../src/probes/root-fs.js'
import { tempDir } from '../helpers/cli.js'

describe('paths resolved inside a root', () => {
  let dir: { path: string; cleanup: () => void }
  beforeAll(() => {
    dir = tempDir()
    const root = dir.path
    mkdirSync(join(root, 'usr/lib/systemd/system'), { recursive: true })
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true })
    writeFileSync(join(root, 'usr/lib/os-release'), 'ID=debian\n')
    writeFileSync(join(root, 'usr/lib/systemd/system/cron.service'), '[Unit]\n')
    symlinkSync('usr/lib', join(root, 'lib'))
    symlinkSync('../usr/lib/os-release', join(root, 'etc/os-release'))
    symlinkSync('/lib/systemd/system/cron.service', join(root, 'etc/systemd/system/cron.service'))
    symlinkSync('/dev/null', join(root, 'etc/systemd/system/masked.service'))
    symlinkSync('../../../../dev/null', join(root, 'etc/systemd/system/masked2.service'))
    symlinkSync('../../../../../../../../usr/lib/os-release', join(root, 'etc/systemd/system/climb'))
    symlinkSync('/etc/hostname', join(root, 'etc/systemd/system/outside'))
    symlinkSync('loop-b', join(root, 'etc/loop-a'))
    symlinkSync('loop-a', join(root, 'etc/loop-b'))
  })
  afterAll(() => dir.cleanup())

  test.each([
    { path: '/etc/os-release', resolved: '/usr/lib/os-release' },
    { path: '/etc/systemd/system/cron.service', resolved: '/usr/lib/systemd/system/cron.service' },
    { path: '/lib/systemd/system/../../os-release', resolved: '/usr/lib/os-release' },
    // /lib is usr/lib, so /lib/.. is /usr, as the kernel has it.
    { path: '/lib/../../etc/os-release', resolved: '/usr/lib/os-release' },
    { path: '/lib/../etc/os-release', resolved: undefined },
    { path: '/etc/systemd/system/masked.service', resolved: DEV_NULL },
    { path: '/etc/systemd/system/masked2.service', resolved: DEV_NULL },
    // `..` stops at the root, as in a chroot.
    { path: '/etc/systemd/system/climb', resolved: '/usr/lib/os-release' },
    // The host has /etc/hostname; the root does not.
    { path: '/etc/systemd/system/outside', resolved: undefined },
    { path: '/etc/missing/file', resolved: undefined },
    { path: '/etc/os-release/below-a-file', resolved: undefined },
    { path: '/', resolved: '/' },
  ])('$path -> $resolved', ({ path, resolved }) => {
    expect(resolveInRoot(dir.path, path)).toBe(resolved)
  })

  test('a link loop is an error, not a hang', () => {
    expect(() => resolveInRoot(dir.path, '/etc/loop-a')).toThrow(/too many levels/)
  })

  test('reading and listing', () => {
    expect(readRootTextConfined(dir.path, '/etc/os-release')).toBe('ID=debian\n')
    expect(readRootTextConfined(dir.path, '/etc/systemd/system/masked.service')).toBe('')
    expect(readRootTextConfined(dir.path, '/etc/systemd/system/outside')).toBeUndefined()
    expect(readRootTextConfined(dir.path, '/usr/lib')).toBeUndefined()
    expect(listRootDir(dir.path, '/lib/systemd/system')).toEqual([{ name: 'cron.service', type: 'file' }])
    expect(listRootDir(dir.path, '/nowhere')).toEqual([])
    expect(listRootDir(dir.path, '/etc').map((e) => `${e.name}:${e.type}`)).toEqual([
      'loop-a:symlink',
      'loop-b:symlink',
      'os-release:symlink',
      'systemd:dir',
    ])
  })
})
