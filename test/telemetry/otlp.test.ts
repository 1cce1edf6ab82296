import { createServer as createHttpServer } from 'node:http'
import { type AddressInfo, createServer } from 'node:net'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import { AGENT_INSTRUMENTS, AgentMetrics } from '../../src/telemetry/agent-metrics.js'
import { COLLECTOR_INSTRUMENTS, CollectorMetrics } from '../../src/telemetry/collector-metrics.js'
import { createLogger } from '../../src/telemetry/logger.js'
import { startMetrics } from '../../src/telemetry/metrics.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import {
  type DecodedMetric,
  metricsByName,
  startOtlpGrpcReceiver,
  startOtlpReceiver,
} from './otlp-receiver.js'

let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>
beforeAll(async () => {
  receiver = await startOtlpReceiver()
})
afterAll(() => receiver.close())

/** OTLP over HTTP protobuf to the receiver, as a user sets it up: the standard variables only. */
const otlpEnv = () => ({
  OTEL_METRICS_EXPORTER: 'otlp',
  OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  // Long: the test exports once, at shutdown, so that it knows what one export holds.
  OTEL_METRIC_EXPORT_INTERVAL: '3600000',
  OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,service.namespace=fleet',
})

function metric(metrics: Map<string, DecodedMetric>, name: string): DecodedMetric {
  const found = metrics.get(name)
  if (!found) throw new Error(`no metric ${name} in the export; got ${[...metrics.keys()].join(', ')}`)
  return found
}

const point = (m: DecodedMetric, attributes: Record<string, string | number | boolean>) =>
  m.points.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))

