import { generateKeyPairSync } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { makeJudge } from '../../src/collector/judge.js'
import { FleetRulesSchema } from '../../src/config/collector.js'
import { signDigest } from '../../src/manifest/signature.js'
import {
  HOSTS_PAGE_MAX,
  type HostDetailView,
  type HostsPageView,
  type HostView,
} from '../../src/protocol/api.js'
import type { Store } from '../../src/store/types.js'
import { appOnStore, storeTargets } from '../helpers/app.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { DIGEST_A, DIGEST_B, makeReport } from '../helpers/reports.js'

const T0 = new Date('2026-11-27T12:00:00.000Z')

describe.each(await storeTargets('dw_api'))('collector API on $name', ({ target }) => {
  let store: Store
  let app: FastifyInstance
  let close: () => Promise<void>
  let now = T0
  const judge = makeJudge(FleetRulesSchema.parse({ staleAfter: '15m', snowflake: { counts: { high: 5 } } }))

  beforeAll(async () => {
    ;({ store, app, close } = await appOnStore(target(), () => ({ judge, clock: () => now })))
  })
  afterAll(() => close())

  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }
  const enroll = async (id: string, labels: Record<string, string> = { group: 'web' }) => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/enroll',
      payload: { secret: ENROLL_SECRET, host: { id, hostname: `host-${id}`, labels } },
    })
    return { status: response.statusCode, body: response.json() as { token: string; rotated: boolean } }
  }
  const report = (token: string, body: unknown, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'POST',
      url: '/v1/reports',
      headers: { authorization: `Bearer ${token}`, ...headers },
      payload: body as object,
    })
  const host = async (id: string) =>
    (await app.inject({ url: `/v1/hosts/${id}`, headers: admin })).json() as HostDetailView

  test('enrolment hands out a token; a wrong secret gets 401; re-enrolment rotates the token', async () => {
    const first = await enroll('h-enrol')
    expect(first.status).toBe(201)
    expect(first.body.token).toMatch(/^dwh_[A-Za-z0-9_-]{43}$/)
    expect(first.body.rotated).toBe(false)

    const wrong = await app.inject({
      method: 'POST',
      url: '/v1/enroll',
      payload: { secret: 'not-the-secret-at-all', host: { id: 'h-enrol', hostname: 'x' } },
    })
    expect(wrong.statusCode).toBe(401)
    expect(wrong.json()).toMatchObject({ code: 'UNAUTHENTICATED' })

    const again = await enroll('h-enrol', { group: 'db' })
    expect(again.status).toBe(200)
    expect(again.body.rotated).toBe(true)
    expect(again.body.token).not.toBe(first.body.token)

    const beat = (token: string) =>
      app.inject({
        method: 'POST',
        url: '/v1/heartbeats',
        headers: { authorization: `Bearer ${token}` },
        payload: { hostId: 'h-enrol' },
      })
    expect((await beat(first.body.token)).statusCode).toBe(401)
    expect((await beat(again.body.token)).statusCode).toBe(200)
    expect((await host('h-enrol')).host.labels).toEqual({ group: 'db' })
  })

  test('the facts an agent sends at enrolment are shown before its first report, then the report says them', async () => {
    const facts = { os: { id: 'debian', version: '12' }, kernel: '6.1.0-28-amd64', arch: 'x64' }
    const response = await app.inject({
      method: 'POST',
      url: '/v1/enroll',
      payload: {
        secret: ENROLL_SECRET,
        host: { id: 'h-facts', hostname: 'host-h-facts', labels: {}, facts },
      },
    })
    expect(response.statusCode).toBe(201)
    const before = await host('h-facts')
    expect(before.latestReport).toBeNull()
    expect(before.facts).toEqual(facts)

    const sent = makeReport({ hostId: 'h-facts', findings: 0, startedAt: now })
    const reported = { ...sent, host: { ...sent.host, facts: { ...facts, kernel: '6.1.0-30-amd64' } } }
    expect((await report((response.json() as { token: string }).token, reported)).statusCode).toBe(201)
    expect((await host('h-facts')).facts).toMatchObject({ kernel: '6.1.0-30-amd64' })
  })

  test('a report is stored once: a retry is answered 200 and not stored again', async () => {
    const { body } = await enroll('h-retry')
    const sent = makeReport({ hostId: 'h-retry', findings: 2, startedAt: now })
    const first = await report(body.token, sent)
    expect(first.statusCode).toBe(201)
    expect(first.json()).toMatchObject({ reportId: sent.reportId, duplicate: false, state: 'drifted' })
    const retry = await report(body.token, sent)
    expect(retry.statusCode).toBe(200)
    expect(retry.json()).toMatchObject({ reportId: sent.reportId, duplicate: true })
    const detail = await host('h-retry')
    expect(detail.reports.map((r) => r.reportId)).toEqual([sent.reportId])
    expect(detail.host.summary).toEqual(sent.summary)
  })

  test('a gzipped report is accepted like a plain one', async () => {
    const { body } = await enroll('h-gzip')
    const sent = makeReport({ hostId: 'h-gzip', findings: 20, startedAt: now })
    const response = await app.inject({
      method: 'POST',
      url: '/v1/reports',
      headers: {
        authorization: `Bearer ${body.token}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      payload: gzipSync(JSON.stringify(sent)),
    })
    expect(response.statusCode).toBe(201)
    expect((await host('h-gzip')).host.summary?.total).toBe(20)
  })

  test('a reportId another host already used is a conflict, and nothing is stored', async () => {
    const a = await enroll('h-owner')
    const b = await enroll('h-thief')
    const sent = makeReport({ hostId: 'h-owner', startedAt: now })
    expect((await report(a.body.token, sent)).statusCode).toBe(201)
    const stolen = await report(b.body.token, { ...sent, host: { ...sent.host, id: 'h-thief' } })
    expect(stolen.statusCode).toBe(409)
    expect(stolen.json()).toMatchObject({ code: 'CONFLICT' })
    expect((await host('h-thief')).reports).toEqual([])
  })

  test('the fleet is judged from reports: compliant, drifted, snowflake, with reasons', async () => {
    const { body } = await enroll('h-judge')
    const post = async (findings: number, severity: 'critical' | 'high' | 'low') => {
      const response = await report(
        body.token,
        makeReport({ hostId: 'h-judge', findings, severity, startedAt: now }),
      )
      expect(response.statusCode).toBe(201)
      return response.json() as { state: string; reasons: string[] }
    }
    expect((await post(0, 'low')).state).toBe('compliant')
    expect((await post(2, 'low')).state).toBe('drifted')
    const snowflake = await post(5, 'high')
    expect(snowflake.state).toBe('snowflake')
    expect(snowflake.reasons.join(' ')).toMatch(/5 high/)
    expect((await post(1, 'critical')).state).toBe('snowflake')
    expect((await post(0, 'low')).state).toBe('compliant')

    const detail = await host('h-judge')
    expect(detail.states.map((s) => s.to)).toEqual([
      'pending',
      'compliant',
      'drifted',
      'snowflake',
      'compliant',
    ])
    // The history keeps the newest reports, up to reportHistory (5).
    expect(detail.reports).toHaveLength(5)
  })

  test('the latest drift is grouped as in the text report: package files under their package', async () => {
    const { body } = await enroll('h-group')
    const sent = makeReport({ hostId: 'h-group', findings: 8, startedAt: now })
    expect((await report(body.token, sent)).statusCode).toBe(201)
    const { drift, latestReport } = await host('h-group')
    expect(latestReport?.reportId).toBe(sent.reportId)
    expect(drift?.packages.map((p) => [p.item.subject, p.files.map((f) => f.subject)])).toEqual([
      ['deb:tool0:amd64', ['/usr/bin/tool0']],
      ['deb:tool4:amd64', ['/usr/bin/tool4']],
    ])
    expect(drift?.files.map((f) => f.subject)).toEqual([
      '/etc/app/conf2.d/main.conf',
      '/etc/app/conf6.d/main.conf',
    ])
    expect(drift?.config).toHaveLength(2)
  })

  test('a host on a manifest other than its registered image version is a snowflake', async () => {
    const image = { id: 'api-base', version: '2026.11.27-1' }
    const put = await app.inject({
      method: 'PUT',
      url: `/v1/images/${image.id}/${image.version}`,
      headers: admin,
      payload: { manifestDigest: DIGEST_A },
    })
    expect(put.statusCode).toBe(201)
    const { body } = await enroll('h-image')
    const onImage = await report(body.token, makeReport({ hostId: 'h-image', image, startedAt: now }))
    expect(onImage.json()).toMatchObject({ state: 'compliant' })
    const other = await report(
      body.token,
      makeReport({ hostId: 'h-image', image: { ...image, manifestDigest: DIGEST_B }, startedAt: now }),
    )
    expect(other.json()).toMatchObject({ state: 'snowflake' })
    expect((other.json() as { reasons: string[] }).reasons.join(' ')).toContain('sha256:bbbb')
  })

  test('image registration: listed, replaced, and with keys only with a signature that verifies', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519')
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const signature = signDigest(DIGEST_B, privateKey)
    const put = (version: string, payload: object) =>
      app.inject({ method: 'PUT', url: `/v1/images/signed-base/${version}`, headers: admin, payload })

    const signed = await put('1', { manifestDigest: DIGEST_B, publicKeys: [pem], signature })
    expect(signed.statusCode).toBe(201)
    expect(signed.json()).toMatchObject({ manifestDigest: DIGEST_B, signedBy: signature.keyId })
    expect((await put('1', { manifestDigest: DIGEST_B, publicKeys: [pem], signature })).statusCode).toBe(200)

    const otherDigest = await put('2', { manifestDigest: DIGEST_A, publicKeys: [pem], signature })
    expect(otherDigest.statusCode).toBe(422)
    expect(otherDigest.json()).toMatchObject({ code: 'INTEGRITY' })
    expect((await put('3', { manifestDigest: DIGEST_B, publicKeys: [pem] })).statusCode).toBe(422)
    const badKey = await put('4', { manifestDigest: DIGEST_B, publicKeys: ['not a key'], signature })
    expect(badKey.statusCode).toBe(400)
    expect(badKey.json()).toMatchObject({
      code: 'INPUT_INVALID',
      message: expect.stringContaining('publicKeys[0]'),
    })

    const images = (await app.inject({ url: '/v1/images', headers: admin })).json() as {
      images: { id: string; version: string }[]
    }
    expect(images.images.filter((i) => i.id === 'signed-base').map((i) => i.version)).toEqual(['1'])
  })

  test('hosts are listed and filtered by state, image and label', async () => {
    const web = await enroll('h-list-web', { group: 'web', zone: 'a' })
    const db = await enroll('h-list-db', { group: 'db', zone: 'a' })
    await report(
      web.body.token,
      makeReport({ hostId: 'h-list-web', findings: 1, severity: 'critical', startedAt: now }),
    )
    await report(
      db.body.token,
      makeReport({ hostId: 'h-list-db', image: { id: 'db-base', version: '7' }, startedAt: now }),
    )
    const list = async (query: string) =>
      ((await app.inject({ url: `/v1/hosts${query}`, headers: admin })).json() as { hosts: HostView[] }).hosts
        .map((h) => h.id)
        .filter((id) => id.startsWith('h-list-'))
    expect(await list('')).toEqual(['h-list-db', 'h-list-web'])
    expect(await list('?state=snowflake')).toEqual(['h-list-web'])
    expect(await list('?image=db-base')).toEqual(['h-list-db'])
    expect(await list('?label=group=web&label=zone=a')).toEqual(['h-list-web'])
    expect(await list('?label=zone=a')).toEqual(['h-list-db', 'h-list-web'])
    const bad = await app.inject({ url: '/v1/hosts?state=melting', headers: admin })
    expect(bad.statusCode).toBe(400)
    expect(bad.json()).toMatchObject({
      code: 'INPUT_INVALID',
      message: expect.stringContaining('query.state'),
    })
  })

  test('hosts come in pages: limit, then next as the cursor; bad limits and cursors are a 400', async () => {
    for (let i = 0; i < 7; i++) await enroll(`h-page-${i}`, { group: 'paged' })
    const get = (query: string) => app.inject({ url: `/v1/hosts?label=group=paged&${query}`, headers: admin })
    const seen: string[] = []
    const sizes: number[] = []
    let query = 'limit=3'
    for (;;) {
      const response = await get(query)
      expect(response.statusCode).toBe(200)
      const page = response.json() as HostsPageView
      seen.push(...page.hosts.map((h) => h.id))
      sizes.push(page.hosts.length)
      if (page.next === undefined) break
      query = `limit=3&cursor=${encodeURIComponent(page.next)}`
    }
    expect(sizes).toEqual([3, 3, 1])
    expect(seen).toEqual(Array.from({ length: 7 }, (_, i) => `h-page-${i}`))
    // Without a limit, a page holds HOSTS_PAGE_DEFAULT: all seven, and no next.
    expect(((await get('')).json() as HostsPageView).next).toBeUndefined()
    // Any of several states.
    const states = (await get('state=pending&state=snowflake')).json() as HostsPageView
    expect(states.hosts).toHaveLength(7)
    for (const [bad, where] of [
      ['limit=0', 'query.limit'],
      [`limit=${HOSTS_PAGE_MAX + 1}`, 'query.limit'],
      ['limit=ten', 'query.limit'],
      ['limit=1&limit=2', 'query.limit'],
      ['cursor=h-page-2', 'cursor'],
    ] as const) {
      const response = await get(bad)
      expect(response.statusCode, bad).toBe(400)
      expect(response.json(), bad).toMatchObject({
        code: 'INPUT_INVALID',
        message: expect.stringContaining(where),
        hint: expect.any(String),
      })
    }
  })

  test('a silent host goes stale, and comes back with a heartbeat', async () => {
    const { body } = await enroll('h-stale')
    await report(body.token, makeReport({ hostId: 'h-stale', findings: 1, severity: 'low', startedAt: now }))
    now = new Date(T0.getTime() + 16 * 60_000)
    const changes = await store.sweep(now, judge)
    expect(changes.find((c) => c.hostId === 'h-stale')).toMatchObject({ from: 'drifted', to: 'stale' })
    expect((await host('h-stale')).host.state).toBe('stale')
    const beat = await app.inject({
      method: 'POST',
      url: '/v1/heartbeats',
      headers: { authorization: `Bearer ${body.token}` },
      payload: { hostId: 'h-stale' },
    })
    expect(beat.json()).toEqual({ state: 'drifted' })
    now = T0
  })

  test('health and readiness need no token', async () => {
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
    expect((await app.inject({ url: '/readyz' })).json()).toEqual({ ok: true })
    const missing = await app.inject({ url: '/v1/nothing-here', headers: admin })
    expect(missing.statusCode).toBe(404)
    expect(missing.json()).toMatchObject({ code: 'NOT_FOUND' })
  })
})
