import { appendFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { groupDrift } from '../../src/drift/group.js'
import { captureManifest, scanHost } from '../../src/scan/run.js'
import { tempDir } from '../helpers/cli.js'

/*
 * The two gaps seen on a real Debian image: a kernel parameter a new host file sets is a
 * configuration item of its own (not only "a file added"), and a file change that a
 * configuration change explains sits under it, one event per cause. Real roots, a real capture
 * and a real scan.
 */

let dir: { path: string; cleanup: () => void }
let root: string

function write(path: string, text: string): void {
  mkdirSync(join(root, path, '..'), { recursive: true })
  writeFileSync(join(root, path), text)
}

beforeEach(() => {
  dir = tempDir()
  root = join(dir.path, 'root')
  write('/usr/lib/systemd/systemd-sysctl', '')
  write('/etc/sysctl.conf', '# nothing\n')
  mkdirSync(join(root, 'etc/sysctl.d'), { recursive: true })
  symlinkSync('../sysctl.conf', join(root, 'etc/sysctl.d/99-sysctl.conf'))
  write('/usr/lib/sysctl.d/50-default.conf', 'kernel.sysrq = 16\n')
  write('/etc/passwd', 'root:x:0:0:root:/root:/bin/bash\n')
  write('/etc/shadow', 'root:*:19000:0:99999:7:::\n')
  write('/etc/group', 'root:x:0:\n')
  write('/etc/gshadow', 'root:*::\n')
  write('/etc/ssh/sshd_config', 'Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\n')
  write(
    '/usr/lib/systemd/system/cron.service',
    '[Service]\nExecStart=/usr/sbin/cron\n[Install]\nWantedBy=multi-user.target\n',
  )
})
afterEach(() => dir.cleanup())

async function captureThenScan(change: () => void) {
  const policy = loadPolicy()
  const { manifest } = await captureManifest({ rootDir: root, policy, image: { id: 'img', version: '1' } })
  change()
  const { report } = await scanHost({
    rootDir: root,
    manifest,
    manifestDigest: `sha256:${'0'.repeat(64)}`,
    mode: 'full',
  })
  return report.drift
}

describe('a scan explains file changes by configuration changes', () => {
  test('a kernel parameter set by a new host file is added, with its value and that file', async () => {
    const drift = await captureThenScan(() => {
      write('/etc/sysctl.d/60-forward.conf', 'net.ipv4.ip_forward = 1\nkernel.sysrq = 16\n')
    })
    const added = drift.find((i) => i.subject === 'sysctl:net.ipv4.ip_forward')
    expect(added).toMatchObject({
      kind: 'config',
      change: 'added',
      actual: '1',
      source: '/etc/sysctl.d/60-forward.conf',
    })
    // kernel.sysrq is set again to the image's value: no item for it.
    expect(drift.find((i) => i.subject === 'sysctl:kernel.sysrq')).toBeUndefined()
    const file = drift.find((i) => i.subject === '/etc/sysctl.d/60-forward.conf')
    expect(file).toMatchObject({ kind: 'file', change: 'added', explainedBy: 'sysctl:net.ipv4.ip_forward' })
    const grouped = groupDrift(drift)
    expect(grouped.files).toEqual([])
    expect(grouped.config.map((c) => [c.item.subject, c.files.map((f) => f.subject)])).toEqual([
      ['sysctl:net.ipv4.ip_forward', ['/etc/sysctl.d/60-forward.conf']],
    ])
  })

  test('a user added by useradd: passwd, shadow, group, gshadow and their backups under the user and group', async () => {
    const drift = await captureThenScan(() => {
      for (const f of ['passwd', 'shadow', 'group', 'gshadow']) {
        const path = join(root, 'etc', f)
        writeFileSync(`${path}-`, '')
        appendFileSync(`${path}-`, '')
      }
      appendFileSync(join(root, 'etc/passwd'), 'mallory:x:1000:1000::/home/mallory:/bin/bash\n')
      appendFileSync(join(root, 'etc/shadow'), 'mallory:!:19000:0:99999:7:::\n')
      appendFileSync(join(root, 'etc/group'), 'mallory:x:1000:\n')
      appendFileSync(join(root, 'etc/gshadow'), 'mallory:!::\n')
      write('/etc/subuid', 'mallory:100000:65536\n')
    })
    const grouped = groupDrift(drift)
    expect(grouped.files.map((f) => f.subject)).toEqual([])
    const under = Object.fromEntries(
      grouped.config.map((c) => [c.item.subject, c.files.map((f) => f.subject).sort()]),
    )
    expect(under).toEqual({
      'user:mallory': ['/etc/passwd', '/etc/passwd-', '/etc/shadow', '/etc/shadow-', '/etc/subuid'],
      'group:mallory': ['/etc/group', '/etc/group-', '/etc/gshadow', '/etc/gshadow-'],
    })
  })

  test('an sshd drop-in under the key it sets; a unit file and its .wants/ link under the unit', async () => {
    const drift = await captureThenScan(() => {
      write('/etc/ssh/sshd_config.d/50-root.conf', 'PermitRootLogin yes\n')
      mkdirSync(join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true })
      write(
        '/etc/systemd/system/backdoor.service',
        '[Service]\nExecStart=/bin/sh\n[Install]\nWantedBy=multi-user.target\n',
      )
      symlinkSync(
        '/etc/systemd/system/backdoor.service',
        join(root, 'etc/systemd/system/multi-user.target.wants/backdoor.service'),
      )
    })
    expect(drift.find((i) => i.subject === 'sshd:permitrootlogin')).toMatchObject({
      change: 'modified',
      source: '/etc/ssh/sshd_config.d/50-root.conf',
    })
    const grouped = groupDrift(drift)
    expect(grouped.files.map((f) => f.subject)).toEqual([])
    const under = Object.fromEntries(
      grouped.config.map((c) => [c.item.subject, c.files.map((f) => f.subject).sort()]),
    )
    expect(under['sshd:permitrootlogin']).toEqual([
      '/etc/ssh/sshd_config.d',
      '/etc/ssh/sshd_config.d/50-root.conf',
    ])
    // The directories made for them go with them.
    expect(under['systemd:backdoor.service']).toEqual([
      '/etc/systemd',
      '/etc/systemd/system',
      '/etc/systemd/system/backdoor.service',
      '/etc/systemd/system/multi-user.target.wants',
      '/etc/systemd/system/multi-user.target.wants/backdoor.service',
    ])
  })
})
