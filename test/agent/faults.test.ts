import { spawnSync } from 'node:child_process'
import { chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { RunningCollector } from '../../src/collector/server.js'
import { tempDir } from '../helpers/cli.js'
import {
  AgentProcess,
  Front,
  makeImage,
  runCollector,
  spoolFiles,
  until,
  writeAgentConfig,
} from './harness.js'

const HOST_ID = '00000000000000000000000000000001'

describe('the agent against a failing collector (real processes on loopback)', () => {
  const dir = tempDir('driftwatch-agent-faults-')
  let image: Awaited<ReturnType<typeof makeImage>>
  let collector: RunningCollector
  let front: Front
  let states = 0
  const freshState = () => join(dir.path, `state-${++states}`)

  beforeAll(async () => {
    image = await makeImage(dir.path)
    collector = await runCollector(dir.path)
    front = new Front(collector.url)
    await front.up()
  })
  afterAll(async () => {
    await front.down()
    await collector.stop()
    dir.cleanup()
  })

  /** Every report the collector stored for the test host. */
  const stored = async () => (await collector.store.reportHistory(HOST_ID, 10_000)).map((r) => r.reportId)

  test('the collector down for many scan cycles, then back: every report arrives once, in the order scanned', async () => {
    const stateDir = freshState()
    const config = writeAgentConfig(dir.path, { url: front.url, image, stateDir })
    await front.down()
    const seenBefore = front.seen.length
    const agent = new AgentProcess(['--config', config])
    try {
      await until(
        'five reports spooled while the collector is down',
        () => spoolFiles(stateDir).length >= 5,
        60_000,
      )
      // A fresh state dir has no token yet: the first thing the agent cannot do is enrol.
      expect(
        agent
          .lines()
          .some(
            (l) =>
              l.msg === 'the collector is unavailable; reports stay in the spool' ||
              l.msg === 'cannot enrol: the collector is unavailable',
          ),
      ).toBe(true)
      await front.up()
      await until('the spool delivered', () => {
        const spooled = agent.spooled()
        const accepted = new Set(front.acceptedNew())
        return spooled.length >= 5 && spooled.every((id) => accepted.has(id))
      })
    } finally {
      agent.child.kill('SIGTERM')
    }
    expect(await agent.exited).toBe(0)
    const spooled = agent.spooled()
    const accepted = front.seen
      .slice(seenBefore)
      .filter((s) => s.duplicate === false)
      .map((s) => s.reportId)
    // Each report taken as new exactly once, in the order the agent scanned them.
    expect(accepted.slice(0, spooled.length)).toEqual(spooled.slice(0, accepted.length))
    expect(new Set(accepted).size).toBe(accepted.length)
    const inStore = new Set(await stored())
    for (const id of spooled) {
      if (spoolFiles(stateDir).some((f) => f.includes(id))) continue // spooled after the last drain
      expect(inStore.has(id)).toBe(true)
    }
  })

  test('killed with SIGKILL while it writes its spool, then restarted: the spool reads, nothing is lost or taken twice', async () => {
    const stateDir = freshState()
    const config = writeAgentConfig(dir.path, { url: front.url, image, stateDir })
    const spooled: string[] = []
    for (let round = 0; round < 4; round++) {
      // Half the rounds with the collector down (reports pile up), half with it up (kills land
      // mid-delivery too, between an acknowledgement and the removal of the file).
      if (round % 2 === 0) await front.down()
      else await front.up()
      const agent = new AgentProcess(['--config', config])
      await until('a report spooled', () => agent.spooled().length >= 1, 60_000)
      await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 1500))
      agent.child.kill('SIGKILL')
      await agent.exited
      spooled.push(...agent.spooled())
    }
    // What a kill in the middle of a write leaves: a temporary file, never renamed.
    writeFileSync(
      join(
        stateDir,
        'spool',
        `000000000099-${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}-0.json.gz.4242.tmp`,
      ),
      'partial',
    )
    await front.up()
    const agent = new AgentProcess(['--config', config])
    try {
      await until(
        'the spool delivered',
        () => spoolFiles(stateDir).length === 0 && agent.spooled().length >= 1,
        60_000,
      )
    } finally {
      agent.child.kill('SIGTERM')
    }
    expect(await agent.exited).toBe(0)
    expect(agent.lines().some((l) => l.msg === 'spool: a partial file was removed')).toBe(true)
    expect(readdirSync(join(stateDir, 'spool')).filter((f) => f.endsWith('.tmp'))).toEqual([])
    const inStore = await stored()
    // Nothing lost: every report that was logged as spooled reached the collector.
    for (const id of [...spooled, ...agent.spooled()]) {
      if (spoolFiles(stateDir).some((f) => f.includes(id))) continue
      expect(inStore).toContain(id)
    }
    // Nothing stored twice, and a report sent again after a kill is a duplicate, not a new one.
    expect(new Set(inStore).size).toBe(inStore.length)
    const takenAsNew = front.acceptedNew()
    expect(new Set(takenAsNew).size).toBe(takenAsNew.length)
  })

  test.each([
    { name: '500 twice', faults: [{ status: 500 }, { status: 500 }] as const },
    { name: 'a reset connection', faults: ['reset'] as const },
    { name: 'a collector that hangs past the response timeout', faults: ['hang'] as const },
  ])('the collector answers with $name: the agent backs off, retries and delivers', async ({ faults }) => {
    const stateDir = freshState()
    const config = writeAgentConfig(dir.path, { url: front.url, image, stateDir })
    front.faults = [...faults]
    const from = front.seen.length
    const agent = new AgentProcess(['--config', config, '--once'])
    expect(await agent.exited, agent.stderr).toBe(0)
    const [spooled] = agent.spooled()
    const attempts = front.seen.slice(from).filter((s) => s.reportId === spooled)
    expect(attempts.length).toBe(faults.length + 1)
    expect(attempts.at(-1)?.duplicate).toBe(false)
    expect(await stored()).toContain(spooled)
  })

  test('429 with Retry-After: the agent waits as long as asked before it tries again', async () => {
    const stateDir = freshState()
    const config = writeAgentConfig(dir.path, { url: front.url, image, stateDir })
    front.faults = [{ status: 429, retryAfter: '1' }]
    const from = front.seen.length
    const agent = new AgentProcess(['--config', config, '--once'])
    expect(await agent.exited, agent.stderr).toBe(0)
    const attempts = front.seen.slice(from).filter((s) => s.path === '/v1/reports')
    expect(attempts.map((a) => a.status)).toEqual([429, 201])
    const [first, second] = attempts
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(950)
  })

  test('faults past every retry: exit 4, the report kept; the next run delivers both, oldest first', async () => {
    const stateDir = freshState()
    const config = writeAgentConfig(dir.path, { url: front.url, image, stateDir })
    front.faults = [{ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 }]
    const first = new AgentProcess(['--config', config, '--once'])
    expect(await first.exited, first.stderr).toBe(4)
    expect(spoolFiles(stateDir)).toHaveLength(1)
    const from = front.seen.length
    const second = new AgentProcess(['--config', config, '--once'])
    expect(await second.exited, second.stderr).toBe(0)
    const order = front.seen
      .slice(from)
      .filter((s) => s.duplicate === false)
      .map((s) => s.reportId)
    expect(order).toEqual([...first.spooled(), ...second.spooled()])
    expect(spoolFiles(stateDir)).toEqual([])
  })

  test('a state directory the agent may not write: one clear line and a non-zero exit', async () => {
    const parent = join(dir.path, 'locked')
    mkdirSync(parent, { mode: 0o755 })
    const stateDir = join(parent, 'state')
    mkdirSync(stateDir, { mode: 0o755 })
    const config = writeAgentConfig(dir.path, { url: front.url, image, stateDir })
    chmodSync(config, 0o644)
    chmodSync(dir.path, 0o755)
    // Root writes anywhere; the agent's own user (here: nobody) may not.
    const agent = new AgentProcess(['--config', config, '--once'], {}, { uid: 65534, gid: 65534 })
    const code = await agent.exited
    expect(code).not.toBe(0)
    expect(code).not.toBe(4)
    const lines = agent.stderr.trim().split('\n')
    expect(lines[0]).toMatch(new RegExp(`stateDir ${stateDir}: cannot write there \\(EACCES\\)`))
    expect(agent.stdout).toBe('')
  })

  const canMount = spawnSync('mount', ['--version']).status === 0 && process.getuid?.() === 0
  test.skipIf(!canMount && process.env.DRIFTWATCH_REQUIRE_INTEGRATION !== '1')(
    'a full disk: the daemon says so in one line and exits non-zero, not a silent loop',
    async () => {
      const mountPoint = join(dir.path, 'tiny')
      mkdirSync(mountPoint)
      const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mountPoint])
      expect(mounted.status, mounted.stderr?.toString()).toBe(0)
      try {
        const stateDir = join(mountPoint, 'state')
        const config = writeAgentConfig(dir.path, { url: front.url, image, stateDir })
        await front.down()
        // Fill the file system but for a few bytes once the agent has started.
        const agent = new AgentProcess(['--config', config])
        await until('the agent started', () => agent.lines().some((l) => l.msg === 'schedules started'))
        spawnSync('sh', ['-c', `cat /dev/zero > ${join(mountPoint, 'filler')}`])
        const code = await Promise.race([
          agent.exited,
          new Promise((r) => setTimeout(() => r('running'), 30_000)),
        ])
        if (code === 'running') agent.child.kill('SIGKILL')
        expect(code).not.toBe('running')
        expect(code).not.toBe(0)
        expect(agent.stderr).toMatch(/^driftwatch: (spool|stateDir) .*the disk is full/)
        expect(
          agent.stderr
            .trim()
            .split('\n')
            .filter((l) => !l.startsWith('  hint:')),
        ).toHaveLength(1)
      } finally {
        await front.up()
        spawnSync('umount', [mountPoint])
      }
    },
  )
})
