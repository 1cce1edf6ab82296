import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { WebhookExecutor } from '../../src/collector/executors/webhook.js'
import { SCHEDULER_LEASE } from '../../src/collector/replacement/scheduler.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { POSTGRES_URL, postgresSchema, postgresUnreachable } from '../helpers/stores.js'
import { fakeClock, host, scheduler } from './harness.js'
import { receiver } from './receiver.js'

const unreachable = await postgresUnreachable()
const HOSTS = 200
const MAX_CONCURRENT = 3

/**
 * Two collectors (two schedulers, each with its own store and connection pool) on one
 * PostgreSQL schema, ticking at once on a shared fake clock; now and then one of them pauses
 * long enough for its lease to lapse, and the other takes over.
 */
describe.skipIf(unreachable !== undefined)(
  'two collectors on one PostgreSQL replace a group of 200 snowflakes',
  () => {
    const schema = postgresSchema('dw_repl')
    const stores: Store[] = []
    let observer: pg.Client

    beforeAll(async () => {
      for (let i = 0; i < 2; i++) stores.push(await openStore(schema.url))
      observer = new pg.Client({ connectionString: POSTGRES_URL })
      await observer.connect()
    })
    afterAll(async () => {
      await Promise.all(stores.map((s) => s.close()))
      await observer?.end()
      await schema.drop()
    })

    test('never more than maxConcurrent in flight, every host dispatched exactly once, both collectors dispatch', async () => {
      const [a, b] = stores as [Store, Store]
      const clock = fakeClock('2026-12-03T10:00:00Z')
      for (let i = 0; i < HOSTS; i++) {
        await host(a, `web-${String(i).padStart(3, '0')}`, clock.now(), { group: 'web', critical: 1 })
      }
      let maxInFlight = 0
      const schemaName = new URL(schema.url).searchParams.get('schema')
      // At every dispatch the receiver counts, from a connection of its own, what is in flight.
      const hook = await receiver(async () => {
        const { rows } = await observer.query<{ n: number }>(
          `select count(*)::int as n from "${schemaName}".replacements where state = 'dispatched' and group_name = 'web'`,
        )
        maxInFlight = Math.max(maxInFlight, rows[0]?.n ?? 0)
        return 202
      })
      const config = {
        budget: { maxConcurrent: MAX_CONCURRENT, minHealthyPercent: 0 },
        goneAfter: '1m',
        leaseTtl: '90s',
      }
      const make = (store: Store, holder: string) =>
        scheduler(store, clock, config, {
          holder,
          executor: new WebhookExecutor({
            url: hook.url,
            secret: 'executor-secret-0123456789',
            timeoutMs: 5000,
            retries: 0,
          }),
        }).scheduler
      const sa = make(a, 'collector-a')
      const sb = make(b, 'collector-b')
      const leaders = new Set<string>()
      let completed = 0
      for (let round = 0; completed < HOSTS && round < 400; round++) {
        const now = clock.advance(60_000)
        // Every 20 rounds one of them pauses for 4 rounds (4 minutes): its lease lapses.
        const pausedA = round % 20 >= 10 && round % 20 < 14 && Math.floor(round / 20) % 2 === 0
        const pausedB = round % 20 >= 10 && round % 20 < 14 && Math.floor(round / 20) % 2 === 1
        const results = await Promise.all([
          pausedA ? undefined : sa.tick(now),
          pausedB ? undefined : sb.tick(now),
        ])
        results.forEach((r, i) => {
          if (r?.leader) leaders.add(i === 0 ? 'a' : 'b')
          completed += r?.completed ?? 0
        })
        const flight = (await a.replacements.groupStats('web', 'group')).inFlight
        expect(flight).toBeLessThanOrEqual(MAX_CONCURRENT)
      }
      const dispatched = hook.json<{ host: { id: string } }>().map((d) => d.host.id)
      expect(dispatched).toHaveLength(HOSTS)
      expect(new Set(dispatched).size).toBe(HOSTS)
      expect(maxInFlight).toBeLessThanOrEqual(MAX_CONCURRENT)
      expect(maxInFlight).toBe(MAX_CONCURRENT)
      expect(completed).toBe(HOSTS)
      expect(leaders).toEqual(new Set(['a', 'b']))
      const all = await b.replacements.list()
      expect(all).toHaveLength(HOSTS)
      expect(new Set(all.map((r) => r.state))).toEqual(new Set(['completed']))
      // Both collectors' names appear in the records: each dispatched some.
      const actors = new Set<string>()
      for (const r of all.slice(0, HOSTS)) {
        for (const e of await a.replacements.events(r.id)) if (e.to === 'dispatched') actors.add(e.actor)
      }
      expect(actors).toEqual(new Set(['scheduler@collector-a', 'scheduler@collector-b']))
      const lease = await a.replacements.lease(SCHEDULER_LEASE)
      expect(lease?.holder).toMatch(/^collector-[ab]$/)
      sa.close()
      sb.close()
      await hook.close()
    }, 240_000)
  },
)
