import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import { type BrowserContext, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { buildApp } from '../../src/collector/app.js'
import { makeJudge } from '../../src/collector/judge.js'
import { FleetRulesSchema } from '../../src/config/collector.js'
import type { Severity } from '../../src/config/policy.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import { hasTool } from '../helpers/tools.js'

/** Debian's chromium; playwright-core never downloads a browser of its own. */
const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOTS = resolve('test-results')

/** The fleet: two snowflakes (critical drift), one drifted host, one compliant. */
const HOSTS: { id: string; hostname: string; findings: number; severity: Severity }[] = [
  { id: 'h-web-1', hostname: 'web-1', findings: 0, severity: 'low' },
  { id: 'h-web-2', hostname: 'web-2', findings: 4, severity: 'critical' },
  { id: 'h-web-3', hostname: 'web-3', findings: 2, severity: 'low' },
  { id: 'h-db-1', hostname: 'db-1', findings: 8, severity: 'critical' },
]

describe.skipIf(!hasTool('chromium', 'chromium'))('fleet page in headless Chromium', () => {
  let dir: string
  let store: Store
  let app: FastifyInstance
  let url: string
  let browser: BrowserContext

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dw-page-browser-'))
    store = await openStore(`sqlite://${join(dir, 'collector.db')}`)
    app = buildApp({
      store,
      judge: makeJudge(FleetRulesSchema.parse({})),
      enrollSecret: ENROLL_SECRET,
      adminTokens: [ADMIN_TOKEN],
      bodyLimit: 1024 * 1024,
      reportHistory: 10,
    })
    await app.listen({ host: '127.0.0.1', port: 0 })
    url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

    // As agents do: enrol over HTTP, then post a report with the token the collector handed out.
    for (const host of HOSTS) {
      const enrolled = await fetch(`${url}/v1/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          secret: ENROLL_SECRET,
          host: { id: host.id, hostname: host.hostname, labels: { group: 'web-prod' } },
        }),
      })
      expect(enrolled.status).toBe(201)
      const { token } = (await enrolled.json()) as { token: string }
      const report = makeReport({
        hostId: host.id,
        hostname: host.hostname,
        findings: host.findings,
        severity: host.severity,
      })
      const posted = await fetch(`${url}/v1/reports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(report),
      })
      expect(posted.status).toBe(201)
    }

    browser = await chromium.launchPersistentContext(join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
    })
    mkdirSync(SCREENSHOTS, { recursive: true })
  })

  afterAll(async () => {
    await browser?.close()
    await app?.close()
    await store?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('sign in, see the two snowflakes first, open one, read its drift; screenshots saved', async () => {
    const page = await browser.newPage()
    const problems: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text())
    })
    page.on('pageerror', (error) => problems.push(error.message))

    await page.goto(`${url}/`)
    expect(new URL(page.url()).pathname).toBe('/login')
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(`${url}/`)
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Fleet')

    // Counts by state, and the snowflakes listed before everyone else.
    const states = page.getByRole('navigation', { name: 'Hosts by state' })
    expect((await states.getByRole('link', { name: /snowflake/ }).textContent())?.trim()).toBe('2 snowflake')
    expect((await states.getByRole('link', { name: /compliant/ }).textContent())?.trim()).toBe('1 compliant')
    const rows = page.locator('table.hosts tbody tr')
    expect(await rows.count()).toBe(4)
    const firstTwo = [
      await rows.nth(0).locator('th a').textContent(),
      await rows.nth(1).locator('th a').textContent(),
    ]
    expect(firstTwo.sort()).toEqual(['db-1', 'web-2'])
    expect(await rows.nth(0).locator('.state-badge').textContent()).toBe('snowflake')

    // The stylesheet was allowed by the CSP and applied (the header band is dark).
    // Expressions run in the page; the tests are type-checked without the DOM's types.
    const headerColour = await page.evaluate(
      "getComputedStyle(document.querySelector('header.top')).backgroundColor",
    )
    expect(headerColour).toBe('rgb(27, 31, 36)')

    const fleetShot = join(SCREENSHOTS, 'fleet-page.png')
    await page.screenshot({ path: fleetShot, fullPage: true })

    // The state filter is a plain link: no script needed.
    await states.getByRole('link', { name: /snowflake/ }).click()
    await page.waitForURL(`${url}/?state=snowflake`)
    expect(await page.locator('table.hosts tbody tr').count()).toBe(2)

    await page.getByRole('link', { name: 'db-1' }).click()
    await page.waitForURL(`${url}/hosts/h-db-1`)
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('db-1')
    expect(await page.getByRole('heading', { name: 'Packages' }).count()).toBe(1)
    expect(await page.getByRole('heading', { name: 'sysctl' }).count()).toBe(1)
    expect(await page.locator('.sev-critical').count()).toBeGreaterThanOrEqual(8)
    const hostShot = join(SCREENSHOTS, 'host-page.png')
    await page.screenshot({ path: hostShot, fullPage: true })

    // A phone: the page fits its width (no sideways scrolling of the whole page).
    await page.setViewportSize({ width: 390, height: 844 })
    await page.goto(`${url}/`)
    const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')
    expect(overflow).toBe(0)
    const phoneShot = join(SCREENSHOTS, 'fleet-page-phone.png')
    await page.screenshot({ path: phoneShot, fullPage: true })

    // Sign out through the form: the page then asks to sign in again.
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL(`${url}/login`)
    await page.goto(`${url}/`)
    expect(new URL(page.url()).pathname).toBe('/login')

    expect(problems).toEqual([])
    process.stderr.write(`fleet page screenshots: ${fleetShot} ${hostShot} ${phoneShot}\n`)
  })
})
