import { DriftwatchError } from '../errors.js'
import type { HostRecord, ImageRecord, Judge, Judgement } from '../fleet/states.js'
import type { Report } from '../protocol/report.js'
import { isWellFormedText } from '../protocol/text.js'

/**
 * What storing a report, or a heartbeat, does to a host's facts, as pure functions: the
 * one-at-a-time ingest and PostgreSQL's grouped ingest fold reports with the same function,
 * so that they cannot come to disagree. No database here.
 */

/** One report to store, as the group commit carries it. */
export interface Ingest {
  input: { hostId: string; tokenHash?: string; report: Report; receivedAt: Date; historyLimit: number }
  judge: Judge
}
export type IngestResult = { duplicate: boolean; ownerId: string; host: HostRecord }

/** A report's times: when its scan started, its place among the host's reports, when it came. */
export interface ReportTimes {
  scanStartedAt: Date
  /**
   * Its scan start, but never after the collector received it. The collector's clock bounds
   * the host's word, so a host whose clock runs ahead cannot make one report the latest for ever.
   */
  orderedAt: Date
  receivedAt: Date
}

/** The times of a report, checked: throws INPUT_INVALID on one the store cannot keep. */
export function reportTimes(report: Report, receivedAt: Date): ReportTimes {
  const scanStartedAt = scanStart(report)
  keptExactly(report.image.id + report.image.version, `report ${report.reportId}: image`)
  const orderedAt = scanStartedAt.getTime() > receivedAt.getTime() ? receivedAt : scanStartedAt
  return { scanStartedAt, orderedAt, receivedAt }
}

/** Registered images by id and version (see imageKey); a host is judged against its image's. */
export type Images = ReadonlyMap<string, ImageRecord>

export function imageKey(id: string | null, version: string | null): string {
  return `${id}\u0000${version}`
}

/**
 * A report folded into its host: the host is always in contact; the report is the latest
 * (image, summary, drift run) unless its place is before the latest one's (`latestScan`, the
 * latest report's `orderedAt`); then the host is judged against its image in `images`.
 */
export function foldReport(
  before: HostRecord,
  latestScan: Date | null,
  report: Report,
  times: ReportTimes,
  judge: Judge,
  images: Images,
): { isLatest: boolean; host: HostRecord } {
  const { orderedAt, receivedAt } = times
  const isLatest = latestScan === null || orderedAt.getTime() >= latestScan.getTime()
  const seen = { ...before, lastSeenAt: later(before.lastSeenAt, receivedAt), lastReportAt: receivedAt }
  const facts: HostRecord = isLatest
    ? {
        ...seen,
        imageId: report.image.id,
        imageVersion: report.image.version,
        manifestDigest: report.image.manifestDigest,
        summary: report.summary,
        latestReportId: report.reportId,
        // The drift run began with the first report of it, by its order.
        driftSince: report.summary.total > 0 ? (before.driftSince ?? orderedAt) : null,
      }
    : seen
  const image = images.get(imageKey(facts.imageId, facts.imageVersion))
  return { isLatest, host: applyJudgement(facts, judge(facts, image, receivedAt), receivedAt) }
}

/** A heartbeat folded into its host: seen at `at`, then judged. */
export function foldHeartbeat(before: HostRecord, at: Date, judge: Judge, image: ImageRecord | undefined) {
  const facts: HostRecord = { ...before, lastSeenAt: later(before.lastSeenAt, at), lastHeartbeatAt: at }
  return applyJudgement(facts, judge(facts, image, at), at)
}

/** The host in its judged state; the state's start moves only when the state changes. */
export function applyJudgement(host: HostRecord, judgement: Judgement, at: Date): HostRecord {
  const changed = judgement.state !== host.state
  return {
    ...host,
    state: judgement.state,
    stateReasons: judgement.reasons,
    stateSince: changed ? at : host.stateSince,
  }
}

/**
 * Text the store keeps in a column of its own must be well-formed Unicode: PostgreSQL's jsonb
 * refuses a lone surrogate and a text parameter, like SQLite, turns it into U+FFFD. Reports are
 * kept as JSON text, where lone surrogates (PEP 383 file names) are escapes, byte for byte.
 */
export function keptExactly(text: string, what: string): void {
  if (isWellFormedText(text)) return
  throw new DriftwatchError('INPUT_INVALID', `${what}: holds a lone surrogate, which the store cannot keep`, {
    hint: 'send well-formed Unicode; only file names carry bytes as U+DC80..U+DCFF (PEP 383)',
  })
}

function scanStart(report: Report): Date {
  const date = new Date(report.scan.startedAt)
  if (Number.isNaN(date.getTime())) {
    throw new DriftwatchError(
      'INPUT_INVALID',
      `report ${report.reportId}: scan.startedAt "${report.scan.startedAt}" is not a date`,
      { hint: 'send an ISO 8601 time, e.g. 2026-11-27T03:00:00.000Z' },
    )
  }
  return date
}

function later(a: Date, b: Date): Date {
  return b.getTime() > a.getTime() ? b : a
}
