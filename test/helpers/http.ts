import { connect } from 'node:net'
import { expect } from 'vitest'

/** Sends raw bytes on a new connection; resolves with the status and body of the answer. */
export function rawRequest(port: number, text: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('utf8')
    })
    socket.on('error', reject)
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)
      resolve({ status, body: answer.slice(answer.indexOf('\r\n\r\n') + 4) })
    })
    socket.write(text)
  })
}

/** Exactly the one error shape: code, message and hint, all text. */
export function expectErrorShape(
  body: string,
  what: string,
): { code: string; message: string; hint: string } {
  const parsed = JSON.parse(body) as Record<string, unknown>
  expect(Object.keys(parsed).sort(), what).toEqual(['code', 'hint', 'message'])
  for (const key of ['code', 'message', 'hint']) expect(typeof parsed[key], `${what}: ${key}`).toBe('string')
  return parsed as { code: string; message: string; hint: string }
}
