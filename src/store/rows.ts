import type { Selectable } from 'kysely'
import {
  HOST_STATES,
  type HostRecord,
  type HostState,
  type ImageRecord,
  type StateTransition,
} from '../fleet/states.js'
import type { HostFacts } from '../protocol/facts.js'
import type { Summary } from '../protocol/report.js'
import type { HostsTable, ImagesTable, ReportsTable, StateTransitionsTable } from './schema.js'
import type { ReportRecord } from './types.js'

/** Rows as the store reads them, and the records they become: the one place that knows both. */

/** A host's columns, without its token and its latest report's body. */
export const HOST_COLUMNS = [
  'hosts.id',
  'hosts.facts',
  'hosts.hostname',
  'hosts.labels',
  'hosts.image_id',
  'hosts.image_version',
  'hosts.manifest_digest',
  'hosts.state',
  'hosts.state_reasons',
  'hosts.state_since',
  'hosts.enrolled_at',
  'hosts.last_seen_at',
  'hosts.last_report_at',
  'hosts.last_heartbeat_at',
  'hosts.drift_since',
  'hosts.summary',
  'hosts.latest_report_id',
  'hosts.latest_scan_started_at',
] as const

export const IMAGE_COLUMNS = [
  'id',
  'version',
  'manifest_digest',
  'public_keys',
  'signed_by',
  'registered_at',
] as const

export const REPORT_COLUMNS = [
  'report_id',
  'host_id',
  'received_at',
  'scan_started_at',
  'mode',
  'manifest_digest',
  'summary',
] as const

export const TRANSITION_COLUMNS = ['host_id', 'from_state', 'to_state', 'reasons', 'at'] as const

export type HostRow = Omit<Selectable<HostsTable>, 'token_hash' | 'latest_report'>

/** A host row with its token and the registered image of its latest report, when there is one. */
export type JudgedRow = HostRow & {
  token_hash: string
  image_manifest_digest: string | null
  image_public_keys: string | null
  image_signed_by: string | null
  image_registered_at: Date | number | null
}

export function toDate(value: Date | number): Date {
  return value instanceof Date ? value : new Date(value)
}

export function toDateOrNull(value: Date | number | null): Date | null {
  return value === null ? null : toDate(value)
}

const STATES: ReadonlySet<string> = new Set(HOST_STATES)

export function hostState(value: string): HostState {
  if (!STATES.has(value)) throw new Error(`store holds an unknown host state "${value}"`)
  return value as HostState
}

export function toHost(row: HostRow): HostRecord {
  return {
    id: row.id,
    hostname: row.hostname,
    labels: JSON.parse(row.labels) as Record<string, string>,
    imageId: row.image_id,
    imageVersion: row.image_version,
    manifestDigest: row.manifest_digest,
    state: hostState(row.state),
    stateReasons: JSON.parse(row.state_reasons) as string[],
    stateSince: toDate(row.state_since),
    enrolledAt: toDate(row.enrolled_at),
    lastSeenAt: toDate(row.last_seen_at),
    lastReportAt: toDateOrNull(row.last_report_at),
    lastHeartbeatAt: toDateOrNull(row.last_heartbeat_at),
    driftSince: toDateOrNull(row.drift_since),
    summary: row.summary === null ? null : (JSON.parse(row.summary) as Summary),
    latestReportId: row.latest_report_id,
    // Not selected by the report path, which has no use for them.
    ...(row.facts == null ? {} : { facts: JSON.parse(row.facts) as HostFacts }),
  }
}

export function toImage(row: Selectable<ImagesTable>): ImageRecord {
  return {
    id: row.id,
    version: row.version,
    manifestDigest: row.manifest_digest,
    publicKeys: JSON.parse(row.public_keys) as string[],
    signedBy: row.signed_by,
    registeredAt: toDate(row.registered_at),
  }
}

/** The registered image a judged row was read with, if its image is registered. */
export function imageOf(row: JudgedRow): ImageRecord | undefined {
  if (row.image_manifest_digest === null || row.image_id === null || row.image_version === null)
    return undefined
  return toImage({
    id: row.image_id,
    version: row.image_version,
    manifest_digest: row.image_manifest_digest,
    public_keys: row.image_public_keys ?? '[]',
    signed_by: row.image_signed_by,
    registered_at: row.image_registered_at ?? 0,
  })
}

export function toReport(row: Omit<Selectable<ReportsTable>, 'seq'>): ReportRecord {
  return {
    reportId: row.report_id,
    hostId: row.host_id,
    receivedAt: toDate(row.received_at),
    scanStartedAt: toDate(row.scan_started_at),
    mode: row.mode as ReportRecord['mode'],
    manifestDigest: row.manifest_digest,
    summary: JSON.parse(row.summary) as Summary,
  }
}

export function toTransition(row: Omit<Selectable<StateTransitionsTable>, 'seq'>): StateTransition {
  return {
    hostId: row.host_id,
    from: row.from_state === null ? null : hostState(row.from_state),
    to: hostState(row.to_state),
    reasons: JSON.parse(row.reasons) as string[],
    at: toDate(row.at),
  }
}
