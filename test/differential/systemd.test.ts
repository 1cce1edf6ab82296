import { cpSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { systemdProbe } from '../../src/probes/systemd.js'
import { hasTool } from '../helpers/tools.js'
import { makeRoot, runTool, type TestRoot } from './root.js'

/*
 * systemctl is the truth for unit states: `systemctl --root=DIR is-enabled NAME` reads the same
 * unit files and links as the probe (src/shared/install.c). One root holds every case below,
 * built the way Debian 12 lays out units (merged /usr, links written as /lib/systemd/system/…);
 * each unit name is asked of both, and a name systemctl does not find has no state key.
 */

const fixtureRoot = fileURLToPath(new URL('../fixtures/roots/systemd', import.meta.url))
const LIB = '/usr/lib/systemd/system'
const ETC = '/etc/systemd/system'
const RUN = '/run/systemd/system'
const service = (install = '') => `[Unit]\nDescription=test\n[Service]\nExecStart=/bin/true\n${install}`

function build(root: TestRoot): void {
  cpSync(fixtureRoot, root.path, { recursive: true })
  root.link('/lib', 'usr/lib')
  const wants = (target: string, unit: string, file = unit, dir = ETC) =>
    root.link(`${dir}/${target}.wants/${unit}`, `/lib/systemd/system/${file}`)
  // The fixture image's own enablement, as its tests set it up.
  wants('multi-user.target', 'cron.service')
  wants('multi-user.target', 'ssh.service')
  wants('multi-user.target', 'e2scrub_reap.service')
  root.link(`${ETC}/multi-user.target.wants/webapp.service`, `${ETC}/webapp.service`)
  wants('sysinit.target', 'systemd-timesyncd.service')
  wants('timers.target', 'apt-daily.timer')
  root.link(`${ETC}/sshd.service`, '/lib/systemd/system/ssh.service')
  root.link(`${ETC}/dbus-org.freedesktop.timesync1.service`, '/lib/systemd/system/systemd-timesyncd.service')
  root.link(`${ETC}/apt-daily-upgrade.timer`, '/dev/null')
  // A dependency link to /dev/null: systemctl judges .wants/ links by their names only.
  root.link(`${ETC}/sockets.target.wants/ssh.socket`, '/dev/null')
  root.link(`${LIB}/default.target`, 'multi-user.target')
  root.link(`${LIB}/rc.service`, '/dev/null')

  // Templates: the only enabled instance is not DefaultInstance (getty@), there is none
  // (serial-getty@), it is the DefaultInstance (tmpl-default@).
  wants('getty.target', 'getty@tty2.service', 'getty@.service')
  root.file(`${LIB}/serial-getty@.service`, service('[Install]\nWantedBy=getty.target\n'))
  wants('getty.target', 'serial-getty@ttyS0.service', 'serial-getty@.service')
  root.file(
    `${LIB}/tmpl-default@.service`,
    service('[Install]\nWantedBy=multi-user.target\nDefaultInstance=a\n'),
  )
  wants('multi-user.target', 'tmpl-default@a.service', 'tmpl-default@.service')
  // An instance linked from a vendor directory is statically enabled.
  root.file(`${LIB}/vendor-inst@.service`, service('[Install]\nWantedBy=multi-user.target\n'))
  root.link(`${LIB}/multi-user.target.wants/vendor-inst@x.service`, '../vendor-inst@.service')
  // A vendor .wants/ link does not enable a regular unit.
  root.file(`${LIB}/vendor-wanted.service`, service('[Install]\nWantedBy=multi-user.target\n'))
  root.link(`${LIB}/multi-user.target.wants/vendor-wanted.service`, '../vendor-wanted.service')

  // A hand-made alias link (not in Alias=): the unit it reaches is indirect.
  root.file(`${LIB}/foo.service`, service('[Install]\nWantedBy=multi-user.target\n'))
  root.link(`${ETC}/handmade.service`, `${LIB}/foo.service`)
  // A .wants/ link under another name than its unit's: neither is enabled by it.
  root.file(`${LIB}/wrongname.service`, service('[Install]\nWantedBy=multi-user.target\n'))
  root.link(`${ETC}/multi-user.target.wants/other-name.service`, `${LIB}/wrongname.service`)
  // A .wants/ link to a unit that does not exist.
  root.link(`${ETC}/multi-user.target.wants/missing.service`, `${LIB}/missing.service`)

  // Runtime links: enabled-runtime, linked-runtime, an Alias= made at runtime, both places.
  root.file(`${LIB}/rt.service`, service('[Install]\nWantedBy=multi-user.target\n'))
  root.link(`${RUN}/multi-user.target.wants/rt.service`, `${LIB}/rt.service`)
  root.file('/opt/ext.service', service('[Install]\nWantedBy=multi-user.target\n'))
  root.link(`${RUN}/ext.service`, '/opt/ext.service')
  root.file('/opt/lnk.service', service('[Install]\nWantedBy=multi-user.target\n'))
  root.link(`${ETC}/lnk.service`, '/opt/lnk.service')
  root.file('/opt/lnk2.service', service('[Install]\nWantedBy=multi-user.target\n'))
  root.link(`${ETC}/lnk2.service`, '/opt/lnk2.service')
  root.link(`${ETC}/multi-user.target.wants/lnk2.service`, '/opt/lnk2.service')
  root.link(`${ETC}/ext2.service`, '/opt/ext.service')
  root.file(`${LIB}/al.service`, service('[Install]\nWantedBy=multi-user.target\nAlias=al2.service\n'))
  root.link(`${RUN}/al2.service`, `${LIB}/al.service`)
  root.file(`${LIB}/both.service`, service('[Install]\nWantedBy=multi-user.target\n'))
  root.link(`${RUN}/multi-user.target.wants/both.service`, `${LIB}/both.service`)
  root.link(`${ETC}/multi-user.target.wants/both.service`, `${LIB}/both.service`)
  root.link(`${RUN}/masked-rt.service`, '/dev/null')
  root.file(`${LIB}/masked-rt.service`, service('[Install]\nWantedBy=multi-user.target\n'))

  // Install sections: Also= only is indirect, nothing is static, a static unit pulled in by a
  // .requires/ link is enabled.
  root.file(`${LIB}/also.service`, service('[Install]\nAlso=foo.service\n'))
  root.file(`${LIB}/static.service`, service())
  root.link(`${ETC}/foo.target.requires/static.service`, `${LIB}/static.service`)
}

describe.skipIf(!hasTool('systemctl', 'systemd'))('systemd probe against systemctl is-enabled', () => {
  let root: TestRoot
  beforeAll(() => {
    root = makeRoot()
    build(root)
  })
  afterAll(() => root?.cleanup())

  test('every unit: the same state, and no state where systemctl finds no unit', async () => {
    const entries = await systemdProbe.collect({ rootDir: root.path, live: false })
    const probe = Object.fromEntries(
      entries.filter((e) => !e.key.slice(8).includes('/')).map((e) => [e.key.slice(8), e.value]),
    )
    const names = new Set([
      ...Object.keys(probe),
      ...entries.map((e) => e.key.slice(8).split('/')[0] as string),
      'getty@tty1.service',
      'serial-getty@ttyS1.service',
      'other-name.service',
      'nonexistent.service',
    ])
    const systemctl: Record<string, unknown> = {}
    const fromProbe: Record<string, unknown> = {}
    for (const name of [...names].sort()) {
      const result = runTool('systemctl', [`--root=${root.path}`, 'is-enabled', name])
      const state = result.stdout.trim()
      // Instances never linked are `disabled` to systemctl; the probe records only linked names.
      if (!(name in probe) && state === 'disabled' && name.includes('@')) continue
      systemctl[name] = state === '' ? `none (${result.stderr.trim()})` : state
      fromProbe[name] =
        name in probe
          ? probe[name]
          : systemctl[name]?.toString().startsWith('none')
            ? systemctl[name]
            : 'none'
    }
    expect(fromProbe).toEqual(systemctl)
    // The cases of the issue, by name, so a regression says which.
    expect(probe).toMatchObject({
      'getty@.service': 'indirect',
      'serial-getty@.service': 'indirect',
      'tmpl-default@.service': 'enabled',
      'foo.service': 'indirect',
      'rt.service': 'enabled-runtime',
      'ext.service': 'linked-runtime',
    })
    expect(probe['missing.service']).toBeUndefined()
  })
})
