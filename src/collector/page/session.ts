import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto'
import { type AdminToken, AdminTokens, hashSecret, sameHash } from '../auth.js'

/** How long a signed-in operator stays signed in. A stolen cookie is good for as long: keep it modest. */
export const SESSION_LIFETIME_MS = 8 * 60 * 60_000
/** How long a login form's cookie is kept by the browser. */
export const LOGIN_FORM_LIFETIME_MS = 15 * 60_000

/** What a browser's cookie says: an admin signed in until `expiresAt`, or only a login form (no admin). */
export interface Session {
  /** The admin token's name (adminTokens in collector.yaml); undefined before sign-in. */
  admin: string | undefined
  /** Sent in every form; a state-changing request must carry the one of its own session. */
  csrfToken: string
  expiresAt: number
}

/** An admin token as the sessions know it: its name, its hash (to sign in) and its session key. */
interface Admin {
  name: string
  hash: string
  key: Buffer
}

const SIGNED = /^s1\.([A-Za-z0-9_-]{1,128})\.(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{43})$/
const LOGIN_FORM = /^f1\.([A-Za-z0-9_-]{43})$/

/**
 * Sessions kept nowhere but in the browser's cookie, so that a sign-in survives a restart and
 * holds on every collector behind one load balancer. An admin's cookie is
 * `s1.<name>.<issued ms>.<expires ms>.<mac>`, the MAC an HMAC-SHA256 of the rest under a key
 * derived from that admin's token: any collector with the same adminTokens accepts it, and
 * rotating or removing the token ends every session opened with it. Nothing else revokes one:
 * signing out clears the cookie in that browser, but a copy stays valid until it expires.
 *
 * Before sign-in the cookie is `f1.<nonce>`, random, and the login form's CSRF token is that
 * nonce: a page of another site can neither read the cookie nor set it (SameSite, HttpOnly and,
 * over TLS, the `__Host-` prefix), so it cannot make a form that matches.
 */
export class Sessions {
  readonly #admins: Admin[]

  constructor(tokens: readonly AdminToken[]) {
    const names = new AdminTokens(tokens)
    this.#admins = tokens.map((entry) => {
      const token = typeof entry === 'string' ? entry : entry.token
      const hash = hashSecret(token)
      return { name: names.nameFor(hash) ?? '', hash, key: sessionKey(token) }
    })
  }

  /** A cookie value for a browser about to see the login form, and the form's CSRF token. */
  loginForm(now: number): { cookie: string; session: Session } {
    const nonce = randomBytes(32).toString('base64url')
    return {
      cookie: `f1.${nonce}`,
      session: { admin: undefined, csrfToken: nonce, expiresAt: now + LOGIN_FORM_LIFETIME_MS },
    }
  }

  /**
   * Signs the holder of `token` in, or undefined when it is no admin token. Every admin token is
   * compared, in constant time, whichever matches: timing says nothing about which one did.
   */
  signIn(token: string, now: number): { cookie: string; session: Session } | undefined {
    const hash = hashSecret(token)
    let admin: Admin | undefined
    for (const entry of this.#admins) {
      if (sameHash(entry.hash, hash)) admin ??= entry
    }
    if (!admin) return undefined
    const payload = `s1.${Buffer.from(admin.name).toString('base64url')}.${now}.${now + SESSION_LIFETIME_MS}`
    const cookie = `${payload}.${mac(admin.key, payload)}`
    return { cookie, session: this.#signedSession(admin, payload, now + SESSION_LIFETIME_MS) }
  }

  /** The session a cookie value states, if it is one of ours and still valid. */
  read(value: string | undefined, now: number): Session | undefined {
    if (!value) return undefined
    const form = LOGIN_FORM.exec(value)
    // A login form's cookie carries no time: the browser drops it after its Max-Age.
    if (form?.[1]) return { admin: undefined, csrfToken: form[1], expiresAt: now + LOGIN_FORM_LIFETIME_MS }
    const signed = SIGNED.exec(value)
    if (!signed) return undefined
    const [, name64 = '', , expires = '', given = ''] = signed
    const payload = value.slice(0, value.lastIndexOf('.'))
    const name = Buffer.from(name64, 'base64url').toString('utf8')
    const expiresAt = Number(expires)
    if (expiresAt <= now) return undefined
    // Every token of this name is tried: the same name may be on an old and a new token while one is rotated.
    const admin = this.#admins.find((a) => a.name === name && sameMac(mac(a.key, payload), given))
    return admin ? this.#signedSession(admin, payload, expiresAt) : undefined
  }

  #signedSession(admin: Admin, payload: string, expiresAt: number): Session {
    return { admin: admin.name, csrfToken: mac(admin.key, `csrf.${payload}`), expiresAt }
  }
}

/** A key of the fleet page's own, from the token: the token itself signs nothing. */
function sessionKey(token: string): Buffer {
  return Buffer.from(hkdfSync('sha256', token, 'driftwatch', 'fleet page session v1', 32))
}

function mac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text, 'utf8').digest('base64url')
}

/** Compares two strings in constant time (their sha256, so that lengths may differ). */
function sameMac(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}

/** Compares a submitted CSRF token with the session's in constant time. */
export function csrfTokenMatches(session: Session, submitted: unknown): boolean {
  return typeof submitted === 'string' && sameMac(session.csrfToken, submitted)
}

/** The value of one cookie in a Cookie header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  for (const part of header.split(';')) {
    const at = part.indexOf('=')
    if (at < 0) continue
    if (part.slice(0, at).trim() === name) return part.slice(at + 1).trim()
  }
  return undefined
}

/**
 * The session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's page
 * sends it), and over TLS Secure with the `__Host-` prefix (the browser then refuses it from
 * plain HTTP and from any other path or domain).
 */
export function sessionCookieName(secure: boolean): string {
  return secure ? '__Host-dw_session' : 'dw_session'
}

export function sessionCookie(value: string, options: { secure: boolean; maxAgeSeconds: number }): string {
  const parts = [
    `${sessionCookieName(options.secure)}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
  ]
  if (options.secure) parts.push('Secure')
  return parts.join('; ')
}
