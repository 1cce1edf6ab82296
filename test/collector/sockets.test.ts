import { connect } from 'node:net'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { expectErrorShape } from '../helpers/http.js'
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

describe('slow clients: header, body and idle timeouts hold; a stop closes what is left', () => {
  let collector: RunningCollector
  let port = 0

  beforeAll(async () => {
    collector = await startCollector(
      CollectorConfigSchema.parse({
        listen: '127.0.0.1:0',
        store: 'sqlite::memory:',
        enrollSecret: ENROLL_SECRET,
        adminTokens: [ADMIN_TOKEN],
        timeouts: { headers: '1s', request: '2s', idle: '1s' },
        shutdownGrace: '1s',
      }),
    )
    port = Number(new URL(collector.url).port)
  })
  afterAll(async () => {
    await collector.stop()
  })

  /** Opens a connection, writes `text`, and resolves when the collector answers or closes it. */
  const stall = (text: string) =>
    new Promise<{ answer: string; ms: number }>((resolve, reject) => {
      const started = Date.now()
      const socket = connect(port, '127.0.0.1')
      let answer = ''
      socket.on('data', (chunk: Buffer) => {
        answer += chunk.toString()
      })
      socket.on('error', reject)
      socket.on('close', () => resolve({ answer, ms: Date.now() - started }))
      socket.write(text)
    })

  // The defaults (headers 10 s, request 30 s, Node's own checks every 30 s) would take 30 s and
  // more: answered within a few seconds, these show the configured limits hold.
  test('headers that stall are answered 408 after the headers timeout', async () => {
    const { answer, ms } = await stall('POST /v1/enroll HTTP/1.1\r\nHost: x\r\n')
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
    expectErrorShape(answer.slice(answer.indexOf('\r\n\r\n') + 4), '408')
    expect(ms).toBeLessThan(4000)
  })

  test('a body that stalls is answered 408 after the request timeout', async () => {
    const { answer, ms } = await stall(
      'POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"secret":',
    )
    expect(answer).toMatch(/^HTTP\/1\.1 408 /)
    expect(ms).toBeGreaterThanOrEqual(1500)
    expect(ms).toBeLessThan(5000)
  })

  test('a kept-alive connection without a request is closed after the idle timeout', async () => {
    const { answer, ms } = await stall('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    expect(answer).toMatch(/^HTTP\/1\.1 200 /)
    expect(ms).toBeLessThan(4000)
  })

  test('a stopping collector closes a stalled client after the grace', async () => {
    const other = await startCollector(
      CollectorConfigSchema.parse({
        listen: '127.0.0.1:0',
        store: 'sqlite::memory:',
        enrollSecret: ENROLL_SECRET,
        adminTokens: [ADMIN_TOKEN],
        timeouts: { headers: '60s', request: '60s', idle: '60s' },
        shutdownGrace: '1s',
      }),
    )
    const socket = connect(Number(new URL(other.url).port), '127.0.0.1')
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
    socket.on('error', () => {})
    socket.write(
      'POST /v1/enroll HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    )
    await sleep(200)
    const started = Date.now()
    await other.stop()
    await closed
    expect(Date.now() - started).toBeLessThan(4000)
  })
})
