import { cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  installState,
  parseInstallSection,
  systemdProbe,
  templateOf,
  type UnitFile,
  unitEntries,
} from '../../src/probes/systemd.js'
import { tempDir } from '../helpers/cli.js'

const fixtureRoot = fileURLToPath(new URL('../fixtures/roots/systemd', import.meta.url))

function valuesOf(entries: { key: string; value: unknown }[]): Record<string, unknown> {
  return Object.fromEntries(entries.map((e) => [e.key, e.value]))
}

describe('[Install] sections', () => {
  test.each([
    {
      name: 'cron.service',
      text: '[Unit]\nDescription=cron\n\n[Service]\nExecStart=/usr/sbin/cron -f\n\n[Install]\nWantedBy=multi-user.target\n',
      state: 'disabled',
    },
    {
      name: 'ssh.service',
      text: '[Install]\nWantedBy=multi-user.target\nAlias=sshd.service\n',
      state: 'disabled',
    },
    {
      name: 'apt-daily.service',
      text: '[Unit]\nDescription=Daily apt\n[Service]\nType=oneshot\n',
      state: 'static',
    },
    { name: 'only Also=', text: '[Install]\nAlso=systemd-networkd.socket\n', state: 'indirect' },
    { name: 'empty [Install]', text: '[Install]\n# nothing here\n', state: 'static' },
    {
      name: 'reset by an empty assignment',
      text: '[Install]\nWantedBy=a.target\nWantedBy=\n',
      state: 'static',
    },
    { name: 'WantedBy in another section', text: '[Service]\nWantedBy=multi-user.target\n', state: 'static' },
    { name: 'continued line', text: '[Install]\nWantedBy=a.target \\\n  b.target\n', state: 'disabled' },
    { name: 'UpheldBy=', text: '[Install]\nUpheldBy=graphical.target\n', state: 'disabled' },
  ])('$name is $state', ({ text, state }) => {
    expect(installState(parseInstallSection(text))).toBe(state)
  })

  test('lists accumulate and continuation lines join', () => {
    const install = parseInstallSection(
      '[Install]\nWantedBy=a.target \\\n  b.target\nWantedBy=c.target\n; Alias=no.service\nAlias=x.service\n',
    )
    expect(install).toEqual({
      wantedBy: ['a.target', 'b.target', 'c.target'],
      requiredBy: [],
      upheldBy: [],
      alias: ['x.service'],
      also: [],
    })
  })
})

test.each([
  { unit: 'getty@tty1.service', template: 'getty@.service' },
  { unit: 'getty@.service', template: undefined },
  { unit: 'cron.service', template: undefined },
  { unit: 'systemd-fsck@dev-disk-by\\x2duuid-1234.service', template: 'systemd-fsck@.service' },
])('template of $unit', ({ unit, template }) => {
  expect(templateOf(unit)).toBe(template)
})

