import {
  type Compilable,
  CompiledQuery,
  type Kysely,
  type Selectable,
  type SqlBool,
  sql,
  type Transaction,
  type Updateable,
} from 'kysely'
import { DriftwatchError } from '../errors.js'
import {
  HOST_STATES,
  type HostRecord,
  type HostState,
  type ImageRecord,
  type Judge,
  type Judgement,
  type StateTransition,
} from '../fleet/states.js'
import type { HostFacts } from '../protocol/facts.js'
import type { Report, Summary } from '../protocol/report.js'
import { isWellFormedText } from '../protocol/text.js'
import { compareCodeUnits } from '../util/compare.js'
import { GroupCommit } from './group-commit.js'
import type { Dialect } from './migrations.js'
import { KyselyReplacementStore } from './replacements.js'
import type { Database, HostsTable, ImagesTable } from './schema.js'
import type { HostFilter, ReportRecord, Store } from './types.js'

interface Ingest {
  input: { hostId: string; tokenHash?: string; report: Report; receivedAt: Date; historyLimit: number }
  judge: Judge
}
type IngestResult = { duplicate: boolean; ownerId: string; host: HostRecord }

const ENROLLED_REASONS = ['enrolled, no report yet']

const HOST_COLUMNS = [
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

const IMAGE_COLUMNS = [
  'id',
  'version',
  'manifest_digest',
  'public_keys',
  'signed_by',
  'registered_at',
] as const

type HostRow = Omit<Selectable<HostsTable>, 'token_hash' | 'latest_report'>

/** A host row with its token and the registered image of its latest report, when there is one. */
type JudgedRow = HostRow & {
  token_hash: string
  image_manifest_digest: string | null
  image_public_keys: string | null
  image_signed_by: string | null
  image_registered_at: Date | number | null
}

/**
 * The Store over any Kysely<Database>. The dialects differ in four places, each marked:
 * how a time is written (a Date for timestamptz, milliseconds in SQLite's integer); the
 * host row lock (PostgreSQL's FOR UPDATE; on SQLite, BEGIN IMMEDIATE already serializes
 * writers); matching a label; and storing a report (one statement with writing CTEs on
 * PostgreSQL, three on SQLite, which has no such CTEs and no round trips to save).
 */
export class KyselyStore implements Store {
  readonly dialect: Dialect
  readonly replacements: KyselyReplacementStore
  readonly #db: Kysely<Database>
  readonly #q: ReturnType<typeof statements>

  /** Reports are stored by group commit: see group-commit.ts. */
  readonly #ingests: GroupCommit<Ingest, IngestResult>

  /** How reports were grouped into transactions (for tests and, later, metrics). */
  get ingestStats(): Readonly<{ groups: number; items: number; fallbacks: number }> {
    return this.#ingests.stats
  }

  constructor(db: Kysely<Database>, dialect: Dialect) {
    this.#db = db
    this.dialect = dialect
    this.replacements = new KyselyReplacementStore(db, dialect)
    this.#q = statements(db, dialect)
    this.#ingests = new GroupCommit(
      (group) =>
        this.#db.transaction().execute(async (trx) => {
          if (dialect === 'postgres' && group.length > 1) return this.#ingestGroupPostgres(trx, group)
          const results: IngestResult[] = []
          for (const item of group) results.push(await this.#ingestOne(trx, item))
          return results
        }),
      {
        maxGroup: 64,
        // SQLite has one writer; on PostgreSQL a few groups commit while others fill.
        parallel: dialect === 'postgres' ? 4 : 1,
        order: (a, b) => compareCodeUnits(a.input.hostId, b.input.hostId),
      },
    )
  }

  /** A time as the column stores it. */
  #t(date: Date): Date | number {
    return this.dialect === 'postgres' ? date : date.getTime()
  }

  async enrollHost(input: {
    hostId: string
    hostname: string
    labels: Record<string, string>
    facts?: HostFacts
    tokenHash: string
    at: Date
  }): Promise<{ created: boolean }> {
    keptExactly(input.hostname, `host ${input.hostId}: hostname`)
    for (const [key, value] of Object.entries(input.labels))
      keptExactly(key + value, `host ${input.hostId}: label ${key}`)
    const at = this.#t(input.at)
    const labels = JSON.stringify(input.labels)
    const facts = input.facts ? { facts: JSON.stringify(input.facts) } : {}
    return this.#db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('hosts')
        .values({
          id: input.hostId,
          hostname: input.hostname,
          labels,
          token_hash: input.tokenHash,
          state: 'pending',
          state_reasons: JSON.stringify(ENROLLED_REASONS),
          state_since: at,
          enrolled_at: at,
          last_seen_at: at,
          ...facts,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .returning('id')
        .executeTakeFirst()
      if (inserted === undefined) {
        await trx
          .updateTable('hosts')
          .set({ hostname: input.hostname, labels, token_hash: input.tokenHash, ...facts })
          .where('id', '=', input.hostId)
          .execute()
        return { created: false }
      }
      await this.#insertTransition(trx, {
        hostId: input.hostId,
        from: null,
        to: 'pending',
        reasons: ENROLLED_REASONS,
        at: input.at,
      })
      return { created: true }
    })
  }

  async hostForToken(tokenHash: string): Promise<{ hostId: string; tokenHash: string } | undefined> {
    const [row] = await this.#q.hostForToken.run(this.#db, { tokenHash })
    return row && { hostId: row.id, tokenHash: row.token_hash }
  }

  ingestReport(
    input: { hostId: string; tokenHash?: string; report: Report; receivedAt: Date; historyLimit: number },
    judge: Judge,
  ): Promise<IngestResult> {
    return this.#ingests.run({ input, judge })
  }

  async #ingestOne(trx: Transaction<Database>, { input, judge }: Ingest): Promise<IngestResult> {
    const { hostId, report, receivedAt } = input
    const scanStartedAt = scanStart(report)
    keptExactly(report.image.id + report.image.version, `report ${report.reportId}: image`)
    const orderedAt = orderTime(scanStartedAt, receivedAt)
    const historyLimit = Math.max(1, Math.floor(input.historyLimit))
    const row = await this.#judgedRow(trx, hostId)
    if (row === undefined) {
      throw new DriftwatchError('NOT_FOUND', `host ${hostId} is not enrolled`, {
        hint: 'the agent enrols again with the enrolment secret',
      })
    }
    checkToken(row, input.tokenHash)
    const before = toHost(row)
    const latestScan = row.latest_scan_started_at === null ? null : toDate(row.latest_scan_started_at)
    const { isLatest, facts } = hostFactsAfter(before, latestScan, report, orderedAt, receivedAt)
    const sameImage = facts.imageId === row.image_id && facts.imageVersion === row.image_version
    const image = sameImage
      ? imageOf(row)
      : await this.#image(trx, facts.imageId ?? '', facts.imageVersion ?? '')
    // Judged before the report is known to be new, so that storing it and updating the host
    // can be one statement on PostgreSQL; for a duplicate the judgement is dropped.
    const host = applyJudgement(facts, judge(facts, image, receivedAt), receivedAt)

    const summary = JSON.stringify(report.summary)
    const stored = await this.#storeReport(trx, isLatest, {
      hostId,
      reportId: report.reportId,
      receivedAt: this.#t(receivedAt),
      scanStartedAt: this.#t(scanStartedAt),
      orderedAt: this.#t(orderedAt),
      mode: report.scan.mode,
      manifestDigest: report.image.manifestDigest,
      summary,
      historyLimit,
      olderKept: historyLimit - 1,
      lastSeenAt: this.#t(host.lastSeenAt),
      lastReportAt: this.#t(receivedAt),
      ...this.#stateValues(host),
      imageId: report.image.id,
      imageVersion: report.image.version,
      report: JSON.stringify(report),
      driftSince: host.driftSince && this.#t(host.driftSince),
    })
    if (!stored) {
      const [owner] = await this.#q.reportOwner.run(trx, { reportId: report.reportId })
      return { duplicate: true, ownerId: owner?.host_id ?? hostId, host: before }
    }
    await this.#recordTransition(trx, before, host)
    return { duplicate: false, ownerId: hostId, host }
  }

  /**
   * A group of reports on PostgreSQL in two round trips, whatever its size: one locks the
   * group's hosts (in id order) and reads them with the already-stored report ids and the
   * images they need; the reports are then folded in memory, in order, exactly as
   * `#ingestOne` does one at a time; one statement writes every report, host, transition and
   * prune. Round trips, not statements, are what a report costs on PostgreSQL. Anything
   * unexpected (an unknown host, a report id another collector stored meanwhile) throws, and
   * the group commit runs the group again one report at a time.
   */
  async #ingestGroupPostgres(trx: Transaction<Database>, group: Ingest[]): Promise<IngestResult[]> {
    const hostIds = [...new Set(group.map((g) => g.input.hostId))]
    const images = group.map((g) => g.input.report.image)
    const { rows } = await trx.executeQuery<JudgedRow & { dups: string; imgs: string }>(
      CompiledQuery.raw(GROUP_READ_SQL, [
        hostIds,
        group.map((g) => g.input.report.reportId),
        images.map((i) => i.id),
        images.map((i) => i.version),
      ]),
    )
    if (rows.length !== hostIds.length) throw new Error('group: a host is not enrolled')
    const owners = new Map((JSON.parse(rows[0]?.dups ?? '[]') as [string, string][]).map(([r, h]) => [r, h]))
    const registered = new Map(
      (JSON.parse(rows[0]?.imgs ?? '[]') as Selectable<ImagesTable>[]).map((i) => [
        `${i.id}\u0000${i.version}`,
        toImage(i),
      ]),
    )
    const hosts = new Map(
      rows.map((row) => [
        row.id,
        {
          before: toHost(row),
          host: toHost(row),
          tokenHash: row.token_hash,
          latestScan: row.latest_scan_started_at === null ? null : toDate(row.latest_scan_started_at),
          latestReport: null as string | null,
          changed: false,
          newReports: 0,
          historyLimit: 1,
        },
      ]),
    )
    const results: IngestResult[] = []
    const reports: Record<string, unknown>[] = []
    const transitions: Record<string, unknown>[] = []
    for (const { input, judge } of group) {
      const { hostId, report, receivedAt } = input
      const state = hosts.get(hostId)
      if (!state) throw new Error(`group: host ${hostId} is not enrolled`)
      // A revoked token: run one at a time, where it fails alone.
      if (input.tokenHash !== undefined && state.tokenHash !== input.tokenHash)
        throw new Error(`group: host ${hostId} has a new token`)
      const owner = owners.get(report.reportId)
      if (owner !== undefined) {
        results.push({ duplicate: true, ownerId: owner, host: state.host })
        continue
      }
      owners.set(report.reportId, hostId)
      const scanStartedAt = scanStart(report)
      keptExactly(report.image.id + report.image.version, `report ${report.reportId}: image`)
      const orderedAt = orderTime(scanStartedAt, receivedAt)
      const before = state.host
      const { isLatest, facts } = hostFactsAfter(before, state.latestScan, report, orderedAt, receivedAt)
      const image = registered.get(`${facts.imageId}\u0000${facts.imageVersion}`)
      const host = applyJudgement(facts, judge(facts, image, receivedAt), receivedAt)
      if (isLatest) {
        state.latestScan = orderedAt
        state.latestReport = JSON.stringify(report)
      }
      state.host = host
      state.changed = true
      state.newReports++
      state.historyLimit = Math.max(1, Math.floor(input.historyLimit))
      reports.push({
        report_id: report.reportId,
        host_id: hostId,
        received_at: receivedAt.toISOString(),
        scan_started_at: scanStartedAt.toISOString(),
        mode: report.scan.mode,
        manifest_digest: report.image.manifestDigest,
        summary: JSON.stringify(report.summary),
      })
      if (host.state !== before.state) {
        transitions.push({
          ord: transitions.length,
          host_id: hostId,
          from_state: before.state,
          to_state: host.state,
          reasons: JSON.stringify(host.stateReasons),
          at: host.stateSince.toISOString(),
        })
      }
      results.push({ duplicate: false, ownerId: hostId, host })
    }
    if (reports.length === 0) return results
    const changed = [...hosts.values()].filter((s) => s.changed)
    const iso = (date: Date | null) => date?.toISOString() ?? null
    const updates = changed.map(({ host, latestScan, latestReport }) => ({
      id: host.id,
      last_seen_at: iso(host.lastSeenAt),
      last_report_at: iso(host.lastReportAt),
      state: host.state,
      state_reasons: JSON.stringify(host.stateReasons),
      state_since: iso(host.stateSince),
      image_id: host.imageId,
      image_version: host.imageVersion,
      manifest_digest: host.manifestDigest,
      summary: host.summary === null ? null : JSON.stringify(host.summary),
      latest_report_id: host.latestReportId,
      latest_scan_started_at: iso(latestScan),
      latest_report: latestReport,
      drift_since: iso(host.driftSince),
    }))
    // The prune sees the table as it was before the statement: the new reports are not in it.
    const prunes = changed.map((s) => ({
      host_id: s.host.id,
      keep: Math.max(0, s.historyLimit - s.newReports),
    }))
    const { rows: written } = await trx.executeQuery<{ stored: number }>(
      CompiledQuery.raw(GROUP_WRITE_SQL, [
        JSON.stringify(reports),
        JSON.stringify(updates),
        JSON.stringify(transitions),
        JSON.stringify(prunes),
      ]),
    )
    if (written[0]?.stored !== reports.length) throw new Error('group: a report id was stored meanwhile')
    return results
  }

  async recordHeartbeat(
    hostId: string,
    at: Date,
    judge: Judge,
    tokenHash?: string,
  ): Promise<HostRecord | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await this.#judgedRow(trx, hostId)
      if (row === undefined) return undefined
      checkToken(row, tokenHash)
      const before = toHost(row)
      const facts: HostRecord = { ...before, lastSeenAt: later(before.lastSeenAt, at), lastHeartbeatAt: at }
      const host = applyJudgement(facts, judge(facts, imageOf(row), at), at)
      await this.#q.updateHeartbeat.run(trx, {
        hostId,
        lastSeenAt: this.#t(host.lastSeenAt),
        lastHeartbeatAt: this.#t(at),
        ...this.#stateValues(host),
      })
      await this.#recordTransition(trx, before, host)
      return host
    })
  }

  async sweep(now: Date, judge: Judge): Promise<StateTransition[]> {
    const rows = await judgedRows(this.#db).orderBy('hosts.id').execute()
    const transitions: StateTransition[] = []
    for (const row of rows) {
      const host = toHost(row)
      if (judge(host, imageOf(row), now).state === host.state) continue
      // Judged again on the row as it is now, under the lock: another collector's sweep, a
      // report or a heartbeat may have changed it since it was read above.
      const transition = await this.#db.transaction().execute(async (trx) => {
        const fresh = await this.#judgedRow(trx, host.id)
        if (fresh === undefined) return undefined
        const before = toHost(fresh)
        const judgement = judge(before, imageOf(fresh), now)
        if (judgement.state === before.state) return undefined
        const after = applyJudgement(before, judgement, now)
        await this.#q.updateState.run(trx, { hostId: host.id, ...this.#stateValues(after) })
        return this.#recordTransition(trx, before, after)
      })
      if (transition !== undefined) transitions.push(transition)
    }
    return transitions
  }

  async getHost(hostId: string): Promise<HostRecord | undefined> {
    const row = await this.#db
      .selectFrom('hosts')
      .select(HOST_COLUMNS)
      .where('id', '=', hostId)
      .executeTakeFirst()
    return row && toHost(row)
  }

  async latestReport(hostId: string): Promise<Report | undefined> {
    const row = await this.#db
      .selectFrom('hosts')
      .select('latest_report')
      .where('id', '=', hostId)
      .executeTakeFirst()
    return row?.latest_report == null ? undefined : (JSON.parse(row.latest_report) as Report)
  }

  async listHosts(filter: HostFilter = {}): Promise<HostRecord[]> {
    const labels = Object.entries(filter.labels ?? {})
    const rows = await this.#db
      .selectFrom('hosts')
      .select(HOST_COLUMNS)
      .$if(filter.state !== undefined, (qb) => qb.where('hosts.state', '=', filter.state ?? ''))
      .$if(filter.imageId !== undefined, (qb) => qb.where('hosts.image_id', '=', filter.imageId ?? ''))
      .$if(labels.length > 0, (qb) => qb.where((eb) => eb.and(labels.map(([k, v]) => this.#labelIs(k, v)))))
      .orderBy('hosts.id')
      .execute()
    return rows.map(toHost)
  }

  async reportHistory(hostId: string, limit: number): Promise<ReportRecord[]> {
    const rows = await this.#db
      .selectFrom('reports')
      .select([
        'report_id',
        'host_id',
        'received_at',
        'scan_started_at',
        'mode',
        'manifest_digest',
        'summary',
      ])
      .where('host_id', '=', hostId)
      .orderBy('seq', 'desc')
      .limit(Math.max(0, Math.floor(limit)))
      .execute()
    return rows.map((r) => ({
      reportId: r.report_id,
      hostId: r.host_id,
      receivedAt: toDate(r.received_at),
      scanStartedAt: toDate(r.scan_started_at),
      mode: r.mode as ReportRecord['mode'],
      manifestDigest: r.manifest_digest,
      summary: JSON.parse(r.summary) as Summary,
    }))
  }

  async stateHistory(hostId: string): Promise<StateTransition[]> {
    const rows = await this.#db
      .selectFrom('state_transitions')
      .select(['host_id', 'from_state', 'to_state', 'reasons', 'at'])
      .where('host_id', '=', hostId)
      .orderBy('seq')
      .execute()
    return rows.map((r) => ({
      hostId: r.host_id,
      from: r.from_state === null ? null : hostState(r.from_state),
      to: hostState(r.to_state),
      reasons: JSON.parse(r.reasons) as string[],
      at: toDate(r.at),
    }))
  }

  async putImage(image: ImageRecord): Promise<{ created: boolean }> {
    const values = {
      manifest_digest: image.manifestDigest,
      public_keys: JSON.stringify(image.publicKeys),
      signed_by: image.signedBy,
      registered_at: this.#t(image.registeredAt),
    }
    return this.#db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('images')
        .values({ id: image.id, version: image.version, ...values })
        .onConflict((oc) => oc.columns(['id', 'version']).doNothing())
        .returning('id')
        .executeTakeFirst()
      if (inserted !== undefined) return { created: true }
      await trx
        .updateTable('images')
        .set(values)
        .where('id', '=', image.id)
        .where('version', '=', image.version)
        .execute()
      return { created: false }
    })
  }

  async getImage(id: string, version: string): Promise<ImageRecord | undefined> {
    return this.#image(this.#db, id, version)
  }

  async listImages(): Promise<ImageRecord[]> {
    const rows = await this.#db
      .selectFrom('images')
      .select(IMAGE_COLUMNS)
      .orderBy('id')
      .orderBy('version')
      .execute()
    return rows.map(toImage)
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.#db)
  }

  async close(): Promise<void> {
    await this.#db.destroy()
  }

  /**
   * Stores the report unless its id is already stored; then the host's new facts and state,
   * and prunes its history. True when stored. One statement on PostgreSQL, whose CTEs may
   * write (a round trip there costs more than the statements); three on SQLite.
   */
  async #storeReport(trx: Transaction<Database>, isLatest: boolean, values: Record<string, unknown>) {
    const q = this.#q
    if (this.dialect === 'postgres') {
      return (await (isLatest ? q.storeLatestCte : q.storeSeenCte).run(trx, values)).length > 0
    }
    const [stored] = await q.insertReport.run(trx, values)
    if (stored === undefined) return false
    await (isLatest ? q.updateLatest : q.updateSeen).run(trx, values)
    await q.pruneHistory.run(trx, values)
    return true
  }

  #stateValues(host: HostRecord) {
    return {
      state: host.state,
      stateReasons: JSON.stringify(host.stateReasons),
      stateSince: this.#t(host.stateSince),
    }
  }

  /** Records the transition from `before` to `after` when the state changed. */
  async #recordTransition(
    trx: Transaction<Database>,
    before: HostRecord,
    after: HostRecord,
  ): Promise<StateTransition | undefined> {
    if (before.state === after.state) return undefined
    const transition: StateTransition = {
      hostId: after.id,
      from: before.state,
      to: after.state,
      reasons: after.stateReasons,
      at: after.stateSince,
    }
    await this.#insertTransition(trx, transition)
    return transition
  }

  async #insertTransition(trx: Transaction<Database>, t: StateTransition): Promise<void> {
    await this.#q.insertTransition.run(trx, {
      hostId: t.hostId,
      from: t.from,
      to: t.to,
      reasons: JSON.stringify(t.reasons),
      at: this.#t(t.at),
    })
  }

  /** Label match; json_each on SQLite, whose `->>` would read a key such as `a.b` as a path. */
  #labelIs(key: string, value: string) {
    return this.dialect === 'postgres'
      ? sql<SqlBool>`jsonb_extract_path_text(hosts.labels, ${key}) = ${value}`
      : sql<SqlBool>`exists (select 1 from json_each(hosts.labels) as l where l.key = ${key} and l.value = ${value})`
  }

  /** The host row and its image, locked for the rest of the transaction on PostgreSQL. */
  async #judgedRow(trx: Transaction<Database>, hostId: string): Promise<JudgedRow | undefined> {
    const [row] = await this.#q.judgedRow.run(trx, { hostId })
    return row
  }

  async #image(db: Kysely<Database>, id: string, version: string): Promise<ImageRecord | undefined> {
    const [row] = await this.#q.image.run(db, { id, version })
    return row && toImage(row)
  }
}

