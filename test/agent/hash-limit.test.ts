import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { RunningCollector } from '../../src/collector/server.js'
import { ByteRateLimit, type LimitClock, sharedByteLimit } from '../../src/probes/files/rate-limit.js'
import { tempDir } from '../helpers/cli.js'
import { AgentProcess, makeImage, runCollector, writeAgentConfig } from './harness.js'

/** A clock that moves only when told to, or when a caller sleeps on it. */
function fakeClock(): LimitClock & { advanceMs(ms: number): void; slept: number[] } {
  let micros = 1_000_000_000
  const slept: number[] = []
  return {
    slept,
    nowMicros: () => micros,
    sleepMs: (ms) => {
      slept.push(ms)
      micros += ms * 1000
    },
    advanceMs: (ms) => {
      micros += ms * 1000
    },
  }
}

describe('the hash limit: a token bucket of bytes shared by the walk workers', () => {
  test('a second of bytes goes at once; past it, each byte waits its share of a second', () => {
    const clock = fakeClock()
    const limit = new ByteRateLimit(sharedByteLimit(1000), clock)
    expect(limit.take(1000)).toBe(0)
    expect(limit.take(500)).toBe(500)
    expect(limit.take(250)).toBe(750)
  })

  test('the bucket refills with time, and never holds more than a second of bytes', () => {
    const clock = fakeClock()
    const limit = new ByteRateLimit(sharedByteLimit(1000), clock)
    expect(limit.take(1500)).toBe(500)
    clock.advanceMs(500)
    expect(limit.take(100)).toBe(100)
    clock.advanceMs(60_000)
    expect(limit.take(1000)).toBe(0)
    expect(limit.take(1000)).toBe(1000)
  })

  test('two workers on one bucket share its bytes', () => {
    const clock = fakeClock()
    const shared = sharedByteLimit(2048)
    const one = new ByteRateLimit(shared, clock)
    const two = new ByteRateLimit(shared, clock)
    expect(one.take(2048)).toBe(0)
    expect(two.take(1024)).toBe(500)
    expect(one.take(1024)).toBe(1000)
  })

  test('pay waits what take says, so that the next read finds the bucket as it should', () => {
    const clock = fakeClock()
    const limit = new ByteRateLimit(sharedByteLimit(1000), clock)
    expect(limit.pay(3000)).toBe(2000)
    expect(clock.slept).toEqual([2000])
    // Two seconds later the debt is paid and the bucket empty: a byte more waits its millisecond.
    expect(limit.take(1)).toBe(1)
    expect(limit.pay(0)).toBe(0)
    expect(clock.slept).toEqual([2000])
  })

  test('a rate that is not positive is refused', () => {
    expect(() => new ByteRateLimit(sharedByteLimit(0))).toThrow(/positive/)
  })
})

describe('scan.hashBytesPerSecond reaches the scan (a real agent process, a real collector)', () => {
  const dir = tempDir('driftwatch-agent-hash-limit-')
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

  const fullScan = async (name: string, scan: string) => {
    const config = writeAgentConfig(dir.path, {
      url: collector.url,
      image,
      stateDir: join(dir.path, `state-${name}`),
    })
    writeFileSync(config, readFileSync(config, 'utf8').replace('scan: { workers: 1 }', `scan: ${scan}`))
    const agent = new AgentProcess(['--config', config, '--once', '--mode', 'full'])
    expect(await agent.exited, agent.stderr).toBe(0)
    const finished = agent.lines().find((l) => l.msg === 'scan finished')
    const report = await collector.store.latestReport('00000000000000000000000000000001')
    return { finished, bytesHashed: report?.scan.bytesHashed ?? 0 }
  }

  test('a limit below what a full scan reads makes its workers wait; without one they never do', async () => {
    const free = await fullScan('free', '{ workers: 2 }')
    expect(free.finished).toBeDefined()
    expect(free.finished?.hashWaitMs).toBeUndefined()
    expect(free.bytesHashed).toBeGreaterThan(1000)
    // Half of what the scan reads a second: the bucket's second of bytes runs out halfway.
    const limited = await fullScan(
      'limited',
      `{ workers: 2, hashBytesPerSecond: ${Math.floor(free.bytesHashed / 2)} }`,
    )
    expect(limited.bytesHashed).toBe(free.bytesHashed)
    expect(limited.finished?.hashWaitMs).toBeGreaterThan(0)
  })
})
