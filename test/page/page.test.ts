import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { buildApp } from '../../src/collector/app.js'
import { hashSecret, newHostToken } from '../../src/collector/auth.js'
import { makeJudge } from '../../src/collector/judge.js'
import type { ReplacementQueueView } from '../../src/collector/page/data.js'
import { CONTENT_SECURITY_POLICY } from '../../src/collector/page/routes.js'
import { FleetRulesSchema } from '../../src/config/collector.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import { hasTool } from '../helpers/tools.js'

const HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'

/** Signs in through the page's own form, as a browser does; returns the session cookie. */
async function signIn(app: FastifyInstance, token = ADMIN_TOKEN) {
  const form = await app.inject({ url: '/login' })
  const cookie = cookieOf(form.headers['set-cookie'])
  const csrf = csrfOf(form.body)
  const response = await app.inject({
    method: 'POST',
    url: '/login',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin' },
    payload: new URLSearchParams({ token, csrf }).toString(),
  })
  return { response, cookie: cookieOf(response.headers['set-cookie']) || cookie }
}

function cookieOf(header: string | string[] | number | undefined): string {
  const first = [header ?? []].flat()[0]
  return typeof first === 'string' ? (first.split(';')[0] ?? '') : ''
}

function csrfOf(body: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(body)
  if (!match?.[1]) throw new Error('no CSRF field in the page')
  return match[1]
}

