import type { FastifyInstance, InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { ApiErrorSchema, ROUTES, type RouteSpec } from '../../src/protocol/routes.js'
import type { Store } from '../../src/store/types.js'
import { appOnStore, SQLITE_IN_MEMORY, testApp } from '../helpers/app.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { DIGEST_A, makeReport } from '../helpers/reports.js'
import { fakeClock, judge, scheduler } from '../replacement/harness.js'

/*
 * The route table that docs/api.md is generated from, held to the collector itself: the routes
 * it registers, the statuses it answers and the shapes of its answers.
 */

const key = (route: Pick<RouteSpec, 'method' | 'path'>) => `${route.method} ${route.path}`

/**
 * Every method and path the app routes, from Fastify's own tree (`printRoutes`): one line per
 * node, indented four columns a level, the path segment and its methods. HEAD routes are the
 * ones Fastify adds for each GET.
 */
function registeredRoutes(app: FastifyInstance): string[] {
  const found: string[] = []
  const paths: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│├└─ ]*)(\S+)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!match) continue
    const depth = (match[1] as string).length / 4 - 1
    paths[depth] = `${depth > 0 ? paths[depth - 1] : ''}${match[2]}`
    paths.length = depth + 1
    for (const method of (match[3] ?? '').split(', ').filter(Boolean))
      if (method !== 'HEAD') found.push(`${method} ${paths[depth]}`)
  }
  return found.sort()
}

describe('the route table (src/protocol/routes.ts)', () => {
  let store: Store
  let app: FastifyInstance
  let close: () => Promise<void>
  const clock = fakeClock('2026-12-01T12:00:00.000Z')

  beforeAll(async () => {
    ;({ store, app, close } = await appOnStore(SQLITE_IN_MEMORY, (opened) => ({
      judge,
      clock: clock.now,
      // Approval keeps replacements waiting, so that approve and cancel have something to act on.
      scheduler: scheduler(opened, clock, { approval: true, dryRun: true }).scheduler,
    })))
  })
  afterAll(() => close())

  test('every route the collector registers is in the table, and every route in the table is registered', () => {
    const registered = registeredRoutes(app)
    expect(registered).toContain('GET /healthz')
    expect(registered).toContain('POST /v1/replacements/:id/approve')
    expect(registered).toEqual(ROUTES.map(key).sort())
    expect(new Set(ROUTES.map(key)).size, 'a route listed twice').toBe(ROUTES.length)
  })

  test('the parser of Fastify’s route tree would see a route missing from the table', async () => {
    const extra = testApp(store)
    extra.get('/v1/undocumented/:id/deep', async () => ({}))
    await extra.ready()
    try {
      expect(registeredRoutes(extra)).toContain('GET /v1/undocumented/:id/deep')
    } finally {
      await extra.close()
    }
  })

  test('each API route answers a status its row lists, with the answer its row describes', async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }
    const called = new Set<string>()
    const call = async (
      route: string,
      url: string,
      options: { payload?: object; headers?: Record<string, string> } = {},
    ) => {
      const spec = ROUTES.find((r) => key(r) === route)
      expect(spec, route).toBeDefined()
      const response = await app.inject({ method: spec?.method, url, ...options })
      const body = response.json() as unknown
      expect(Object.keys(spec?.answers ?? {}), `${route}: ${response.body}`).toContain(
        String(response.statusCode),
      )
      const parsed = spec?.response?.safeParse(body)
      expect(parsed?.success, `${route}: ${JSON.stringify(parsed?.error?.issues)}`).toBe(true)
      called.add(route)
      return body as Record<string, unknown>
    }

    const enrolled = await call('POST /v1/enroll', '/v1/enroll', {
      payload: { secret: ENROLL_SECRET, host: { id: 'h1', hostname: 'web-1', labels: { group: 'web' } } },
    })
    const agent = { authorization: `Bearer ${enrolled.token}` }
    const report = makeReport({ hostId: 'h1', startedAt: clock.now(), findings: 2, severity: 'critical' })
    await call('POST /v1/reports', '/v1/reports', { payload: report, headers: agent })
    const again = await call('POST /v1/reports', '/v1/reports', { payload: report, headers: agent })
    expect(again.duplicate).toBe(true)
    await call('POST /v1/heartbeats', '/v1/heartbeats', { payload: { hostId: 'h1' }, headers: agent })
    await call('GET /v1/hosts', '/v1/hosts?state=snowflake&label=group=web', { headers: admin })
    await call('GET /v1/hosts/:id', '/v1/hosts/h1', { headers: admin })
    await call('PUT /v1/images/:id/:version', '/v1/images/web-base/2026.11.27-1', {
      payload: { manifestDigest: DIGEST_A },
      headers: admin,
    })
    await call('GET /v1/images', '/v1/images', { headers: admin })

    const replacement = await call('POST /v1/hosts/:id/replace', '/v1/hosts/h1/replace', { headers: admin })
    await call('GET /v1/replacements', '/v1/replacements?state=pending&state=waiting', { headers: admin })
    await call('GET /v1/replacements/:id', `/v1/replacements/${replacement.id}`, { headers: admin })
    await call('POST /v1/replacements/:id/cancel', `/v1/replacements/${replacement.id}/cancel`, {
      headers: admin,
    })
    // A second host, its replacement approved.
    const second = await call('POST /v1/enroll', '/v1/enroll', {
      payload: { secret: ENROLL_SECRET, host: { id: 'h2', hostname: 'web-2', labels: { group: 'web' } } },
    })
    await call('POST /v1/reports', '/v1/reports', {
      payload: makeReport({ hostId: 'h2', startedAt: clock.now() }),
      headers: { authorization: `Bearer ${second.token}` },
    })
    const other = await call('POST /v1/hosts/:id/replace', '/v1/hosts/h2/replace', { headers: admin })
    await call('POST /v1/replacements/:id/approve', `/v1/replacements/${other.id}/approve`, {
      headers: admin,
    })
    await call('GET /healthz', '/healthz')
    await call('GET /readyz', '/readyz')

    const api = ROUTES.filter((r) => !r.page).map(key)
    expect([...called].sort()).toEqual(api.sort())
  })

  test('a refusal has the one error shape, with a code its route lists', async () => {
    const refusals: [string, InjectOptions][] = [
      ['POST /v1/enroll', { method: 'POST', url: '/v1/enroll', payload: { secret: 'wrong', host: {} } }],
      [
        'POST /v1/enroll',
        {
          method: 'POST',
          url: '/v1/enroll',
          payload: { secret: 'not-the-enrolment-secret', host: { id: 'x', hostname: 'x' } },
        },
      ],
      ['GET /v1/hosts', { method: 'GET', url: '/v1/hosts' }],
      [
        'GET /v1/hosts/:id',
        { method: 'GET', url: '/v1/hosts/nobody', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } },
      ],
      [
        'POST /v1/replacements/:id/approve',
        {
          method: 'POST',
          url: '/v1/replacements/none/approve',
          headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        },
      ],
    ]
    for (const [route, request] of refusals) {
      const response = await app.inject(request)
      const body = ApiErrorSchema.parse(response.json())
      expect(ROUTES.find((r) => key(r) === route)?.errors, `${route}: ${body.message}`).toContain(body.code)
      expect(response.statusCode).toBeGreaterThanOrEqual(400)
    }
  })
})
