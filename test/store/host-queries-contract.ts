import { afterEach, describe, expect, test } from 'vitest'
import { DriftwatchError } from '../../src/errors.js'
import type { HostRecord, Judge } from '../../src/fleet/states.js'
import type { HostPageFilter, Store } from '../../src/store/types.js'
import { makeReport } from './contract.js'

const T0 = new Date('2026-11-27T10:00:00.000Z')
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000)
const MINUTE = 60_000
const DIGEST = `sha256:${'a'.repeat(64)}`

/**
 * A stand-in for the fleet judgement with every rule that time alone can trip: stale after 15
 * minutes of silence, snowflake after 30 minutes of drift, or heartbeats without a report for
 * 60 minutes, or an image that is not registered.
 */
const judge: Judge = (host, image, now) => {
  const since = (date: Date) => now.getTime() - date.getTime()
  if (since(host.lastSeenAt) > 15 * MINUTE) return { state: 'stale', reasons: ['silent'] }
  if (host.driftSince && since(host.driftSince) > 30 * MINUTE)
    return { state: 'snowflake', reasons: ['drift'] }
  if (host.lastHeartbeatAt && since(host.lastReportAt ?? host.enrolledAt) > 60 * MINUTE)
    return { state: 'snowflake', reasons: ['no reports'] }
  if (host.imageId !== null && image === undefined) return { state: 'snowflake', reasons: ['unregistered'] }
  if (host.summary === null) return { state: 'pending', reasons: ['enrolled, no report yet'] }
  return host.summary.total > 0
    ? { state: 'drifted', reasons: ['drift'] }
    : { state: 'compliant', reasons: [] }
}
const DUE = { staleAfter: 15 * MINUTE, driftGrace: 30 * MINUTE, reportsMissingAfter: 60 * MINUTE }