describe('OTLP/HTTP protobuf export, decoded with the OTLP protobuf definitions', () => {
  test('the agent: resource, every instrument with its unit, attributes and values', async () => {
    receiver.exports.length = 0
    let now = new Date('2026-11-27T12:00:00Z')
    const handle = await startMetrics({
      facts: {
        serviceName: 'driftwatch-agent',
        serviceVersion: '0.1.0',
        instanceId: 'agent-instance-1',
        hostId: 'machine-7',
        hostName: 'web-7',
        image: { id: 'web-base', version: '2026.11.27-1' },
      },
      env: otlpEnv(),
    })
    const agent = new AgentMetrics(handle.meter, () => now)
    const full = { ...makeReport({ hostId: 'machine-7', findings: 6, severity: 'critical' }) }
    full.scan = { ...full.scan, mode: 'full', durationMs: 3750, files: 142_351, bytesHashed: 5_660_000_000 }
    full.scan.probes = [...full.scan.probes, { name: 'rpm', ok: false, durationMs: 2, error: 'no rpmdb' }]
    agent.recordScan(makeReport({ hostId: 'machine-7', findings: 2, severity: 'high' }))
    agent.recordScan(full)
    agent.recordDelivery('failed')
    agent.recordDelivery('failed')
    agent.recordDelivery('delivered')
    agent.recordDelivery('rejected')
    agent.reportDelivered(new Date('2026-11-27T12:00:30Z'))
    agent.observeSpoolDepth(() => 4)
    agent.recordSpoolDrops(3)
    agent.recordSpoolDrops(0)
    now = new Date('2026-11-27T12:02:00Z')
    await handle.shutdown()

    expect(receiver.requests.at(-1)).toEqual({ path: '/v1/metrics', contentType: 'application/x-protobuf' })
    const last = receiver.exports.at(-1)
    expect(last?.resource).toMatchObject({
      'service.name': 'driftwatch-agent',
      'service.version': '0.1.0',
      'service.instance.id': 'agent-instance-1',
      'service.namespace': 'fleet',
      'deployment.environment.name': 'test',
      'host.id': 'machine-7',
      'host.name': 'web-7',
      'host.image.id': 'web-base',
      'host.image.version': '2026.11.27-1',
    })
    expect(last?.resource['host.arch']).toMatch(/^(amd64|arm64|arm32|x86|ppc64|s390x)$/)
    expect(last?.scopes.map((s) => s.name)).toEqual(['driftwatch'])
    const metrics = metricsByName(last)

    // Every instrument the agent declares is exported, with its unit.
    for (const instrument of Object.values(AGENT_INSTRUMENTS)) {
      expect(metric(metrics, instrument.name).unit, instrument.name).toBe(instrument.unit)
    }

    const duration = metric(metrics, 'driftwatch.scan.duration')
    expect(duration.kind).toBe('histogram')
    expect(duration.temporality).toBe('AGGREGATION_TEMPORALITY_CUMULATIVE')
    expect(point(duration, { 'scan.mode': 'full' })).toMatchObject({ count: 1, sum: 3.75 })
    expect(point(duration, { 'scan.mode': 'quick' })).toMatchObject({ count: 1, sum: 0.812 })
    expect(point(duration, { 'scan.mode': 'full' })?.explicitBounds).toContain(5)

    const files = metric(metrics, 'driftwatch.scan.files')
    expect(files).toMatchObject({ kind: 'sum', monotonic: true })
    expect(point(files, { 'scan.mode': 'full' })?.value).toBe(142_351)
    expect(point(metric(metrics, 'driftwatch.scan.bytes'), { 'scan.mode': 'full' })?.value).toBe(
      5_660_000_000,
    )

    // Findings are the latest scan's, every kind × severity, zeros included.
    const findings = metric(metrics, 'driftwatch.scan.findings')
    expect(findings.kind).toBe('gauge')
    expect(findings.points).toHaveLength(15)
    for (const kind of ['file', 'package', 'config']) {
      const expected = full.drift.filter((d) => d.kind === kind).length
      expect(point(findings, { 'drift.kind': kind, 'drift.severity': 'critical' })?.value, kind).toBe(
        expected,
      )
      expect(point(findings, { 'drift.kind': kind, 'drift.severity': 'high' })?.value, kind).toBe(0)
    }

    const probes = metric(metrics, 'driftwatch.probe.duration')
    expect(point(probes, { 'probe.name': 'files', outcome: 'ok' })).toMatchObject({ count: 2, sum: 1.28 })
    expect(point(probes, { 'probe.name': 'rpm', outcome: 'failed' })).toMatchObject({ count: 1 })

    const deliveries = metric(metrics, 'driftwatch.deliveries')
    expect(point(deliveries, { outcome: 'failed' })?.value).toBe(2)
    expect(point(deliveries, { outcome: 'delivered' })?.value).toBe(1)
    expect(point(deliveries, { outcome: 'rejected' })?.value).toBe(1)
    expect(metric(metrics, 'driftwatch.spool.depth').points).toEqual([{ attributes: {}, value: 4 }])
    expect(metric(metrics, 'driftwatch.spool.drops').points).toEqual([{ attributes: {}, value: 3 }])
    // 12:02:00 - 12:00:30.
    expect(metric(metrics, 'driftwatch.report.age').points).toEqual([{ attributes: {}, value: 90 }])
  })

  test('the collector: fleet, ingest and HTTP metrics from real requests, no host id in any attribute', async () => {
    receiver.exports.length = 0
    const handle = await startMetrics({
      facts: { serviceName: 'driftwatch-collector', serviceVersion: '0.1.0' },
      env: otlpEnv(),
    })
    const metrics = new CollectorMetrics(handle.meter, { refreshMs: 0 })
    // No notifier here (replacement-metrics.test.ts has real ones): the counter's export alone.
    metrics.recordNotification('alertmanager', 'sent')
    metrics.recordNotification('slack', 'failed')
    const config = CollectorConfigSchema.parse({
      listen: '127.0.0.1:0',
      store: 'sqlite::memory:',
      enrollSecret: ENROLL_SECRET,
      adminTokens: [ADMIN_TOKEN],
    })
    const collector = await startCollector(config, undefined, metrics)
    const hostIds = ['h-otlp-1', 'h-otlp-2', 'h-otlp-3']
    try {
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
        const enrolled = await post('/v1/enroll', {
          secret: ENROLL_SECRET,
          host: { id, hostname: id, labels: { group: 'web' } },
        })
        tokens.push(enrolled.body.token)
      }
      const clean = makeReport({ hostId: 'h-otlp-1' })
      expect((await post('/v1/reports', clean, tokens[0])).status).toBe(201)
      expect((await post('/v1/reports', clean, tokens[0])).status).toBe(200)
      expect(
        (
          await post(
            '/v1/reports',
            makeReport({ hostId: 'h-otlp-2', findings: 1, severity: 'critical' }),
            tokens[1],
          )
        ).status,
      ).toBe(201)
      // Another host's report, a malformed one, no token.
      expect((await post('/v1/reports', makeReport({ hostId: 'h-otlp-1' }), tokens[2])).status).toBe(403)
      expect((await post('/v1/reports', { schema: 'nope' }, tokens[2])).status).toBe(400)
      expect((await post('/v1/reports', clean)).status).toBe(401)
      expect((await fetch(`${collector.url}/healthz`)).status).toBe(200)
      await handle.shutdown()
    } finally {
      await handle.shutdown()
      await collector.stop()
    }

    const last = receiver.exports.at(-1)
    expect(last?.resource['service.name']).toBe('driftwatch-collector')
    const exported = metricsByName(last)
    for (const instrument of Object.values(COLLECTOR_INSTRUMENTS)) {
      expect(metric(exported, instrument.name).unit, instrument.name).toBe(instrument.unit)
    }

    const hosts = metric(exported, 'driftwatch.hosts')
    expect(
      point(hosts, {
        state: 'compliant',
        'image.id': 'web-base',
        'image.version': '2026.11.27-1',
        group: 'web',
      })?.value,
    ).toBe(1)
    expect(point(hosts, { state: 'snowflake', 'image.id': 'web-base', group: 'web' })?.value).toBe(1)
    // The host that never reported is pending and has no image yet: the attribute is left out, not made up.
    expect(hosts.points.find((p) => p.attributes['image.id'] === undefined)).toMatchObject({
      attributes: { state: 'pending', group: 'web' },
      value: 1,
    })

    const ingested = metric(exported, 'driftwatch.reports.ingested')
    expect(point(ingested, { duplicate: false })?.value).toBe(2)
    expect(point(ingested, { duplicate: true })?.value).toBe(1)
    const rejected = metric(exported, 'driftwatch.reports.rejected')
    expect(Object.fromEntries(rejected.points.map((p) => [p.attributes.reason, p.value]))).toEqual({
      FORBIDDEN: 1,
      INPUT_INVALID: 1,
      UNAUTHENTICATED: 1,
    })
    expect(metric(exported, 'driftwatch.report.ingest.duration').points[0]?.count).toBe(3)

    const http = metric(exported, 'http.server.request.duration')
    expect(http.kind).toBe('histogram')
    expect(
      point(http, {
        'http.request.method': 'POST',
        'http.route': '/v1/reports',
        'http.response.status_code': 201,
        'url.scheme': 'http',
      })?.count,
    ).toBe(2)
    expect(point(http, { 'http.route': '/v1/enroll', 'http.response.status_code': 201 })?.count).toBe(3)
    expect(point(http, { 'http.route': '/healthz', 'http.request.method': 'GET' })?.count).toBe(1)

    // Counted from the store: no replacement yet, and every state is there, at 0.
    const replacements = metric(exported, 'driftwatch.replacements')
    expect(Object.fromEntries(replacements.points.map((p) => [p.attributes.state, p.value]))).toEqual({
      pending: 0,
      waiting: 0,
      dispatched: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
    })
    expect(
      point(metric(exported, 'driftwatch.notifications'), { notifier: 'slack', outcome: 'failed' })?.value,
    ).toBe(1)

    // Cardinality: no attribute value anywhere names a host.
    const values = [...exported.values()].flatMap((m) => m.points.flatMap((p) => Object.values(p.attributes)))
    for (const id of hostIds) expect(values).not.toContain(id)
  })
})

