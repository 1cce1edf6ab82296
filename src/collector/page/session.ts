import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** How long a signed-in operator stays signed in, at most. */
export const SESSION_LIFETIME_MS = 8 * 60 * 60_000
/** How long a login form stays usable. */
export const LOGIN_FORM_LIFETIME_MS = 15 * 60_000
/** Sessions held at once; past it the oldest are dropped (login forms first), so a flood of GET /login cannot grow memory. */
export const MAX_SESSIONS = 10_000

/**
 * A browser's session with the fleet page. An anonymous one exists only to carry the CSRF
 * token of the login form; signing in replaces it with a new one (a new id, so an id planted
 * before login is worthless after it).
 */
export interface Session {
  admin: boolean
  /** Sent in every form; a state-changing request must carry the one of its own session. */
  csrfToken: string
  expiresAt: number
}

/**
 * Sessions in the collector's memory, keyed by the sha256 of their id: the id itself (256
 * random bits) lives only in the browser's cookie, so a dump of this map signs nobody in.
 * A restart signs everybody out, which a page for operators can afford.
 */
export class SessionStore {
  readonly #sessions = new Map<string, Session>()
  readonly #max: number

  constructor(max = MAX_SESSIONS) {
    this.#max = max
  }

  /** Starts a session; returns the id for the cookie, which is kept nowhere else. */
  create(admin: boolean, now: number): { id: string; session: Session } {
    this.#makeRoom(now)
    const id = randomBytes(32).toString('base64url')
    const session: Session = {
      admin,
      csrfToken: randomBytes(32).toString('base64url'),
      expiresAt: now + (admin ? SESSION_LIFETIME_MS : LOGIN_FORM_LIFETIME_MS),
    }
    this.#sessions.set(hashId(id), session)
    return { id, session }
  }

  /** The live session with this id; an expired one is forgotten on sight. */
  get(id: string | undefined, now: number): Session | undefined {
    if (!id || !/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined
    const key = hashId(id)
    const session = this.#sessions.get(key)
    if (session && session.expiresAt <= now) {
      this.#sessions.delete(key)
      return undefined
    }
    return session
  }

  destroy(id: string): void {
    this.#sessions.delete(hashId(id))
  }

  get size(): number {
    return this.#sessions.size
  }

  #makeRoom(now: number): void {
    if (this.#sessions.size < this.#max) return
    for (const [key, session] of this.#sessions) if (session.expiresAt <= now) this.#sessions.delete(key)
    // Maps iterate in insertion order: the first entries are the oldest.
    for (const admin of [false, true]) {
      for (const [key, session] of this.#sessions) {
        if (this.#sessions.size < this.#max) return
        if (session.admin === admin) this.#sessions.delete(key)
      }
    }
  }
}

function hashId(id: string): string {
  return createHash('sha256').update(id, 'utf8').digest('hex')
}

/** Compares a submitted CSRF token with the session's in constant time. */
export function csrfTokenMatches(session: Session, submitted: unknown): boolean {
  if (typeof submitted !== 'string') return false
  const a = createHash('sha256').update(session.csrfToken).digest()
  const b = createHash('sha256').update(submitted).digest()
  return timingSafeEqual(a, b)
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

export function sessionCookie(id: string, options: { secure: boolean; maxAgeSeconds: number }): string {
  const parts = [
    `${sessionCookieName(options.secure)}=${id}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
  ]
  if (options.secure) parts.push('Secure')
  return parts.join('; ')
}