describe('enablement states from a unit tree', () => {
  const file = (dir: string, text: string | undefined, extra: Partial<UnitFile> = {}): UnitFile => ({
    dir,
    // Named after its map key by `named` below: a file whose name differs is an alias.
    resolved: `${dir}/x`,
    link: false,
    text,
    ...extra,
  })
  const lib = '/usr/lib/systemd/system'
  const etc = '/etc/systemd/system'
  const named = (units: [string, UnitFile][]) =>
    new Map(
      units.map(([name, f]) => [
        name,
        f.resolved === `${f.dir}/x` ? { ...f, resolved: `${f.dir}/${name}` } : f,
      ]),
    )

  test.each([
    { name: 'runtime-only enablement', runtime: true, state: 'enabled-runtime' },
    { name: 'persistent enablement', runtime: false, state: 'enabled' },
  ])('$name', ({ runtime, state }) => {
    const entries = unitEntries({
      units: named([['cron.service', file(lib, '[Install]\nWantedBy=multi-user.target\n')]]),
      links: [{ unit: 'cron.service', target: 'multi-user.target', dependency: 'wanted-by', runtime }],
    })
    expect(valuesOf(entries)).toEqual({
      'systemd:cron.service': state,
      'systemd:cron.service/wanted-by': ['multi-user.target'],
    })
  })

  test('masking wins over enablement links; an empty unit file is masked too', () => {
    const entries = unitEntries({
      units: named([
        ['cron.service', file(etc, undefined, { resolved: '/dev/null', link: true })],
        ['old.service', file(lib, '')],
        ['rt.service', file('/run/systemd/system', undefined, { resolved: '/dev/null', link: true })],
      ]),
      links: [{ unit: 'cron.service', target: 'multi-user.target', dependency: 'wanted-by', runtime: false }],
    })
    expect(valuesOf(entries)).toEqual({
      'systemd:cron.service': 'masked',
      'systemd:cron.service/wanted-by': ['multi-user.target'],
      'systemd:old.service': 'masked',
      'systemd:rt.service': 'masked-runtime',
    })
  })

  test('a masked template masks its instances', () => {
    const entries = unitEntries({
      units: named([['getty@.service', file(etc, undefined, { resolved: '/dev/null', link: true })]]),
      links: [
        { unit: 'getty@tty1.service', target: 'getty.target', dependency: 'wanted-by', runtime: false },
      ],
    })
    expect(valuesOf(entries)).toEqual({
      'systemd:getty@.service': 'masked',
      'systemd:getty@tty1.service': 'masked',
      'systemd:getty@tty1.service/wanted-by': ['getty.target'],
    })
  })

  test('linked, dangling and required-by', () => {
    const entries = unitEntries({
      units: named([
        [
          'app.service',
          file(etc, '[Install]\nRequiredBy=app.target\n', {
            resolved: '/opt/app/app.service',
            target: '/opt/app/app.service',
            link: true,
          }),
        ],
        ['gone.service', file(etc, undefined, { resolved: undefined, link: true })],
        ['db.service', file(lib, '[Install]\nRequiredBy=app.target\n')],
      ]),
      links: [{ unit: 'db.service', target: 'app.target', dependency: 'required-by', runtime: false }],
    })
    expect(valuesOf(entries)).toEqual({
      'systemd:app.service': 'linked',
      'systemd:gone.service': 'bad',
      'systemd:db.service': 'enabled',
      'systemd:db.service/required-by': ['app.target'],
    })
  })
})

