import { readFileSync } from 'node:fs'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DriftwatchError, type ErrorCode } from '../../errors.js'
import { HOST_STATES, type HostState } from '../../fleet/states.js'
import type { AdminToken } from '../auth.js'
import type { FleetPageData } from './data.js'
import type { SafeHtml } from './html.js'
import {
  csrfTokenMatches,
  readCookie,
  type Session,
  Sessions,
  sessionCookie,
  sessionCookieName,
} from './session.js'
import { fleetView, hostDetailPage, layout, loginView, problemView, tooManySignInsView } from './templates.js'
import { SignInThrottle } from './throttle.js'

/** No script, no inline style, nothing from elsewhere, never in a frame. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/** Statuses of the refusals a page route can meet; anything else a person sent is a 400. */
const PAGE_STATUS: Partial<Record<ErrorCode, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
}

/** Recent alerts shown on the fleet page. */
const RECENT_ALERTS = 20

export interface FleetPageContext {
  data: FleetPageData
  /** collector.yaml's adminTokens: who may sign in, and the keys their sessions are signed with. */
  adminTokens: readonly AdminToken[]
  clock: () => Date
  /** The collector serves HTTPS: the cookie is then Secure. */
  tls: boolean
}

/** Where the stylesheet is: `../../../` is the package root from src/collector/page and from dist/collector/page alike. */
const STYLESHEET = new URL('../../../src/collector/page/static/page.css', import.meta.url)

/**
 * The fleet page at `/`: server-rendered HTML for operators, signed in with an admin token.
 * Works without JavaScript; serves none.
 */
export function fleetPageRoutes(context: FleetPageContext) {
  const sessions = new Sessions(context.adminTokens)
  const throttle = new SignInThrottle()
  const cookieName = sessionCookieName(context.tls)
  let stylesheet: Buffer | undefined

  const now = () => context.clock().getTime()
  const sessionOf = (request: FastifyRequest): Session | undefined =>
    sessions.read(readCookie(request.headers.cookie, cookieName), now())
  const setSession = (reply: FastifyReply, cookie: string, session: Session, at: number) =>
    reply.header(
      'set-cookie',
      sessionCookie(cookie, { secure: context.tls, maxAgeSeconds: (session.expiresAt - at) / 1000 }),
    )
  const page = (reply: FastifyReply, title: string, body: SafeHtml, csrfToken?: string) =>
    reply.type('text/html; charset=utf-8').send(layout({ title, body, ...(csrfToken ? { csrfToken } : {}) }))

  return async (app: FastifyInstance) => {
    // Forms post urlencoded; only the page's routes accept it (the API stays JSON only).
    app.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string' },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    )

    app.addHook('onSend', async (_request, reply) => {
      reply.header('content-security-policy', CONTENT_SECURITY_POLICY)
      reply.header('x-content-type-options', 'nosniff')
      // Not no-referrer: with it, a browser sends `Origin: null` on the page's own form posts.
      reply.header('referrer-policy', 'same-origin')
      reply.header('x-frame-options', 'DENY')
      reply.header('cross-origin-opener-policy', 'same-origin')
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store')
    })

    // Refusals as pages, not JSON: a person reads them.
    app.setErrorHandler((error, request, reply) => {
      if (error instanceof DriftwatchError) {
        const status = PAGE_STATUS[error.code] ?? 400
        request.log.info({ code: error.code, status, url: request.url }, 'page request refused')
        return page(reply.code(status), 'Refused', problemView('Refused', error.message, error.hint))
      }
      const status = (error as { statusCode?: number }).statusCode
      if (status !== undefined && status >= 400 && status < 500) {
        return page(
          reply.code(status),
          'Bad request',
          problemView('Bad request', 'the request could not be read'),
        )
      }
      request.log.error({ err: error }, 'page failed')
      return page(reply.code(500), 'Error', problemView('Error', 'internal error; the collector logged it'))
    })

    app.get('/static/page.css', async (_request, reply) => {
      stylesheet ??= readFileSync(STYLESHEET)
      return reply
        .type('text/css; charset=utf-8')
        .header('cache-control', 'public, max-age=3600')
        .send(stylesheet)
    })

    // Browsers ask for it on every page; an empty answer keeps a 404 out of their consoles and the logs.
    app.get('/favicon.ico', async (_request, reply) =>
      reply.code(204).header('cache-control', 'public, max-age=86400').send(),
    )

    app.get('/login', async (request, reply) => {
      const current = sessionOf(request)
      if (current?.admin) return reply.redirect('/', 303)
      const at = now()
      let session = current
      if (!session) {
        const form = sessions.loginForm(at)
        setSession(reply, form.cookie, form.session, at)
        session = form.session
      }
      return page(reply, 'Sign in', loginView({ csrfToken: session.csrfToken }))
    })

    app.post('/login', async (request, reply) => {
      const current = checkForm(request, sessionOf(request))
      const at = now()
      // Checked before the token, and whatever the token: a refusal must not tell a right guess from a wrong one.
      const waitMs = throttle.waitMs(request.ip, at)
      if (waitMs > 0) {
        request.log.info({ url: request.url }, 'page sign-in refused: too many failures')
        const retryAfter = Math.ceil(waitMs / 1000)
        return page(
          reply.code(429).header('retry-after', String(retryAfter)),
          'Too many sign-ins',
          tooManySignInsView(new Date(at + retryAfter * 1000), retryAfter),
        )
      }
      const signedIn = sessions.signIn(formField(request, 'token'), at)
      if (!signedIn) {
        throttle.failed(request.ip, at)
        request.log.info({ url: request.url }, 'page sign-in refused')
        return page(
          reply.code(401),
          'Sign in',
          loginView({ csrfToken: current.csrfToken, error: 'That is not an admin token of this collector.' }),
        )
      }
      throttle.succeeded(request.ip)
      // A new cookie at sign-in: one planted in the browser before it signs in nobody.
      setSession(reply, signedIn.cookie, signedIn.session, at)
      request.log.info({ admin: signedIn.session.admin }, 'page sign-in')
      return reply.redirect('/', 303)
    })

    // The cookie is the session: clearing it signs this browser out (a copy stays valid until it expires).
    app.post('/logout', async (request, reply) => {
      checkForm(request, sessionOf(request))
      reply.header('set-cookie', sessionCookie('', { secure: context.tls, maxAgeSeconds: 0 }))
      return reply.redirect('/login', 303)
    })

    app.get('/', async (request, reply) => {
      const current = sessionOf(request)
      if (!current?.admin) return reply.redirect('/login', 303)
      const state = stateFilter(request.query)
      const [hosts, queue, alerts] = await Promise.all([
        context.data.hosts(),
        context.data.replacements?.(),
        context.data.recentAlerts?.(RECENT_ALERTS),
      ])
      return page(reply, 'Fleet', fleetView({ hosts, state, queue, alerts }), current.csrfToken)
    })

    app.get('/hosts/:id', async (request, reply) => {
      const current = sessionOf(request)
      if (!current?.admin) return reply.redirect('/login', 303)
      const id = (request.params as { id: string }).id
      const detail = id.length <= 256 ? await context.data.host(id) : undefined
      if (!detail) {
        return page(
          reply.code(404),
          'Not found',
          problemView(
            'Not found',
            `host ${id}: not enrolled`,
            'the fleet page lists the hosts this collector knows',
          ),
          current.csrfToken,
        )
      }
      return page(reply, detail.host.hostname || detail.host.id, hostDetailPage(detail), current.csrfToken)
    })
  }
}

