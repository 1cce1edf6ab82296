import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { buildApp } from '../../src/collector/app.js'
import { makeJudge } from '../../src/collector/judge.js'
import { FleetRulesSchema } from '../../src/config/collector.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { DIGEST_A, makeReport } from '../helpers/reports.js'

type Caller = 'none' | 'garbage' | 'host' | 'otherHost' | 'admin'

/**
 * The authorization matrix: every route against every kind of caller. A host token speaks for
 * its own host only and reads nothing of the fleet; an admin token reads and registers but
 * cannot report for a host.
 */
const ROUTES: {
  name: string
  method: 'GET' | 'POST' | 'PUT'
  url: string
  body?: () => object
  expect: Record<Caller, number>
}[] = [
  {
    name: 'POST /v1/reports',
    method: 'POST',
    url: '/v1/reports',
    body: () => makeReport({ hostId: 'h-a', findings: 3 }),
    expect: { none: 401, garbage: 401, host: 201, otherHost: 403, admin: 403 },
  },
  {
    name: 'POST /v1/heartbeats',
    method: 'POST',
    url: '/v1/heartbeats',
    body: () => ({ hostId: 'h-a' }),
    expect: { none: 401, garbage: 401, host: 200, otherHost: 403, admin: 403 },
  },
  {
    name: 'GET /v1/hosts',
    method: 'GET',
    url: '/v1/hosts',
    expect: { none: 401, garbage: 401, host: 403, otherHost: 403, admin: 200 },
  },
  {
    name: 'GET /v1/hosts/:id (own host)',
    method: 'GET',
    url: '/v1/hosts/h-a',
    expect: { none: 401, garbage: 401, host: 403, otherHost: 403, admin: 200 },
  },
  {
    name: 'GET /v1/images',
    method: 'GET',
    url: '/v1/images',
    expect: { none: 401, garbage: 401, host: 403, otherHost: 403, admin: 200 },
  },
  {
    name: 'PUT /v1/images/:id/:version',
    method: 'PUT',
    url: '/v1/images/web-base/1',
    body: () => ({ manifestDigest: DIGEST_A }),
    expect: { none: 401, garbage: 401, host: 403, otherHost: 403, admin: 201 },
  },
  {
    name: 'GET /healthz',
    method: 'GET',
    url: '/healthz',
    expect: { none: 200, garbage: 200, host: 200, otherHost: 200, admin: 200 },
  },
  {
    name: 'GET /readyz',
    method: 'GET',
    url: '/readyz',
    expect: { none: 200, garbage: 200, host: 200, otherHost: 200, admin: 200 },
  },
]

const CALLERS: Caller[] = ['none', 'garbage', 'host', 'otherHost', 'admin']

describe('authorization matrix', () => {
  let store: Store
  let app: FastifyInstance
  const tokens: Partial<Record<Caller, string>> = {
    garbage: 'dwh_thisIsNotATokenAnyoneWasGiven0000000000000',
  }

  beforeAll(async () => {
    store = await openStore('sqlite::memory:')
    app = buildApp({
      store,
      judge: makeJudge(FleetRulesSchema.parse({})),
      enrollSecret: ENROLL_SECRET,
      adminTokens: ['another-admin-token-000000', ADMIN_TOKEN],
      bodyLimit: 1024 * 1024,
      reportHistory: 10,
    })
    for (const [caller, id] of [
      ['host', 'h-a'],
      ['otherHost', 'h-b'],
    ] as const) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/enroll',
        payload: { secret: ENROLL_SECRET, host: { id, hostname: id } },
      })
      tokens[caller] = (response.json() as { token: string }).token
    }
    tokens.admin = ADMIN_TOKEN
  })
  afterAll(async () => {
    await app.close()
    await store.close()
  })

  const cases = ROUTES.flatMap((route) =>
    CALLERS.map((caller) => ({ ...route, caller, status: route.expect[caller] })),
  )

  test.each(cases)('$name as $caller: $status', async ({ method, url, body, caller, status }) => {
    const token = tokens[caller]
    const response = await app.inject({
      method,
      url,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(body ? { payload: body() } : {}),
    })
    expect(response.statusCode).toBe(status)
    if (status >= 400) {
      expect(response.json()).toMatchObject({
        code: status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN',
        message: expect.any(String),
        hint: expect.any(String),
      })
    }
  })

  test('refused calls stored nothing', async () => {
    // Only the one host-token report of the matrix reached the store.
    expect((await store.reportHistory('h-a', 10)).length).toBe(1)
    expect(await store.reportHistory('h-b', 10)).toEqual([])
  })

  test('an Authorization header that is not a bearer token is refused', async () => {
    for (const authorization of [
      `Basic ${Buffer.from('a:b').toString('base64')}`,
      'Bearer',
      `Bearer ${'x'.repeat(600)}`,
    ]) {
      const response = await app.inject({ url: '/v1/hosts', headers: { authorization } })
      expect(response.statusCode).toBe(401)
    }
  })
})
