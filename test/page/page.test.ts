import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { AppDeps } from '../../src/collector/app.js'
import { hashSecret, newHostToken } from '../../src/collector/auth.js'
import { recordedAlerts } from '../../src/collector/page/data.js'
import { CONTENT_SECURITY_POLICY } from '../../src/collector/page/routes.js'
import type { FleetEvent, FleetEventKind } from '../../src/fleet/replacements.js'
import type { ReplacementQueueView } from '../../src/protocol/api.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { testApp } from '../helpers/app.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import { hasTool } from '../helpers/tools.js'

const HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
/** A signed session cookie as the page sets it (name, issued, expires, MAC). */
const SIGNED_SESSION = /s1\.[A-Za-z0-9_-]+\.\d+\.\d+\.[A-Za-z0-9_-]{43}/.source

/** Signs in through the page's own form, as a browser does; returns the session cookie. */
async function signIn(app: FastifyInstance, token = ADMIN_TOKEN, remoteAddress = '127.0.0.1') {
  const form = await app.inject({ url: '/login', remoteAddress })
  const cookie = cookieOf(form.headers['set-cookie'])
  const csrf = csrfOf(form.body)
  const response = await app.inject({
    method: 'POST',
    url: '/login',
    remoteAddress,
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
  /** The collector's clock: tests that move it put it back. */
  let nowMs = Date.now()

  beforeAll(async () => {
    store = await openStore('sqlite::memory:')
    app = testApp(store, {
      clock: () => new Date(nowMs),
      page: { replacements: async () => queue ?? EMPTY_QUEUE },
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
      new RegExp(`^dw_session=${SIGNED_SESSION}; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800$`),
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

  test('signing out clears the cookie; a copy of it stays valid until it expires, not after', async () => {
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
    // Nothing is kept on the server to revoke (README, Fleet page): a stolen copy works until it expires.
    expect((await app.inject({ url: '/', headers: { cookie } })).statusCode).toBe(200)
    const started = nowMs
    try {
      nowMs += 8 * 3_600_000 - 1000
      expect((await app.inject({ url: '/', headers: { cookie } })).statusCode).toBe(200)
      nowMs += 1000
      expect((await app.inject({ url: '/', headers: { cookie } })).statusCode).toBe(303)
    } finally {
      nowMs = started
    }
  })

  test('a tampered session cookie is refused: another name, a later expiry, a changed MAC', async () => {
    const { cookie } = await signIn(app)
    const [name, value = ''] = cookie.split('=')
    const [version, admin = '', issued = '', expires = '', mac = ''] = value.split('.')
    const forged = (parts: string[]) => `${name}=${parts.join('.')}`
    const tampered = [
      forged([version ?? '', Buffer.from('mallory').toString('base64url'), issued, expires, mac]),
      forged([version ?? '', admin, issued, String(Number(expires) + 3_600_000), mac]),
      forged([version ?? '', admin, issued, expires, `${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`]),
      forged([version ?? '', admin, issued, expires]),
      `${name}=${value}x`,
    ]
    for (const bad of tampered) {
      expect((await app.inject({ url: '/', headers: { cookie: bad } })).statusCode, bad).toBe(303)
    }
    expect((await app.inject({ url: '/', headers: { cookie } })).statusCode).toBe(200)
  })

  test('failed sign-ins are limited per address: the sixth in a minute is a 429 that says when to retry', async () => {
    const started = nowMs
    const attacker = '203.0.113.7'
    try {
      for (let i = 0; i < 5; i++) {
        expect((await signIn(app, `wrong-token-${i}-0123456789`, attacker)).response.statusCode).toBe(401)
      }
      const refused = (await signIn(app, 'wrong-token-5-0123456789', attacker)).response
      expect(refused.statusCode).toBe(429)
      expect(refused.headers['retry-after']).toBe('60')
      const retryAt = new Date(nowMs + 60_000).toISOString().slice(0, 19).replace('T', ' ')
      expect(refused.body).toContain(
        `Try again after <time datetime="${new Date(nowMs + 60_000).toISOString()}">${retryAt} UTC</time> (in 60 s)`,
      )
      expect(refused.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY)
      // Even the right token is refused now: otherwise the answer would tell a right guess apart.
      const right = await signIn(app, ADMIN_TOKEN, attacker)
      expect(right.response.statusCode).toBe(429)
      expect(right.response.headers['set-cookie']).toBeUndefined()
      // Other addresses are not held up, and sign in at once.
      expect((await signIn(app, ADMIN_TOKEN, '198.51.100.1')).response.statusCode).toBe(303)

      nowMs += 30_000
      expect((await signIn(app, ADMIN_TOKEN, attacker)).response.headers['retry-after']).toBe('30')
      nowMs += 30_000
      expect((await signIn(app, ADMIN_TOKEN, attacker)).response.statusCode).toBe(303)
      // A success forgets the failures: four more are allowed before the limit again.
      for (let i = 0; i < 4; i++) {
        expect((await signIn(app, `wrong-again-${i}-0123456789`, attacker)).response.statusCode).toBe(401)
      }
      expect((await signIn(app, ADMIN_TOKEN, attacker)).response.statusCode).toBe(303)
    } finally {
      nowMs = started
    }
  })

  test('the fleet page lists at most 200 hosts per state and counts the rest', async () => {
    const big = await openStore('sqlite::memory:')
    const bigApp = testApp(big)
    try {
      for (let i = 0; i < 205; i++) {
        await big.enrollHost({
          hostId: `h-${String(i).padStart(3, '0')}`,
          hostname: `web-${String(i).padStart(3, '0')}`,
          labels: {},
          tokenHash: hashSecret(`token-${i}`),
          at: new Date(),
        })
      }
      const { cookie } = await signIn(bigApp)
      const body = (await bigApp.inject({ url: '/', headers: { cookie } })).body
      expect(body).toMatch(/<span class="count">205<\/span> pending/)
      expect(body.match(/<tr>\n<th scope="row">/g)?.length).toBe(200)
      expect(body).toContain('<caption>200 of 205 hosts')
      expect(body).toContain('web-199')
      expect(body).not.toContain('web-200')
      expect(body).toContain('5 more pending — use <code>driftwatch fleet hosts --state pending</code>')
      const filtered = (await bigApp.inject({ url: '/?state=pending', headers: { cookie } })).body
      expect(filtered).toContain('5 more pending')
      const none = (await bigApp.inject({ url: '/?state=compliant', headers: { cookie } })).body
      expect(none).toContain('No hosts in state compliant.')
      expect(none).not.toContain('more pending')
    } finally {
      await bigApp.close()
      await big.close()
    }
  })

  test('the replacement queue shows budgets, windows and queued hosts, escaped', async () => {
    queue = {
      ...EMPTY_QUEUE,
      groups: [
        {
          group: 'web-prod',
          hosts: 10,
          inService: 9,
          inFlight: 1,
          maxConcurrent: 1,
          minHealthyPercent: 90,
          budgetLeft: 0,
          lastDispatchedAt: '2026-11-27T11:00:00.000Z',
        },
      ],
      window: {
        open: false,
        openUntil: null,
        nextOpening: '2026-11-28T02:00:00.000Z',
        windows: '0 2 * * * (UTC) for 2h',
      },
      replacements: [queued('h-hostile', HOSTILE, 'waiting', 'budget')],
    }
    const { cookie } = await signIn(app)
    const body = (await app.inject({ url: '/', headers: { cookie } })).body
    expect(body).toContain('Dry run')
    expect(body).toMatch(
      /<th scope="row">web-prod<\/th><td>1<\/td><td>1<\/td><td>0<\/td><td class="wide">90%<\/td><td class="wide">9 of 10<\/td>/,
    )
    expect(body).toContain(
      'Maintenance windows: closed; next window opens <time datetime="2026-11-28T02:00:00.000Z">2026-11-28 02:00 UTC</time> · 0 2 * * * (UTC) for 2h',
    )
    expect(body).toContain('<td>waiting (budget)</td><td>1 critical finding</td>')
    expect(body).not.toContain('<script')
    queue = undefined
  })
})

const EMPTY_QUEUE: ReplacementQueueView = {
  dryRun: true,
  groups: [],
  replacements: [],
  window: { open: true, openUntil: null, nextOpening: null, windows: 'always (no windows configured)' },
  lease: null,
}

function queued(
  hostId: string,
  hostname: string,
  state: ReplacementQueueView['replacements'][number]['state'],
  waitingFor: ReplacementQueueView['replacements'][number]['waitingFor'],
): ReplacementQueueView['replacements'][number] {
  return {
    id: `r-${hostId}`,
    hostId,
    hostname,
    group: 'web-prod',
    state,
    reason: '1 critical finding',
    waitingFor,
    trigger: 'snowflake',
    requestedBy: null,
    approvedBy: null,
    approvedAt: null,
    dryRun: true,
    executor: null,
    output: null,
    createdAt: '2026-11-27T12:00:00.000Z',
    updatedAt: '2026-11-27T12:00:00.000Z',
    dispatchedAt: null,
    finishedAt: null,
  }
}

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
      const app = testApp(store, {
        https: { cert: readFileSync(join(dir, 'tls.crt')), key: readFileSync(join(dir, 'tls.key')) },
      })
      try {
        const form = await app.inject({ url: '/login' })
        expect(String(form.headers['set-cookie'])).toMatch(/^__Host-dw_session=.*; Secure$/)
        const { response, cookie } = await signIn(app)
        expect(String(response.headers['set-cookie'])).toMatch(
          new RegExp(
            `^__Host-dw_session=${SIGNED_SESSION}; Path=/; HttpOnly; SameSite=Strict; Max-Age=28800; Secure$`,
          ),
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

describe('signed sessions', () => {
  const ALICE = { name: 'alice', token: 'alice-token-0123456789abcdef' }
  const running: { close: () => Promise<void> }[] = []
  afterAll(async () => {
    for (const collector of running) await collector.close()
  })

  /** A collector over loopback with these admin tokens and its own empty store. */
  async function collector(adminTokens: AppDeps['adminTokens']) {
    const store = await openStore('sqlite::memory:')
    const app = testApp(store, { adminTokens })
    await app.listen({ host: '127.0.0.1', port: 0 })
    const handle = {
      url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      close: async () => {
        await app.close()
        await store.close()
      },
    }
    running.push(handle)
    return handle
  }

  const get = (url: string, cookie: string) => request(url, { headers: { cookie } })
  const post = (url: string, cookie: string, form: Record<string, string>) =>
    request(url, {
      method: 'POST',
      headers: {
        cookie,
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'same-origin',
      },
      body: new URLSearchParams(form).toString(),
    })

  test('a session from collector A opens collector B with the same tokens; a changed or removed token ends it', async () => {
    const a = await collector([ADMIN_TOKEN, ALICE])
    const b = await collector([ADMIN_TOKEN, ALICE])
    const rotated = await collector([ADMIN_TOKEN, { name: 'alice', token: 'alice-new-token-0123456789' }])
    const removed = await collector([ADMIN_TOKEN])

    const form = await get(`${a.url}/login`, '')
    const loginCookie = cookieOf(form.headers['set-cookie'])
    const signedIn = await post(`${a.url}/login`, loginCookie, {
      token: ALICE.token,
      csrf: csrfOf(await form.body.text()),
    })
    expect(signedIn.statusCode).toBe(303)
    await signedIn.body.dump()
    const cookie = cookieOf(signedIn.headers['set-cookie'])
    expect(cookie).toMatch(new RegExp(`^dw_session=${SIGNED_SESSION}$`))
    expect(cookie).toContain(`.${Buffer.from('alice').toString('base64url')}.`)

    const onB = await get(`${b.url}/`, cookie)
    expect(onB.statusCode).toBe(200)
    const page = await onB.body.text()
    expect(page).toContain('<h1>Fleet</h1>')
    // The CSRF token derives from the session: B takes A's, and refuses any other.
    const csrf = csrfOf(page)
    const csrfOnA = csrfOf(await (await get(`${a.url}/`, cookie)).body.text())
    expect(csrf).toBe(csrfOnA)
    const wrong = await post(`${b.url}/logout`, cookie, { csrf: `x${csrf.slice(1)}` })
    expect(wrong.statusCode).toBe(403)
    await wrong.body.dump()
    const logout = await post(`${b.url}/logout`, cookie, { csrf })
    expect(logout.statusCode).toBe(303)
    await logout.body.dump()

    for (const other of [rotated, removed]) {
      const refused = await get(`${other.url}/`, cookie)
      expect(refused.statusCode).toBe(303)
      expect(refused.headers.location).toBe('/login')
      await refused.body.dump()
    }
  })
})

describe('recent alerts', () => {
  test('events told to notifiers and alerts kept firing are listed newest first, escaped', async () => {
    const store = await openStore('sqlite::memory:')
    const app = testApp(store, {
      page: { recentAlerts: (limit) => recordedAlerts(store.replacements, ['alertmanager'], limit) },
    })
    try {
      const host = { id: 'h-1', hostname: HOSTILE, labels: {}, image: null, summary: null }
      const event = (kind: FleetEventKind, minute: number): FleetEvent => ({
        kind,
        key: `${kind}:h-1`,
        at: new Date(Date.UTC(2026, 10, 27, 12, minute)),
        host,
        group: 'web-prod',
        replacement: null,
        summary: `${kind} of ${HOSTILE}`,
      })
      await store.replacements.enqueueNotification(
        'webhook',
        event('snowflake', 0),
        new Date(Date.UTC(2026, 10, 27, 12, 0)),
      )
      await store.replacements.enqueueNotification(
        'webhook',
        event('replacement-dispatched', 5),
        new Date(Date.UTC(2026, 10, 27, 12, 5)),
      )
      await store.replacements.fireAlert({
        notifier: 'alertmanager',
        key: 'snowflake:h-1',
        labels: { alertname: 'DriftwatchSnowflake', host: 'h-1', hostname: 'web-1', severity: 'critical' },
        annotations: { summary: 'web-1 is a snowflake' },
        at: new Date(Date.UTC(2026, 10, 27, 12, 2)),
      })
      const alerts = await recordedAlerts(store.replacements, ['alertmanager'], 2)
      expect(alerts.map((a) => [a.event, a.notifier, a.delivery])).toEqual([
        ['replacement-dispatched', 'webhook', 'pending'],
        ['firing', 'alertmanager', 'pending'],
      ])

      const { cookie } = await signIn(app)
      const body = (await app.inject({ url: '/', headers: { cookie } })).body
      expect(body).toMatch(
        /<time datetime="2026-11-27T12:05:00.000Z">2026-11-27 12:05 UTC<\/time> <span class="sev sev-info">info<\/span> <strong>replacement-dispatched<\/strong>/,
      )
      expect(body).toMatch(
        /<span class="sev sev-critical">critical<\/span> <strong>firing<\/strong>: web-1 is a snowflake \(web-1\) <span class="via">to alertmanager, pending<\/span>/,
      )
      expect(body).toContain('<strong>snowflake</strong>: snowflake of &lt;script&gt;')
      expect(body).not.toContain('<script')
    } finally {
      await app.close()
      await store.close()
    }
  })
})
