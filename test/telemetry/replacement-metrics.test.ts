import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import { CollectorMetrics } from '../../src/telemetry/collector-metrics.js'
import { type MetricsHandle, startMetrics } from '../../src/telemetry/metrics.js'
import { tempDir } from '../helpers/cli.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import { receiver } from '../replacement/receiver.js'
import { PROMETHEUS_ON_LOOPBACK } from './otlp-receiver.js'

/** One sample of the Prometheus text exposition: its labels and value. */
interface Sample {
  labels: Record<string, string>
  value: number
}

/** The samples of `name` in a /metrics page (labels as `key="value"`, no escapes in ours). */
function samples(page: string, name: string): Sample[] {
  const out: Sample[] = []
  for (const line of page.split('\n')) {
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)/.exec(line)
    if (match?.[1] !== name) continue
    const labels = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    )
    out.push({ labels, value: Number(match[3]) })
  }
  return out
}

function sampleValue(page: string, name: string, labels: Record<string, string>): number | undefined {
  return samples(page, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value
}

/**
 * A real replacement and real notifications over loopback feed driftwatch.replacements and
 * driftwatch.notifications: a snowflake's report makes a replacement the scheduler dispatches to
 * a webhook executor; a webhook notifier takes every event, a Slack endpoint refuses them all.
 */
describe('replacements and notifications, as the collector exports them', () => {
  const dir = tempDir('driftwatch-replacement-metrics-')
  let telemetry: MetricsHandle
  let collector: RunningCollector
  let executor: Awaited<ReturnType<typeof receiver>>
  let hook: Awaited<ReturnType<typeof receiver>>
  let slack: Awaited<ReturnType<typeof receiver>>

  const scrape = async () => (await fetch(telemetry.prometheusUrl ?? '')).text()
  /** Scrapes until `check` finds what it waits for in the page. */
  const until = async (what: string, check: (page: string) => boolean) => {
    const deadline = Date.now() + 20_000
    for (;;) {
      const page = await scrape()
      if (check(page)) return page
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last page:\n${page}`)
      await sleep(100)
    }
  }

  beforeAll(async () => {
    executor = await receiver(() => 202)
    hook = await receiver(() => 200)
    slack = await receiver(() => 500)
    telemetry = await startMetrics({
      facts: { serviceName: 'driftwatch-collector', serviceVersion: '0.1.0' },
      env: PROMETHEUS_ON_LOOPBACK,
    })
    const config = CollectorConfigSchema.parse({
      listen: '127.0.0.1:0',
      store: `sqlite://${join(dir.path, 'collector.db')}`,
      enrollSecret: ENROLL_SECRET,
      adminTokens: [ADMIN_TOKEN],
      logLevel: 'silent',
      replacement: {
        every: '100ms',
        timeout: '1m',
        budget: { maxConcurrent: 1, minHealthyPercent: 0 },
        windows: [{ start: '* * * * *', duration: '2m' }],
        executor: { type: 'webhook', url: executor.url, secret: 'executor-secret-0123456789' },
      },
      notifiers: [
        { type: 'webhook', url: hook.url, secret: 'notifier-secret-0123456789', name: 'ops-hook' },
        { type: 'slack', url: slack.url },
      ],
    })
    collector = await startCollector(
      config,
      undefined,
      new CollectorMetrics(telemetry.meter, { refreshMs: 0 }),
    )
  }, 30_000)

  afterAll(async () => {
    await collector?.stop()
    await telemetry?.shutdown()
    await Promise.all([executor?.close(), hook?.close(), slack?.close()])
    dir.cleanup()
  })

  test('before anything happens: every replacement state at 0, no notification counted', async () => {
    const page = await until(
      'driftwatch_replacements',
      (p) => samples(p, 'driftwatch_replacements').length > 0,
    )
    expect(
      Object.fromEntries(samples(page, 'driftwatch_replacements').map((s) => [s.labels.state, s.value])),
    ).toEqual({ pending: 0, waiting: 0, dispatched: 0, completed: 0, failed: 0, cancelled: 0 })
    expect(samples(page, 'driftwatch_notifications_total')).toEqual([])
  })

  test('a snowflake replaced: dispatched counts 1; notifications sent by webhook, retried by Slack', async () => {
    const enrolled = await fetch(`${collector.url}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        secret: ENROLL_SECRET,
        host: { id: 'web-metrics-1', hostname: 'web-metrics-1', labels: { group: 'web' } },
      }),
    })
    const { token } = (await enrolled.json()) as { token: string }
    const posted = await fetch(`${collector.url}/v1/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(makeReport({ hostId: 'web-metrics-1', findings: 2, severity: 'critical' })),
    })
    expect(posted.status).toBe(201)

    const page = await until(
      'a dispatched replacement and both notifiers counted',
      (p) =>
        sampleValue(p, 'driftwatch_replacements', { state: 'dispatched' }) === 1 &&
        (sampleValue(p, 'driftwatch_notifications_total', { notifier: 'webhook', outcome: 'sent' }) ?? 0) >=
          2 &&
        (sampleValue(p, 'driftwatch_notifications_total', { notifier: 'slack', outcome: 'retried' }) ?? 0) >=
          2,
    )
    expect(executor.received).toHaveLength(1)
    expect(sampleValue(page, 'driftwatch_replacements', { state: 'pending' })).toBe(0)
    // What the endpoints got is what was counted: the webhook's events, Slack's refused attempts.
    const sent = sampleValue(page, 'driftwatch_notifications_total', { notifier: 'webhook', outcome: 'sent' })
    expect(hook.received.length).toBeGreaterThanOrEqual(sent ?? 0)
    expect(slack.received.length).toBeGreaterThanOrEqual(
      sampleValue(page, 'driftwatch_notifications_total', { notifier: 'slack', outcome: 'retried' }) ?? 0,
    )
    // The attribute is the notifier's type, never its configured name or a host.
    const attributes = samples(page, 'driftwatch_notifications_total').flatMap((s) => Object.values(s.labels))
    expect(attributes).not.toContain('ops-hook')
    expect(attributes).not.toContain('web-metrics-1')
    expect(samples(page, 'driftwatch_notifications_total').map((s) => s.labels.outcome)).not.toContain(
      'failed',
    )
  }, 30_000)
})
