import { describe, expect, test } from 'vitest'
import { parseSysctlConf, sysctlFiles, sysctlProbe } from '../../src/probes/sysctl.js'
import { hasTool } from '../helpers/tools.js'
import { makeRoot, runTool, type TestRoot } from './root.js'

/*
 * systemd-sysctl's order, as systemd-analyze prints it: `cat-config sysctl.d --root=DIR` lists the
 * files systemd-sysctl would read, each under a `# <path>` line, in the order it applies them. It
 * also lists a masked file (a link to /dev/null, an empty file) with nothing under it, which
 * systemd-sysctl skips: those are left out before comparing.
 */
function catConfig(root: TestRoot): { path: string; text: string }[] {
  const result = runTool('systemd-analyze', ['cat-config', 'sysctl.d', `--root=${root.path}`, '--no-pager'])
  expect(result.stderr).toBe('')
  expect(result.status).toBe(0)
  const files: { path: string; text: string }[] = []
  for (const line of result.stdout.split('\n')) {
    if (line.startsWith(`# ${root.path}/`)) files.push({ path: line.slice(2 + root.path.length), text: '' })
    else if (files.length > 0) (files.at(-1) as { text: string }).text += `${line}\n`
  }
  return files.filter((f) => f.text.trim() !== '')
}

/** The values the tool's order gives, each line parsed as the probe parses it. */
function valuesInToolOrder(files: { text: string }[]): Record<string, string> {
  const values: Record<string, string> = {}
  for (const { text } of files)
    for (const { key, value } of parseSysctlConf(text)) values[`sysctl:${key}`] = value
  return values
}

const cases: { name: string; build: (root: TestRoot) => void }[] = [
  {
    name: 'Debian 12: 99-sysctl.conf links to ../sysctl.conf and a local file sorts after it',
    build: (root) =>
      root
        .file('/usr/lib/systemd/systemd-sysctl', '')
        .file('/etc/sysctl.conf', 'net.ipv4.ip_forward = 1\nkernel.sysrq = 1\n')
        .link('/etc/sysctl.d/99-sysctl.conf', '../sysctl.conf')
        .file('/etc/sysctl.d/99-zzz-local.conf', 'net.ipv4.ip_forward = 0\n')
        .file('/etc/sysctl.d/README.sysctl', 'kernel.sysrq = 0\n')
        .file('/usr/lib/sysctl.d/50-default.conf', 'kernel.sysrq = 16\nnet.ipv4.conf.*.rp_filter = 2\n'),
  },
  {
    name: 'the same name in /etc, /run, /usr/local/lib, /usr/lib and /lib: the first directory wins',
    build: (root) =>
      root
        .file('/lib/systemd/systemd-sysctl', '')
        .file('/etc/sysctl.d/50-a.conf', 'a.b = etc\n')
        .file('/run/sysctl.d/50-a.conf', 'a.b = run\n')
        .file('/run/sysctl.d/60-b.conf', 'c.d = run\n')
        .file('/usr/local/lib/sysctl.d/60-b.conf', 'c.d = local\n')
        .file('/usr/local/lib/sysctl.d/70-c.conf', 'e.f = local\n')
        .file('/usr/lib/sysctl.d/70-c.conf', 'e.f = usr\n')
        .file('/usr/lib/sysctl.d/80-d.conf', 'g.h = usr\n')
        .file('/lib/sysctl.d/80-d.conf', 'g.h = lib\n')
        .file('/lib/sysctl.d/10-e.conf', 'g.h = first\ni.j = lib\n'),
  },
  {
    name: 'masked by a link to /dev/null and by an empty file; an absolute link read inside the root',
    build: (root) =>
      root
        .file('/usr/lib/systemd/systemd-sysctl', '')
        .file('/usr/lib/sysctl.d/50-default.conf', 'kernel.sysrq = 16\n')
        .file('/usr/lib/sysctl.d/50-pid-max.conf', 'kernel.pid_max = 4194304\n')
        .file('/usr/lib/sysctl.d/60-vendor.conf', 'vm.swappiness = 60\n')
        .link('/etc/sysctl.d/50-default.conf', '/dev/null')
        .file('/etc/sysctl.d/60-vendor.conf', '')
        .link('/etc/sysctl.d/70-copy.conf', '/usr/lib/sysctl.d/50-pid-max.conf')
        .file(
          '/etc/sysctl.d/80-keys.conf',
          'net/ipv4/conf/eth0.100/forwarding = 1\n-kernel.dmesg_restrict = 1\n',
        ),
  },
]

describe.skipIf(!hasTool('systemd-analyze', 'systemd'))('sysctl probe against systemd-sysctl', () => {
  test.each(cases)('$name: the same files in the same order', ({ build }) => {
    const root = makeRoot()
    try {
      build(root)
      expect(sysctlFiles(root.path)).toEqual(catConfig(root).map((f) => f.path))
    } finally {
      root.cleanup()
    }
  })

  test.each(cases)('$name: the same values', async ({ build }) => {
    const root = makeRoot()
    try {
      build(root)
      const entries = await sysctlProbe.collect({ rootDir: root.path, live: false })
      expect(Object.fromEntries(entries.map((e) => [e.key, e.value]))).toEqual(
        valuesInToolOrder(catConfig(root)),
      )
    } finally {
      root.cleanup()
    }
  })

  test('this machine: the files systemd-sysctl reads from /', () => {
    const result = runTool('systemd-analyze', ['cat-config', 'sysctl.d', '--no-pager'])
    expect(result.status).toBe(0)
    const files: { path: string; text: string }[] = []
    for (const line of result.stdout.split('\n')) {
      if (/^# \/\S+\.conf$/.test(line)) files.push({ path: line.slice(2), text: '' })
      else if (files.length > 0) (files.at(-1) as { text: string }).text += `${line}\n`
    }
    expect(sysctlFiles('/')).toEqual(files.filter((f) => f.text.trim() !== '').map((f) => f.path))
  })
})
