import { type Kysely, sql, type Transaction } from 'kysely'
import { DriftwatchError } from '../errors.js'
import type { HostRecord, ImageRecord, Judge, StateTransition } from '../fleet/states.js'
import type { HostFacts } from '../protocol/facts.js'
import type { Report } from '../protocol/report.js'
import { compareCodeUnits } from '../util/compare.js'
import type { Dialect, DialectOps } from './dialects/dialect.js'
import { DIALECTS } from './dialects/index.js'
import {
  applyJudgement,
  foldHeartbeat,
  foldReport,
  type Images,
  type Ingest,
  type IngestResult,
  imageKey,
  keptExactly,
  reportTimes,
} from './fold.js'
import { GroupCommit } from './group-commit.js'
import { countHosts, pageHosts, sweepCandidates } from './host-queries.js'
import { leaseStore } from './leases.js'
import { notificationStore } from './notifications.js'
import { replacementRecords } from './replacement-records.js'
import type { ReplacementDatabase } from './replacement-tables.js'
import type { ReplacementStore } from './replacements.js'
import {
  HOST_COLUMNS,
  IMAGE_COLUMNS,
  imageOf,
  type JudgedRow,
  REPORT_COLUMNS,
  TRANSITION_COLUMNS,
  toDate,
  toHost,
  toImage,
  toReport,
  toTransition,
} from './rows.js'
import type { Database } from './schema.js'
import { judgedRows, type Statements, type StoredTime, statements } from './statements.js'
import { insertTransition, recordTransition, stateValues } from './transitions.js'
import type {
  HostCountRow,
  HostFilter,
  HostPage,
  HostPageRequest,
  ReportRecord,
  Store,
  SweepDue,
} from './types.js'

const ENROLLED_REASONS = ['enrolled, no report yet']

/**
 * The Store over any Kysely<Database>. Where the dialects differ (how a time is written,
 * the host row lock, matching a label, storing a report or a group of them) it asks its
 * dialect's ops: see dialects/.
 */
export class KyselyStore implements Store {
  readonly dialect: Dialect
  readonly replacements: ReplacementStore
  readonly #db: Kysely<Database>
  readonly #ops: DialectOps
  readonly #q: Statements

  /** Reports are stored by group commit: see group-commit.ts. */
  readonly #ingests: GroupCommit<Ingest, IngestResult>

  /** How reports were grouped into transactions (for tests and, later, metrics). */
  get ingestStats(): Readonly<{ groups: number; items: number; fallbacks: number }> {
    return this.#ingests.stats
  }

