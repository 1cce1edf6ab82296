import { execFileSync } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { cpSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { runCli, tempDir } from '../helpers/cli.js'

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/roots/${name}`, import.meta.url))

let dir: { path: string; cleanup: () => void }
let image: string
let manifest: string

/**
 * An image as a bake leaves it: a Debian root with packages, accounts, sshd and sysctl
 * configuration, systemd units, and the per-instance files a bake leaves behind.
 */
function bakeImage(root: string): void {
  cpSync(fixture('debian-12'), root, { recursive: true, verbatimSymlinks: true })
  for (const name of ['accounts', 'sshd', 'sysctl']) {
    cpSync(join(fixture(name), 'etc'), join(root, 'etc'), { recursive: true, verbatimSymlinks: true })
  }
  cpSync(join(fixture('sysctl'), 'usr'), join(root, 'usr'), { recursive: true, verbatimSymlinks: true })
  const write = (path: string, content: string | Buffer) => {
    mkdirSync(join(root, path, '..'), { recursive: true })
    writeFileSync(join(root, path), content)
  }
  mkdirSync(join(root, 'usr/lib/systemd/system'), { recursive: true })
  write(
    'usr/lib/systemd/system/ssh.service',
    '[Unit]\nDescription=OpenBSD Secure Shell server\n[Service]\nExecStart=/usr/sbin/sshd -D\n[Install]\nWantedBy=multi-user.target\n',
  )
  mkdirSync(join(root, 'etc/systemd/system/multi-user.target.wants'), { recursive: true })
  symlinkSync(
    '/usr/lib/systemd/system/ssh.service',
    join(root, 'etc/systemd/system/multi-user.target.wants/ssh.service'),
  )
  write('usr/lib/python3/dist-packages/app/__init__.py', 'print("app")\n')
  bootInstance(root, 'image-build')
}

/** What first boot of a new instance regenerates: ids, names, keys, caches, cloud-init's files. */
function bootInstance(root: string, hostname: string): void {
  const write = (path: string, content: string | Buffer) => {
    mkdirSync(join(root, path, '..'), { recursive: true })
    writeFileSync(join(root, path), content)
  }
  write('etc/machine-id', `${randomUUID().replaceAll('-', '')}\n`)
  write('var/lib/dbus/machine-id', `${randomUUID().replaceAll('-', '')}\n`)
  write('etc/hostname', `${hostname}\n`)
  write('etc/hosts', `127.0.0.1 localhost\n127.0.1.1 ${hostname}\n`)
  write('etc/resolv.conf', `nameserver 10.0.${randomBytes(1)[0]}.2\nsearch ${hostname}.internal\n`)
  write('etc/ld.so.cache', randomBytes(512))
  write('etc/adjtime', `0.0 0 0\n0\nUTC\n`)
  write(
    'etc/netplan/50-cloud-init.yaml',
    `network:\n  ethernets:\n    eth0:\n      match: { macaddress: "${randomBytes(6).toString('hex')}" }\n`,
  )
  write('etc/sudoers.d/90-cloud-init-users', `# Created by cloud-init on instance ${hostname}\n`)
  write('usr/lib/python3/dist-packages/app/__pycache__/__init__.cpython-311.pyc', randomBytes(64))
  write('var/log/syslog', `${hostname} booted\n`)
  for (const type of ['rsa', 'ecdsa', 'ed25519']) {
    const key = join(root, `etc/ssh/ssh_host_${type}_key`)
    rmSync(key, { force: true })
    rmSync(`${key}.pub`, { force: true })
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', key, '-C', `root@${hostname}`])
  }
}

beforeAll(async () => {
  dir = tempDir()
  image = join(dir.path, 'image')
  manifest = join(dir.path, 'image.json')
  bakeImage(image)
  const capture = await runCli([
    'manifest',
    'capture',
    '--image',
    'web-base@1',
    '--root',
    image,
    '--out',
    manifest,
  ])
  expect(capture.code).toBe(0)
})
afterAll(() => dir.cleanup())

describe('a fresh instance of an image', () => {
  test('scans clean: new ids, hostname, host keys, resolver and regenerated caches are not drift', async () => {
    const instance = join(dir.path, 'instance')
    cpSync(image, instance, { recursive: true, verbatimSymlinks: true })
    bootInstance(instance, 'web-7')
    const scan = await runCli(['scan', '--manifest', manifest, '--root', instance, '--format', 'json'])
    const report = JSON.parse(scan.stdout)
    expect(report.drift).toEqual([])
    expect(scan.code).toBe(0)
    expect(report.host).toMatchObject({ hostname: 'web-7' })
    // Every probe ran on it; none failed.
    expect(report.scan.probes.filter((p: { ok: boolean }) => !p.ok)).toEqual([])
    expect(report.scan.probes.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['files', 'dpkg', 'sysctl', 'systemd', 'accounts', 'sshd', 'os']),
    )
  })

  test('while a real change on the same instance is still seen', async () => {
    const instance = join(dir.path, 'changed')
    cpSync(image, instance, { recursive: true, verbatimSymlinks: true })
    bootInstance(instance, 'web-8')
    writeFileSync(join(instance, 'etc/ssh/sshd_config.d/99-debug.conf'), 'PermitRootLogin yes\n')
    rmSync(join(instance, 'etc/systemd/system/multi-user.target.wants/ssh.service'))
    const scan = await runCli(['scan', '--manifest', manifest, '--root', instance, '--format', 'json'])
    expect(scan.code).toBe(1)
    const subjects = JSON.parse(scan.stdout).drift.map(
      (d: { kind: string; subject: string }) => `${d.kind} ${d.subject}`,
    )
    expect(subjects).toEqual(
      expect.arrayContaining([
        'file /etc/ssh/sshd_config.d/99-debug.conf',
        'config systemd:ssh.service',
        'file /etc/systemd/system/multi-user.target.wants/ssh.service',
      ]),
    )
  })
})
