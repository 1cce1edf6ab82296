import { groupDrift } from '../drift/group.js'
import type { HostRecord, ImageRecord, StateTransition } from '../fleet/states.js'
import type { HostDetailView, HostView, ImageView } from '../protocol/api.js'
import type { Report } from '../protocol/report.js'
import type { ReportRecord } from '../store/types.js'

/** How the API shows a host: dates as ISO 8601 text, the image as one object. */
export function hostView(host: HostRecord): HostView {
  return {
    id: host.id,
    hostname: host.hostname,
    labels: host.labels,
    image:
      host.imageId !== null && host.imageVersion !== null && host.manifestDigest !== null
        ? { id: host.imageId, version: host.imageVersion, manifestDigest: host.manifestDigest }
        : null,
    state: host.state,
    stateReasons: host.stateReasons,
    stateSince: host.stateSince.toISOString(),
    enrolledAt: host.enrolledAt.toISOString(),
    lastSeenAt: host.lastSeenAt.toISOString(),
    lastReportAt: host.lastReportAt?.toISOString() ?? null,
    lastHeartbeatAt: host.lastHeartbeatAt?.toISOString() ?? null,
    driftSince: host.driftSince?.toISOString() ?? null,
    summary: host.summary,
  }
}

export function hostDetailView(
  host: HostRecord,
  latest: Report | undefined,
  states: readonly StateTransition[],
  reports: readonly ReportRecord[],
): HostDetailView {
  return {
    host: hostView(host),
    facts: latest?.host.facts ?? host.facts ?? null,
    drift: latest ? groupDrift(latest.drift) : null,
    latestReport: latest
      ? {
          reportId: latest.reportId,
          mode: latest.scan.mode,
          startedAt: latest.scan.startedAt,
          durationMs: latest.scan.durationMs,
        }
      : null,
    states: states.map((t) => ({ from: t.from, to: t.to, reasons: t.reasons, at: t.at.toISOString() })),
    reports: reports.map((r) => ({
      reportId: r.reportId,
      receivedAt: r.receivedAt.toISOString(),
      startedAt: r.scanStartedAt.toISOString(),
      mode: r.mode,
      summary: r.summary,
    })),
  }
}

export function imageView(image: ImageRecord): ImageView {
  return {
    id: image.id,
    version: image.version,
    manifestDigest: image.manifestDigest,
    publicKeys: image.publicKeys,
    signedBy: image.signedBy,
    registeredAt: image.registeredAt.toISOString(),
  }
}
