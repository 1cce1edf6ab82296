import { type Kysely, type SqlBool, sql, type Updateable } from 'kysely'
import { prepare, type Slots, slots } from './prepared.js'
import { HOST_COLUMNS, IMAGE_COLUMNS } from './rows.js'
import type { Database, HostsTable } from './schema.js'

/** A time as its column stores it: a Date for timestamptz, milliseconds in SQLite's integer. */
export type StoredTime = Date | number

/** A host's judged state, as its columns take it. */
export interface StateParams {
  hostId: string
  state: string
  stateReasons: string
  stateSince: StoredTime
}

export interface HeartbeatParams extends StateParams {
  lastSeenAt: StoredTime
  lastHeartbeatAt: StoredTime
}

/** Everything storing one report writes: the report, the host's new facts and state, the prune. */
export interface StoreReportParams extends StateParams {
  reportId: string
  receivedAt: StoredTime
  scanStartedAt: StoredTime
  /** The report's place among the host's reports (see fold.ts). */
  orderedAt: StoredTime
  mode: string
  manifestDigest: string
  summary: string
  /** The most reports the host keeps. */
  historyLimit: number
  /** historyLimit - 1: the older reports kept beside a new one. */
  olderKept: number
  lastSeenAt: StoredTime
  lastReportAt: StoredTime
  imageId: string
  imageVersion: string
  /** The report's whole body, kept while it is the host's latest. */
  report: string
  driftSince: StoredTime | null
}

export interface TransitionParams {
  hostId: string
  from: string | null
  to: string
  reasons: string
  at: StoredTime
}

/** Every host row read with its token and its registered image (left joined). */
export function judgedRows(db: Kysely<Database>) {
  return db
    .selectFrom('hosts')
    .leftJoin('images', (join) =>
      join.onRef('images.id', '=', 'hosts.image_id').onRef('images.version', '=', 'hosts.image_version'),
    )
    .select(HOST_COLUMNS)
    .select('hosts.token_hash')
    .select([
      'images.manifest_digest as image_manifest_digest',
      'images.public_keys as image_public_keys',
      'images.signed_by as image_signed_by',
      'images.registered_at as image_registered_at',
    ])
}

type JudgedRowsQuery = ReturnType<typeof judgedRows>

/** The statements of the hot paths (every report, heartbeat and token check), compiled once per store. */
export type Statements = ReturnType<typeof statements>

/**
 * Builds the statements, each with slots of its own parameters' type, so that a statement
 * names no parameter its type lacks. `lockHost` is the dialect's lock of the host row that a
 * report or heartbeat is about to change (see dialects/).
 */
export function statements(db: Kysely<Database>, lockHost: (query: JudgedRowsQuery) => JudgedRowsQuery) {
  const updateHost = <P extends { hostId: string }>(s: Slots<P>, set: Updateable<HostsTable>) =>
    prepare(s, db.updateTable('hosts').set(set).where('id', '=', s.hostId))
  const heartbeat = slots<HeartbeatParams>()
  const stateOnly = slots<StateParams>()
  const transition = slots<TransitionParams>()
  const byHost = slots<{ hostId: string }>()
  const byToken = slots<{ tokenHash: string }>()
  const byImage = slots<{ id: string; version: string }>()
  const byReport = slots<{ reportId: string }>()
  return {
    judgedRow: prepare(byHost, lockHost(judgedRows(db).where('hosts.id', '=', byHost.hostId))),
    hostForToken: prepare(
      byToken,
      db.selectFrom('hosts').select(['id', 'token_hash']).where('token_hash', '=', byToken.tokenHash),
    ),
    image: prepare(
      byImage,
      db
        .selectFrom('images')
        .select(IMAGE_COLUMNS)
        .where('id', '=', byImage.id)
        .where('version', '=', byImage.version),
    ),
    reportOwner: prepare(
      byReport,
      db.selectFrom('reports').select('host_id').where('report_id', '=', byReport.reportId),
    ),
    ...reportStatements(db),
    updateHeartbeat: updateHost(heartbeat, {
      last_seen_at: heartbeat.lastSeenAt,
      last_heartbeat_at: heartbeat.lastHeartbeatAt,
      ...stateSet(heartbeat),
    }),
    updateState: updateHost(stateOnly, stateSet(stateOnly)),
    insertTransition: prepare(
      transition,
      db.insertInto('state_transitions').values({
        host_id: transition.hostId,
        from_state: transition.from,
        to_state: transition.to,
        reasons: transition.reasons,
        at: transition.at,
      }),
    ),
  }
}

