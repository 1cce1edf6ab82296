import { afterEach, beforeEach, expect, test } from 'vitest'
import type { AlertNotifier } from '../../src/collector/notifiers/types.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { fakeClock, host, judge, scheduler } from './harness.js'

let store: Store
beforeEach(async () => {
  store = await openStore('sqlite::memory:')
})
afterEach(async () => {
  await store.close()
})

/** An alert notifier that accepts everything: the alerts it is given are the store's record. */
const alertmanager: AlertNotifier = {
  kind: 'alerts',
  name: 'am',
  resendEveryMs: 60_000,
  send: async () => ({ ok: true, error: null }),
}

test('the alert pass fires for stale and snowflake hosts and failed replacements, and for nothing else', async () => {
  const clock = fakeClock('2026-11-27T10:00:00Z')
  for (let i = 0; i < 5; i++) await host(store, `clean-${i}`, clock.now(), { group: 'web' })
  await host(store, 'flake', clock.now(), { group: 'web', critical: 2 })
  await host(store, 'quiet', clock.now(), { group: 'web' })
  await host(store, 'failed-one', clock.now(), { group: 'web' })
  // failed-one is compliant: only its failed replacement can bring it into the pass.
  const { replacement } = await store.replacements.create({
    hostId: 'failed-one',
    group: 'web',
    trigger: 'manual',
    requestedBy: 'ops',
    dryRun: true,
    reason: 'asked for',
    actor: 'ops',
    at: clock.now(),
  })
  await store.replacements.change(replacement.id, {
    from: ['pending'],
    to: 'failed',
    reason: 'the executor refused',
    actor: 'ops',
    at: clock.now(),
  })
  // Everyone but quiet keeps reporting; an hour and a half on, quiet is stale.
  const later = clock.advance(90 * 60_000)
  for (const id of ['flake', 'failed-one', ...Array.from({ length: 5 }, (_, i) => `clean-${i}`)])
    await store.recordHeartbeat(id, later, judge)
  await store.sweep(later, judge)
  expect((await store.getHost('quiet'))?.state).toBe('stale')

  const { scheduler: s } = scheduler(store, clock, { approval: true }, { notifiers: [alertmanager] })
  await s.tick(later)
  const firing = (await store.replacements.listAlerts('am')).filter((a) => a.resolvedAt === null)
  expect(firing.map((a) => a.key).sort()).toEqual(['failed:failed-one', 'snowflake:flake', 'stale:quiet'])
  s.close()
})
