/**
 * An agent's metrics in a process of their own, as on a host: the Prometheus exporter from
 * the standard variables, one quick and one full scan recorded, deliveries and a spool that
 * dropped reports. Prints `{"url": …}` once /metrics is served, then runs until SIGTERM.
 */
import { AgentMetrics } from '../../src/telemetry/agent-metrics.js'
import { startMetrics } from '../../src/telemetry/metrics.js'
import { makeReport } from '../helpers/reports.js'

const handle = await startMetrics({
  facts: {
    serviceName: 'driftwatch-agent',
    serviceVersion: '0.1.0',
    hostId: 'machine-agent-1',
    hostName: 'web-agent-1',
    image: { id: 'web-base', version: '2026.11.27-1' },
  },
})
const agent = new AgentMetrics(handle.meter, () => new Date(Date.now() + 7 * 3_600_000))
const full = makeReport({ hostId: 'machine-agent-1', findings: 3, severity: 'critical' })
full.scan = { ...full.scan, mode: 'full', durationMs: 3750 }
agent.recordScan(makeReport({ hostId: 'machine-agent-1' }))
agent.recordScan(full)
agent.recordDelivery('failed')
agent.recordDelivery('delivered')
agent.recordDelivery('rejected')
agent.reportDelivered(new Date())
agent.observeSpoolDepth(() => 2)
agent.recordSpoolDrops(5)
process.stdout.write(`${JSON.stringify({ url: handle.prometheusUrl })}\n`)
process.once('SIGTERM', () => {
  void handle.shutdown().then(() => process.exit(0))
})
setInterval(() => {}, 1 << 30)
