import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { buildApp } from '../../src/collector/app.js'
import { makeJudge } from '../../src/collector/judge.js'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema, FleetRulesSchema } from '../../src/config/collector.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { expectErrorShape, rawRequest } from '../helpers/http.js'

describe('every error the collector answers is {code, message, hint}, whoever raises it', () => {
  let collector: RunningCollector
  let port = 0

  beforeAll(async () => {
    collector = await startCollector(
      CollectorConfigSchema.parse({
        listen: '127.0.0.1:0',
        store: 'sqlite::memory:',
        enrollSecret: ENROLL_SECRET,
        adminTokens: [ADMIN_TOKEN],
      }),
    )
    port = Number(new URL(collector.url).port)
  })
  afterAll(async () => {
    await collector.stop()
  })

  const admin = `Authorization: Bearer ${ADMIN_TOKEN}\r\n`
  test.each([
    {
      name: 'a bad percent-encoding in the path',
      status: 400,
      request: `GET /v1/hosts/%E0%A4%A HTTP/1.1\r\nHost: x\r\n${admin}Connection: close\r\n\r\n`,
    },
    {
      name: 'an overlong URL',
      status: 431,
      request: `GET /v1/hosts?image=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    },
    {
      name: 'an overlong header',
      status: 431,
      request: `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Junk: ${'a'.repeat(20_000)}\r\n\r\n`,
    },
    {
      name: 'a header line without a colon',
      status: 400,
      request: 'GET /healthz HTTP/1.1\r\nbad header\r\n\r\n',
    },
    { name: 'an unknown method', status: 400, request: 'BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n' },
    {
      name: 'not HTTP at all',
      status: 400,
      request: '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003\r\n\r\n',
    },
    {
      name: 'Content-Length and chunked at once',
      status: 400,
      request:
        'POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
    },
    {
      name: 'a route that does not exist',
      status: 404,
      request: 'GET /v1/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    },
    {
      name: 'a method a route does not take',
      status: 404,
      request: 'DELETE /v1/enroll HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    },
    {
      name: 'a host id of 256 characters that nobody enrolled',
      status: 404,
      request: `GET /v1/hosts/${'h'.repeat(256)} HTTP/1.1\r\nHost: x\r\n${admin}Connection: close\r\n\r\n`,
    },
    {
      name: 'a path parameter of 1,000 characters',
      status: 414,
      request: `GET /v1/hosts/${'h'.repeat(1000)} HTTP/1.1\r\nHost: x\r\n${admin}Connection: close\r\n\r\n`,
    },
    {
      name: 'an empty JSON body',
      status: 400,
      request:
        'POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    },
  ])('$name: $status', async ({ name, status, request }) => {
    const answer = await rawRequest(port, request)
    expect(answer.status, `${name}: ${answer.body}`).toBe(status)
    expectErrorShape(answer.body, name)
    // And the collector still serves.
    expect(
      (await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status,
    ).toBe(200)
  })
})

describe('an error nobody expected is a 500 in the same shape, and says nothing of its cause', () => {
  let store: Store
  beforeAll(async () => {
    store = await openStore('sqlite::memory:')
  })
  afterAll(async () => {
    await store.close()
  })

  test('a store that fails', async () => {
    const broken: Store = Object.assign(Object.create(store) as Store, {
      pageHosts: async () => {
        throw new Error('connection to 10.0.0.5 lost: password authentication failed for "dw"')
      },
    })
    const app = buildApp({
      store: broken,
      judge: makeJudge(FleetRulesSchema.parse({})),
      enrollSecret: ENROLL_SECRET,
      adminTokens: [ADMIN_TOKEN],
      bodyLimit: 1024 * 1024,
      reportHistory: 5,
    })
    const response = await app.inject({
      url: '/v1/hosts',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    })
    expect(response.statusCode).toBe(500)
    const error = expectErrorShape(response.body, '500')
    expect(error.code).toBe('INTERNAL')
    expect(response.body).not.toContain('password')
    await app.close()
  })
})