/**
 * A state-changing form must come from this page: the browser says the request is same-origin
 * (Sec-Fetch-Site, or Origin when it sends one), and the form carries its session's CSRF token.
 * Either alone would do in today's browsers; both cover older ones and proxies that drop headers.
 */
function checkForm(request: FastifyRequest, current: Session | undefined): Session {
  const site = request.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin') {
    throw new DriftwatchError('FORBIDDEN', `form: sent from another site (Sec-Fetch-Site: ${site})`, {
      hint: 'use the form on this collector’s own page',
    })
  }
  const origin = request.headers.origin
  if (origin !== undefined && origin !== `${request.protocol}://${request.headers.host}`) {
    throw new DriftwatchError('FORBIDDEN', `form: sent from ${origin}, not from this collector`, {
      hint: 'use the form on this collector’s own page',
    })
  }
  if (!current) {
    throw new DriftwatchError('FORBIDDEN', 'form: no session, or it expired', {
      hint: 'load the page again and resubmit the form',
    })
  }
  if (!csrfTokenMatches(current, formField(request, 'csrf'))) {
    throw new DriftwatchError('FORBIDDEN', 'form: the CSRF token does not match this session', {
      hint: 'load the page again and resubmit the form',
    })
  }
  return current
}

function formField(request: FastifyRequest, name: string): string {
  const body = request.body
  const value =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined
  return typeof value === 'string' ? value : ''
}

function stateFilter(query: unknown): HostState | undefined {
  const state = (query as Record<string, unknown> | undefined)?.state
  if (state === undefined || state === '') return undefined
  if (typeof state === 'string' && (HOST_STATES as readonly string[]).includes(state))
    return state as HostState
  throw new DriftwatchError('INPUT_INVALID', `state: "${String(state)}" is not a host state`, {
    hint: `one of ${HOST_STATES.join(', ')}`,
  })
}