describe('fleet page without a browser', () => {
  let store: Store
  let app: FastifyInstance
  let queue: ReplacementQueueView | undefined

  beforeAll(async () => {
    store = await openStore('sqlite::memory:')
    app = buildApp({
      store,
      judge: makeJudge(FleetRulesSchema.parse({})),
      enrollSecret: ENROLL_SECRET,
      adminTokens: [ADMIN_TOKEN],
      bodyLimit: 256 * 1024,
      reportHistory: 5,
      page: { replacements: async () => queue ?? { dryRun: true, groups: [], replacements: [] } },
    })
    // The protocol refuses a label off Kubernetes' grammar, so this one can only be in the
    // store from elsewhere (an older collector, a hand-edited database): the page still escapes it.
    const refused = await app.inject({
      method: 'POST',
      url: '/v1/enroll',
      payload: {
        secret: ENROLL_SECRET,
        host: { id: 'h-hostile', hostname: HOSTILE, labels: { group: HOSTILE } },
      },
    })
    expect(refused.statusCode).toBe(400)
    const token = newHostToken()
    await store.enrollHost({
      hostId: 'h-hostile',
      hostname: HOSTILE,
      labels: { group: HOSTILE },
      tokenHash: hashSecret(token),
      at: new Date(),
    })
    const report = makeReport({ hostId: 'h-hostile', hostname: HOSTILE, findings: 4, severity: 'critical' })
    const modified = report.drift[2]
    if (modified) report.drift[2] = { ...modified, subject: `/etc/${HOSTILE}` }
    const posted = await app.inject({
      method: 'POST',
      url: '/v1/reports',
      headers: { authorization: `Bearer ${token}` },
      payload: report,
    })
    expect(posted.statusCode).toBe(201)
  })
  afterAll(async () => {
    await app.close()
    await store.close()
  })

  test('without a session the fleet page sends the browser to sign in', async () => {
    const response = await app.inject({ url: '/' })
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe('/login')
    const host = await app.inject({ url: '/hosts/h-hostile' })
    expect(host.statusCode).toBe(303)
  })

  test('the session cookie is HttpOnly, SameSite=Strict, expires, and is a fresh id after sign-in', async () => {
    const form = await app.inject({ url: '/login' })
    const before = cookieOf(form.headers['set-cookie'])
    expect(String(form.headers['set-cookie'])).toMatch(/HttpOnly/)
    const { response, cookie } = await signIn(app)
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe('/')
    const header = String(response.headers['set-cookie'])
    expect(header).toMatch(
      /^dw_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800$/,
    )
    expect(header).not.toMatch(/Secure/) // plain HTTP here; the TLS test below asks for Secure
    expect(cookie).not.toBe(before)
    expect((await app.inject({ url: '/', headers: { cookie } })).statusCode).toBe(200)
  })

  test('a wrong admin token is refused with the form shown again, and no session', async () => {
    const { response } = await signIn(app, 'not-an-admin-token-at-all')
    expect(response.statusCode).toBe(401)
    expect(response.body).toContain('That is not an admin token of this collector.')
    expect(response.headers['set-cookie']).toBeUndefined()
  })

  test('every page carries a CSP with no script, nosniff, a same-origin referrer, no framing', async () => {
    const { cookie } = await signIn(app)
    for (const url of ['/login', '/', '/hosts/h-hostile', '/hosts/nobody', '/static/page.css']) {
      const response = await app.inject({ url, headers: { cookie } })
      expect(response.headers['content-security-policy'], url).toBe(CONTENT_SECURITY_POLICY)
      expect(response.headers['x-content-type-options'], url).toBe('nosniff')
      expect(response.headers['referrer-policy'], url).toBe('same-origin')
      expect(response.headers['x-frame-options'], url).toBe('DENY')
    }
    expect(CONTENT_SECURITY_POLICY).toMatch(/default-src 'none'/)
    expect(CONTENT_SECURITY_POLICY).toMatch(/frame-ancestors 'none'/)
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-inline|script-src/)
    const css = await app.inject({ url: '/static/page.css' })
    expect(css.statusCode).toBe(200)
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8')
    expect(css.body).toContain('@media')
  })

  test('the page has no inline script or style, and its markup is landmarks, headings and labels', async () => {
    const { cookie } = await signIn(app)
    const login = (await app.inject({ url: '/login' })).body
    expect(login).toMatch(/<label for="token">/)
    expect(login).toMatch(/<input id="token"/)
    const body = (await app.inject({ url: '/', headers: { cookie } })).body
    for (const page of [login, body]) {
      // Escaped text has no raw `<`, so an attribute can only be inside a tag of this code's own.
      expect(page).not.toMatch(/<script|<style|<[^>]*\s(style|on[a-z]+)=/i)
      expect(page).toMatch(/<html lang="en">/)
      expect(page).toMatch(/<main id="main">/)
    }
    expect(body).toMatch(/<nav aria-label="Hosts by state">/)
    expect(body).toMatch(/<h1>Fleet<\/h1>/)
    expect(body).toMatch(/<th scope="col">Host<\/th>/)
  })

  test('a hostile hostname, label and path are shown as text, never as markup', async () => {
    const { cookie } = await signIn(app)
    const fleet = (await app.inject({ url: '/', headers: { cookie } })).body
    const host = (await app.inject({ url: '/hosts/h-hostile', headers: { cookie } })).body
    const escaped = '&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;'
    expect(fleet).toContain(escaped)
    expect(host).toContain(escaped)
    expect(host).toContain(`group=${escaped}`)
    expect(host).toContain(`/etc/${escaped}`)
    for (const page of [fleet, host]) {
      expect(page).not.toContain('<script')
      expect(page).not.toContain('<img')
    }
    const notFound = await app.inject({ url: `/hosts/${encodeURIComponent(HOSTILE)}`, headers: { cookie } })
    expect(notFound.statusCode).toBe(404)
    expect(notFound.body).not.toContain('<script')
    const badState = await app.inject({ url: `/?state=${encodeURIComponent(HOSTILE)}`, headers: { cookie } })
    expect(badState.statusCode).toBe(400)
    expect(badState.body).not.toContain('<script')
  })

  test('the host page groups drift by package and namespace with severities', async () => {
    const { cookie } = await signIn(app)
    const body = (await app.inject({ url: '/hosts/h-hostile', headers: { cookie } })).body
    expect(body).toMatch(/<h3>Packages<\/h3>.*deb:tool0:amd64.*<ul><li>.*\/usr\/bin\/tool0/s)
    expect(body).toMatch(/<h3>Configuration<\/h3><h4>sysctl<\/h4>.*sysctl:net\.ipv4\.conf\.eth3\.forwarding/s)
    expect(body).toMatch(/<span class="sev sev-critical">critical<\/span>/)
  })

  test('a cross-site POST is refused: by Sec-Fetch-Site, by Origin, and without the CSRF token', async () => {
    const { cookie } = await signIn(app)
    const page = (await app.inject({ url: '/', headers: { cookie } })).body
    const csrf = csrfOf(page)
    const logout = (headers: Record<string, string>, form: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: '/logout',
        headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
        payload: new URLSearchParams(form).toString(),
      })
    const crossSite = await logout({ 'sec-fetch-site': 'cross-site' }, { csrf })
    expect(crossSite.statusCode).toBe(403)
    expect(crossSite.body).toContain('sent from another site')
    const otherOrigin = await logout({ origin: 'https://evil.example' }, { csrf })
    expect(otherOrigin.statusCode).toBe(403)
    // A sandboxed frame or a data: page posts with Origin: null.
    expect((await logout({ origin: 'null' }, { csrf })).statusCode).toBe(403)
    const noToken = await logout({ 'sec-fetch-site': 'same-origin' }, {})
    expect(noToken.statusCode).toBe(403)
    const wrongToken = await logout({ 'sec-fetch-site': 'same-origin' }, { csrf: `${csrf.slice(1)}x` })
    expect(wrongToken.statusCode).toBe(403)
    // None of these signed the operator out.
    expect((await app.inject({ url: '/', headers: { cookie } })).statusCode).toBe(200)

    const loginForm = await app.inject({ url: '/login' })
    const crossLogin = await app.inject({
      method: 'POST',
      url: '/login',
      headers: {
        cookie: cookieOf(loginForm.headers['set-cookie']),
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'cross-site',
      },
      payload: new URLSearchParams({ token: ADMIN_TOKEN, csrf: csrfOf(loginForm.body) }).toString(),
    })
    expect(crossLogin.statusCode).toBe(403)
    expect(crossLogin.headers['set-cookie']).toBeUndefined()
  })

  test('signing out ends the session on the server, not only in the browser', async () => {
    const { cookie } = await signIn(app)
    const csrf = csrfOf((await app.inject({ url: '/', headers: { cookie } })).body)
    const response = await app.inject({
      method: 'POST',
      url: '/logout',
      headers: {
        cookie,
        'content-type': 'application/x-www-form-urlencoded',
        origin: 'http://localhost:80',
        host: 'localhost:80',
      },
      payload: new URLSearchParams({ csrf }).toString(),
    })
    expect(response.statusCode).toBe(303)
    expect(response.headers.location).toBe('/login')
    expect(String(response.headers['set-cookie'])).toMatch(/^dw_session=; .*Max-Age=0/)
    // The old cookie, replayed, opens nothing.
    expect((await app.inject({ url: '/', headers: { cookie } })).statusCode).toBe(303)
  })

  test('the replacement queue shows budgets, windows and queued hosts, escaped', async () => {
    queue = {
      dryRun: true,
      groups: [
        {
          group: 'web-prod',
          maxConcurrent: 1,
          minHealthyPercent: 90,
          inFlight: 0,
          windows: [{ start: '0 2 * * *', duration: '2h', timezone: 'UTC', open: false }],
        },
      ],
      replacements: [
        {
          hostId: 'h-hostile',
          hostname: HOSTILE,
          group: 'web-prod',
          status: 'awaiting-approval',
          reason: '1 critical finding',
          requestedAt: '2026-11-27T12:00:00.000Z',
        },
      ],
    }
    const { cookie } = await signIn(app)
    const body = (await app.inject({ url: '/', headers: { cookie } })).body
    expect(body).toContain('Dry run')
    expect(body).toMatch(
      /<th scope="row">web-prod<\/th><td>0<\/td><td>1<\/td><td>90%<\/td><td><span class="window">0 2 \* \* \* for 2h \(UTC\)/,
    )
    expect(body).toContain('awaiting-approval')
    expect(body).not.toContain('<script')
    queue = undefined
  })
})

