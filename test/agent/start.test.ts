import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { RunningCollector } from '../../src/collector/server.js'
import { tempDir } from '../helpers/cli.js'
import { AgentProcess, makeImage, runCollector, until, writeAgentConfig } from './harness.js'

describe('the daemon scans when it starts (a real agent process, a real collector on loopback)', () => {
  const dir = tempDir('driftwatch-agent-start-')
  let image: Awaited<ReturnType<typeof makeImage>>
  let collector: RunningCollector

  beforeAll(async () => {
    image = await makeImage(dir.path)
    collector = await runCollector(dir.path)
  })
  afterAll(async () => {
    await collector.stop()
    dir.cleanup()
  })

  /** agent.yaml whose cron schedules are a year apart: only a scan at start can report. */
  const yearlyConfig = (hostId: string, extra: string[] = []) => {
    const file = writeAgentConfig(dir.path, {
      url: collector.url,
      image,
      stateDir: join(dir.path, `state-${hostId}`),
      extra: [`hostId: ${hostId}`, ...extra],
    })
    writeFileSync(file, readFileSync(file, 'utf8').replace('quick: "* * * * * *"', 'quick: "0 0 1 1 *"'))
    return file
  }

  test('a freshly started agent reports without waiting for a cron tick, and shows its facts', async () => {
    const agent = new AgentProcess(['--config', yearlyConfig('fresh-host')])
    try {
      await until(
        'the first report delivered',
        () => agent.lines().some((l) => l.msg === 'report delivered'),
        60_000,
      )
      const scans = agent.lines().filter((l) => l.msg === 'scan finished')
      expect(scans.map((l) => l.mode)).toEqual(['quick'])
      const latest = await collector.store.latestReport('fresh-host')
      expect(latest?.host.facts?.os).toBeDefined()
    } finally {
      agent.child.kill('SIGTERM')
    }
    expect(await agent.exited, agent.stderr).toBe(0)
  })

  test('schedule.atStart: false leaves the host to its cron schedule', async () => {
    const file = yearlyConfig('patient-host')
    writeFileSync(file, readFileSync(file, 'utf8').replace('  splay: 0s', '  splay: 0s\n  atStart: false'))
    const agent = new AgentProcess(['--config', file])
    try {
      await until('the schedules started', () => agent.lines().some((l) => l.msg === 'schedules started'))
      expect(agent.lines().find((l) => l.msg === 'schedules started')?.atStart).toBe(false)
    } finally {
      agent.child.kill('SIGTERM')
    }
    expect(await agent.exited, agent.stderr).toBe(0)
    expect(agent.lines().some((l) => l.msg === 'scan finished')).toBe(false)
  })
})