/** Locks a group's hosts in id order; with them, the report ids already stored and the images the group needs. */
const GROUP_READ_SQL = `
select h.id, h.hostname, h.labels, h.token_hash, h.image_id, h.image_version, h.manifest_digest, h.state,
       h.state_reasons, h.state_since, h.enrolled_at, h.last_seen_at, h.last_report_at,
       h.last_heartbeat_at, h.drift_since, h.summary, h.latest_report_id, h.latest_scan_started_at,
       (select coalesce(json_agg(json_build_array(r.report_id, r.host_id)), '[]')
          from reports r where r.report_id = any($2::text[]))::text as dups,
       (select coalesce(json_agg(i), '[]') from images i
         where (i.id, i.version) in (select * from unnest($3::text[], $4::text[]))
            or (i.id, i.version) in (select image_id, image_version from hosts where id = any($1::text[])))::text as imgs
  from hosts h
 where h.id = any($1::text[])
 order by h.id
   for update of h`

/** Writes a folded group: its reports, the hosts' new facts and states, the transitions, the prunes. */
const GROUP_WRITE_SQL = `
with stored as (
  insert into reports (report_id, host_id, received_at, scan_started_at, mode, manifest_digest, summary)
  select r.report_id, r.host_id, r.received_at, r.scan_started_at, r.mode, r.manifest_digest, r.summary
    from jsonb_to_recordset($1::jsonb) as r(report_id text, host_id text, received_at timestamptz,
         scan_started_at timestamptz, mode text, manifest_digest text, summary text)
  on conflict (report_id) do nothing
  returning report_id
), updated as (
  update hosts set
    last_seen_at = u.last_seen_at, last_report_at = u.last_report_at, state = u.state,
    state_reasons = u.state_reasons, state_since = u.state_since, image_id = u.image_id,
    image_version = u.image_version, manifest_digest = u.manifest_digest, summary = u.summary,
    latest_report_id = u.latest_report_id, latest_scan_started_at = u.latest_scan_started_at,
    latest_report = coalesce(u.latest_report, hosts.latest_report), drift_since = u.drift_since
    from jsonb_to_recordset($2::jsonb) as u(id text, last_seen_at timestamptz, last_report_at timestamptz,
         state text, state_reasons text, state_since timestamptz, image_id text, image_version text,
         manifest_digest text, summary text, latest_report_id text, latest_scan_started_at timestamptz,
         latest_report text, drift_since timestamptz)
   where hosts.id = u.id
  returning hosts.id
), transitions as (
  insert into state_transitions (host_id, from_state, to_state, reasons, at)
  select t.host_id, t.from_state, t.to_state, t.reasons, t.at
    from jsonb_to_recordset($3::jsonb) as t(ord int, host_id text, from_state text, to_state text,
         reasons text, at timestamptz)
   order by t.ord
  returning seq
), pruned as (
  delete from reports r
   using jsonb_to_recordset($4::jsonb) as p(host_id text, keep int)
   where r.host_id = p.host_id
     and r.seq <= (select r2.seq from reports r2 where r2.host_id = p.host_id
                    order by r2.seq desc limit 1 offset p.keep)
  returning r.seq
)
select (select count(*) from stored)::int as stored`

