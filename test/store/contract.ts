import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, test } from 'vitest'
import { DriftwatchError } from '../../src/errors.js'
import type {
  DecideDispatch,
  FleetEvent,
  GroupStats,
  ReplacementState,
} from '../../src/fleet/replacements.js'
import type { HostRecord, ImageRecord, Judge } from '../../src/fleet/states.js'
import type { DriftItem, Report } from '../../src/protocol/report.js'
import type { KyselyStore } from '../../src/store/kysely-store.js'
import type { HostFilter, Store } from '../../src/store/types.js'

const T0 = new Date('2026-11-27T10:00:00.123Z')
/** T0 plus some minutes, keeping T0's milliseconds. */
const at = (minutes: number) => new Date(T0.getTime() + minutes * 60_000)
const DIGEST = `sha256:${'a'.repeat(64)}`
const OTHER_DIGEST = `sha256:${'b'.repeat(64)}`
const STALE_AFTER_MS = 15 * 60_000

/**
 * A small, pure stand-in for the fleet judgement: stale without contact for 15 minutes,
 * snowflake on a foreign manifest or any critical finding, drifted on any finding.
 */
const judge: Judge = (host, image, now) => {
  if (now.getTime() - host.lastSeenAt.getTime() > STALE_AFTER_MS)
    return { state: 'stale', reasons: ['no contact'] }
  if (host.summary === null) return { state: 'pending', reasons: ['enrolled, no report yet'] }
  if (image !== undefined && image.manifestDigest !== host.manifestDigest) {
    return { state: 'snowflake', reasons: ['manifest is not the image’s'] }
  }
  if (host.summary.critical > 0)
    return { state: 'snowflake', reasons: [`${host.summary.critical} critical findings`] }
  if (host.summary.total > 0) return { state: 'drifted', reasons: [`${host.summary.total} findings`] }
  return { state: 'compliant', reasons: [] }
}

function driftItem(i: number, severity: DriftItem['severity']): DriftItem {
  return i % 2 === 0
    ? {
        kind: 'file',
        change: 'modified',
        subject: `/usr/bin/tool-${i}`,
        attributes: ['sha256', 'mode'],
        expected: { sha256: 'e'.repeat(64), mode: '0755' },
        actual: { sha256: 'f'.repeat(64), mode: '0777' },
        severity,
        package: 'deb:tools:amd64',
      }
    : {
        kind: 'config',
        change: 'modified',
        subject: `sysctl:net.ipv4.opt_${i}`,
        expected: '0',
        actual: '1',
        severity,
      }
}

/** A valid report; `findings` drift items of `severity`. */
export function makeReport(options: {
  hostId: string
  startedAt: Date
  findings?: number
  severity?: DriftItem['severity']
  reportId?: string
  image?: { id: string; version: string; manifestDigest: string }
}): Report {
  const findings = options.findings ?? 0
  const severity = options.severity ?? 'high'
  const summary = { total: findings, critical: 0, high: 0, medium: 0, low: 0, info: 0 }
  summary[severity] = findings
  return {
    schema: 'driftwatch.report/v1',
    reportId: options.reportId ?? randomUUID(),
    host: { id: options.hostId, hostname: `${options.hostId}.internal`, labels: { group: 'web' } },
    image: options.image ?? { id: 'web-base', version: '2026.11.27-1', manifestDigest: DIGEST },
    scan: {
      mode: 'full',
      startedAt: options.startedAt.toISOString(),
      durationMs: 2140.5,
      files: 117346,
      bytesHashed: 5e9,
      probes: [
        { name: 'files', ok: true, durationMs: 1900 },
        {
          name: 'dpkg',
          ok: false,
          durationMs: 3,
          error: 'status file unreadable',
          errors: [{ subject: '/var/lib/dpkg/status', message: 'permission denied' }],
          errorCount: 1,
        },
      ],
    },
    drift: Array.from({ length: findings }, (_, i) => driftItem(i, severity)),
    summary,
  }
}

/**
 * The behaviour every Store must have. `open` opens a new Store on the database of the
 * current test: calls within one test share it (two collectors on one database), each test
 * starts from an empty one (the caller's beforeEach/afterEach provide and remove it).
 */
