import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { type BrowserContext, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import type { Severity } from '../../src/config/policy.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import { hasTool } from '../helpers/tools.js'
import { receiver } from '../replacement/receiver.js'

/** Debian's chromium; playwright-core never downloads a browser of its own. */
const CHROMIUM = '/usr/bin/chromium'
const SCREENSHOTS = resolve('test-results')

const WEBHOOK_SECRET = 'webhook-secret-0123456789'

/**
 * The demo's fleet in group web-prod: two snowflakes (critical drift), one drifted host, one
 * compliant. One replacement at a time: one snowflake is dispatched to the webhook executor,
 * the other waits for the budget.
 */
const HOSTS: { id: string; hostname: string; findings: number; severity: Severity }[] = [
  { id: 'h-web-1', hostname: 'web-1', findings: 0, severity: 'low' },
  { id: 'h-web-2', hostname: 'web-2', findings: 4, severity: 'critical' },
  { id: 'h-web-3', hostname: 'web-3', findings: 2, severity: 'low' },
  { id: 'h-db-1', hostname: 'db-1', findings: 8, severity: 'critical' },
]

describe.skipIf(!hasTool('chromium', 'chromium'))('fleet page in headless Chromium', () => {
  let dir: string
  let collector: RunningCollector
  let executor: Awaited<ReturnType<typeof receiver>>
  let webhook: Awaited<ReturnType<typeof receiver>>
  let url: string
  let browser: BrowserContext

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dw-page-browser-'))
    // A real executor accepts the replacement (202); the host then goes on reporting, so it stays replacing.
    executor = await receiver(() => 202)
    webhook = await receiver()
    collector = await startCollector(
      CollectorConfigSchema.parse({
        listen: '127.0.0.1:0',
        store: `sqlite://${join(dir, 'collector.db')}`,
        enrollSecret: ENROLL_SECRET,
        adminTokens: [{ name: 'demo-operator', token: ADMIN_TOKEN }],
        replacement: {
          every: '100ms',
          goneAfter: '1h',
          timeout: '1h',
          budget: { maxConcurrent: 1, minHealthyPercent: 0 },
          windows: [{ start: '* * * * *', duration: '2m' }],
          executor: { type: 'webhook', url: executor.url, secret: WEBHOOK_SECRET, retries: 0 },
        },
        notifiers: [{ type: 'webhook', url: webhook.url, secret: WEBHOOK_SECRET }],
      }),
    )
    url = collector.url

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
    // The scheduler dispatches one snowflake, the other waits; the webhook hears of both.
    const waitLong = { timeout: 15_000, interval: 50 }
    await vi.waitFor(async () => {
      const states = (await collector.store.replacements.list()).map((r) => r.state).sort()
      expect(states, 'one replacement dispatched and one waiting for the budget').toEqual([
        'dispatched',
        'waiting',
      ])
    }, waitLong)
    await vi.waitFor(async () => {
      const events = await collector.store.replacements.listNotifications({ kind: 'snowflake' })
      expect(
        events.map((n) => n.status),
        'the snowflake events delivered to the webhook',
      ).toEqual(['sent', 'sent'])
    }, waitLong)

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
    await collector?.stop()
    await Promise.all([executor?.close(), webhook?.close()])
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('sign in, see the snowflakes being replaced, the queue and the alerts, open a host; screenshots saved', async () => {
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

    // Counts by state, and the two snowflakes (now in replacement) listed before everyone else.
    const states = page.getByRole('navigation', { name: 'Hosts by state' })
    const count = async (state: RegExp) =>
      (await states.getByRole('link', { name: state }).textContent())?.trim()
    expect(await count(/ replacing$/)).toBe('1 replacing')
    expect(await count(/replacement-scheduled/)).toBe('1 replacement-scheduled')
    expect(await count(/compliant/)).toBe('1 compliant')
    expect(await count(/drifted/)).toBe('1 drifted')
    const rows = page.locator('table.hosts tbody tr')
    expect(await rows.count()).toBe(4)
    const firstTwo = [
      await rows.nth(0).locator('th a').textContent(),
      await rows.nth(1).locator('th a').textContent(),
    ]
    expect(firstTwo.sort()).toEqual(['db-1', 'web-2'])
    expect(await rows.nth(0).locator('.state-badge').textContent()).toBe('replacing')

    // The queue: one dispatched to the executor, one waiting for the group's budget of one.
    const queue = page.locator('table.queue tbody tr')
    expect(await queue.count()).toBe(2)
    const queued = (await queue.allTextContents()).join('\n')
    expect(queued).toMatch(/web-prod\s*dispatched/)
    expect(queued).toMatch(/web-prod\s*waiting \(budget\)/)
    const budget = page.locator('table.budgets tbody tr')
    expect(await budget.locator('th, td').allTextContents()).toEqual([
      'web-prod',
      '1',
      '1',
      '0',
      '0%',
      '3 of 4',
    ])
    expect(await page.locator('p.windows').textContent()).toMatch(
      /^Maintenance windows: open now, until \d{4}-\d\d-\d\d \d\d:\d\d UTC · \* \* \* \* \* \(UTC\) for 2m$/,
    )
    // The alerts: both snowflakes told to the webhook notifier, delivered.
    const snowflakeAlerts = page.locator('ul.alerts li').filter({ hasText: /snowflake:/ })
    expect(await snowflakeAlerts.count()).toBe(2)
    for (const text of await snowflakeAlerts.allTextContents())
      expect(text).toMatch(/critical snowflake: .*to webhook, sent$/)

    // The stylesheet was allowed by the CSP and applied (the header band is dark).
    // Expressions run in the page; the tests are type-checked without the DOM's types.
    const headerColour = await page.evaluate(
      "getComputedStyle(document.querySelector('header.top')).backgroundColor",
    )
    expect(headerColour).toBe('rgb(27, 31, 36)')

    const fleetShot = join(SCREENSHOTS, 'fleet-page.png')
    await page.screenshot({ path: fleetShot, fullPage: true })

    // The state filter is a plain link: no script needed.
    await states.getByRole('link', { name: / replacing$/ }).click()
    await page.waitForURL(`${url}/?state=replacing`)
    expect(await page.locator('table.hosts tbody tr').count()).toBe(1)

    await page.getByRole('link', { name: 'db-1' }).first().click()
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