function judgedRows(db: Kysely<Database>) {
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

/** The statements of the hot paths (every report, heartbeat and token check), compiled once per store. */
function statements(db: Kysely<Database>, dialect: Dialect) {
  const judgedRow = judgedRows(db).where('hosts.id', '=', slot('hostId'))
  const state = { state: slot('state'), state_reasons: slot('stateReasons'), state_since: slot('stateSince') }
  const seen = { last_seen_at: slot('lastSeenAt'), last_report_at: slot('lastReportAt'), ...state }
  const latest: Updateable<HostsTable> = {
    ...seen,
    image_id: slot('imageId'),
    image_version: slot('imageVersion'),
    manifest_digest: slot('manifestDigest'),
    summary: slot('summary'),
    latest_report_id: slot('reportId'),
    latest_scan_started_at: slot('orderedAt'),
    latest_report: slot('report'),
    drift_since: slot('driftSince'),
  }
  const updateHost = (set: Updateable<HostsTable>) =>
    new Prepared(db.updateTable('hosts').set(set).where('id', '=', slot('hostId')))
  const insertReport = db
    .insertInto('reports')
    .values({
      report_id: slot('reportId'),
      host_id: slot('hostId'),
      received_at: slot('receivedAt'),
      scan_started_at: slot('scanStartedAt'),
      mode: slot('mode'),
      manifest_digest: slot('manifestDigest'),
      summary: slot('summary'),
    })
    .onConflict((oc) => oc.column('report_id').doNothing())
    .returning('seq')
  // The seq of the host's newest report but `kept`: it and all older go. The (host_id, seq)
  // index makes this a short range scan.
  const cutoff = (kept: string) =>
    db
      .selectFrom('reports')
      .select('seq')
      .where('host_id', '=', slot('hostId'))
      .orderBy('seq', 'desc')
      .limit(1)
      .offset(slot(kept))
  // Keeps the newest `historyLimit` reports by receipt.
  const prune = db
    .deleteFrom('reports')
    .where('host_id', '=', slot('hostId'))
    .where('seq', '<=', cutoff('historyLimit'))
  // All CTEs see the rows as they were before the statement: the new report is not among
  // them, so the prune keeps `olderKept` = historyLimit - 1 of the older ones.
  const wasStored = sql<SqlBool>`exists (select 1 from stored)`
  const storeCte = (set: Updateable<HostsTable>) =>
    new Prepared(
      db
        .with('stored', () => insertReport)
        .with('updated', (w) =>
          w.updateTable('hosts').set(set).where('id', '=', slot('hostId')).where(wasStored).returning('id'),
        )
        .with('pruned', (w) =>
          w
            .deleteFrom('reports')
            .where('host_id', '=', slot('hostId'))
            .where('seq', '<=', cutoff('olderKept'))
            .where(wasStored)
            .returning('seq'),
        )
        .selectFrom('stored')
        .select('seq'),
    )
  return {
    // PostgreSQL locks the host row; on SQLite, BEGIN IMMEDIATE already made this the only writer.
    judgedRow: new Prepared(dialect === 'postgres' ? judgedRow.forUpdate('hosts') : judgedRow),
    hostForToken: new Prepared(
      db.selectFrom('hosts').select(['id', 'token_hash']).where('token_hash', '=', slot('tokenHash')),
    ),
    image: new Prepared(
      db
        .selectFrom('images')
        .select(IMAGE_COLUMNS)
        .where('id', '=', slot('id'))
        .where('version', '=', slot('version')),
    ),
    insertReport: new Prepared(insertReport),
    reportOwner: new Prepared(
      db.selectFrom('reports').select('host_id').where('report_id', '=', slot('reportId')),
    ),
    updateLatest: updateHost(latest),
    updateSeen: updateHost(seen),
    pruneHistory: new Prepared(prune),
    storeLatestCte: storeCte(latest),
    storeSeenCte: storeCte(seen),
    updateHeartbeat: updateHost({
      last_seen_at: slot('lastSeenAt'),
      last_heartbeat_at: slot('lastHeartbeatAt'),
      ...state,
    }),
    updateState: updateHost(state),
    insertTransition: new Prepared(
      db.insertInto('state_transitions').values({
        host_id: slot('hostId'),
        from_state: slot('from'),
        to_state: slot('to'),
        reasons: slot('reasons'),
        at: slot('at'),
      }),
    ),
  }
}

const SLOT = '\u0000driftwatch-slot:'

/** A named parameter of a Prepared statement, standing in for a value of any type while it is built. */
function slot(name: string): never {
  return `${SLOT}${name}` as never
}

/**
 * A query built and compiled once, run many times with new values: kysely's building and
 * compiling costs more than SQLite takes to run these statements. Parameters are found by
 * their slot names, so the order in which kysely emits them does not matter.
 */
class Prepared<Row> {
  readonly #sql: string
  /** Per parameter: the slot whose value it takes, or the constant the query was built with. */
  readonly #parameters: ({ slot: string } | { value: unknown })[]

  constructor(query: Compilable<Row>) {
    const { sql, parameters } = query.compile()
    this.#sql = sql
    this.#parameters = parameters.map((p) =>
      typeof p === 'string' && p.startsWith(SLOT) ? { slot: p.slice(SLOT.length) } : { value: p },
    )
  }

  async run(db: Kysely<Database>, values: Record<string, unknown>): Promise<Row[]> {
    const parameters = this.#parameters.map((p) => {
      if ('value' in p) return p.value
      const value = values[p.slot]
      if (value === undefined) throw new Error(`no value for ${p.slot} in ${this.#sql}`)
      return value
    })
    const { rows } = await db.executeQuery<Row>(CompiledQuery.raw(this.#sql, parameters))
    return rows
  }
}

