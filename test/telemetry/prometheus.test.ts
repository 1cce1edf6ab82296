import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import { AGENT_INSTRUMENTS } from '../../src/telemetry/agent-metrics.js'
import { COLLECTOR_INSTRUMENTS, CollectorMetrics } from '../../src/telemetry/collector-metrics.js'
import { type MetricsHandle, startMetrics } from '../../src/telemetry/metrics.js'
import { REPO, tempDir } from '../helpers/cli.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import { hasTool } from '../helpers/tools.js'
import { PROMETHEUS_ON_LOOPBACK } from './otlp-receiver.js'

const DASHBOARD = join(REPO, 'config/grafana/driftwatch.json')
const RULES = join(REPO, 'config/prometheus/driftwatch-rules.yml')
const AGENT_PROCESS = fileURLToPath(new URL('./agent-process.ts', import.meta.url))

interface Sample {
  metric: Record<string, string>
  value: [number, string]
}

/** A port nobody listens on now, for Prometheus (which cannot be told to pick one itself). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
}

/** Polls until `probe` returns something, or fails with what it was waiting for. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`)
}

/**
 * PromQL names in an expression that are driftwatch's: every metric the dashboard and the
 * rules use starts with driftwatch_ or is the HTTP semantic conventions' histogram.
 */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(driftwatch_[a-z0-9_]+|http_server_[a-z0-9_]+)\b/g)].map((m) => m[1] ?? '')
}