/** pageHosts, countHosts and the sweep's selection: the same on every store. */
export function hostQueriesContract(name: string, open: () => Promise<Store>): void {
  describe(`host queries: ${name}`, () => {
    const opened: Store[] = []
    const openStore = async () => {
      const store = await open()
      opened.push(store)
      return store
    }
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()))
    })

    const enrol = (store: Store, hostId: string, labels: Record<string, string> = {}, when = T0) =>
      store.enrollHost({
        hostId,
        hostname: `${hostId}.internal`,
        labels,
        tokenHash: `hash-${hostId}`,
        at: when,
      })
    const report = (
      store: Store,
      hostId: string,
      when: Date,
      options: { findings?: number; image?: string } = {},
    ) =>
      store.ingestReport(
        {
          hostId,
          report: makeReport({
            hostId,
            startedAt: when,
            findings: options.findings ?? 0,
            image: { id: options.image ?? 'web-base', version: '1', manifestDigest: DIGEST },
          }),
          receivedAt: when,
          historyLimit: 5,
        },
        judge,
      )
    const registered = (store: Store, id: string, when: Date) =>
      store.putImage({
        id,
        version: '1',
        manifestDigest: DIGEST,
        publicKeys: [],
        signedBy: null,
        registeredAt: when,
      })

    /** Every page of the filter, following `next`; the ids in order and the number of pages. */
    async function allPages(store: Store, filter: HostPageFilter, limit: number) {
      const ids: string[] = []
      let after: string | undefined
      let pages = 0
      do {
        const page = await store.pageHosts({ filter, limit, ...(after === undefined ? {} : { after }) })
        pages++
        ids.push(...page.hosts.map((h) => h.id))
        after = page.next
      } while (after !== undefined)
      return { ids, pages }
    }

    /** 23 hosts: h00..h22; every third in group db, the others web; h00..h09 report, odd ones with drift. */
    async function fleet(store: Store) {
      await registered(store, 'web-base', at(0))
      for (let i = 0; i < 23; i++) {
        const id = `h${String(i).padStart(2, '0')}`
        await enrol(store, id, {
          group: i % 3 === 0 ? 'db' : 'web',
          'team.example.com/owner': i === 4 ? 'ops "core"' : 'x',
        })
        if (i < 10)
          await report(store, id, at(1), { findings: i % 2, image: i === 8 ? 'db-base' : 'web-base' })
      }
    }

    test('pages follow each other in id order with no host twice or missing; the last has no next', async () => {
      const store = await openStore()
      await fleet(store)
      const every = (await store.listHosts()).map((h) => h.id)
      expect(await allPages(store, {}, 5)).toEqual({ ids: every, pages: 5 })
      // 23 hosts in pages of 23: one page, and no next that would lead to an empty one.
      expect(await allPages(store, {}, 23)).toEqual({ ids: every, pages: 1 })
      const first = await store.pageHosts({ limit: 2 })
      expect(first.hosts.map((h) => h.id)).toEqual(['h00', 'h01'])
      expect(first.hosts[0]).toEqual(await store.getHost('h00'))
    })

    test.each<{ filter: HostPageFilter; ids: string[] }>([
      { filter: { states: ['drifted'] }, ids: ['h01', 'h03', 'h05', 'h07', 'h09'] },
      { filter: { states: ['snowflake', 'compliant'] }, ids: ['h00', 'h02', 'h04', 'h06', 'h08'] },
      { filter: { states: [] }, ids: [] },
      { filter: { imageId: 'db-base' }, ids: ['h08'] },
      { filter: { labels: { group: 'db' }, states: ['pending'] }, ids: ['h12', 'h15', 'h18', 'h21'] },
      { filter: { labels: { 'team.example.com/owner': 'ops "core"' } }, ids: ['h04'] },
      { filter: { labels: { group: 'web', 'team.example.com/owner': 'ops "core"' } }, ids: ['h04'] },
      { filter: { labels: { group: 'nope' } }, ids: [] },
      { filter: { states: ['drifted'], imageId: 'web-base', labels: { group: 'db' } }, ids: ['h03', 'h09'] },
    ])('pages filter in SQL: $filter', async ({ filter, ids }) => {
      const store = await openStore()
      await fleet(store)
      expect((await allPages(store, filter, 2)).ids).toEqual(ids)
    })

    test('a cursor holds its place while hosts enrol; one it never gave out is refused', async () => {
      const store = await openStore()
      await fleet(store)
      const first = await store.pageHosts({ limit: 3 })
      await enrol(store, 'a-first')
      await enrol(store, 'h01a')
      const second = await store.pageHosts({ limit: 3, after: first.next as string })
      expect(second.hosts.map((h) => h.id)).toEqual(['h03', 'h04', 'h05'])
      for (const after of ['', 'h02', 'h1.', 'h1.!!', `${first.next}x`]) {
        const error = await store.pageHosts({ limit: 3, after }).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(DriftwatchError)
        expect(error).toMatchObject({ code: 'INPUT_INVALID', message: expect.stringContaining('cursor') })
      }
    })

    test('countHosts counts by state, image version and group label', async () => {
      const store = await openStore()
      await fleet(store)
      const rows = await store.countHosts()
      const key = (r: { state: string; imageId: string | null; group: string | null }) =>
        `${r.state}/${r.imageId}/${r.group}`
      const counted = Object.fromEntries(rows.map((r) => [key(r), r.count]))
      expect(counted).toEqual({
        'compliant/web-base/db': 2, // h00, h06
        'compliant/web-base/web': 2, // h02, h04
        'snowflake/db-base/web': 1, // h08: its image is not registered
        'drifted/web-base/db': 2, // h03, h09
        'drifted/web-base/web': 3, // h01, h05, h07
        'pending/null/db': 4, // h12, h15, h18, h21
        'pending/null/web': 9,
      })
      expect(rows.every((r) => r.imageVersion === (r.imageId === null ? null : '1'))).toBe(true)
    })

    test('a sweep with limits judges only the hosts time can move, and moves them as a full sweep would', async () => {
      const store = await openStore()
      await registered(store, 'web-base', at(0))
      await enrol(store, 'quiet', {}, at(0)) // silent since 0: goes stale at 20
      await enrol(store, 'stale', {}, at(0))
      await store.sweep(at(16), judge) // a full sweep: `stale` (and `quiet`) become stale
      await store.recordHeartbeat('quiet', at(16), judge)
      await enrol(store, 'fresh', {}, at(19))
      await enrol(store, 'drifting', {}, at(0))
      await report(store, 'drifting', at(18), { findings: 2 }) // drift since 18: grace ends at 48
      await enrol(store, 'beating', {}, at(10))
      await report(store, 'beating', at(10))
      for (const [hostId, minute] of [
        ['fresh', 45],
        ['drifting', 40],
        ['beating', 45],
        ['quiet', 45],
      ] as const)
        await store.recordHeartbeat(hostId, at(minute), judge)

      const judged = new Set<string>()
      const spy: Judge = (host: HostRecord, image, now) => {
        judged.add(host.id)
        return judge(host, image, now)
      }
      // At 50: drifting is past its grace; beating has sent no report for 40 minutes (limit 60).
      const changes = await store.sweep(at(50), spy, DUE)
      expect(changes.map((c) => [c.hostId, c.to])).toEqual([['drifting', 'snowflake']])
      expect([...judged]).toEqual(['drifting'])
      judged.clear()
      await store.recordHeartbeat('beating', at(58), judge)
      await store.recordHeartbeat('quiet', at(58), judge)
      // At 72: drifting and fresh have been silent 15 minutes; beating and quiet heartbeat,
      // but beating's last report is 62 minutes old, and quiet never reported in 72.
      expect((await store.sweep(at(72), spy, DUE)).map((c) => [c.hostId, c.to])).toEqual([
        ['beating', 'snowflake'],
        ['drifting', 'stale'],
        ['fresh', 'stale'],
        ['quiet', 'snowflake'],
      ])
      expect([...judged].sort()).toEqual(['beating', 'drifting', 'fresh', 'quiet'])
      expect((await store.getHost('stale'))?.stateSince).toEqual(at(16))
    })

    test('a sweep with imagesSince judges again the hosts of an image registered since', async () => {
      const store = await openStore()
      await enrol(store, 'a', {}, at(0))
      await enrol(store, 'b', {}, at(0))
      await report(store, 'a', at(1), { image: 'new-base' })
      await report(store, 'b', at(1), { image: 'other-base' })
      expect((await store.getHost('a'))?.state).toBe('snowflake')
      await registered(store, 'new-base', at(3))
      expect(await store.sweep(at(4), judge, { ...DUE, imagesSince: at(3.5) })).toEqual([])
      const changes = await store.sweep(at(4), judge, { ...DUE, imagesSince: at(2) })
      expect(changes.map((c) => [c.hostId, c.from, c.to])).toEqual([['a', 'snowflake', 'compliant']])
      expect((await store.getHost('b'))?.state).toBe('snowflake')
    })
  })
}
