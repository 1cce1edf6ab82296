import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { RunningCollector } from '../../src/collector/server.js'
import { AGENT_INSTRUMENTS } from '../../src/telemetry/agent-metrics.js'
import { AgentProcess, Front, makeImage, runCollector, until, writeAgentConfig } from '../agent/harness.js'
import { REPO, tempDir } from '../helpers/cli.js'
import { type DecodedExport, type DecodedMetric, metricsByName, startOtlpReceiver } from './otlp-receiver.js'

const { version } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }

/** The points of `name` whose attributes include `attributes`, summed (counters) or counted (histograms). */
function total(
  exported: DecodedExport | undefined,
  name: string,
  attributes: Record<string, string> = {},
  field: 'value' | 'count' = 'value',
): number {
  const metric: DecodedMetric | undefined = metricsByName(exported).get(name)
  return (metric?.points ?? [])
    .filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
    .reduce((sum, p) => sum + (p[field] ?? 0), 0)
}

/**
 * `driftwatch agent --config` as systemd runs it, with OTLP pointed at a receiver in the test
 * that decodes the real protobuf payload: it scans, delivers, loses the collector (deliveries
 * fail, the one-report spool drops), gets it back, and stops on SIGTERM with a last export.
 */
describe('a real agent process exports its metrics by OTLP', () => {
  const dir = tempDir('driftwatch-agent-metrics-')
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>
  let collector: RunningCollector
  let front: Front
  let agent: AgentProcess

  beforeAll(async () => {
    receiver = await startOtlpReceiver()
    const image = await makeImage(dir.path)
    collector = await runCollector(dir.path)
    front = new Front(collector.url)
    await front.up()
    const config = writeAgentConfig(dir.path, {
      url: front.url,
      image,
      stateDir: join(dir.path, 'state'),
      extra: [
        'spool: { maxReports: 1 }',
        // The YAML section and the standard variables together, as an operator may set them.
        'telemetry:',
        '  exportInterval: 300ms',
        '  resourceAttributes: { deployment.environment.name: test }',
      ],
    })
    agent = new AgentProcess(['--config', config], {
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    })
  }, 60_000)

  afterAll(async () => {
    if (agent && agent.child.exitCode === null) {
      agent.child.kill('SIGKILL')
      await agent.exited
    }
    await front?.down()
    await collector?.stop()
    await receiver?.close()
    dir.cleanup()
  })

  test('scans, deliveries, failures, spool drops and depth, report age; resource and units as documented', async () => {
    await until('a first report delivered', () => front.acceptedNew().length >= 1)
    await front.down()
    await until('the full spool to drop a report', () =>
      agent.lines().some((l) => l.msg.startsWith('spool full')),
    )
    await front.up()
    const deliveredBefore = front.acceptedNew().length
    await until('a report delivered after the outage', () => front.acceptedNew().length > deliveredBefore)
    await until('an export that saw it all', () => {
      const last = receiver.exports.at(-1)
      return (
        total(last, 'driftwatch.deliveries', { outcome: 'delivered' }) >= 2 &&
        total(last, 'driftwatch.deliveries', { outcome: 'failed' }) >= 1 &&
        total(last, 'driftwatch.spool.drops') >= 1
      )
    })
    agent.child.kill('SIGTERM')
    expect(await agent.exited).toBe(0)

    // The export at shutdown is the last: it holds everything the agent did.
    const last = receiver.exports.at(-1)
    const ready = agent.lines().find((l) => l.msg === 'agent ready')
    expect(last?.resource).toMatchObject({
      'service.name': 'driftwatch-agent',
      'service.version': version,
      'host.id': ready?.hostId,
      'host.image.id': 'web-base',
      'host.image.version': '2026.12.01-1',
      'deployment.environment.name': 'test',
    })
    expect(last?.scopes.map((s) => s.name)).toEqual(['driftwatch'])
    const metrics = metricsByName(last)
    for (const instrument of Object.values(AGENT_INSTRUMENTS)) {
      expect(metrics.get(instrument.name)?.unit, instrument.name).toBe(instrument.unit)
    }

    const spooled = agent.lines().filter((l) => l.msg === 'report spooled').length
    expect(total(last, 'driftwatch.scan.duration', { 'scan.mode': 'quick' }, 'count')).toBe(spooled)
    expect(total(last, 'driftwatch.scan.files', { 'scan.mode': 'quick' })).toBeGreaterThan(0)
    expect(metrics.get('driftwatch.scan.bytes')?.points[0]?.attributes).toEqual({ 'scan.mode': 'quick' })
    expect(total(last, 'driftwatch.probe.duration', { 'probe.name': 'files', outcome: 'ok' }, 'count')).toBe(
      spooled,
    )
    // A clean host: every kind and severity observed, all 0.
    expect(metrics.get('driftwatch.scan.findings')?.points.length).toBeGreaterThan(0)
    expect(total(last, 'driftwatch.scan.findings')).toBe(0)
    // Each report the collector took new was a delivery (a lost answer makes a duplicate one more).
    expect(total(last, 'driftwatch.deliveries', { outcome: 'delivered' })).toBeGreaterThanOrEqual(
      front.acceptedNew().length,
    )
    const drops = agent.lines().filter((l) => l.msg.startsWith('spool full')).length
    expect(total(last, 'driftwatch.spool.drops')).toBe(drops)
    const depth = metrics.get('driftwatch.spool.depth')?.points
    expect(depth).toHaveLength(1)
    expect(depth?.[0]?.value).toBeLessThanOrEqual(1)
    const age = metrics.get('driftwatch.report.age')?.points[0]?.value ?? -1
    expect(age).toBeGreaterThanOrEqual(0)
    expect(age).toBeLessThan(60)
  }, 90_000)
})
