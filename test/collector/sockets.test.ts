import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import { hasPostgres, postgresSchema } from '../helpers/stores.js'

const targets: { name: string; url: () => { url: string; drop: () => Promise<void> } }[] = [
  { name: 'sqlite', url: () => ({ url: 'sqlite::memory:', drop: async () => {} }) },
]
if (await hasPostgres()) targets.push({ name: 'postgres', url: () => postgresSchema('dw_sockets') })

describe.each(targets)('a revoked token does not finish its request, on $name', ({ url }) => {
  let collector: RunningCollector
  let drop: () => Promise<void>

  beforeAll(async () => {
    const target = url()
    drop = target.drop
    collector = await startCollector(
      CollectorConfigSchema.parse({
        listen: '127.0.0.1:0',
        store: target.url,
        enrollSecret: ENROLL_SECRET,
        adminTokens: [ADMIN_TOKEN],
      }),
    )
  })
  afterAll(async () => {
    await collector.stop()
    await drop()
  })

  const enroll = async (id: string) => {
    const response = await request(`${collector.url}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ secret: ENROLL_SECRET, host: { id, hostname: id } }),
    })
    return ((await response.body.json()) as { token: string }).token
  }

  test('headers before the host re-enrolled, body after: 401, nothing stored', async () => {
    const oldToken = await enroll('h-revoked')
    const body = Buffer.from(JSON.stringify(makeReport({ hostId: 'h-revoked', findings: 3 })))
    let release = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    const sent = request(`${collector.url}/v1/reports`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${oldToken}`,
        'content-type': 'application/json',
        'content-length': String(body.length),
      },
      body: Readable.from(
        (async function* () {
          yield body.subarray(0, 100)
          await gate
          yield body.subarray(100)
        })(),
      ),
    })
    // The headers are in and authenticated; now the host enrols again.
    await sleep(300)
    const newToken = await enroll('h-revoked')
    expect(newToken).not.toBe(oldToken)
    release()
    const response = await sent
    expect(response.statusCode).toBe(401)
    expect(await response.body.json()).toMatchObject({ code: 'UNAUTHENTICATED', hint: expect.any(String) })
    expect(await collector.store.reportHistory('h-revoked', 10)).toEqual([])
  })
})