function stateSet(s: Slots<StateParams>): Updateable<HostsTable> {
  return { state: s.state, state_reasons: s.stateReasons, state_since: s.stateSince }
}

/**
 * Storing a report: three statements for SQLite (insert, update the host, prune), or one with
 * writing CTEs for PostgreSQL; each with the host's facts for a report that is its latest, or
 * only its contact for an older one. Which a dialect runs is its own choice (dialects/).
 */
function reportStatements(db: Kysely<Database>) {
  const s = slots<StoreReportParams>()
  const seen: Updateable<HostsTable> = {
    last_seen_at: s.lastSeenAt,
    last_report_at: s.lastReportAt,
    ...stateSet(s),
  }
  const latest: Updateable<HostsTable> = {
    ...seen,
    image_id: s.imageId,
    image_version: s.imageVersion,
    manifest_digest: s.manifestDigest,
    summary: s.summary,
    latest_report_id: s.reportId,
    latest_scan_started_at: s.orderedAt,
    latest_report: s.report,
    drift_since: s.driftSince,
  }
  const insertReport = db
    .insertInto('reports')
    .values({
      report_id: s.reportId,
      host_id: s.hostId,
      received_at: s.receivedAt,
      scan_started_at: s.scanStartedAt,
      mode: s.mode,
      manifest_digest: s.manifestDigest,
      summary: s.summary,
    })
    .onConflict((oc) => oc.column('report_id').doNothing())
    .returning('seq')
  // The seq of the host's newest report but `kept`: it and all older go. The (host_id, seq)
  // index makes this a short range scan.
  const cutoff = (kept: number) =>
    db
      .selectFrom('reports')
      .select('seq')
      .where('host_id', '=', s.hostId)
      .orderBy('seq', 'desc')
      .limit(1)
      .offset(kept)
  const updateHost = (set: Updateable<HostsTable>) =>
    prepare(s, db.updateTable('hosts').set(set).where('id', '=', s.hostId))
  // All CTEs see the rows as they were before the statement: the new report is not among
  // them, so the prune keeps `olderKept` = historyLimit - 1 of the older ones.
  const wasStored = sql<SqlBool>`exists (select 1 from stored)`
  const storeCte = (set: Updateable<HostsTable>) =>
    prepare(
      s,
      db
        .with('stored', () => insertReport)
        .with('updated', (w) =>
          w.updateTable('hosts').set(set).where('id', '=', s.hostId).where(wasStored).returning('id'),
        )
        .with('pruned', (w) =>
          w
            .deleteFrom('reports')
            .where('host_id', '=', s.hostId)
            .where('seq', '<=', cutoff(s.olderKept))
            .where(wasStored)
            .returning('seq'),
        )
        .selectFrom('stored')
        .select('seq'),
    )
  return {
    insertReport: prepare(s, insertReport),
    updateLatest: updateHost(latest),
    updateSeen: updateHost(seen),
    // Keeps the newest `historyLimit` reports by receipt.
    pruneHistory: prepare(
      s,
      db.deleteFrom('reports').where('host_id', '=', s.hostId).where('seq', '<=', cutoff(s.historyLimit)),
    ),
    storeLatestCte: storeCte(latest),
    storeSeenCte: storeCte(seen),
  }
}