describe('fleet page over TLS, without a replacement source', () => {
  test.skipIf(!hasTool('openssl', 'openssl'))(
    'the cookie is Secure and __Host- prefixed; the page says there are no replacements and no alerts',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dw-page-tls-'))
      const made = spawnSync('openssl', [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-keyout',
        join(dir, 'tls.key'),
        '-out',
        join(dir, 'tls.crt'),
      ])
      expect(made.status).toBe(0)
      const store = await openStore('sqlite::memory:')
      const app = buildApp({
        store,
        judge: makeJudge(FleetRulesSchema.parse({})),
        enrollSecret: ENROLL_SECRET,
        adminTokens: [ADMIN_TOKEN],
        bodyLimit: 256 * 1024,
        reportHistory: 5,
        https: { cert: readFileSync(join(dir, 'tls.crt')), key: readFileSync(join(dir, 'tls.key')) },
      })
      try {
        const form = await app.inject({ url: '/login' })
        expect(String(form.headers['set-cookie'])).toMatch(/^__Host-dw_session=.*; Secure$/)
        const { response, cookie } = await signIn(app)
        expect(String(response.headers['set-cookie'])).toMatch(
          /^__Host-dw_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure$/,
        )
        const body = (await app.inject({ url: '/', headers: { cookie } })).body
        expect(body).toContain('No replacements')
        expect(body).toContain('No alerts')
      } finally {
        await app.close()
        await store.close()
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )
})