describe('systemd probe on an image root', () => {
  let dir: { path: string; cleanup: () => void }
  beforeAll(() => {
    dir = tempDir()
    cpSync(fixtureRoot, dir.path, { recursive: true })
    const root = dir.path
    const link = (target: string, path: string) => {
      mkdirSync(dirname(join(root, path)), { recursive: true })
      symlinkSync(target, join(root, path))
    }
    // Debian 12 is merged-/usr, and systemctl writes its links as /lib/systemd/system/…:
    // every one must resolve through the root's own /lib, not the host's.
    link('usr/lib', 'lib')
    const wants = (target: string, unit: string, file = unit) =>
      link(`/lib/systemd/system/${file}`, `etc/systemd/system/${target}.wants/${unit}`)
    wants('multi-user.target', 'cron.service')
    wants('multi-user.target', 'ssh.service')
    wants('multi-user.target', 'e2scrub_reap.service')
    link('/etc/systemd/system/webapp.service', 'etc/systemd/system/multi-user.target.wants/webapp.service')
    wants('sysinit.target', 'systemd-timesyncd.service')
    wants('getty.target', 'getty@tty1.service', 'getty@.service')
    wants('timers.target', 'apt-daily.timer')
    link('/lib/systemd/system/ssh.service', 'etc/systemd/system/sshd.service')
    link(
      '/lib/systemd/system/systemd-timesyncd.service',
      'etc/systemd/system/dbus-org.freedesktop.timesync1.service',
    )
    // Masked by the image: apt upgrades happen by replacing the image.
    link('/dev/null', 'etc/systemd/system/apt-daily-upgrade.timer')
    // A dependency link to /dev/null: systemctl judges .wants/ links by their names alone, so it
    // calls the unit enabled (test/differential/systemd.test.ts checks that with systemctl).
    link('/dev/null', 'etc/systemd/system/sockets.target.wants/ssh.socket')
    // Vendor alias and vendor mask, as Debian's packages ship them.
    link('multi-user.target', 'usr/lib/systemd/system/default.target')
    link('/dev/null', 'usr/lib/systemd/system/rc.service')
    // This host has such a file; the image does not: it must not be found.
    link('/usr/lib/systemd/system/systemd-networkd.service', 'etc/systemd/system/hostonly.service')
    // Not units: a drop-in directory and a stray file.
    writeFileSync(join(root, 'etc/systemd/system/README'), 'not a unit\n')
    mkdirSync(join(root, 'etc/systemd/system/cron.service.d'))
    writeFileSync(join(root, 'etc/systemd/system/cron.service.d/override.conf'), '[Install]\n')
  })
  afterAll(() => dir.cleanup())

  test('every unit with its state, targets and aliases', async () => {
    const entries = await systemdProbe.collect({ rootDir: dir.path, live: false })
    expect(valuesOf(entries)).toEqual({
      'systemd:apt-daily-upgrade.timer': 'masked',
      'systemd:apt-daily.service': 'static',
      'systemd:apt-daily.timer': 'enabled',
      'systemd:apt-daily.timer/wanted-by': ['timers.target'],
      'systemd:cron.service': 'enabled',
      'systemd:cron.service/wanted-by': ['multi-user.target'],
      'systemd:dbus-org.freedesktop.timesync1.service': 'alias',
      'systemd:dbus-org.freedesktop.timesync1.service/alias-of': 'systemd-timesyncd.service',
      'systemd:default.target': 'alias',
      'systemd:default.target/alias-of': 'multi-user.target',
      'systemd:e2scrub_reap.service': 'enabled',
      'systemd:e2scrub_reap.service/wanted-by': ['multi-user.target'],
      'systemd:getty.target': 'static',
      'systemd:getty@.service': 'enabled',
      'systemd:getty@tty1.service': 'enabled',
      'systemd:getty@tty1.service/wanted-by': ['getty.target'],
      'systemd:hostonly.service': 'bad',
      'systemd:multi-user.target': 'static',
      'systemd:rc.service': 'masked',
      'systemd:rescue-ssh.target': 'static',
      'systemd:ssh.service': 'enabled',
      'systemd:ssh.service/wanted-by': ['multi-user.target'],
      'systemd:ssh.socket': 'enabled',
      'systemd:ssh.socket/wanted-by': ['sockets.target'],
      'systemd:sshd.service': 'alias',
      'systemd:sshd.service/alias-of': 'ssh.service',
      'systemd:systemd-timesyncd.service': 'enabled',
      'systemd:systemd-timesyncd.service/wanted-by': ['sysinit.target'],
      'systemd:webapp.service': 'enabled',
      'systemd:webapp.service/wanted-by': ['multi-user.target'],
    })
    expect(entries.map((e) => e.key)).toEqual([...entries.map((e) => e.key)].sort())
  })

  test('the same links read the same from a non-merged /lib', async () => {
    const flat = tempDir()
    try {
      cpSync(fixtureRoot, flat.path, { recursive: true })
      mkdirSync(join(flat.path, 'lib/systemd/system'), { recursive: true })
      cpSync(
        join(fixtureRoot, 'usr/lib/systemd/system/ssh.service'),
        join(flat.path, 'lib/systemd/system/ssh.service'),
      )
      mkdirSync(join(flat.path, 'etc/systemd/system/multi-user.target.wants'))
      symlinkSync(
        '/lib/systemd/system/ssh.service',
        join(flat.path, 'etc/systemd/system/multi-user.target.wants/ssh.service'),
      )
      const values = valuesOf(await systemdProbe.collect({ rootDir: flat.path, live: false }))
      expect(values['systemd:ssh.service']).toBe('enabled')
      expect(values['systemd:cron.service']).toBe('disabled')
    } finally {
      flat.cleanup()
    }
  })
})

describe('systemd probe on this machine', () => {
  test('reads the unit files of / without failing', async () => {
    const entries = await systemdProbe.collect({ rootDir: '/', live: true })
    const states = new Set([
      'enabled',
      'enabled-runtime',
      'disabled',
      'static',
      'indirect',
      'masked',
      'masked-runtime',
      'alias',
      'linked',
      'bad',
    ])
    for (const entry of entries) {
      expect(entry.key).toMatch(/^systemd:[^/]+(\/(wanted-by|required-by|upheld-by|alias-of))?$/)
      if (!entry.key.includes('/')) expect(states).toContain(entry.value)
    }
  })
})
