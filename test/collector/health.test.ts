import { expect, test } from 'vitest'
import { buildApp } from '../../src/collector/app.js'
import { makeJudge } from '../../src/collector/judge.js'
import { FleetRulesSchema } from '../../src/config/collector.js'
import { openStore } from '../../src/store/open.js'

test('readiness follows the store: 503 with a JSON error once it cannot answer; liveness stays 200', async () => {
  const store = await openStore('sqlite::memory:')
  const app = buildApp({
    store,
    judge: makeJudge(FleetRulesSchema.parse({})),
    enrollSecret: 'enrol-secret-0123456789',
    adminTokens: ['admin-token-0123456789abcdef'],
    bodyLimit: 1024 * 1024,
    reportHistory: 10,
  })
  expect((await app.inject({ url: '/readyz' })).statusCode).toBe(200)
  await store.close()
  const ready = await app.inject({ url: '/readyz' })
  expect(ready.statusCode).toBe(503)
  expect(ready.json()).toMatchObject({ code: 'IO', message: expect.stringMatching(/^store: not answering/) })
  expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
  await app.close()
})