export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`store contract: ${name}`, () => {
    const opened: Store[] = []
    const openStore = async () => {
      const store = await open()
      opened.push(store)
      return store
    }
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()))
    })

    async function enrolled(store: Store, hostId: string, labels: Record<string, string> = {}, when = T0) {
      await store.enrollHost({
        hostId,
        hostname: `${hostId}.internal`,
        labels,
        tokenHash: `hash-${hostId}`,
        at: when,
      })
    }

    async function ingest(
      store: Store,
      report: Report,
      receivedAt: Date,
      options: { hostId?: string; historyLimit?: number; judge?: Judge; tokenHash?: string } = {},
    ) {
      return store.ingestReport(
        {
          hostId: options.hostId ?? report.host.id,
          ...(options.tokenHash === undefined ? {} : { tokenHash: options.tokenHash }),
          report,
          receivedAt,
          historyLimit: options.historyLimit ?? 100,
        },
        options.judge ?? judge,
      )
    }

    test('enrolment creates a pending host with its first transition; re-enrolment rotates the token', async () => {
      const store = await openStore()
      expect(
        await store.enrollHost({ hostId: 'h1', hostname: 'web-1', labels: {}, tokenHash: 'old', at: T0 }),
      ).toEqual({ created: true })
      expect(await store.getHost('h1')).toEqual<HostRecord>({
        id: 'h1',
        hostname: 'web-1',
        labels: {},
        imageId: null,
        imageVersion: null,
        manifestDigest: null,
        state: 'pending',
        stateReasons: ['enrolled, no report yet'],
        stateSince: T0,
        enrolledAt: T0,
        lastSeenAt: T0,
        lastReportAt: null,
        lastHeartbeatAt: null,
        driftSince: null,
        summary: null,
        latestReportId: null,
      })
      expect(await store.hostForToken('old')).toEqual({ hostId: 'h1', tokenHash: 'old' })

      const again = {
        hostId: 'h1',
        hostname: 'web-1b',
        labels: { group: 'web' },
        tokenHash: 'new',
        at: at(5),
      }
      expect(await store.enrollHost(again)).toEqual({ created: false })
      expect(await store.hostForToken('old')).toBeUndefined()
      expect(await store.hostForToken('new')).toEqual({ hostId: 'h1', tokenHash: 'new' })
      const host = await store.getHost('h1')
      expect(host).toMatchObject({
        hostname: 'web-1b',
        labels: { group: 'web' },
        enrolledAt: T0,
        state: 'pending',
      })
      expect(await store.stateHistory('h1')).toEqual([
        { hostId: 'h1', from: null, to: 'pending', reasons: ['enrolled, no report yet'], at: T0 },
      ])
    })

    test('facts sent at enrolment are kept until an enrolment says others', async () => {
      const store = await openStore()
      const facts = { os: { id: 'debian', version: '12' }, kernel: '6.1.0-28-amd64', arch: 'x64' }
      const enrol = (tokenHash: string, sent?: typeof facts) =>
        store.enrollHost({
          hostId: 'h1',
          hostname: 'web-1',
          labels: {},
          ...(sent ? { facts: sent } : {}),
          tokenHash,
          at: T0,
        })
      await enrol('t1', facts)
      expect((await store.getHost('h1'))?.facts).toEqual(facts)
      await enrol('t2')
      expect((await store.getHost('h1'))?.facts).toEqual(facts)
      await enrol('t3', { ...facts, kernel: '6.1.0-30-amd64' })
      expect((await store.getHost('h1'))?.facts?.kernel).toBe('6.1.0-30-amd64')
      expect((await store.listHosts())[0]?.facts?.kernel).toBe('6.1.0-30-amd64')
    })

    test('a token hash belongs to one host only', async () => {
      const store = await openStore()
      await store.enrollHost({ hostId: 'h1', hostname: 'a', labels: {}, tokenHash: 'same', at: T0 })
      await expect(
        store.enrollHost({ hostId: 'h2', hostname: 'b', labels: {}, tokenHash: 'same', at: T0 }),
      ).rejects.toThrow()
      expect(await store.hostForToken('same')).toEqual({ hostId: 'h1', tokenHash: 'same' })
      expect(await store.hostForToken('other')).toBeUndefined()
      expect(await store.getHost('h2')).toBeUndefined()
    })

    test('a report updates the host, is judged inside the store, and reads back exactly', async () => {
      const store = await openStore()
      await enrolled(store, 'h1')
      const report = makeReport({ hostId: 'h1', startedAt: at(1), findings: 3 })
      const calls: { host: HostRecord; image: ImageRecord | undefined; now: Date }[] = []
      const spy: Judge = (host, image, now) => {
        calls.push({ host: structuredClone(host), image, now })
        return judge(host, image, now)
      }
      const result = await ingest(store, report, at(2), { judge: spy })

      const expected: Partial<HostRecord> = {
        imageId: 'web-base',
        imageVersion: '2026.11.27-1',
        manifestDigest: DIGEST,
        state: 'drifted',
        stateReasons: ['3 findings'],
        stateSince: at(2),
        lastSeenAt: at(2),
        lastReportAt: at(2),
        lastHeartbeatAt: null,
        driftSince: at(1),
        summary: report.summary,
        latestReportId: report.reportId,
      }
      expect(result).toMatchObject({ duplicate: false, ownerId: 'h1', host: expected })
      expect(await store.getHost('h1')).toEqual(result.host)
      expect(await store.latestReport('h1')).toEqual(report)
      // The judge saw the new facts, the host's state before judgement, and the receipt time.
      expect(calls).toHaveLength(1)
      expect(calls[0]?.host).toMatchObject({
        state: 'pending',
        latestReportId: report.reportId,
        lastSeenAt: at(2),
      })
      expect(calls[0]?.image).toBeUndefined()
      expect(calls[0]?.now).toEqual(at(2))
      expect(await store.stateHistory('h1')).toEqual([
        { hostId: 'h1', from: null, to: 'pending', reasons: ['enrolled, no report yet'], at: T0 },
        { hostId: 'h1', from: 'pending', to: 'drifted', reasons: ['3 findings'], at: at(2) },
      ])
      expect(await store.reportHistory('h1', 10)).toEqual([
        {
          reportId: report.reportId,
          hostId: 'h1',
          receivedAt: at(2),
          scanStartedAt: at(1),
          mode: 'full',
          manifestDigest: DIGEST,
          summary: report.summary,
        },
      ])
    })

    test('the judge is given the registered image of the report', async () => {
      const store = await openStore()
      await enrolled(store, 'h1')
      const image: ImageRecord = {
        id: 'web-base',
        version: '2026.11.27-1',
        manifestDigest: OTHER_DIGEST,
        publicKeys: [],
        signedBy: null,
        registeredAt: T0,
      }
      await store.putImage(image)
      const { host } = await ingest(store, makeReport({ hostId: 'h1', startedAt: at(1) }), at(2))
      expect(host).toMatchObject({ state: 'snowflake', stateReasons: ['manifest is not the image’s'] })
      // A heartbeat and a sweep judge with the same image.
      const seen: (ImageRecord | undefined)[] = []
      const spy: Judge = (h, i, now) => {
        seen.push(i)
        return judge(h, i, now)
      }
      await store.recordHeartbeat('h1', at(3), spy)
      await store.sweep(at(4), spy)
      expect(seen).toEqual([image, image])
    })

    test('a report from an unknown host is refused; a report with an unreadable scan time too', async () => {
      const store = await openStore()
      await expect(
        ingest(store, makeReport({ hostId: 'ghost', startedAt: at(1) }), at(2)),
      ).rejects.toMatchObject({
        code: 'NOT_FOUND',
      })
      await enrolled(store, 'h1')
      const report = { ...makeReport({ hostId: 'h1', startedAt: at(1) }) }
      report.scan = { ...report.scan, startedAt: 'yesterday' }
      const error = await ingest(store, report, at(2)).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DriftwatchError)
      expect(error).toMatchObject({ code: 'INPUT_INVALID' })
      expect(await store.reportHistory('h1', 10)).toEqual([])
    })

    test('a report is stored once by its id, whoever sends it again', async () => {
      const store = await openStore()
      await enrolled(store, 'h1')
      await enrolled(store, 'h2')
      const report = makeReport({ hostId: 'h1', startedAt: at(1), findings: 1 })
      const first = await ingest(store, report, at(2))
      const retry = await ingest(store, report, at(3))
      expect(retry).toEqual({ duplicate: true, ownerId: 'h1', host: first.host })
      const collision = await ingest(store, { ...report, host: { ...report.host, id: 'h2' } }, at(4), {
        hostId: 'h2',
      })
      expect(collision).toMatchObject({
        duplicate: true,
        ownerId: 'h1',
        host: { id: 'h2', latestReportId: null },
      })
      expect(await store.getHost('h1')).toEqual(first.host)
      expect(await store.reportHistory('h1', 10)).toHaveLength(1)
      expect(await store.reportHistory('h2', 10)).toEqual([])
      expect(await store.latestReport('h2')).toBeUndefined()
      expect(await store.stateHistory('h2')).toHaveLength(1)
    })

    test('a report that started before the latest one goes into history only', async () => {
      const store = await openStore()
      await enrolled(store, 'h1')
      const newer = makeReport({ hostId: 'h1', startedAt: at(10), findings: 2 })
      const older = makeReport({
        hostId: 'h1',
        startedAt: at(5),
        findings: 0,
        image: { id: 'x', version: '1', manifestDigest: OTHER_DIGEST },
      })
      await ingest(store, newer, at(11))
      const { duplicate, host } = await ingest(store, older, at(12))
      expect(duplicate).toBe(false)
      expect(host).toMatchObject({
        latestReportId: newer.reportId,
        summary: newer.summary,
        imageId: 'web-base',
        manifestDigest: DIGEST,
        driftSince: at(10),
        state: 'drifted',
        lastSeenAt: at(12),
        lastReportAt: at(12),
      })
      expect(await store.latestReport('h1')).toEqual(newer)
      expect((await store.reportHistory('h1', 10)).map((r) => r.reportId)).toEqual([
        older.reportId,
        newer.reportId,
      ])
    })

    test("the collector's clock orders reports: a scan start after its receipt counts as its receipt", async () => {
      const store = await openStore()
      await enrolled(store, 'h1')
      // A host whose clock runs a day ahead: its report must not stay the latest for ever.
      const ahead = makeReport({ hostId: 'h1', startedAt: at(24 * 60), findings: 0 })
      await ingest(store, ahead, at(2))
      const later = makeReport({ hostId: 'h1', startedAt: at(3), findings: 2 })
      const { host } = await ingest(store, later, at(4))
      expect(host).toMatchObject({ latestReportId: later.reportId, state: 'drifted', driftSince: at(3) })
      expect(await store.latestReport('h1')).toEqual(later)
      // The history keeps what the host said.
      expect((await store.reportHistory('h1', 10)).map((r) => r.scanStartedAt)).toEqual([at(3), at(24 * 60)])
    })

    test.each([
      { name: 'a run of drift starts at the first drifted scan', runs: [2, 3], since: [1, 1] },
      { name: 'a clean report ends the run', runs: [2, 0], since: [1, null] },
      { name: 'a new run starts after a clean report', runs: [1, 0, 0, 4, 1], since: [1, null, null, 4, 4] },
      { name: 'clean hosts have no drift start', runs: [0, 0], since: [null, null] },
    ])('driftSince: $name', async ({ runs, since }) => {
      const store = await openStore()
      await enrolled(store, 'h1')
      const seen: (Date | null)[] = []
      for (const [i, findings] of runs.entries()) {
        const { host } = await ingest(
          store,
          makeReport({ hostId: 'h1', startedAt: at(i + 1), findings }),
          at(i + 1.5),
        )
        seen.push(host.driftSince)
      }
      expect(seen).toEqual(since.map((m) => (m === null ? null : at(m))))
      expect((await store.getHost('h1'))?.driftSince).toEqual(seen.at(-1))
    })

    test('reasons follow each judgement; a transition is recorded only when the state changes', async () => {
      const store = await openStore()
      await enrolled(store, 'h1')
      await ingest(store, makeReport({ hostId: 'h1', startedAt: at(1), findings: 1 }), at(2))
      const { host } = await ingest(store, makeReport({ hostId: 'h1', startedAt: at(3), findings: 2 }), at(4))
      expect(host).toMatchObject({ state: 'drifted', stateReasons: ['2 findings'], stateSince: at(2) })
      expect(await store.getHost('h1')).toEqual(host)
      expect((await store.stateHistory('h1')).map((t) => [t.from, t.to, t.reasons])).toEqual([
        [null, 'pending', ['enrolled, no report yet']],
        ['pending', 'drifted', ['1 findings']],
      ])
    })

    test('history keeps the newest historyLimit reports, newest first', async () => {
      const store = await openStore()
      await enrolled(store, 'h1')
      await enrolled(store, 'h2')
      const reports = Array.from({ length: 6 }, (_, i) => makeReport({ hostId: 'h1', startedAt: at(i) }))
      for (const [i, report] of reports.entries())
        await ingest(store, report, at(i + 0.5), { historyLimit: 3 })
      const other = makeReport({ hostId: 'h2', startedAt: at(1) })
      await ingest(store, other, at(1), { historyLimit: 3 })
      const ids = (await store.reportHistory('h1', 10)).map((r) => r.reportId)
      expect(ids).toEqual(
        reports
          .slice(3)
          .reverse()
          .map((r) => r.reportId),
      )
      expect((await store.reportHistory('h1', 2)).map((r) => r.reportId)).toEqual(ids.slice(0, 2))
      expect((await store.reportHistory('h2', 10)).map((r) => r.reportId)).toEqual([other.reportId])
    })

    test('a heartbeat marks the host seen and judges it anew; an unknown host has none', async () => {
      const store = await openStore()
      expect(await store.recordHeartbeat('ghost', at(1), judge)).toBeUndefined()
      await enrolled(store, 'h1')
      expect(await store.sweep(at(20), judge)).toEqual([
        { hostId: 'h1', from: 'pending', to: 'stale', reasons: ['no contact'], at: at(20) },
      ])
      const host = await store.recordHeartbeat('h1', at(21), judge)
      expect(host).toMatchObject({
        state: 'pending',
        stateSince: at(21),
        lastSeenAt: at(21),
        lastHeartbeatAt: at(21),
        lastReportAt: null,
      })
      expect(await store.getHost('h1')).toEqual(host)
      expect((await store.stateHistory('h1')).map((t) => t.to)).toEqual(['pending', 'stale', 'pending'])
    })

    test('a sweep changes only the hosts whose judged state differs, once', async () => {
      const store = await openStore()
      await enrolled(store, 'b-old')
      await enrolled(store, 'a-old')
      await enrolled(store, 'c-fresh', {}, at(10))
      const transitions = await store.sweep(at(20), judge)
      expect(transitions).toEqual([
        { hostId: 'a-old', from: 'pending', to: 'stale', reasons: ['no contact'], at: at(20) },
        { hostId: 'b-old', from: 'pending', to: 'stale', reasons: ['no contact'], at: at(20) },
      ])
      expect(await store.getHost('a-old')).toMatchObject({
        state: 'stale',
        stateSince: at(20),
        stateReasons: ['no contact'],
      })
      expect(await store.getHost('c-fresh')).toMatchObject({ state: 'pending', stateSince: at(10) })
      expect(await store.sweep(at(21), judge)).toEqual([])
    })

    test('two collectors sweeping at once record one transition per host', async () => {
      const one = await openStore()
      const two = await openStore()
      const hosts = Array.from({ length: 8 }, (_, i) => `h${i}`)
      for (const id of hosts) await enrolled(one, id)
      const [a, b] = await Promise.all([one.sweep(at(20), judge), two.sweep(at(20), judge)])
      expect([...a, ...b].map((t) => t.hostId).sort()).toEqual(hosts)
      for (const id of hosts)
        expect((await two.stateHistory(id)).map((t) => t.to)).toEqual(['pending', 'stale'])
    })

    test('200 concurrent ingests through one store all land', async () => {
      const store = await openStore()
      const hosts = Array.from({ length: 10 }, (_, i) => `h${i}`)
      for (const id of hosts) await enrolled(store, id)
      const reports = hosts.flatMap((id) =>
        Array.from({ length: 20 }, (_, i) => makeReport({ hostId: id, startedAt: at(i), findings: i % 3 })),
      )
      const before = { ...(store as KyselyStore).ingestStats }
      const results = await Promise.all(reports.map((r, i) => ingest(store, r, at(30 + i / 100))))
      expect(results.every((r) => !r.duplicate)).toBe(true)
      // They were committed in groups, and no group had to be run again one by one.
      const stats = (store as KyselyStore).ingestStats
      expect(stats.items - before.items).toBe(200)
      expect(stats.groups - before.groups).toBeLessThan(20)
      expect(stats.fallbacks - before.fallbacks).toBe(0)
      for (const id of hosts) {
        const history = await store.reportHistory(id, 100)
        expect(history).toHaveLength(20)
        const latest = reports.filter((r) => r.host.id === id).at(-1)
        expect((await store.getHost(id))?.latestReportId).toBe(latest?.reportId)
        expect(await store.latestReport(id)).toEqual(latest)
      }
    })

    test('reports committed together: one that fails fails alone, the others land', async () => {
      const store = await openStore()
      for (const id of ['g1', 'g2', 'g3']) await enrolled(store, id)
      const good = ['g1', 'g2', 'g3'].map((id) => makeReport({ hostId: id, startedAt: at(1), findings: 1 }))
      const unknown = makeReport({ hostId: 'nobody', startedAt: at(1) })
      // Sent in one tick, so that they share a group commit.
      const results = await Promise.allSettled([
        ingest(store, good[0] as Report, at(2)),
        ingest(store, unknown, at(2)),
        ingest(store, good[1] as Report, at(2)),
        ingest(store, good[2] as Report, at(2)),
      ])
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
      expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'NOT_FOUND' })
      for (const report of good) {
        expect((await store.reportHistory(report.host.id, 10)).map((r) => r.reportId)).toEqual([
          report.reportId,
        ])
        expect((await store.stateHistory(report.host.id)).map((t) => t.to)).toEqual(['pending', 'drifted'])
      }
    })

    test('two collectors ingesting for one host at once lose no report and agree on the latest', async () => {
      const one = await openStore()
      const two = await openStore()
      await enrolled(one, 'h1')
      const reports = Array.from({ length: 40 }, (_, i) =>
        makeReport({ hostId: 'h1', startedAt: at(i), findings: i === 39 ? 0 : 1 }),
      )
      // Shuffled so that older scans also arrive after newer ones.
      const order = reports.map((r, i) => ({ r, k: (i * 17) % 40 })).sort((x, y) => x.k - y.k)
      const results = await Promise.all(
        order.map(({ r }, i) => ingest(i % 2 === 0 ? one : two, r, at(50 + i / 100), { historyLimit: 100 })),
      )
      expect(results.filter((r) => r.duplicate)).toEqual([])
      expect(await one.reportHistory('h1', 100)).toHaveLength(40)
      const host = await two.getHost('h1')
      expect(host).toMatchObject({
        latestReportId: reports[39]?.reportId,
        state: 'compliant',
        driftSince: null,
        lastSeenAt: at(50 + 39 / 100),
      })
      // Every transition follows from the one before it.
      const history = await one.stateHistory('h1')
      for (const [i, t] of history.entries()) expect(t.from).toBe(i === 0 ? null : history[i - 1]?.to)
      expect(history.at(-1)?.to).toBe(host?.state)
    })

    test('one report sent to two collectors at once is stored once', async () => {
      const one = await openStore()
      const two = await openStore()
      await enrolled(one, 'h1')
      const reports = Array.from({ length: 10 }, (_, i) => makeReport({ hostId: 'h1', startedAt: at(i) }))
      const results = await Promise.all(
        reports.flatMap((r, i) => [ingest(one, r, at(20 + i)), ingest(two, r, at(20 + i))]),
      )
      for (let i = 0; i < results.length; i += 2) {
        const pair = [results[i]?.duplicate, results[i + 1]?.duplicate]
        expect(pair.sort()).toEqual([false, true])
        expect(results[i]?.ownerId).toBe('h1')
      }
      expect(await one.reportHistory('h1', 100)).toHaveLength(10)
    })

    test.each<{ filter: HostFilter; ids: string[] }>([
      { filter: {}, ids: ['a', 'b', 'c', 'd'] },
      { filter: { state: 'drifted' }, ids: ['a'] },
      { filter: { state: 'compliant' }, ids: ['b', 'd'] },
      { filter: { state: 'pending' }, ids: ['c'] },
      { filter: { imageId: 'web-base' }, ids: ['a', 'd'] },
      { filter: { imageId: 'db-base' }, ids: ['b'] },
      { filter: { labels: { group: 'web' } }, ids: ['a', 'c', 'd'] },
      { filter: { labels: { group: 'web', env: 'prod' } }, ids: ['a', 'd'] },
      { filter: { labels: { 'team.example.com/owner': 'ops "core"' } }, ids: ['d'] },
      { filter: { labels: { $: 'x' } }, ids: ['c'] },
      { filter: { labels: { group: 'nope' } }, ids: [] },
      { filter: { state: 'drifted', imageId: 'web-base', labels: { env: 'prod' } }, ids: ['a'] },
    ])('listHosts $filter', async ({ filter, ids }) => {
      const store = await openStore()
      await enrolled(store, 'd', { group: 'web', env: 'prod', 'team.example.com/owner': 'ops "core"' })
      await enrolled(store, 'c', { group: 'web', env: 'staging', $: 'x' })
      await enrolled(store, 'b', { group: 'db', env: 'prod' })
      await enrolled(store, 'a', { group: 'web', env: 'prod' })
      await ingest(store, makeReport({ hostId: 'a', startedAt: at(1), findings: 1 }), at(2))
      const db = { id: 'db-base', version: '1', manifestDigest: DIGEST }
      await ingest(store, makeReport({ hostId: 'b', startedAt: at(1), image: db }), at(2))
      await ingest(store, makeReport({ hostId: 'd', startedAt: at(1) }), at(2))
      expect((await store.listHosts(filter)).map((h) => h.id)).toEqual(ids)
    })

    test('images: created, replaced, read, listed by id then version', async () => {
      const store = await openStore()
      const image = (id: string, version: string, digest = DIGEST): ImageRecord => ({
        id,
        version,
        manifestDigest: digest,
        publicKeys: ['-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n'],
        signedBy: 'key-1',
        registeredAt: at(1),
      })
      expect(await store.putImage(image('web', '2'))).toEqual({ created: true })
      expect(await store.putImage(image('db', '1'))).toEqual({ created: true })
      expect(await store.putImage(image('web', '10'))).toEqual({ created: true })
      const replaced = {
        ...image('web', '2', OTHER_DIGEST),
        publicKeys: [],
        signedBy: null,
        registeredAt: at(2),
      }
      expect(await store.putImage(replaced)).toEqual({ created: false })
      expect(await store.getImage('web', '2')).toEqual(replaced)
      expect(await store.getImage('web', '3')).toBeUndefined()
      expect((await store.listImages()).map((i) => `${i.id}@${i.version}`)).toEqual([
        'db@1',
        'web@10',
        'web@2',
      ])
      expect((await store.listImages())[0]).toEqual(image('db', '1'))
    })

    test('times keep their milliseconds; labels and reasons round-trip', async () => {
      const store = await openStore()
      const labels = { group: 'web', 'k8s.io/app': 'ünïcødé ✓', quote: 'a "b" \\c', empty: '' }
      const when = new Date('2031-02-03T04:05:06.789Z')
      await store.enrollHost({ hostId: 'h1', hostname: 'web-1', labels, tokenHash: 't', at: when })
      const reasons = ['first: ✓', 'second, with "quotes"', '']
      const host = await store.recordHeartbeat('h1', new Date(when.getTime() + 1), () => ({
        state: 'drifted',
        reasons,
      }))
      expect(host).toMatchObject({ labels, stateReasons: reasons, enrolledAt: when })
      const read = await store.getHost('h1')
      expect(read).toEqual(host)
      expect(read?.lastHeartbeatAt?.getTime()).toBe(when.getTime() + 1)
      expect((await store.stateHistory('h1')).at(-1)).toEqual({
        hostId: 'h1',
        from: 'pending',
        to: 'drifted',
        reasons,
        at: new Date(when.getTime() + 1),
      })
    })

    test('a report about a file name that is not UTF-8 (PEP 383) is kept byte for byte', async () => {
      const store = await openStore()
      await enrolled(store, 'h1')
      const report = makeReport({ hostId: 'h1', startedAt: at(1), findings: 2 })
      const [file, config] = report.drift as [DriftItem, DriftItem]
      file.subject = '/usr/bin/caf\udce9'
      file.expected = { type: 'symlink', target: '/opt/\udcff\udc80x' }
      file.actual = { type: 'symlink', target: '/opt/caf\u00e9 ✓ 😀' }
      config.subject = 'systemd:caf\udce9.service'
      const probe = report.scan.probes[1]
      if (probe?.errors?.[0]) probe.errors[0].subject = '/var/lib/\udcfe'
      await ingest(store, report, at(2))
      const read = await store.latestReport('h1')
      expect(read).toEqual(report)
      expect(JSON.stringify(read)).toBe(JSON.stringify(report))
      expect(read?.drift[0]?.subject).toBe('/usr/bin/caf\udce9')
      // Through a group commit too (PostgreSQL writes groups as one jsonb document).
      await enrolled(store, 'h2')
      const twin = { ...structuredClone(report), reportId: randomUUID(), host: { ...report.host, id: 'h2' } }
      const other = makeReport({ hostId: 'h1', startedAt: at(3) })
      await Promise.all([ingest(store, twin, at(4)), ingest(store, other, at(4))])
      expect(JSON.stringify(await store.latestReport('h2'))).toBe(JSON.stringify(twin))
    })

    test('a hostname, label or image with a lone surrogate is refused, not mangled', async () => {
      const store = await openStore()
      for (const [hostname, labels] of [
        ['web\udce9', {}],
        ['web\ud800', {}],
        ['web', { group: 'a\udce9' }],
        ['web', { 'g\udc80': 'a' }],
      ] as const) {
        await expect(
          store.enrollHost({ hostId: 'h1', hostname, labels, tokenHash: 't', at: T0 }),
        ).rejects.toMatchObject({ code: 'INPUT_INVALID' })
      }
      expect(await store.getHost('h1')).toBeUndefined()
      await enrolled(store, 'h2')
      const report = makeReport({ hostId: 'h2', startedAt: at(1) })
      report.image = { ...report.image, id: 'web\udce9' }
      await expect(ingest(store, report, at(2))).rejects.toMatchObject({ code: 'INPUT_INVALID' })
      expect(await store.reportHistory('h2', 10)).toEqual([])
    })

    test('a token revoked while its request was on the way writes nothing', async () => {
      const store = await openStore()
      await enrolled(store, 'h1')
      await enrolled(store, 'h2')
      await enrolled(store, 'h3')
      // h1 re-enrols: its old token stops, even for a request authenticated before.
      await store.enrollHost({ hostId: 'h1', hostname: 'h1', labels: {}, tokenHash: 'rotated', at: at(1) })
      const stale = makeReport({ hostId: 'h1', startedAt: at(2), findings: 1 })
      await expect(ingest(store, stale, at(3), { tokenHash: 'hash-h1' })).rejects.toMatchObject({
        code: 'UNAUTHENTICATED',
      })
      await expect(store.recordHeartbeat('h1', at(3), judge, 'hash-h1')).rejects.toMatchObject({
        code: 'UNAUTHENTICATED',
      })
      expect(await store.reportHistory('h1', 10)).toEqual([])
      expect(await store.getHost('h1')).toMatchObject({ lastHeartbeatAt: null, latestReportId: null })
      // Committed together with others, it fails alone.
      const others = ['h2', 'h3'].map((id) => makeReport({ hostId: id, startedAt: at(2) }))
      const results = await Promise.allSettled([
        ingest(store, others[0] as Report, at(3), { tokenHash: 'hash-h2' }),
        ingest(store, makeReport({ hostId: 'h1', startedAt: at(2) }), at(3), { tokenHash: 'hash-h1' }),
        ingest(store, others[1] as Report, at(3), { tokenHash: 'hash-h3' }),
      ])
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
      expect(await store.reportHistory('h1', 10)).toEqual([])
      // With the new token it lands.
      await ingest(store, stale, at(4), { tokenHash: 'rotated' })
      expect((await store.reportHistory('h1', 10)).map((r) => r.reportId)).toEqual([stale.reportId])
      expect(await store.recordHeartbeat('h1', at(5), judge, 'rotated')).toMatchObject({
        lastHeartbeatAt: at(5),
      })
    })

    test('ping answers while open; close closes', async () => {
      const store = await openStore()
      await expect(store.ping()).resolves.toBeUndefined()
      await store.close()
      await expect(store.ping()).rejects.toThrow()
    })

    test('a reopened store keeps what it held', async () => {
      const first = await openStore()
      await enrolled(first, 'h1')
      const report = makeReport({ hostId: 'h1', startedAt: at(1), findings: 20 })
      await ingest(first, report, at(2))
      await first.close()
      const second = await openStore()
      expect(await second.latestReport('h1')).toEqual(report)
      expect(second.dialect).toBe(first.dialect)
    })
  })
}

