import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** Host tokens: 256 random bits, base64url, with a prefix that tells a leaked one apart in a scanner. */
const HOST_TOKEN_PREFIX = 'dwh_'

export function newHostToken(): string {
  return HOST_TOKEN_PREFIX + randomBytes(32).toString('base64url')
}

/** The form a token or secret is kept in: sha256, hex. A token is random, so no salt or slow hash is needed. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex')
}

/** Compares two hex hashes of equal length in constant time. */
export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex')
  const right = Buffer.from(b, 'hex')
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right)
}

/**
 * Holds secrets from the configuration only as hashes, and checks a presented value against
 * every one of them without stopping early, so timing says nothing about which one matched.
 */
export class SecretSet {
  readonly #hashes: string[]

  constructor(secrets: readonly string[]) {
    this.#hashes = secrets.map(hashSecret)
  }

  has(presented: string): boolean {
    return this.hasHash(hashSecret(presented))
  }

  /** The same check for a value already hashed with hashSecret. */
  hasHash(hash: string): boolean {
    let found = false
    for (const known of this.#hashes) found = sameHash(known, hash) || found
    return found
  }
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined
  const match = /^Bearer[ ]+([A-Za-z0-9._~+/=-]{1,512})$/i.exec(header)
  return match?.[1]
}
