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

/** An admin token from collector.yaml: bare, or with the name that actions taken with it are recorded under. */
export type AdminToken = string | { name: string; token: string }

/**
 * Admin tokens held as hashes with their names. A bare token's name is `token:` and the first
 * 8 hex digits of its hash: it tells tokens apart in the records without revealing one.
 */
export class AdminTokens {
  readonly #entries: { hash: string; name: string }[]

  constructor(tokens: readonly AdminToken[]) {
    this.#entries = tokens.map((entry) => {
      const token = typeof entry === 'string' ? entry : entry.token
      const hash = hashSecret(token)
      return { hash, name: typeof entry === 'string' ? `token:${hash.slice(0, 8)}` : entry.name }
    })
  }

  /** The name of the token with this hash, or undefined; every entry is compared, matched or not. */
  nameFor(hash: string): string | undefined {
    let name: string | undefined
    for (const entry of this.#entries) {
      if (sameHash(entry.hash, hash)) name ??= entry.name
    }
    return name
  }
}