test('an export that fails is one warning line in the JSON log, and the process goes on', async () => {
  // A port that was free a moment ago: nothing answers there.
  const port = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0))
    })
  })
  const output = new PassThrough()
  let logs = ''
  output.on('data', (d: Buffer) => {
    logs += d.toString()
  })
  const handle = await startMetrics({
    facts: { serviceName: 'driftwatch-collector', serviceVersion: '0.1.0' },
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`, OTEL_METRIC_EXPORT_INTERVAL: '3600000' },
    logger: createLogger({ name: 'driftwatch-collector', level: 'info', destination: output }),
  })
  handle.meter.createCounter('driftwatch.test.exports').add(1)
  await handle.shutdown()
  const lines = logs
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { level: number; msg: string })
  expect(lines).toHaveLength(1)
  expect(lines[0]?.level).toBe(40)
  expect(lines[0]?.msg).toMatch(
    /^metrics: PeriodicExportingMetricReader: metrics export failed .*ECONNREFUSED/,
  )
})

test("the last export, at shutdown, is tried at most twice on an endpoint that answers 503 (not for the SDK's 10 s)", async () => {
  // A real endpoint that is up but unavailable: every attempt is a retryable 503.
  let attempts = 0
  const server = createHttpServer((request, response) => {
    request.resume()
    request.on('end', () => {
      attempts++
      response.writeHead(503).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  try {
    const handle = await startMetrics({
      facts: { serviceName: 'driftwatch-agent', serviceVersion: '0.1.0' },
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
        OTEL_METRIC_EXPORT_INTERVAL: '3600000',
      },
    })
    handle.meter.createCounter('driftwatch.test.exports').add(1)
    await handle.shutdown()
    // One attempt and one retry fit in the 2 s of the last export; the SDK's own 10 s would allow 5 retries.
    expect(attempts).toBeGreaterThanOrEqual(1)
    expect(attempts).toBeLessThanOrEqual(2)
  } finally {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
})

describe('the other OTLP protocols: http/json and grpc carry the same metrics', () => {
  const exportOnce = async (env: Record<string, string>) => {
    const handle = await startMetrics({
      facts: { serviceName: 'driftwatch-agent', serviceVersion: '0.1.0', hostId: 'machine-9' },
      env: { OTEL_METRIC_EXPORT_INTERVAL: '3600000', ...env },
    })
    const agent = new AgentMetrics(handle.meter)
    agent.recordScan(makeReport({ hostId: 'machine-9', findings: 4, severity: 'high' }))
    agent.recordDelivery('delivered')
    await handle.shutdown()
  }
  const check = (decoded: Parameters<typeof metricsByName>[0]) => {
    expect(decoded?.resource['host.id']).toBe('machine-9')
    const metrics = metricsByName(decoded)
    expect(point(metric(metrics, 'driftwatch.scan.duration'), { 'scan.mode': 'quick' })).toMatchObject({
      count: 1,
      sum: 0.812,
    })
    expect(point(metric(metrics, 'driftwatch.scan.files'), { 'scan.mode': 'quick' })?.value).toBe(117_346)
    expect(point(metric(metrics, 'driftwatch.deliveries'), { outcome: 'delivered' })?.value).toBe(1)
    expect(metric(metrics, 'driftwatch.scan.bytes').unit).toBe('By')
  }

  test('OTEL_EXPORTER_OTLP_PROTOCOL=http/json', async () => {
    receiver.exports.length = 0
    await exportOnce({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    })
    expect(receiver.requests.at(-1)).toEqual({ path: '/v1/metrics', contentType: 'application/json' })
    check(receiver.exports.at(-1))
  })

  test('OTEL_EXPORTER_OTLP_PROTOCOL=grpc', async () => {
    const grpcReceiver = await startOtlpGrpcReceiver()
    try {
      await exportOnce({
        OTEL_EXPORTER_OTLP_ENDPOINT: grpcReceiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      })
      check(grpcReceiver.exports.at(-1))
    } finally {
      await grpcReceiver.close()
    }
  })
})
