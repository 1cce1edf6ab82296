import type { Counter, Histogram, Meter } from '@opentelemetry/api'
import type { AgentEvents } from '../agent/events.js'
import { SEVERITIES } from '../config/policy.js'
import type { Report } from '../protocol/report.js'
import { counter, gauge, histogram } from './instruments.js'

/** The kinds of drift item, in the report's own words. */
const DRIFT_KINDS = ['file', 'package', 'config'] as const

/**
 * What became of one attempt to deliver a report: `delivered` (stored, or a retry the collector
 * already had), `rejected` (the collector refused it for good: a 4xx), `failed` (no answer or a
 * 5xx: kept in the spool for a later try).
 */
export type DeliveryOutcome = 'delivered' | 'rejected' | 'failed'

/** Every agent instrument: its name as OpenTelemetry sees it, unit (UCUM) and attributes. */
export const AGENT_INSTRUMENTS = {
  scanDuration: { name: 'driftwatch.scan.duration', unit: 's', attributes: ['scan.mode'] },
  scanFiles: { name: 'driftwatch.scan.files', unit: '{file}', attributes: ['scan.mode'] },
  scanBytes: { name: 'driftwatch.scan.bytes', unit: 'By', attributes: ['scan.mode'] },
  findings: {
    name: 'driftwatch.scan.findings',
    unit: '{finding}',
    attributes: ['drift.kind', 'drift.severity'],
  },
  probeDuration: { name: 'driftwatch.probe.duration', unit: 's', attributes: ['probe.name', 'outcome'] },
  deliveries: { name: 'driftwatch.deliveries', unit: '{report}', attributes: ['outcome'] },
  spoolDepth: { name: 'driftwatch.spool.depth', unit: '{report}', attributes: [] },
  spoolDrops: { name: 'driftwatch.spool.drops', unit: '{report}', attributes: [] },
  reportAge: { name: 'driftwatch.report.age', unit: 's', attributes: [] },
} as const

/**
 * The agent's metrics, fed by the daemon: a scan's report, each delivery, the spool. Per-host
 * detail (paths, packages) never becomes an attribute; the host itself is the resource.
 */
export class AgentMetrics {
  readonly #clock: () => Date
  readonly #startedAt: Date
  readonly #scanDuration: Histogram
  readonly #scanFiles: Counter
  readonly #scanBytes: Counter
  readonly #probeDuration: Histogram
  readonly #deliveries: Counter
  readonly #spoolDrops: Counter
  /** Findings of the latest scan, by kind then severity; undefined before the first scan. */
  #findings: Map<string, number> | undefined
  #spoolDepth: (() => number | undefined) | undefined
  #lastDeliveredAt: Date | undefined

  constructor(meter: Meter, clock: () => Date = () => new Date()) {
    this.#clock = clock
    this.#startedAt = clock()
    const i = AGENT_INSTRUMENTS
    this.#scanDuration = histogram(
      meter,
      i.scanDuration,
      'How long a scan took, by mode (full or quick)',
      // From a quick scan of a small image to a full scan of a large one.
      [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    )
    this.#scanFiles = counter(meter, i.scanFiles, 'Files a scan looked at')
    this.#scanBytes = counter(meter, i.scanBytes, 'Bytes a scan read and hashed')
    this.#probeDuration = histogram(
      meter,
      i.probeDuration,
      'How long each probe took, and whether it succeeded (outcome ok or failed)',
      [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600],
    )
    this.#deliveries = counter(
      meter,
      i.deliveries,
      'Report delivery attempts, by outcome (delivered, rejected, failed)',
    )
    this.#spoolDrops = counter(meter, i.spoolDrops, 'Undelivered reports the full spool had to drop')
    gauge(meter, i.findings, 'Drift items in the latest scan, by kind and severity').addCallback((result) => {
      if (!this.#findings) return
      for (const kind of DRIFT_KINDS) {
        for (const severity of SEVERITIES) {
          result.observe(this.#findings.get(`${kind}/${severity}`) ?? 0, {
            'drift.kind': kind,
            'drift.severity': severity,
          })
        }
      }
    })
    gauge(meter, i.spoolDepth, 'Reports waiting in the spool for delivery').addCallback((result) => {
      const depth = this.#spoolDepth?.()
      if (depth !== undefined) result.observe(depth)
    })
    gauge(
      meter,
      i.reportAge,
      'Seconds since the collector last acknowledged a report from this agent (since the agent started, before the first)',
    ).addCallback((result) => {
      const since = this.#lastDeliveredAt ?? this.#startedAt
      result.observe(Math.max(0, (this.#clock().getTime() - since.getTime()) / 1000))
    })
  }

  /**
   * The daemon's events (src/agent/events.ts) that feed these instruments: hand them to the
   * daemon as `deps.events`.
   */
  events(): AgentEvents {
    return {
      scanFinished: ({ report }) => {
        if (report) this.recordScan(report)
      },
      delivered: () => {
        this.recordDelivery('delivered')
        this.reportDelivered(this.#clock())
      },
      reportRejected: () => this.recordDelivery('rejected'),
      deliveryFailed: () => this.recordDelivery('failed'),
      spoolDropped: ({ dropped }) => this.recordSpoolDrops(dropped),
    }
  }

  /** A finished scan: its duration, what it read, its probes, and the findings it left. */
  recordScan(report: Report): void {
    const mode = { 'scan.mode': report.scan.mode }
    this.#scanDuration.record(report.scan.durationMs / 1000, mode)
    this.#scanFiles.add(report.scan.files, mode)
    this.#scanBytes.add(report.scan.bytesHashed, mode)
    for (const probe of report.scan.probes) {
      this.#probeDuration.record(probe.durationMs / 1000, {
        'probe.name': probe.name,
        outcome: probe.ok ? 'ok' : 'failed',
      })
    }
    const findings = new Map<string, number>()
    for (const item of report.drift) {
      const key = `${item.kind}/${item.severity}`
      findings.set(key, (findings.get(key) ?? 0) + 1)
    }
    this.#findings = findings
  }

  /** One delivery attempt of one report. */
  recordDelivery(outcome: DeliveryOutcome): void {
    this.#deliveries.add(1, { outcome })
  }

  /** The collector acknowledged a report at this time (resets driftwatch.report.age). */
  reportDelivered(at: Date): void {
    if (!this.#lastDeliveredAt || at > this.#lastDeliveredAt) this.#lastDeliveredAt = at
  }

  /** Where driftwatch.spool.depth comes from: how many reports the spool holds, read at each collection. */
  observeSpoolDepth(source: () => number | undefined): void {
    this.#spoolDepth = source
  }

  /** The spool was full and dropped this many undelivered reports. */
  recordSpoolDrops(count: number): void {
    if (count > 0) this.#spoolDrops.add(count)
  }
}
