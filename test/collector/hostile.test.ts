import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { makeJudge } from '../../src/collector/judge.js'
import { FleetRulesSchema } from '../../src/config/collector.js'
import type { HostDetailView } from '../../src/protocol/api.js'
import type { Store } from '../../src/store/types.js'
import { appOnStore, storeTargets } from '../helpers/app.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'

const T0 = new Date('2026-11-27T12:00:00.000Z')
const MINUTE = 60_000

/** What the issue of hostile input found, one class a block, on every store. */
describe.each(await storeTargets('dw_hostile'))('hostile input on $name', ({ target }) => {
  let store: Store
  let app: FastifyInstance
  let close: () => Promise<void>
  const now = T0
  const judge = makeJudge(FleetRulesSchema.parse({ staleAfter: '15m' }))

  beforeAll(async () => {
    ;({ store, app, close } = await appOnStore(target(), () => ({
      judge,
      clockSkew: 5 * MINUTE,
      clock: () => now,
    })))
  })
  afterAll(() => close())

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

  const enrollRaw = (body: string) =>
    app.inject({
      method: 'POST',
      url: '/v1/enroll',
      headers: { 'content-type': 'application/json' },
      payload: body,
    })

  test('labels follow the Kubernetes label syntax; __proto__ and anything off-grammar is a 400', async () => {
    const good = { group: 'web-prod', 'team.example.com/owner': 'ops_core.1', empty: '' }
    const ok = await enroll('h-labels', { labels: good })
    expect(ok.status).toBe(201)
    expect((await host('h-labels')).host.labels).toEqual(good)

    const identity = (labels: string) =>
      `{"secret":${JSON.stringify(ENROLL_SECRET)},"host":{"id":"h-bad-labels","hostname":"x","labels":${labels}}}`
    for (const labels of [
      '{"__proto__":{"polluted":"yes"}}',
      '{"__proto__":"x"}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
      '{"a b":"x"}',
      '{"-group":"x"}',
      '{"Example.com/x":"y"}',
      '{"group":"a b"}',
      '{"group":"web\\u001b[2J"}',
      `{"group":"${'g'.repeat(64)}"}`,
      `{"${'k'.repeat(64)}":"v"}`,
      '{"group":1}',
      '[]',
      '"group=web"',
      JSON.stringify(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']))),
    ]) {
      const response = await enrollRaw(identity(labels))
      expect(response.statusCode, labels).toBe(400)
      expect(response.json(), labels).toMatchObject({
        code: 'INPUT_INVALID',
        message: expect.stringContaining('labels'),
      })
    }
    expect((await app.inject({ url: '/v1/hosts/h-bad-labels', headers: admin })).statusCode).toBe(404)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()

    const sent = makeReport({ hostId: 'h-labels', startedAt: now })
    const text = JSON.stringify(sent).replace('"labels":{"group":"web"}', '"labels":{"__proto__":"x"}')
    const refused = await report(ok.body.token, text)
    expect(refused.statusCode).toBe(400)
    expect((await host('h-labels')).reports).toEqual([])
  })

  test('?label= takes the same grammar: __proto__ is a 400, not every host', async () => {
    await enroll('h-query', { labels: { group: 'web' } })
    const list = (query: string) => app.inject({ url: `/v1/hosts?${query}`, headers: admin })
    for (const query of ['label=__proto__=x', 'label=__proto__%3Dx', 'label=a%20b=x', 'label=group=a%1Bb']) {
      const response = await list(query)
      expect(response.statusCode, query).toBe(400)
      expect(response.json()).toMatchObject({ code: 'INPUT_INVALID' })
    }
    for (const query of ['label=constructor=x', 'label=toString=x', 'label=hasOwnProperty=']) {
      const response = await list(query)
      expect(response.statusCode, query).toBe(200)
      expect(response.json(), query).toEqual({ hosts: [] })
    }
    const web = (await list('label=group=web')).json() as { hosts: { id: string }[] }
    expect(web.hosts.map((h) => h.id)).toContain('h-query')
  })

  test('a report about /usr/bin/caf\\udce9 is stored and read back exactly; other lone surrogates are a 400', async () => {
    const { body } = await enroll('h-bytes')
    const sent = makeReport({ hostId: 'h-bytes', findings: 3, startedAt: now })
    const file = sent.drift.find((d) => d.kind === 'file' && d.change === 'added')
    if (!file) throw new Error('the report has no added file')
    file.subject = '/usr/bin/caf\udce9'
    file.actual = { type: 'symlink', target: '/opt/\udcff' }
    const stored = await report(body.token, sent)
    expect(stored.statusCode).toBe(201)
    const detail = await app.inject({ url: '/v1/hosts/h-bytes', headers: admin })
    expect(detail.body).toContain('"/usr/bin/caf\\udce9"')
    const drift = (detail.json() as HostDetailView).drift
    const files = [...(drift?.files ?? []), ...(drift?.packages.flatMap((p) => p.files) ?? [])]
    expect(files.map((f) => f.subject)).toContain('/usr/bin/caf\udce9')
    expect(await store.latestReport('h-bytes')).toEqual(sent)

    const text = JSON.stringify(makeReport({ hostId: 'h-bytes', findings: 3, startedAt: now }))
    for (const [name, mutated] of [
      ['a high surrogate alone in a subject', text.replace('/usr/bin/tool0', '/usr/bin/\\ud800')],
      ['a low surrogate below DC80 in a subject', text.replace('/usr/bin/tool0', '/usr/bin/\\udc41')],
      [
        'an escaped byte in the hostname',
        text.replace('"hostname":"host-h-bytes"', '"hostname":"caf\\udce9"'),
      ],
      ['an escaped byte in the image id', text.replace('"id":"web-base"', '"id":"web\\udce9"')],
      ['a lone surrogate in a key of actual', text.replace('"actual":{', '"actual":{"\\ud800":1,')],
    ] as const) {
      expect(mutated, name).not.toBe(text)
      const response = await report(body.token, mutated)
      expect(response.statusCode, name).toBe(400)
      expect(response.json(), name).toMatchObject({ code: 'INPUT_INVALID', hint: expect.any(String) })
    }
    expect((await host('h-bytes')).reports).toHaveLength(1)

    for (const identity of [
      '"hostname":"web\\udce9"',
      '"hostname":"web\\ud800"',
      '"hostname":"w","labels":{"g":"\\udce9"}',
    ]) {
      const response = await enrollRaw(
        `{"secret":${JSON.stringify(ENROLL_SECRET)},"host":{"id":"h-sur",${identity}}}`,
      )
      expect(response.statusCode, identity).toBe(400)
    }
    expect((await app.inject({ url: '/v1/hosts/h-sur', headers: admin })).statusCode).toBe(404)
  })

  test('a host that enrolled and never reported is pending, not compliant, until its first report', async () => {
    const { body } = await enroll('h-pending')
    expect((await host('h-pending')).host).toMatchObject({
      state: 'pending',
      stateReasons: ['enrolled, no report yet'],
    })
    const listed = (await app.inject({ url: '/v1/hosts?state=pending', headers: admin })).json() as {
      hosts: { id: string }[]
    }
    expect(listed.hosts.map((h) => h.id)).toContain('h-pending')
    const compliant = (await app.inject({ url: '/v1/hosts?state=compliant', headers: admin })).json() as {
      hosts: { id: string }[]
    }
    expect(compliant.hosts.map((h) => h.id)).not.toContain('h-pending')
    // A heartbeat says the agent lives, not that the host is clean.
    const beat = await app.inject({
      method: 'POST',
      url: '/v1/heartbeats',
      headers: { authorization: `Bearer ${body.token}` },
      payload: { hostId: 'h-pending' },
    })
    expect(beat.json()).toEqual({ state: 'pending' })
    const first = await report(body.token, makeReport({ hostId: 'h-pending', startedAt: now }))
    expect(first.json()).toMatchObject({ state: 'compliant' })
  })
})
