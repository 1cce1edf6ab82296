import { createHmac, timingSafeEqual } from 'node:crypto'

/** The header that carries the signature of a webhook's body. */
export const SIGNATURE_HEADER = 'x-driftwatch-signature'

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, as Stripe signs webhooks: the
 * time is inside the MAC, so a receiver can refuse old deliveries (replays).
 */
export function signBody(secret: string, body: string, at: Date): string {
  const t = Math.floor(at.getTime() / 1000)
  const mac = createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest('hex')
  return `t=${t},v1=${mac}`
}

/** Checks a signature header against the body; false when it is malformed, wrong or older than `toleranceS`. */
export function verifySignature(
  secret: string,
  body: string,
  header: string,
  now: Date,
  toleranceS = 300,
): boolean {
  const parts = new Map(
    header.split(',').map((part) => {
      const at = part.indexOf('=')
      return [part.slice(0, at).trim(), part.slice(at + 1).trim()] as const
    }),
  )
  const t = Number(parts.get('t'))
  const given = parts.get('v1') ?? ''
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(given)) return false
  if (Math.abs(now.getTime() / 1000 - t) > toleranceS) return false
  const expected = createHmac('sha256', secret).update(`${t}.${body}`, 'utf8').digest()
  return timingSafeEqual(expected, Buffer.from(given, 'hex'))
}