/**
 * What a host's facts become with a new report: it is always contact, and it is the latest
 * (image, summary, drift run) unless its scan started before the latest one's.
 */
function hostFactsAfter(
  before: HostRecord,
  latestScan: Date | null,
  report: Report,
  scanStartedAt: Date,
  receivedAt: Date,
): { isLatest: boolean; facts: HostRecord } {
  const isLatest = latestScan === null || scanStartedAt.getTime() >= latestScan.getTime()
  const seen = { lastSeenAt: later(before.lastSeenAt, receivedAt), lastReportAt: receivedAt }
  if (!isLatest) return { isLatest, facts: { ...before, ...seen } }
  return {
    isLatest,
    facts: {
      ...before,
      ...seen,
      imageId: report.image.id,
      imageVersion: report.image.version,
      manifestDigest: report.image.manifestDigest,
      summary: report.summary,
      latestReportId: report.reportId,
      driftSince: report.summary.total > 0 ? (before.driftSince ?? scanStartedAt) : null,
    },
  }
}

function applyJudgement(host: HostRecord, judgement: Judgement, at: Date): HostRecord {
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
/**
 * The token a request was authenticated with must still be the host's when its report or
 * heartbeat is written: checked under the host row's lock, so a host that re-enrolled while a
 * request's body was on its way revokes that request too. Hashes of random tokens: no secret
 * to time.
 */
function checkToken(row: { token_hash: string }, tokenHash: string | undefined): void {
  if (tokenHash === undefined || row.token_hash === tokenHash) return
  throw new DriftwatchError(
    'UNAUTHENTICATED',
    'Authorization: the token was revoked while the request was sent',
    {
      hint: 'the host re-enrolled; send again with its new token',
    },
  )
}

function keptExactly(text: string, what: string): void {
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

/**
 * Where a report stands among the host's reports: its scan start, but never after the
 * collector received it. The collector's clock bounds the host's word, so a host whose
 * clock runs ahead cannot make one report the latest for ever.
 */
function orderTime(scanStartedAt: Date, receivedAt: Date): Date {
  return scanStartedAt.getTime() > receivedAt.getTime() ? receivedAt : scanStartedAt
}

function later(a: Date, b: Date): Date {
  return b.getTime() > a.getTime() ? b : a
}

function toDate(value: Date | number): Date {
  return value instanceof Date ? value : new Date(value)
}

function toDateOrNull(value: Date | number | null): Date | null {
  return value === null ? null : toDate(value)
}

const STATES: ReadonlySet<string> = new Set(HOST_STATES)

function hostState(value: string): HostState {
  if (!STATES.has(value)) throw new Error(`store holds an unknown host state "${value}"`)
  return value as HostState
}

function toHost(row: HostRow): HostRecord {
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

function toImage(row: Selectable<ImagesTable>): ImageRecord {
  return {
    id: row.id,
    version: row.version,
    manifestDigest: row.manifest_digest,
    publicKeys: JSON.parse(row.public_keys) as string[],
    signedBy: row.signed_by,
    registeredAt: toDate(row.registered_at),
  }
}

function imageOf(row: JudgedRow): ImageRecord | undefined {
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