  constructor(db: Kysely<Database>, dialect: Dialect) {
    this.#db = db
    this.dialect = dialect
    const ops = DIALECTS[dialect]
    this.#ops = ops
    this.#q = statements(db, (query) => ops.lock(query, 'hosts'))
    // The replacement tables come with migration 0002_replacements.
    const rdb = db as unknown as Kysely<ReplacementDatabase>
    this.replacements = {
      ...leaseStore(rdb, ops),
      ...replacementRecords(rdb, ops, this.#q),
      ...notificationStore(rdb, ops),
    }
    this.#ingests = new GroupCommit(
      (group) =>
        this.#db.transaction().execute(async (trx) => {
          if (ops.ingestGroup !== undefined && group.length > 1) return ops.ingestGroup(trx, group)
          const results: IngestResult[] = []
          for (const item of group) results.push(await this.#ingestOne(trx, item))
          return results
        }),
      {
        maxGroup: 64,
        parallel: ops.parallelCommits,
        order: (a, b) => compareCodeUnits(a.input.hostId, b.input.hostId),
      },
    )
  }

  /** A time as the column stores it. */
  #t(date: Date): StoredTime {
    return this.#ops.time(date)
  }

  async enrollHost(input: {
    hostId: string
    hostname: string
    labels: Record<string, string>
    tokenHash: string
    at: Date
    facts?: HostFacts
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
      await insertTransition(trx, this.#q, this.#ops, {
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
    const times = reportTimes(report, receivedAt)
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
    // Judged before the report is known to be new, so that storing it and updating the host
    // can be one statement on PostgreSQL; for a duplicate the judgement is dropped.
    const images = await this.#imagesFor(trx, row, report)
    const { isLatest, host } = foldReport(before, latestScan, report, times, judge, images)

    const t = (date: Date) => this.#t(date)
    const stored = await this.#ops.storeReport(trx, this.#q, isLatest, {
      hostId,
      reportId: report.reportId,
      receivedAt: t(receivedAt),
      scanStartedAt: t(times.scanStartedAt),
      orderedAt: t(times.orderedAt),
      mode: report.scan.mode,
      manifestDigest: report.image.manifestDigest,
      summary: JSON.stringify(report.summary),
      historyLimit,
      olderKept: historyLimit - 1,
      lastSeenAt: t(host.lastSeenAt),
      lastReportAt: t(receivedAt),
      ...stateValues(this.#ops, host),
      imageId: report.image.id,
      imageVersion: report.image.version,
      report: JSON.stringify(report),
      driftSince: host.driftSince && t(host.driftSince),
    })
    if (!stored) {
      const [owner] = await this.#q.reportOwner.run(trx, { reportId: report.reportId })
      return { duplicate: true, ownerId: owner?.host_id ?? hostId, host: before }
    }
    await recordTransition(trx, this.#q, this.#ops, before, host)
    return { duplicate: false, ownerId: hostId, host }
  }

  /**
   * The images a report may be judged against: the host's own (read with its row) and, when
   * the report names another, that one.
   */
  async #imagesFor(trx: Transaction<Database>, row: JudgedRow, report: Report): Promise<Images> {
    const own = imageOf(row)
    const images = new Map<string, ImageRecord>()
    if (own !== undefined) images.set(imageKey(row.image_id, row.image_version), own)
    const { id, version } = report.image
    if (id === row.image_id && version === row.image_version) return images
    const named = await this.#image(trx, id, version)
    if (named !== undefined) images.set(imageKey(id, version), named)
    return images
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
      const host = foldHeartbeat(before, at, judge, imageOf(row))
      await this.#q.updateHeartbeat.run(trx, {
        hostId,
        lastSeenAt: this.#t(host.lastSeenAt),
        lastHeartbeatAt: this.#t(at),
        ...stateValues(this.#ops, host),
      })
      await recordTransition(trx, this.#q, this.#ops, before, host)
      return host
    })
  }

  async sweep(now: Date, judge: Judge, due?: SweepDue): Promise<StateTransition[]> {
    const rows = await sweepCandidates(this.#ops, now, due, (condition) =>
      judgedRows(this.#db).where(condition).orderBy('hosts.id').execute(),
    )
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
        await this.#q.updateState.run(trx, { hostId: host.id, ...stateValues(this.#ops, after) })
        return recordTransition(trx, this.#q, this.#ops, before, after)
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
      .$if(labels.length > 0, (qb) =>
        qb.where((eb) => eb.and(labels.map(([k, v]) => this.#ops.labelIs(k, v)))),
      )
      .orderBy('hosts.id')
      .execute()
    return rows.map(toHost)
  }

  // Fleet-wide reads for large fleets: the queries are in host-queries.ts.
  pageHosts(request: HostPageRequest): Promise<HostPage> {
    return pageHosts(this.#db, this.#ops, request, async (q) =>
      (await q.select(HOST_COLUMNS).execute()).map(toHost),
    )
  }

  countHosts(): Promise<HostCountRow[]> {
    return countHosts(this.#db, this.#ops)
  }

  async reportHistory(hostId: string, limit: number): Promise<ReportRecord[]> {
    const rows = await this.#db
      .selectFrom('reports')
      .select(REPORT_COLUMNS)
      .where('host_id', '=', hostId)
      .orderBy('seq', 'desc')
      .limit(Math.max(0, Math.floor(limit)))
      .execute()
    return rows.map(toReport)
  }

  async stateHistory(hostId: string): Promise<StateTransition[]> {
    const rows = await this.#db
      .selectFrom('state_transitions')
      .select(TRANSITION_COLUMNS)
      .where('host_id', '=', hostId)
      .orderBy('seq')
      .execute()
    return rows.map(toTransition)
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
