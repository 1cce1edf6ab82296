import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { CLI, REPO, tempDir } from '../helpers/cli.js'
import { hasTool } from '../helpers/tools.js'

const UNITS = readdirSync(join(REPO, 'systemd')).filter((f) => f.endsWith('.service'))

/**
 * Highest exposure `systemd-analyze security` may give each unit, in its tenths (of 10). The
 * agent reads every file (CAP_DAC_READ_SEARCH) and so scores higher than the collector.
 */
const MAX_EXPOSURE: Record<string, number> = {
  'driftwatch-collector.service': 15,
  'driftwatch-agent.service': 20,
}

describe.skipIf(!hasTool('systemd-analyze', 'systemd'))('systemd units', () => {
  const dir = tempDir()
  afterAll(() => dir.cleanup())

  /** The unit as installed, but running this checkout's CLI (verify wants ExecStart to exist). */
  const installed = (unit: string) => {
    const file = join(dir.path, unit)
    const text = readFileSync(join(REPO, 'systemd', unit), 'utf8')
    writeFileSync(
      file,
      text.replace(/^ExecStart=\/usr\/bin\/driftwatch /m, `ExecStart=${process.execPath} ${CLI} `),
    )
    return file
  }

  test.each(UNITS)('%s passes systemd-analyze verify', (unit) => {
    const result = spawnSync('systemd-analyze', ['verify', installed(unit)], { encoding: 'utf8' })
    expect(result.stderr.trim()).toBe('')
    expect(result.status).toBe(0)
  })

  test('every unit has an exposure limit', () => {
    expect(UNITS.sort()).toEqual(Object.keys(MAX_EXPOSURE).sort())
  })

  test.each(UNITS)('%s runs with least privilege (exposure at most its limit)', (unit) => {
    const result = spawnSync(
      'systemd-analyze',
      ['security', '--offline=true', `--threshold=${MAX_EXPOSURE[unit] ?? 0}`, installed(unit)],
      { encoding: 'utf8' },
    )
    expect(
      result.status,
      result.stdout
        .split('\n')
        .filter((l) => l.startsWith('✗'))
        .join('\n'),
    ).toBe(0)
  })

  test('the collector unit runs the collector command of the CLI contract, secrets from a 0600 file', () => {
    const text = readFileSync(join(REPO, 'systemd', 'driftwatch-collector.service'), 'utf8')
    expect(text).toMatch(
      /^ExecStart=\/usr\/bin\/driftwatch collector --config \/etc\/driftwatch\/collector\.yaml$/m,
    )
    expect(text).toMatch(/^EnvironmentFile=-\/etc\/driftwatch\/collector\.env$/m)
    expect(text).toMatch(/^DynamicUser=yes$/m)
    expect(text).not.toMatch(/SECRET=|TOKEN=/)
  })

  test('the agent unit: its own user, reads all and writes only its state, idle priority, no open_by_handle_at', () => {
    const text = readFileSync(join(REPO, 'systemd', 'driftwatch-agent.service'), 'utf8')
    expect(text).toMatch(/^ExecStart=\/usr\/bin\/driftwatch agent --config \/etc\/driftwatch\/agent\.yaml$/m)
    expect(text).toMatch(/^EnvironmentFile=-\/etc\/driftwatch\/agent\.env$/m)
    expect(text).toMatch(/^User=driftwatch$/m)
    expect(text).toMatch(/^AmbientCapabilities=CAP_DAC_READ_SEARCH$/m)
    expect(text).toMatch(/^CapabilityBoundingSet=CAP_DAC_READ_SEARCH$/m)
    expect(text).toMatch(/^ProtectSystem=strict$/m)
    expect(text).toMatch(/^StateDirectory=driftwatch$/m)
    expect(text).toMatch(/^NoNewPrivileges=yes$/m)
    expect(text).toMatch(/^SystemCallFilter=~.*\bopen_by_handle_at\b/m)
    expect(text).toMatch(/^CPUSchedulingPolicy=idle$/m)
    expect(text).toMatch(/^IOSchedulingClass=idle$/m)
    expect(text).toMatch(/^Restart=on-failure$/m)
    expect(text).not.toMatch(/SECRET=|TOKEN=/)
  })
})