/**
 * Replacements, the scheduler's lease, the notification outbox and alerts
 * (src/store/replacements.ts): the same behaviour on every store.
 */
export function replacementContract(name: string, open: () => Promise<Store>): void {
  describe(`replacement store contract: ${name}`, () => {
    const opened: Store[] = []
    const openStore = async () => {
      const store = await open()
      opened.push(store)
      return store
    }
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()))
    })
    const LEASE = 'scheduler'
    const always: DecideDispatch = () => ({ dispatch: true, reason: 'go' })

    async function snowflake(store: Store, hostId: string, group = 'web', when = T0) {
      await store.enrollHost({
        hostId,
        hostname: `${hostId}.internal`,
        labels: { group },
        tokenHash: `hash-${hostId}`,
        at: when,
      })
      await store.ingestReport(
        {
          hostId,
          report: makeReport({ hostId, startedAt: when, findings: 1, severity: 'critical' }),
          receivedAt: when,
          historyLimit: 10,
        },
        judge,
      )
    }
    const create = (
      store: Store,
      hostId: string,
      options: { dryRun?: boolean; at?: Date; group?: string } = {},
    ) =>
      store.replacements.create({
        hostId,
        group: options.group ?? 'web',
        trigger: 'snowflake',
        requestedBy: null,
        dryRun: options.dryRun ?? false,
        reason: 'critical findings',
        actor: 'scheduler@a',
        at: options.at ?? at(1),
      })

    test('a lease has one holder until it expires; a renewal keeps its start; a release frees it', async () => {
      const store = await openStore()
      const other = await openStore()
      expect(await store.replacements.acquireLease(LEASE, 'a', 60_000, at(0))).toBe(true)
      expect(await other.replacements.acquireLease(LEASE, 'b', 60_000, at(0.5))).toBe(false)
      expect(await store.replacements.acquireLease(LEASE, 'a', 60_000, at(0.9))).toBe(true)
      expect(await other.replacements.lease(LEASE)).toEqual({
        name: LEASE,
        holder: 'a',
        acquiredAt: at(0),
        expiresAt: new Date(at(0.9).getTime() + 60_000),
      })
      expect(await other.replacements.acquireLease(LEASE, 'b', 60_000, at(1.8))).toBe(false)
      // Expired: the next asker takes it over and its age starts anew.
      expect(await other.replacements.acquireLease(LEASE, 'b', 60_000, at(2))).toBe(true)
      expect((await store.replacements.lease(LEASE))?.acquiredAt).toEqual(at(2))
      await store.replacements.releaseLease(LEASE, 'a')
      expect((await store.replacements.lease(LEASE))?.holder).toBe('b')
      await other.replacements.releaseLease(LEASE, 'b')
      expect(await store.replacements.lease(LEASE)).toBeUndefined()
      expect(await store.replacements.acquireLease(LEASE, 'a', 60_000, at(2.1))).toBe(true)
    })

    test('one open replacement per host; the host is scheduled and its transition recorded', async () => {
      const store = await openStore()
      await snowflake(store, 'h1')
      const first = await create(store, 'h1')
      expect(first.created).toBe(true)
      expect(first.replacement).toMatchObject({
        hostId: 'h1',
        group: 'web',
        state: 'pending',
        dryRun: false,
        trigger: 'snowflake',
      })
      const again = await create(store, 'h1', { at: at(2) })
      expect(again).toEqual({ created: false, replacement: first.replacement })
      expect((await store.getHost('h1'))?.state).toBe('replacement-scheduled')
      expect((await store.stateHistory('h1')).map((t) => t.to)).toEqual([
        'pending',
        'snowflake',
        'replacement-scheduled',
      ])
      expect(await store.replacements.events(first.replacement.id)).toEqual([
        {
          replacementId: first.replacement.id,
          from: null,
          to: 'pending',
          reason: 'critical findings',
          actor: 'scheduler@a',
          at: at(1),
        },
      ])
      // Created at once through two stores: still one.
      await snowflake(store, 'h2')
      const other = await openStore()
      const both = await Promise.all([create(store, 'h2'), create(other, 'h2')])
      expect(both.filter((b) => b.created)).toHaveLength(1)
      expect(both[0]?.replacement.id).toBe(both[1]?.replacement.id)
    })

    test('a dry run changes no host state', async () => {
      const store = await openStore()
      await snowflake(store, 'h1')
      const { replacement } = await create(store, 'h1', { dryRun: true })
      expect(replacement.dryRun).toBe(true)
      expect((await store.getHost('h1'))?.state).toBe('snowflake')
      await store.replacements.acquireLease(LEASE, 'a', 600_000, at(1))
      const outcome = await store.replacements.dispatch(replacement.id, {
        lease: { name: LEASE, holder: 'a' },
        groupLabel: 'group',
        decide: always,
        executor: 'webhook',
        actor: 'scheduler@a',
        at: at(2),
      })
      expect(outcome.outcome).toBe('dispatched')
      expect((await store.getHost('h1'))?.state).toBe('snowflake')
    })

    test('snowflakes to schedule: those without an open replacement or one made in their drift run', async () => {
      const store = await openStore()
      await snowflake(store, 'h1')
      await snowflake(store, 'h2')
      await store.enrollHost({ hostId: 'ok', hostname: 'ok', labels: {}, tokenHash: 'hash-ok', at: T0 })
      expect((await store.replacements.snowflakesToSchedule(10)).map((h) => h.id)).toEqual(['h1', 'h2'])
      const { replacement } = await create(store, 'h1', { dryRun: true })
      expect((await store.replacements.snowflakesToSchedule(10)).map((h) => h.id)).toEqual(['h2'])
      // Cancelled: not scheduled again within the same drift run.
      await store.replacements.change(replacement.id, {
        from: ['pending'],
        to: 'cancelled',
        reason: 'no',
        actor: 'ops',
        at: at(3),
      })
      expect((await store.replacements.snowflakesToSchedule(10)).map((h) => h.id)).toEqual(['h2'])
      // Clean, then drifted again: a new run, a new replacement.
      await store.ingestReport(
        {
          hostId: 'h1',
          report: makeReport({ hostId: 'h1', startedAt: at(4) }),
          receivedAt: at(4),
          historyLimit: 10,
        },
        judge,
      )
      await store.ingestReport(
        {
          hostId: 'h1',
          report: makeReport({ hostId: 'h1', startedAt: at(5), findings: 1, severity: 'critical' }),
          receivedAt: at(5),
          historyLimit: 10,
        },
        judge,
      )
      // The longest-standing snowflake first.
      expect((await store.replacements.snowflakesToSchedule(10)).map((h) => h.id)).toEqual(['h2', 'h1'])
    })

    test('a dispatch needs the lease, follows the decision with the group read in its transaction, and happens once', async () => {
      const store = await openStore()
      for (const id of ['h1', 'h2', 'h3']) await snowflake(store, id)
      await store.enrollHost({
        hostId: 'db',
        hostname: 'db',
        labels: { group: 'db' },
        tokenHash: 'hash-db',
        at: T0,
      })
      const r1 = (await create(store, 'h1')).replacement
      const r2 = (await create(store, 'h2')).replacement
      const input = {
        lease: { name: LEASE, holder: 'a' },
        groupLabel: 'group',
        executor: 'webhook',
        actor: 'scheduler@a',
        at: at(2),
      }
      expect(await store.replacements.dispatch(r1.id, { ...input, decide: always })).toEqual({
        outcome: 'lease-lost',
      })
      await store.replacements.acquireLease(LEASE, 'a', 600_000, at(1))
      const seen: GroupStats[] = []
      const oneAtATime: DecideDispatch = (_r, stats) => {
        seen.push(stats)
        return stats.inFlight < 1
          ? { dispatch: true, reason: 'go' }
          : { dispatch: false, waitingFor: 'budget', reason: `${stats.inFlight} in flight` }
      }
      const first = await store.replacements.dispatch(r1.id, { ...input, decide: oneAtATime })
      expect(first).toMatchObject({
        outcome: 'dispatched',
        replacement: { state: 'dispatched', executor: 'webhook', dispatchedAt: at(2) },
      })
      expect(await store.replacements.dispatch(r1.id, { ...input, decide: always })).toEqual({
        outcome: 'gone',
      })
      const second = await store.replacements.dispatch(r2.id, { ...input, decide: oneAtATime })
      expect(second).toMatchObject({
        outcome: 'waiting',
        replacement: { state: 'waiting', waitingFor: 'budget', reason: '1 in flight' },
      })
      // The group as the decision saw it: h1..h3 (db is another group), h1 out of service once dispatched.
      expect(seen[0]).toEqual({
        group: 'web',
        hosts: 3,
        inServiceOthers: 2,
        inFlight: 0,
        lastDispatchedAt: null,
      })
      expect(seen[1]).toEqual({
        group: 'web',
        hosts: 3,
        inServiceOthers: 1,
        inFlight: 1,
        lastDispatchedAt: at(2),
      })
      expect((await store.getHost('h1'))?.state).toBe('replacing')
      expect((await store.replacements.events(r2.id)).map((e) => [e.from, e.to])).toEqual([
        [null, 'pending'],
        ['pending', 'waiting'],
      ])
      expect(await store.replacements.groupStats('', 'group')).toEqual({
        group: '',
        hosts: 0,
        inServiceOthers: 0,
        inFlight: 0,
        lastDispatchedAt: null,
      })
    })

    test('changes apply only from the states named; who and when are recorded; the host follows', async () => {
      const store = await openStore()
      await snowflake(store, 'h1')
      const { replacement } = await create(store, 'h1')
      expect(
        await store.replacements.change(replacement.id, {
          from: ['dispatched'],
          to: 'completed',
          reason: 'x',
          actor: 'a',
          at: at(2),
        }),
      ).toBeUndefined()
      const approved = await store.replacements.change(replacement.id, {
        from: ['pending', 'waiting'],
        to: 'pending',
        reason: 'approved by alice',
        approvedBy: 'alice',
        actor: 'alice',
        at: at(2),
      })
      expect(approved).toMatchObject({ approvedBy: 'alice', approvedAt: at(2), state: 'pending' })
      const cancelled = await store.replacements.change(replacement.id, {
        from: ['pending', 'waiting'],
        to: 'cancelled',
        reason: 'cancelled by bob',
        actor: 'bob',
        at: at(3),
        hostState: { state: 'snowflake', reasons: ['critical findings'] },
      })
      expect(cancelled).toMatchObject({ state: 'cancelled', finishedAt: at(3) })
      expect((await store.getHost('h1'))?.state).toBe('snowflake')
      expect((await store.replacements.events(replacement.id)).map((e) => `${e.to} by ${e.actor}`)).toEqual([
        'pending by scheduler@a',
        'pending by alice',
        'cancelled by bob',
      ])
      expect((await store.replacements.list({ states: ['cancelled'] })).map((r) => r.id)).toEqual([
        replacement.id,
      ])
      expect(await store.replacements.list({ states: ['pending'] })).toEqual([])
    })

    test("replacements are counted by state, every state named, a host's earlier ones too", async () => {
      const store = await openStore()
      expect(await store.replacements.countByState()).toEqual({
        pending: 0,
        waiting: 0,
        dispatched: 0,
        completed: 0,
        failed: 0,
        cancelled: 0,
      })
      const moveTo = async (hostId: string, to: ReplacementState) => {
        await snowflake(store, hostId)
        const { replacement } = await create(store, hostId)
        const moved = await store.replacements.change(replacement.id, {
          from: ['pending'],
          to,
          reason: to,
          actor: 'ops',
          at: at(2),
        })
        expect(moved?.state).toBe(to)
      }
      await moveTo('h-wait', 'waiting')
      await moveTo('h-go', 'dispatched')
      await moveTo('h-done', 'completed')
      await moveTo('h-gone', 'cancelled')
      await moveTo('h-fail', 'failed')
      await create(store, 'h-fail', { at: at(3) })
      await snowflake(store, 'h-new')
      await create(store, 'h-new')
      // Another collector on the same database counts the same.
      const other = await openStore()
      expect(await other.replacements.countByState()).toEqual({
        pending: 2,
        waiting: 1,
        dispatched: 1,
        completed: 1,
        failed: 1,
        cancelled: 1,
      })
    })

    test('notifications are recorded once per notifier and key, and delivered when due', async () => {
      const store = await openStore()
      const event: FleetEvent = {
        kind: 'snowflake',
        key: 'r1:snowflake',
        at: at(1),
        group: 'web',
        replacement: null,
        summary: 'h1 is a snowflake',
        host: { id: 'h1', hostname: 'h1', labels: { group: 'web' }, image: 'web-base@1', summary: null },
      }
      expect(await store.replacements.enqueueNotification('slack', event, at(1))).toBe(true)
      expect(await store.replacements.enqueueNotification('slack', event, at(2))).toBe(false)
      expect(await store.replacements.enqueueNotification('webhook', event, at(1))).toBe(true)
      const due = await store.replacements.dueNotifications(at(1), 10)
      expect(due.map((n) => [n.notifier, n.key, n.status])).toEqual([
        ['slack', 'r1:snowflake', 'pending'],
        ['webhook', 'r1:snowflake', 'pending'],
      ])
      expect(due[0]?.event).toEqual(event)
      await store.replacements.markNotification(due[0]?.id ?? 0, {
        status: 'sent',
        attempts: 1,
        nextAttemptAt: at(1),
        lastError: null,
        sentAt: at(1),
      })
      await store.replacements.markNotification(due[1]?.id ?? 0, {
        status: 'pending',
        attempts: 1,
        nextAttemptAt: at(5),
        lastError: 'HTTP 503',
        sentAt: null,
      })
      expect(await store.replacements.dueNotifications(at(2), 10)).toEqual([])
      expect(
        (await store.replacements.dueNotifications(at(5), 10)).map((n) => [n.notifier, n.lastError]),
      ).toEqual([['webhook', 'HTTP 503']])
      expect((await store.replacements.listNotifications({ notifier: 'slack' }))[0]).toMatchObject({
        status: 'sent',
        sentAt: at(1),
        attempts: 1,
      })
    })

    test('notifications are listed newest first; a limit keeps the newest', async () => {
      const store = await openStore()
      const event = (key: string, minutes: number): FleetEvent => ({
        kind: 'snowflake',
        key,
        at: at(minutes),
        group: 'web',
        replacement: null,
        summary: key,
        host: { id: 'h1', hostname: 'h1', labels: {}, image: null, summary: null },
      })
      for (const [notifier, key, minutes] of [
        ['slack', 's1', 1],
        ['webhook', 'w1', 2],
        ['slack', 's2', 3],
        ['slack', 's3', 4],
      ] as const)
        await store.replacements.enqueueNotification(notifier, event(key, minutes), at(minutes))
      const keys = async (filter: Parameters<typeof store.replacements.listNotifications>[0]) =>
        (await store.replacements.listNotifications(filter)).map((n) => n.key)
      expect(await keys({})).toEqual(['s3', 's2', 'w1', 's1'])
      expect(await keys({ limit: 2 })).toEqual(['s3', 's2'])
      expect(await keys({ notifier: 'slack', limit: 2 })).toEqual(['s3', 's2'])
      expect(await keys({ notifier: 'webhook', limit: 2 })).toEqual(['w1'])
      expect(await keys({ kind: 'host-stale', limit: 2 })).toEqual([])
    })

    test('alerts are listed newest first by start or resolution; a limit keeps the newest', async () => {
      const store = await openStore()
      const fire = (notifier: string, key: string, minutes: number) =>
        store.replacements.fireAlert({ notifier, key, labels: {}, annotations: {}, at: at(minutes) })
      await fire('am', 'a', 1)
      await fire('am', 'b', 2)
      await fire('am', 'c', 3)
      await fire('other', 'd', 5)
      await store.replacements.resolveAlerts('am', ['a'], at(4))
      const keys = async (limit?: number) =>
        (await store.replacements.listAlerts('am', limit === undefined ? {} : { limit })).map((a) => a.key)
      expect(await keys()).toEqual(['a', 'c', 'b'])
      expect(await keys(2)).toEqual(['a', 'c'])
      expect(await keys(5)).toEqual(['a', 'c', 'b'])
    })

    test('alerts fire, are re-sent while firing, resolved once, and fire anew', async () => {
      const store = await openStore()
      const fire = (key: string, when: Date) =>
        store.replacements.fireAlert({
          notifier: 'am',
          key,
          labels: { alertname: 'X', host: key },
          annotations: { summary: key },
          at: when,
        })
      await fire('snowflake:h1', at(1))
      await fire('snowflake:h2', at(1))
      expect((await store.replacements.alertsToSend('am', at(1), 60_000)).map((a) => a.key)).toEqual([
        'snowflake:h1',
        'snowflake:h2',
      ])
      await store.replacements.markAlertsSent('am', ['snowflake:h1', 'snowflake:h2'], at(1))
      await fire('snowflake:h1', at(1.5))
      expect(await store.replacements.alertsToSend('am', at(1.5), 60_000)).toEqual([])
      expect((await store.replacements.alertsToSend('am', at(2), 60_000)).map((a) => a.key)).toEqual([
        'snowflake:h1',
        'snowflake:h2',
      ])
      await store.replacements.markAlertsSent('am', ['snowflake:h1', 'snowflake:h2'], at(2))
      expect(await store.replacements.resolveAlerts('am', ['snowflake:h1', 'snowflake:h9'], at(2.5))).toBe(1)
      const resolved = await store.replacements.alertsToSend('am', at(2.5), 60_000)
      expect(resolved).toMatchObject([{ key: 'snowflake:h1', startsAt: at(1), resolvedAt: at(2.5) }])
      await store.replacements.markAlertsSent('am', ['snowflake:h1'], at(2.5))
      expect(await store.replacements.alertsToSend('am', at(2.6), 60_000)).toEqual([])
      await fire('snowflake:h1', at(4))
      expect(await store.replacements.alertsToSend('am', at(4), 60_000)).toMatchObject([
        { key: 'snowflake:h1', startsAt: at(4), resolvedAt: null, lastSentAt: null },
        { key: 'snowflake:h2' },
      ])
    })
  })
}
