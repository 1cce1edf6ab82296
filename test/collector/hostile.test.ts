import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { buildApp } from '../../src/collector/app.js'
import { makeJudge } from '../../src/collector/judge.js'
import { FleetRulesSchema } from '../../src/config/collector.js'
import type { HostDetailView } from '../../src/protocol/api.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import { hasPostgres, postgresSchema } from '../helpers/stores.js'

const T0 = new Date('2026-11-27T12:00:00.000Z')
const MINUTE = 60_000

const targets: { name: string; url: () => { url: string; drop: () => Promise<void> } }[] = [
  { name: 'sqlite', url: () => ({ url: 'sqlite::memory:', drop: async () => {} }) },
]
if (await hasPostgres()) targets.push({ name: 'postgres', url: () => postgresSchema('dw_hostile') })

/** What the issue of hostile input found, one class a block, on every store. */
describe.each(targets)('hostile input on $name', ({ url }) => {
  let store: Store
  let app: FastifyInstance
  let drop: () => Promise<void>
  const now = T0
  const judge = makeJudge(FleetRulesSchema.parse({ staleAfter: '15m' }))

  beforeAll(async () => {
    const target = url()
    drop = target.drop
    store = await openStore(target.url)
    app = buildApp({
      store,
      judge,
      enrollSecret: ENROLL_SECRET,
      adminTokens: [ADMIN_TOKEN],
      bodyLimit: 256 * 1024,
      reportHistory: 5,
      clockSkew: 5 * MINUTE,
      clock: () => now,
    })
  })
  afterAll(async () => {
    await app.close()
    await store.close()
    await drop()
  })

  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }
  const enroll = async (id: string, extra: Record<string, unknown> = {}) => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/enroll',
      payload: { secret: ENROLL_SECRET, host: { id, hostname: `host-${id}`, ...extra } },
    })
    return { status: response.statusCode, body: response.json() as { token: string } }
  }
  const report = (token: string, body: unknown) =>
    app.inject({
      method: 'POST',
      url: '/v1/reports',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    })
  const host = async (id: string) =>
    (await app.inject({ url: `/v1/hosts/${id}`, headers: admin })).json() as HostDetailView

  test('a scan that starts further ahead than clockSkew is refused and counted; within it, accepted', async () => {
    const { body } = await enroll('h-future')
    const before = app.refusals.futureScanStart
    const far = makeReport({ hostId: 'h-future', startedAt: new Date('9999-12-31T00:00:00Z') })
    const refused = await report(body.token, far)
    expect(refused.statusCode).toBe(400)
    expect(refused.json()).toMatchObject({
      code: 'INPUT_INVALID',
      message: expect.stringContaining('report.scan.startedAt'),
      hint: expect.stringContaining('clockSkew'),
    })
    expect(app.refusals.futureScanStart).toBe(before + 1)
    expect((await host('h-future')).reports).toEqual([])

    const justOver = makeReport({
      hostId: 'h-future',
      startedAt: new Date(now.getTime() + 5 * MINUTE + 1000),
    })
    expect((await report(body.token, justOver)).statusCode).toBe(400)
    const ahead = makeReport({ hostId: 'h-future', startedAt: new Date(now.getTime() + 4 * MINUTE) })
    expect((await report(body.token, ahead)).statusCode).toBe(201)
    expect(app.refusals.futureScanStart).toBe(before + 2)
  })
})
