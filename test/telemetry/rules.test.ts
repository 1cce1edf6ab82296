import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { REPO } from '../helpers/cli.js'
import { hasTool } from '../helpers/tools.js'

const RULES = join(REPO, 'config/prometheus/driftwatch-rules.yml')
const RULE_TESTS = join(REPO, 'config/prometheus/driftwatch-rules.test.yml')

describe.runIf(hasTool('promtool', 'prometheus'))("the alert rules, by Prometheus's own promtool", () => {
  test('promtool check rules: the file is valid and holds the five alerts', () => {
    const run = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' })
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('SUCCESS: 5 rules found')
  })

  test('every alert rule has a unit test in driftwatch-rules.test.yml', () => {
    const alerts = [...readFileSync(RULES, 'utf8').matchAll(/^\s+- alert: (\S+)$/gm)].map((m) => m[1])
    const tested = new Set(
      [...readFileSync(RULE_TESTS, 'utf8').matchAll(/alertname: (\S+)$/gm)].map((m) => m[1]),
    )
    expect(alerts).toHaveLength(5)
    expect(alerts.filter((alert) => !tested.has(alert))).toEqual([])
  })

  test('promtool test rules: every unit test in driftwatch-rules.test.yml passes', () => {
    const run = spawnSync('promtool', ['test', 'rules', RULE_TESTS], { encoding: 'utf8' })
    expect(`${run.stdout}${run.stderr}`).not.toContain('FAILED')
    expect(run.status).toBe(0)
    expect(run.stdout).toContain('SUCCESS')
  })
})
