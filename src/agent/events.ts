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
  }): void
  scanSkipped?(event: { mode: 'full' | 'quick'; reason: string }): void
  spooled?(event: { reportId: string; entries: number; bytes: number }): void
  spoolDropped?(event: { reportId: string; dropped: number }): void
  delivered?(event: { reportId: string; duplicate: boolean; durationMs: number }): void
  deliveryFailed?(event: { reason: string; retryAfterMs?: number }): void
  reportRejected?(event: { reportId: string; status: number }): void
  heartbeat?(event: { ok: boolean }): void
  enrolled?(event: { rotated: boolean }): void
}
