import type { Report } from '../protocol/report.js'

/**
 * What the agent does, as events: the daemon calls these and nothing else, so that telemetry
 * (OpenTelemetry instruments, src/telemetry/) plugs in here without touching the daemon.
 * Every method is optional; none may throw.
 */
export interface AgentEvents {
  scanFinished?(event: {
    mode: 'full' | 'quick'
    outcome: 'report' | 'integrity' | 'failed'
    durationMs: number
    cpuMs: number
    maxRssBytes: number
    files: number
    drift: number
    /** The report the scan made (for `integrity`, the finding that says why); none when it failed. */
    report?: Report
  }): void
  scanSkipped?(event: { mode: 'full' | 'quick'; reason: string }): void
  spooled?(event: { reportId: string; entries: number; bytes: number }): void
  /** The spool was full: `dropped` undelivered reports (the oldest) were removed unsent. */
  spoolDropped?(event: { reportId: string; dropped: number }): void
  delivered?(event: { reportId: string; duplicate: boolean; durationMs: number }): void
  deliveryFailed?(event: { reason: string; retryAfterMs?: number }): void
  reportRejected?(event: { reportId: string; status: number }): void
  heartbeat?(event: { ok: boolean }): void
  enrolled?(event: { rotated: boolean }): void
}
