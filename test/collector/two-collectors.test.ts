import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { makeJudge } from '../../src/collector/judge.js'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema, FleetRulesSchema } from '../../src/config/collector.js'
import type { HostDetailView, HostView } from '../../src/protocol/api.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import { hasPostgres, postgresSchema } from '../helpers/stores.js'

/** Two collector processes' worth of collectors (each its own app, store and pool) on one PostgreSQL. */
describe.skipIf(!(await hasPostgres()))('two collectors on one PostgreSQL serve one fleet', () => {
  const schema = postgresSchema('dw_two')
  let a: RunningCollector
  let b: RunningCollector

  beforeAll(async () => {
    const config = CollectorConfigSchema.parse({
      listen: '127.0.0.1:0',
      store: schema.url,
      enrollSecret: ENROLL_SECRET,
      adminTokens: [ADMIN_TOKEN],
      staleAfter: '10m',
    })
    // Both start at once: the migrations must run exactly once between them.
    ;[a, b] = await Promise.all([startCollector(config), startCollector(config)])
  })
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await schema.drop()
  })

  const call = async (
    base: RunningCollector,
    method: 'GET' | 'POST',
    path: string,
    token: string,
    body?: unknown,
  ) => {
    const response = await request(`${base.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> }
  }
  const enroll = async (base: RunningCollector, id: string) => {
    const response = await request(`${base.url}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ secret: ENROLL_SECRET, host: { id, hostname: id } }),
    })
    return ((await response.body.json()) as { token: string }).token
  }

  test('a host enrolled on one is known to the other; reports through either land in one history', async () => {
    const token = await enroll(a, 'shared-1')
    const reports = Array.from({ length: 10 }, (_, i) =>
      makeReport({ hostId: 'shared-1', findings: i % 3, startedAt: new Date(Date.now() + i) }),
    )
    const answers = await Promise.all(
      reports.map((report, i) => call(i % 2 ? a : b, 'POST', '/v1/reports', token, report)),
    )
    expect(answers.map((x) => x.status)).toEqual(Array(10).fill(201))
    for (const side of [a, b]) {
      const detail = (await call(side, 'GET', '/v1/hosts/shared-1', ADMIN_TOKEN))
        .body as unknown as HostDetailView
      expect(detail.reports).toHaveLength(10)
      // The latest is the report whose scan started last, whichever collector stored it.
      expect(detail.latestReport?.reportId).toBe(reports[9]?.reportId)
      expect(detail.host.summary).toEqual(reports[9]?.summary)
    }
  })

  test('the same report sent to both at once is stored once; one of them says duplicate', async () => {
    const token = await enroll(b, 'shared-2')
    const report = makeReport({ hostId: 'shared-2', findings: 2 })
    for (let round = 0; round < 5; round++) {
      const retry = { ...report, reportId: crypto.randomUUID() }
      const [x, y] = await Promise.all([
        call(a, 'POST', '/v1/reports', token, retry),
        call(b, 'POST', '/v1/reports', token, retry),
      ])
      expect([x.status, y.status].sort()).toEqual([200, 201])
      expect([x.body.duplicate, y.body.duplicate].sort()).toEqual([false, true])
    }
    const detail = (await call(a, 'GET', '/v1/hosts/shared-2', ADMIN_TOKEN)).body as unknown as HostDetailView
    expect(detail.reports).toHaveLength(5)
  })

  test('a token rotated through one is refused by the other at once', async () => {
    const old = await enroll(a, 'shared-3')
    const fresh = await enroll(b, 'shared-3')
    expect((await call(a, 'POST', '/v1/heartbeats', old, { hostId: 'shared-3' })).status).toBe(401)
    expect((await call(a, 'POST', '/v1/heartbeats', fresh, { hostId: 'shared-3' })).status).toBe(200)
  })

  test('sweeps run by both at once record each state change once', async () => {
    const token = await enroll(a, 'shared-4')
    await call(
      b,
      'POST',
      '/v1/reports',
      token,
      makeReport({ hostId: 'shared-4', findings: 1, severity: 'low' }),
    )
    const later = new Date(Date.now() + 11 * 60_000)
    const judge = makeJudge(FleetRulesSchema.parse({ staleAfter: '10m' }))
    const [fromA, fromB] = await Promise.all([a.store.sweep(later, judge), b.store.sweep(later, judge)])
    const changes = [...fromA, ...fromB].filter((c) => c.hostId === 'shared-4')
    expect(changes).toHaveLength(1)
    expect(changes[0]).toMatchObject({ from: 'drifted', to: 'stale' })
    const hosts = (await call(b, 'GET', '/v1/hosts?state=stale', ADMIN_TOKEN)).body.hosts as HostView[]
    expect(hosts.map((h) => h.id)).toContain('shared-4')
    const history = (await call(a, 'GET', '/v1/hosts/shared-4', ADMIN_TOKEN))
      .body as unknown as HostDetailView
    expect(history.states.map((s) => s.to)).toEqual(['pending', 'drifted', 'stale'])
  })
})