describe.runIf(hasTool('prometheus', 'prometheus'))('scraped by a real Prometheus (Debian package)', () => {
  const dir = tempDir('driftwatch-prometheus-')
  let telemetry: MetricsHandle
  let collector: RunningCollector
  let agent: ChildProcessWithoutNullStreams
  let prometheus: ChildProcessWithoutNullStreams
  let prometheusUrl = ''
  let prometheusLog = ''
  const hostIds = ['h-prom-1', 'h-prom-2', 'h-prom-3']

  const query = async (promql: string): Promise<Sample[]> => {
    const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`)
    const body = (await response.json()) as { status: string; data: { result: Sample[] }; error?: string }
    if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`)
    return body.data.result
  }
  /** The query's single value once Prometheus has it, as a number. */
  const scalar = (promql: string, expected?: number) =>
    until(`${promql}${expected !== undefined ? ` == ${expected}` : ''}`, async () => {
      const result = await query(promql)
      const value = result.length === 1 ? Number(result[0]?.value[1]) : undefined
      return value !== undefined && (expected === undefined || value === expected) ? value : undefined
    })

  beforeAll(async () => {
    // The collector, with the Prometheus exporter from the standard variables, on a free port.
    telemetry = await startMetrics({
      facts: { serviceName: 'driftwatch-collector', serviceVersion: '0.1.0' },
      env: PROMETHEUS_ON_LOOPBACK,
    })
    const metrics = new CollectorMetrics(telemetry.meter, { refreshMs: 0 })
    // The notifiers feed this (replacement-metrics.test.ts); this collector has none configured.
    metrics.recordNotification('alertmanager', 'sent')
    collector = await startCollector(
      CollectorConfigSchema.parse({
        listen: '127.0.0.1:0',
        store: 'sqlite::memory:',
        enrollSecret: ENROLL_SECRET,
        adminTokens: [ADMIN_TOKEN],
      }),
      undefined,
      metrics,
    )

    // An agent in a process of its own, as on a host.
    agent = spawn(process.execPath, ['--import', 'tsx', AGENT_PROCESS], {
      cwd: REPO,
      env: {
        ...process.env,
        ...PROMETHEUS_ON_LOOPBACK,
      },
    })
    let agentOut = ''
    agent.stderr.on('data', (d: Buffer) => {
      agentOut += d.toString()
    })
    const agentUrl = await new Promise<string>((resolve, reject) => {
      agent.stdout.on('data', (d: Buffer) => {
        agentOut += d.toString()
        const line = /^\{"url":"([^"]+)"\}$/m.exec(agentOut)
        if (line?.[1]) resolve(line[1])
      })
      agent.once('exit', (code) => reject(new Error(`agent metrics process exited (${code}):\n${agentOut}`)))
    })

    const target = (url: string | undefined) => new URL(url ?? '').host
    const port = await freePort()
    const data = join(dir.path, 'data')
    mkdirSync(data)
    const config = join(dir.path, 'prometheus.yml')
    writeFileSync(
      config,
      JSON.stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: [RULES],
        scrape_configs: [
          {
            job_name: 'driftwatch-collector',
            static_configs: [{ targets: [target(telemetry.prometheusUrl)] }],
          },
          { job_name: 'driftwatch-agent', static_configs: [{ targets: [target(agentUrl)] }] },
        ],
      }),
    )
    prometheus = spawn('prometheus', [
      `--config.file=${config}`,
      `--storage.tsdb.path=${data}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ])
    prometheus.stderr.on('data', (d: Buffer) => {
      prometheusLog += d.toString()
    })
    prometheusUrl = `http://127.0.0.1:${port}`
    await until(`Prometheus ready on ${prometheusUrl}\n${prometheusLog}`, async () =>
      (await fetch(`${prometheusUrl}/-/ready`)).ok ? true : undefined,
    )

    // The fleet: one clean host, one snowflake, one that never reported; a retry, a refusal.
    const post = async (path: string, body: unknown, token?: string) => {
      const response = await fetch(`${collector.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      })
      return { status: response.status, body: (await response.json()) as { token: string } }
    }
    const tokens: string[] = []
    for (const id of hostIds) {
      const labels = { group: id === 'h-prom-3' ? 'db' : 'web' }
      tokens.push(
        (await post('/v1/enroll', { secret: ENROLL_SECRET, host: { id, hostname: id, labels } })).body.token,
      )
    }
    const clean = makeReport({ hostId: 'h-prom-1' })
    expect((await post('/v1/reports', clean, tokens[0])).status).toBe(201)
    expect((await post('/v1/reports', clean, tokens[0])).status).toBe(200)
    const snowflake = makeReport({ hostId: 'h-prom-2', findings: 2, severity: 'critical' })
    expect((await post('/v1/reports', snowflake, tokens[1])).status).toBe(201)
    expect((await post('/v1/reports', makeReport({ hostId: 'h-prom-1' }), tokens[2])).status).toBe(403)
  }, 90_000)

  afterAll(async () => {
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus.once('exit', resolve))
      prometheus.kill('SIGTERM')
      await exited
    }
    if (agent && agent.exitCode === null) {
      const exited = new Promise((resolve) => agent.once('exit', resolve))
      agent.kill('SIGTERM')
      await exited
    }
    await telemetry?.shutdown()
    await collector?.stop()
    dir.cleanup()
  }, 30_000)

  test('both targets are up', async () => {
    expect(await scalar('up{job="driftwatch-collector"}', 1)).toBe(1)
    expect(await scalar('up{job="driftwatch-agent"}', 1)).toBe(1)
  }, 60_000)

  test('the collector: hosts by state, image and group; reports; HTTP durations by route', async () => {
    expect(
      await scalar(
        'driftwatch_hosts{state="snowflake",image_id="web-base",image_version="2026.11.27-1",group="web"}',
        1,
      ),
    ).toBe(1)
    expect(await scalar('driftwatch_hosts{state="compliant",image_id="web-base",group="web"}', 1)).toBe(1)
    // Enrolled, never reported: pending, no image label.
    expect(await scalar('driftwatch_hosts{state="pending",image_id="",group="db"}', 1)).toBe(1)
    expect(await scalar('sum(driftwatch_hosts)', 3)).toBe(3)
    expect(await scalar('driftwatch_reports_ingested_total{duplicate="false"}', 2)).toBe(2)
    expect(await scalar('driftwatch_reports_ingested_total{duplicate="true"}', 1)).toBe(1)
    expect(await scalar('driftwatch_reports_rejected_total{reason="FORBIDDEN"}', 1)).toBe(1)
    expect(await scalar('driftwatch_report_ingest_duration_count', 3)).toBe(3)
    expect(
      await scalar(
        'http_server_request_duration_count{http_route="/v1/reports",http_request_method="POST",http_response_status_code="201"}',
        2,
      ),
    ).toBe(2)
    expect(await scalar('http_server_request_duration_count{http_route="/v1/enroll"}', 3)).toBe(3)
    // Counted from the store, which holds no replacement: every state at 0.
    expect(await scalar('count(driftwatch_replacements == 0)', 6)).toBe(6)
    expect(await scalar('driftwatch_notifications_total{notifier="alertmanager",outcome="sent"}', 1)).toBe(1)
    // Cardinality: no label of any driftwatch series names a host.
    const series = await query('{job="driftwatch-collector"}')
    const labelValues = series.flatMap((s) => Object.values(s.metric))
    for (const id of hostIds) expect(labelValues).not.toContain(id)
  }, 60_000)

  test('the agent: scans by mode, findings, probes, deliveries, spool, report age', async () => {
    expect(await scalar('driftwatch_scan_duration_count{scan_mode="full"}', 1)).toBe(1)
    expect(await scalar('driftwatch_scan_duration_sum{scan_mode="full"}', 3.75)).toBe(3.75)
    expect(await scalar('driftwatch_scan_files_total{scan_mode="quick"}', 117_346)).toBe(117_346)
    expect(await scalar('driftwatch_scan_bytes_total{scan_mode="quick"}', 48_213_504)).toBe(48_213_504)
    expect(await scalar('sum(driftwatch_scan_findings{drift_severity="critical"})', 3)).toBe(3)
    expect(await scalar('driftwatch_probe_duration_count{probe_name="files",outcome="ok"}', 2)).toBe(2)
    expect(await scalar('driftwatch_deliveries_total{outcome="failed"}', 1)).toBe(1)
    expect(await scalar('driftwatch_spool_depth', 2)).toBe(2)
    expect(await scalar('driftwatch_spool_drops_total', 5)).toBe(5)
    // The agent's clock runs 7 hours ahead of its last delivery.
    expect(await scalar('driftwatch_report_age')).toBeGreaterThan(7 * 3600 - 60)
  }, 60_000)

  test('every metric the dashboard and the alert rules use is one Prometheus scraped from driftwatch', async () => {
    // Every instrument has been scraped before the names are compared.
    await scalar('driftwatch_spool_drops_total', 5)
    await scalar('driftwatch_reports_rejected_total{reason="FORBIDDEN"}', 1)
    const response = await fetch(`${prometheusUrl}/api/v1/label/__name__/values`)
    const scraped = new Set(((await response.json()) as { data: string[] }).data)

    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[]
      templating: { list: { definition?: string }[] }
    }
    const dashboardExprs = [
      ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
      ...dashboard.templating.list.flatMap((v) => (v.definition ? [v.definition] : [])),
    ]
    const rulesExprs = [
      ...readFileSync(RULES, 'utf8').matchAll(/expr: (?:>-\n)?([\s\S]+?)\n\s+(?:for|labels):/g),
    ].map((m) => m[1] ?? '')
    expect(rulesExprs).toHaveLength(5)
    const referenced = new Set([...dashboardExprs, ...rulesExprs].flatMap(metricNames))
    expect(referenced.size).toBeGreaterThan(10)
    const missing = [...referenced].filter((name) => !scraped.has(name))
    expect(missing).toEqual([])

    // And every instrument the code declares shows up on the dashboard.
    const dashboardNames = new Set(dashboardExprs.flatMap(metricNames))
    for (const instrument of [...Object.values(AGENT_INSTRUMENTS), ...Object.values(COLLECTOR_INSTRUMENTS)]) {
      const base = instrument.name.replaceAll('.', '_')
      const shown = [...dashboardNames].some((name) => name === base || name.startsWith(`${base}_`))
      expect(shown, `${instrument.name} is on the dashboard`).toBe(true)
    }
  }, 60_000)

  test('Prometheus loads the alert rules; the snowflake and overdue-agent alerts go pending', async () => {
    const response = await fetch(`${prometheusUrl}/api/v1/rules`)
    const groups = (
      (await response.json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } }
    ).data.groups
    const rules = groups.flatMap((g) => g.rules)
    expect(rules.map((r) => r.name).sort()).toEqual([
      'DriftwatchAgentReportOverdue',
      'DriftwatchAgentsNotReporting',
      'DriftwatchReplacementFailed',
      'DriftwatchSnowflakesPresent',
      'DriftwatchSpoolDropping',
    ])
    const alerts = await until('the snowflake and overdue alerts', async () => {
      const body = (await (await fetch(`${prometheusUrl}/api/v1/alerts`)).json()) as {
        data: { alerts: { labels: Record<string, string>; state: string }[] }
      }
      const names = new Set(body.data.alerts.map((a) => a.labels.alertname))
      return names.has('DriftwatchSnowflakesPresent') && names.has('DriftwatchAgentReportOverdue')
        ? body.data.alerts
        : undefined
    })
    expect(alerts.find((a) => a.labels.alertname === 'DriftwatchSnowflakesPresent')).toMatchObject({
      state: 'pending',
      labels: { image_id: 'web-base', group: 'web', severity: 'warning' },
    })
    for (const rule of rules) expect(rule.health, rule.name).not.toBe('err')
  }, 60_000)
})
