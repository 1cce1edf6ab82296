import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { CommandExecutor } from '../../src/collector/executors/command.js'
import { WebhookExecutor } from '../../src/collector/executors/webhook.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { fakeClock, host, report, scheduler } from './harness.js'
import { receiver } from './receiver.js'

const MIN = 60_000
const SECRET = 'executor-secret-0123456789'

describe('replacement scheduler (fake clock, SQLite)', () => {
  let store: Store
  let hook: Awaited<ReturnType<typeof receiver>>
  let executor: WebhookExecutor
  beforeEach(async () => {
    store = await openStore('sqlite::memory:')
    hook = await receiver()
    executor = new WebhookExecutor({ url: hook.url, secret: SECRET, timeoutMs: 5000, retries: 0 })
  })
  afterEach(async () => {
    await store.close()
    await hook.close()
  })
  const dispatchedHosts = () => hook.json<{ host: { id: string } }>().map((b) => b.host.id)

  test('outside every window nothing is dispatched; inside, it is (02:00 Europe/Berlin for 2h)', async () => {
    const clock = fakeClock('2026-12-03T00:30:00Z')
    await host(store, 'web-1', clock.now(), { group: 'web', critical: 2 })
    const { scheduler: s } = scheduler(
      store,
      clock,
      {
        windows: [{ start: '0 2 * * *', duration: '2h', timezone: 'Europe/Berlin' }],
        budget: { minHealthyPercent: 0 },
      },
      { executor },
    )
    expect(await s.tick()).toMatchObject({ leader: true, created: 1, dispatched: 0 })
    const [waiting] = await store.replacements.list()
    expect(waiting).toMatchObject({ state: 'waiting', waitingFor: 'window', dryRun: false })
    expect(waiting?.reason).toMatch(/outside the maintenance windows: 0 2 \* \* \* \(Europe\/Berlin\) for 2h/)
    expect((await store.getHost('web-1'))?.state).toBe('replacement-scheduled')
    clock.advance(29 * MIN)
    expect((await s.tick()).dispatched).toBe(0)
    clock.advance(1 * MIN) // 01:00 UTC = 02:00 in Berlin
    expect((await s.tick()).dispatched).toBe(1)
    expect(dispatchedHosts()).toEqual(['web-1'])
    expect((await store.getHost('web-1'))?.state).toBe('replacing')
    s.close()
  })

  test('maxConcurrent holds the rest; a host that goes silent completes and frees its slot', async () => {
    const clock = fakeClock('2026-12-03T10:00:00Z')
    for (let i = 1; i <= 5; i++) await host(store, `web-${i}`, clock.now(), { group: 'web', critical: 1 })
    const { scheduler: s } = scheduler(
      store,
      clock,
      { budget: { maxConcurrent: 2, minHealthyPercent: 0 }, goneAfter: '5m' },
      { executor },
    )
    expect(await s.tick()).toMatchObject({ created: 5, dispatched: 2 })
    const waiting = await store.replacements.list({ states: ['waiting'] })
    expect(waiting.map((r) => r.reason)).toEqual(Array(3).fill('2 of 2 replacements in flight in group web'))
    // The dispatched hosts send nothing more; the others keep reporting.
    clock.advance(4 * MIN)
    for (const r of waiting) await report(store, r.hostId, clock.now(), 1)
    expect((await s.tick()).completed).toBe(0)
    clock.advance(1 * MIN)
    expect(await s.tick()).toMatchObject({ completed: 2, dispatched: 2 })
    expect((await store.getHost('web-1'))?.state).toBe('replaced')
    const done = (await store.replacements.list({ hostId: 'web-1' }))[0]
    expect(done).toMatchObject({ state: 'completed', reason: 'the host went silent 0s after dispatch' })
    expect(new Set(dispatchedHosts()).size).toBe(4)
    s.close()
  })

  test('minHealthyPercent: a group of 10 at 90% gives up one host at a time', async () => {
    const clock = fakeClock('2026-12-03T10:00:00Z')
    for (let i = 1; i <= 10; i++)
      await host(store, `db-${i}`, clock.now(), { group: 'db', critical: i <= 3 ? 1 : 0 })
    const { scheduler: s } = scheduler(
      store,
      clock,
      { budget: { maxConcurrent: 5, minHealthyPercent: 90 } },
      { executor },
    )
    expect(await s.tick()).toMatchObject({ created: 3, dispatched: 1 })
    const held = await store.replacements.list({ states: ['waiting'] })
    expect(held.map((r) => r.reason)).toEqual(
      Array(2).fill('group db would keep 8 of 10 hosts in service, below 90%'),
    )
    s.close()
  })

  test('cooldown: a second dispatch in a group waits until the cooldown has passed', async () => {
    const clock = fakeClock('2026-12-03T10:00:00Z')
    for (const id of ['a', 'b']) await host(store, id, clock.now(), { group: 'web', critical: 1 })
    await host(store, 'c', clock.now(), { group: 'api', critical: 1 })
    const { scheduler: s } = scheduler(
      store,
      clock,
      { budget: { maxConcurrent: 5, minHealthyPercent: 0 }, cooldown: '10m' },
      { executor },
    )
    // One per group; the other web host waits.
    expect((await s.tick()).dispatched).toBe(2)
    const [waiting] = await store.replacements.list({ states: ['waiting'] })
    expect(waiting).toMatchObject({ waitingFor: 'cooldown', group: 'web' })
    clock.advance(9 * MIN)
    expect((await s.tick()).dispatched).toBe(0)
    clock.advance(1 * MIN)
    expect((await s.tick()).dispatched).toBe(1)
    s.close()
  })

  test('approval: nothing goes until an operator approves; who approved is recorded', async () => {
    const clock = fakeClock('2026-12-03T10:00:00Z')
    await host(store, 'web-1', clock.now(), { group: 'web', critical: 1 })
    const { scheduler: s } = scheduler(
      store,
      clock,
      { approval: true, budget: { minHealthyPercent: 0 } },
      { executor },
    )
    await s.tick()
    const [r] = await store.replacements.list()
    expect(r).toMatchObject({ state: 'waiting', waitingFor: 'approval' })
    clock.advance(MIN)
    await s.approve(r?.id ?? '', 'alice', clock.now())
    expect((await s.tick()).dispatched).toBe(1)
    const events = await store.replacements.events(r?.id ?? '')
    expect(events.map((e) => `${e.to}:${e.actor}`)).toEqual([
      'pending:scheduler@test-collector',
      'waiting:scheduler@test-collector',
      'waiting:alice',
      'dispatched:scheduler@test-collector',
      'dispatched:scheduler@test-collector',
    ])
    expect(await store.replacements.get(r?.id ?? '')).toMatchObject({
      approvedBy: 'alice',
      approvedAt: new Date('2026-12-03T10:01:00Z'),
    })
    await expect(s.approve(r?.id ?? '', 'alice', clock.now())).rejects.toMatchObject({ code: 'CONFLICT' })
    await expect(s.cancel('no-such-id', 'alice', clock.now())).rejects.toMatchObject({ code: 'NOT_FOUND' })
    s.close()
  })

  test('dry run (no executor): records and completes what it would do; no host state changes, nothing is called', async () => {
    const clock = fakeClock('2026-12-03T10:00:00Z')
    await host(store, 'web-1', clock.now(), { group: 'web', critical: 1 })
    const { scheduler: s } = scheduler(store, clock, { budget: { minHealthyPercent: 0 }, goneAfter: '5m' })
    expect(s.dryRun).toBe(true)
    expect(await s.tick()).toMatchObject({ created: 1, dispatched: 1 })
    const [r] = await store.replacements.list()
    expect(r).toMatchObject({
      state: 'dispatched',
      dryRun: true,
      output: expect.stringMatching(/^dry run: would have dispatched/),
    })
    expect((await store.getHost('web-1'))?.state).toBe('snowflake')
    clock.advance(5 * MIN)
    await report(store, 'web-1', clock.now(), 1)
    expect((await s.tick()).completed).toBe(1)
    expect(await store.replacements.get(r?.id ?? '')).toMatchObject({
      state: 'completed',
      reason: 'dry run: nothing was replaced',
    })
    // Not scheduled again within the same drift run.
    expect((await s.tick()).created).toBe(0)
    expect(hook.received).toHaveLength(0)
    s.close()
  })

  test('a dispatched host that still reports after the timeout is a failed replacement; the host is judged again', async () => {
    const clock = fakeClock('2026-12-03T10:00:00Z')
    await host(store, 'web-1', clock.now(), { group: 'web', critical: 1 })
    const { scheduler: s } = scheduler(
      store,
      clock,
      { budget: { minHealthyPercent: 0 }, goneAfter: '5m', timeout: '30m' },
      { executor },
    )
    await s.tick()
    for (let minute = 1; minute <= 30; minute++) {
      clock.advance(MIN)
      await store.recordHeartbeat('web-1', clock.now(), (h) => ({ state: h.state, reasons: h.stateReasons }))
      await s.tick()
    }
    const [r] = await store.replacements.list()
    expect(r).toMatchObject({
      state: 'failed',
      reason: 'the host still reports 30m after dispatch (timeout 30m)',
    })
    expect((await store.getHost('web-1'))?.state).toBe('snowflake')
    s.close()
  })

  test('an executor that refuses fails the replacement with what it said', async () => {
    const clock = fakeClock('2026-12-03T10:00:00Z')
    const refusing = await receiver(() => 403)
    await host(store, 'web-1', clock.now(), { group: 'web', critical: 1 })
    const { scheduler: s } = scheduler(
      store,
      clock,
      { budget: { minHealthyPercent: 0 } },
      { executor: new WebhookExecutor({ url: refusing.url, secret: SECRET, timeoutMs: 5000, retries: 2 }) },
    )
    expect((await s.tick()).failed).toBe(1)
    const [r] = await store.replacements.list()
    expect(r).toMatchObject({ state: 'failed', output: 'webhook HTTP 403: {"ok":false}' })
    // A 403 is final: no retry.
    expect(refusing.received).toHaveLength(1)
    await refusing.close()
    s.close()
  })

  test('a host that scans clean keeps its replacement by default; with cancelWhenClean it is cancelled', async () => {
    const clock = fakeClock('2026-12-03T10:00:00Z')
    await host(store, 'keep', clock.now(), { group: 'a', critical: 1 })
    await host(store, 'drop', clock.now(), { group: 'b', critical: 1 })
    const outside = [{ start: '0 3 * * *', duration: '1h' }]
    const keep = scheduler(store, clock, { windows: outside }, { executor }).scheduler
    await keep.tick()
    clock.advance(MIN)
    await report(store, 'keep', clock.now(), 0)
    await report(store, 'drop', clock.now(), 0)
    await keep.tick()
    expect((await store.replacements.list({ hostId: 'keep' }))[0]?.state).toBe('waiting')
    const drop = scheduler(store, clock, { windows: outside, cancelWhenClean: true }, { executor }).scheduler
    expect((await drop.tick()).cancelled).toBe(2)
    expect((await store.replacements.list({ hostId: 'drop' }))[0]).toMatchObject({
      state: 'cancelled',
      reason: 'the host scanned clean before its dispatch (cancelWhenClean)',
    })
    expect((await store.getHost('drop'))?.state).toBe('compliant')
    keep.close()
    drop.close()
  })

  test('manual replace and cancel: recorded with the operator; a second ask returns the open one', async () => {
    const clock = fakeClock('2026-12-03T10:00:00Z')
    await host(store, 'web-1', clock.now(), { group: 'web', critical: 0 })
    const { scheduler: s } = scheduler(
      store,
      clock,
      { windows: [{ start: '0 3 * * *', duration: '1h' }] },
      { executor },
    )
    const first = await s.replaceHost('web-1', 'alice', clock.now())
    expect(first).toMatchObject({
      created: true,
      replacement: { trigger: 'manual', requestedBy: 'alice', state: 'pending' },
    })
    expect((await s.replaceHost('web-1', 'bob', clock.now())).created).toBe(false)
    await expect(s.replaceHost('nope', 'bob', clock.now())).rejects.toMatchObject({ code: 'NOT_FOUND' })
    const cancelled = await s.cancel(first.replacement.id, 'bob', clock.now())
    expect(cancelled).toMatchObject({ state: 'cancelled', reason: 'cancelled by bob' })
    expect((await store.getHost('web-1'))?.state).toBe('compliant')
    s.close()
  })

  test('the command executor runs the program with the host facts in its environment and keeps its output', async () => {
    const clock = fakeClock('2026-12-03T10:00:00Z')
    await host(store, 'web-1', clock.now(), { group: 'web', critical: 1 })
    const command = new CommandExecutor({
      run: [
        '/bin/sh',
        '-c',
        'echo "replace $DRIFTWATCH_HOST_ID ($DRIFTWATCH_HOSTNAME) group=$DRIFTWATCH_LABEL_GROUP"; env | grep -c ^DRIFTWATCH_ADMIN || true',
      ],
      timeoutMs: 5000,
    })
    const { scheduler: s } = scheduler(
      store,
      clock,
      { budget: { minHealthyPercent: 0 } },
      { executor: command },
    )
    await s.tick()
    const [r] = await store.replacements.list()
    expect(r).toMatchObject({
      state: 'dispatched',
      executor: 'command',
      output: 'command exit 0\nreplace web-1 (web-1.internal) group=web\n0\n',
    })
    s.close()
  })

  test('a command that hangs is killed at its timeout: a failed replacement', async () => {
    const clock = fakeClock('2026-12-03T10:00:00Z')
    await host(store, 'web-1', clock.now(), { group: 'web', critical: 1 })
    const command = new CommandExecutor({ run: ['/bin/sleep', '30'], timeoutMs: 200 })
    const { scheduler: s } = scheduler(
      store,
      clock,
      { budget: { minHealthyPercent: 0 } },
      { executor: command },
    )
    expect((await s.tick()).failed).toBe(1)
    expect((await store.replacements.list())[0]?.output).toBe('command killed after 200 ms')
    s.close()
  })
})
