import type { ColumnType, Generated } from 'kysely'

/**
 * A point in time: `timestamptz` on PostgreSQL (a Date), integer milliseconds since the
 * epoch on SQLite (which has no time type). KyselyStore converts at its edges.
 */
export type Timestamp = ColumnType<Date | number, Date | number, Date | number>

/** A JSON document kept as text (PostgreSQL's jsonb comes back as text too: see postgres.ts). */
export type JsonText = string

/** One row per enrolled host: identity, latest facts, judged state, and the latest report's body. */
export interface HostsTable {
  id: string
  hostname: string
  /** `Record<string, string>`; jsonb on PostgreSQL so labels can be matched in SQL. */
  labels: JsonText
  /** sha256 of the host's current token; unique. */
  token_hash: string
  image_id: string | null
  image_version: string | null
  manifest_digest: string | null
  state: string
  /** `string[]` */
  state_reasons: JsonText
  state_since: Timestamp
  enrolled_at: Timestamp
  last_seen_at: Timestamp
  last_report_at: Timestamp | null
  last_heartbeat_at: Timestamp | null
  drift_since: Timestamp | null
  /** `Summary` of the latest report (by scan start). */
  summary: JsonText | null
  latest_report_id: string | null
  latest_scan_started_at: Timestamp | null
  /** The latest report (by scan start), exactly as received. */
  latest_report: JsonText | null
  /** `HostFacts` the agent sent at its latest enrolment, if any. */
  facts: JsonText | null
}

/** A host's bounded report history, without bodies; `seq` orders it by receipt. */
export interface ReportsTable {
  seq: Generated<number>
  report_id: string
  host_id: string
  received_at: Timestamp
  scan_started_at: Timestamp
  mode: string
  manifest_digest: string
  /** `Summary` */
  summary: JsonText
}

/** Every state change of every host, in order. */
export interface StateTransitionsTable {
  seq: Generated<number>
  host_id: string
  from_state: string | null
  to_state: string
  /** `string[]` */
  reasons: JsonText
  at: Timestamp
}

/** Registered image versions. */
export interface ImagesTable {
  id: string
  version: string
  manifest_digest: string
  /** `string[]` of SPKI PEM keys */
  public_keys: JsonText
  signed_by: string | null
  registered_at: Timestamp
}

/** The store's tables, as kysely sees them. */
export interface Database {
  hosts: HostsTable
  reports: ReportsTable
  state_transitions: StateTransitionsTable
  images: ImagesTable
}
