import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

/** One request a receiver got. */
export interface Received {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: string
  at: number
}

/**
 * A real HTTP server on a loopback port that records what it is sent and answers with
 * `answer()` (a status, by default 200): the far end of webhooks, Slack and executors in tests.
 */
export async function receiver(answer: (request: Received) => number | Promise<number> = () => 200) {
  const received: Received[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const got: Received = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      }
      received.push(got)
      void Promise.resolve(answer(got)).then((status) => {
        response.writeHead(status, { 'content-type': 'application/json' })
        response.end(JSON.stringify({ ok: status < 300 }))
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    json: <T>() => received.map((r) => JSON.parse(r.body) as T),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
