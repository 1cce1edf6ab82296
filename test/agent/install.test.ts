import { spawnSync } from 'node:child_process'
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { REPO, tempDir } from '../helpers/cli.js'
import { hasTool } from '../helpers/tools.js'

const INSTALL = join(REPO, 'systemd', 'install.sh')

const install = (args: string[]) => spawnSync('bash', [INSTALL, ...args], { encoding: 'utf8' })

describe.skipIf(!hasTool('systemctl', 'systemd'))('systemd/install.sh into a temporary DESTDIR', () => {
  const dir = tempDir('driftwatch-install-')
  afterAll(() => dir.cleanup())
  const dest = (path: string) => join(dir.path, path)

  test("installs configs (secrets 0600), the units running the prefix's command, the user declaration, and enables the agent", () => {
    const result = install(['--no-package', '--destdir', dir.path, '--prefix', '/usr/local'])
    expect(result.status, result.stderr).toBe(0)
    for (const file of ['agent.yaml', 'collector.yaml', 'policy.yaml']) {
      expect(readFileSync(dest(`etc/driftwatch/${file}`), 'utf8')).toBe(
        readFileSync(join(REPO, 'config', file), 'utf8'),
      )
    }
    for (const secret of ['agent.env', 'collector.env']) {
      expect(statSync(dest(`etc/driftwatch/${secret}`)).mode & 0o777).toBe(0o600)
    }
    expect(readFileSync(dest('etc/driftwatch/agent.env'), 'utf8')).toMatch(/^DRIFTWATCH_ENROLL_SECRET=$/m)
    const unit = readFileSync(dest('usr/local/lib/systemd/system/driftwatch-agent.service'), 'utf8')
    expect(unit).toMatch(
      /^ExecStart=\/usr\/local\/bin\/driftwatch agent --config \/etc\/driftwatch\/agent\.yaml$/m,
    )
    expect(readFileSync(dest('usr/local/lib/sysusers.d/driftwatch.conf'), 'utf8')).toMatch(/^u driftwatch - /)
    const wanted = dest('etc/systemd/system/multi-user.target.wants/driftwatch-agent.service')
    expect(lstatSync(wanted).isSymbolicLink()).toBe(true)
    expect(readlinkSync(wanted)).toBe('/usr/local/lib/systemd/system/driftwatch-agent.service')
    expect(existsSync(dest('etc/systemd/system/multi-user.target.wants/driftwatch-collector.service'))).toBe(
      false,
    )
  })

  test("a second install keeps the operator's edits", () => {
    writeFileSync(dest('etc/driftwatch/agent.yaml'), 'edited: by the operator\n')
    const result = install(['--no-package', '--destdir', dir.path, '--prefix', '/usr/local'])
    expect(result.status, result.stderr).toBe(0)
    expect(readFileSync(dest('etc/driftwatch/agent.yaml'), 'utf8')).toBe('edited: by the operator\n')
  })

  test('--uninstall reverses it but keeps configuration; --purge removes that too', () => {
    const kept = install(['--uninstall', '--destdir', dir.path, '--prefix', '/usr/local'])
    expect(kept.status, kept.stderr).toBe(0)
    expect(existsSync(dest('usr/local/lib/systemd/system/driftwatch-agent.service'))).toBe(false)
    expect(existsSync(dest('etc/systemd/system/multi-user.target.wants/driftwatch-agent.service'))).toBe(
      false,
    )
    expect(existsSync(dest('usr/local/lib/sysusers.d/driftwatch.conf'))).toBe(false)
    expect(existsSync(dest('etc/driftwatch/agent.env'))).toBe(true)
    const purged = install(['--uninstall', '--purge', '--destdir', dir.path, '--prefix', '/usr/local'])
    expect(purged.status, purged.stderr).toBe(0)
    expect(existsSync(dest('etc/driftwatch'))).toBe(false)
  })

  test('a bad option is refused with usage, exit 2', () => {
    const result = install(['--destdir', dir.path, '--enable', 'everything', '--no-package'])
    expect(result.status).toBe(2)
    expect(result.stderr).toMatch(/--enable everything: expected agent, collector/)
  })

  test('the packed package holds what its install needs: the native addon sources, the CLI, the example configs', () => {
    const packed = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: REPO,
      encoding: 'utf8',
    })
    expect(packed.status, packed.stderr).toBe(0)
    const [pack] = JSON.parse(packed.stdout) as { files: { path: string }[] }[]
    const files = (pack?.files ?? []).map((f) => f.path)
    expect(files).toEqual(
      expect.arrayContaining([
        'binding.gyp',
        'src/native/fsprobe.c',
        'bin/driftwatch.js',
        'dist/cli/main.js',
        'dist/agent/scan-child.js',
        'config/agent.yaml',
        'config/collector.yaml',
        'config/policy.yaml',
      ]),
    )
  })
})
