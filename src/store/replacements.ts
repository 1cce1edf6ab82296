import { randomUUID } from 'node:crypto'
import { type Generated, type Kysely, type Selectable, type SqlBool, sql, type Transaction } from 'kysely'
import type {
  AlertRecord,
  DecideDispatch,
  FleetEvent,
  FleetEventKind,
  GroupStats,
  LeaseRecord,
  NotificationRecord,
  ReplacementEvent,
  ReplacementRecord,
  ReplacementState,
  ReplacementTrigger,
  WaitingFor,
} from '../fleet/replacements.js'
import { OPEN_REPLACEMENT_STATES } from '../fleet/replacements.js'
import { HOST_STATES, type HostRecord, type HostState, type Judgement } from '../fleet/states.js'
import type { Summary } from '../protocol/report.js'
import type { Dialect } from './migrations.js'
import type { Database, JsonText, Timestamp } from './schema.js'

/** One replacement per row; its every change in replacement_events. */
export interface ReplacementsTable {
  id: string
  host_id: string
  group_name: string
  state: string
  reason: string
  waiting_for: string | null
  trigger: string
  requested_by: string | null
  approved_by: string | null
  approved_at: Timestamp | null
  /** 0 or 1 */
  dry_run: number
  executor: string | null
  output: string | null
  created_at: Timestamp
  updated_at: Timestamp
  dispatched_at: Timestamp | null
  finished_at: Timestamp | null
}

export interface ReplacementEventsTable {
  seq: Generated<number>
  replacement_id: string
  from_state: string | null
  to_state: string
  reason: string
  actor: string
  at: Timestamp
}

/** Named leases: who holds one, since when, until when. */
export interface LeasesTable {
  name: string
  holder: string
  acquired_at: Timestamp
  expires_at: Timestamp
}

/** The notification outbox: one row per notifier and event key. */
export interface NotificationsTable {
  id: Generated<number>
  notifier: string
  dedup_key: string
  kind: string
  /** `FleetEvent` */
  event: JsonText
  status: string
  attempts: number
  next_attempt_at: Timestamp
  last_error: string | null
  created_at: Timestamp
  sent_at: Timestamp | null
}

/** Alerts a notifier keeps firing (Alertmanager's are re-sent until resolved). */
export interface AlertsTable {
  notifier: string
  alert_key: string
  labels: JsonText
  annotations: JsonText
  starts_at: Timestamp
  resolved_at: Timestamp | null
  last_sent_at: Timestamp | null
}

export interface ReplacementDatabase extends Database {
  replacements: ReplacementsTable
  replacement_events: ReplacementEventsTable
  leases: LeasesTable
  notifications: NotificationsTable
  alerts: AlertsTable
}

/** A change the scheduler or an operator makes to one replacement. */
export interface ReplacementChange {
  /** The states it may be in for the change to apply; otherwise nothing changes. */
  from: readonly ReplacementState[]
  to: ReplacementState
  reason: string
  actor: string
  at: Date
  waitingFor?: WaitingFor | null
  approvedBy?: string
  output?: string
  /** The host's new state, applied only while the host is still in one of the replacement states. */
  hostState?: Judgement
}

/** What a dispatch attempt came to. */
export type DispatchOutcome =
  | { outcome: 'dispatched'; replacement: ReplacementRecord }
  | { outcome: 'waiting'; replacement: ReplacementRecord }
  /** It is no longer pending or waiting (cancelled, or another collector dispatched it). */
  | { outcome: 'gone' }
  /** This collector no longer holds the scheduler's lease. */
  | { outcome: 'lease-lost' }

/**
 * Replacements, the scheduler's lease, the notification outbox and alerts: what the replacement
 * scheduler and the notifiers keep. Every change of a replacement is conditional on the state it
 * is in, and a dispatch happens only under the lease, inside one transaction with its budget
 * check, so that collectors sharing a database never dispatch twice nor beyond the budget.
 */
export interface ReplacementStore {
  /** Takes or renews the lease; true when `holder` holds it until now + ttl. */
  acquireLease(name: string, holder: string, ttlMs: number, now: Date): Promise<boolean>
  releaseLease(name: string, holder: string): Promise<void>
  lease(name: string): Promise<LeaseRecord | undefined>

  /**
   * Creates a pending replacement unless the host has an open one (then returns that). Unless a
   * dry run, the host moves to replacement-scheduled.
   */
  create(input: {
    hostId: string
    group: string
    trigger: ReplacementTrigger
    requestedBy: string | null
    dryRun: boolean
    reason: string
    actor: string
    at: Date
  }): Promise<{ created: boolean; replacement: ReplacementRecord }>
  get(id: string): Promise<ReplacementRecord | undefined>
  list(filter?: {
    states?: readonly ReplacementState[]
    hostId?: string
    limit?: number
  }): Promise<ReplacementRecord[]>
  events(id: string): Promise<ReplacementEvent[]>
  /** Snowflakes without an open replacement, and none created since their current drift run began. */
  snowflakesToSchedule(limit: number): Promise<HostRecord[]>
  /** Applies a change when the replacement is in one of `change.from`; the record after it, or undefined. */
  change(id: string, change: ReplacementChange): Promise<ReplacementRecord | undefined>
  /** Dispatches under the lease when `decide` says so, with the group's budget read in the same transaction. */
  dispatch(
    id: string,
    input: {
      lease: { name: string; holder: string }
      groupLabel: string
      decide: DecideDispatch
      executor: string | null
      actor: string
      at: Date
    },
  ): Promise<DispatchOutcome>
  groupStats(group: string, groupLabel: string, excludeHostId?: string): Promise<GroupStats>

  /** Records an event for a notifier once per key; false when it was recorded already. */
  enqueueNotification(notifier: string, event: FleetEvent, at: Date): Promise<boolean>
  dueNotifications(now: Date, limit: number): Promise<NotificationRecord[]>
  markNotification(
    id: number,
    result: {
      status: NotificationRecord['status']
      attempts: number
      nextAttemptAt: Date
      lastError: string | null
      sentAt: Date | null
    },
  ): Promise<void>
  listNotifications(filter?: { notifier?: string; kind?: FleetEventKind }): Promise<NotificationRecord[]>

  /** Starts (or keeps) an alert firing; one that was resolved fires anew. */
  fireAlert(alert: {
    notifier: string
    key: string
    labels: Record<string, string>
    annotations: Record<string, string>
    at: Date
  }): Promise<void>
  /** Resolves these alerts of the notifier where they fire; returns how many were. */
  resolveAlerts(notifier: string, keys: readonly string[], at: Date): Promise<number>
  /** Alerts to (re)send: firing ones not sent within `resendMs`, resolved ones whose resolution is unsent. */
  alertsToSend(notifier: string, now: Date, resendMs: number): Promise<AlertRecord[]>
  markAlertsSent(notifier: string, keys: readonly string[], at: Date): Promise<void>
  listAlerts(notifier: string): Promise<AlertRecord[]>
}

const OPEN: readonly string[] = OPEN_REPLACEMENT_STATES
const HOST_REPLACEMENT_STATES = ['replacement-scheduled', 'replacing', 'replaced']
/** Host states that do not serve: silent, or being (or been) replaced. */
const OUT_OF_SERVICE = ['stale', 'replacing', 'replaced']

/** The ReplacementStore over the store's Kysely (its tables come with migration 0002_replacements). */
export class KyselyReplacementStore implements ReplacementStore {
  readonly #db: Kysely<ReplacementDatabase>
  readonly #dialect: Dialect

  constructor(db: Kysely<Database>, dialect: Dialect) {
    this.#db = db as unknown as Kysely<ReplacementDatabase>
    this.#dialect = dialect
  }

  /** A time as the column stores it: timestamptz on PostgreSQL, epoch milliseconds on SQLite. */
  #t(date: Date): Date | number {
    return this.#dialect === 'postgres' ? date : date.getTime()
  }

  async acquireLease(name: string, holder: string, ttlMs: number, now: Date): Promise<boolean> {
    const at = this.#t(now)
    const until = this.#t(new Date(now.getTime() + ttlMs))
    const row = await this.#db
      .insertInto('leases')
      .values({ name, holder, acquired_at: at, expires_at: until })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet((eb) => ({
            // A renewal keeps the time the holder first took it; a takeover starts anew.
            acquired_at: sql`case when leases.holder = ${eb.ref('excluded.holder')} then leases.acquired_at else ${eb.ref('excluded.acquired_at')} end`,
            holder: eb.ref('excluded.holder'),
            expires_at: eb.ref('excluded.expires_at'),
          }))
          .where((eb) =>
            eb.or([eb('leases.holder', '=', eb.ref('excluded.holder')), eb('leases.expires_at', '<=', at)]),
          ),
      )
      .returning('holder')
      .executeTakeFirst()
    return row?.holder === holder
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.#db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute()
  }

  async lease(name: string): Promise<LeaseRecord | undefined> {
    const row = await this.#db
      .selectFrom('leases')
      .select(['name', 'holder', 'acquired_at', 'expires_at'])
      .where('name', '=', name)
      .executeTakeFirst()
    return (
      row && {
        name: row.name,
        holder: row.holder,
        acquiredAt: toDate(row.acquired_at),
        expiresAt: toDate(row.expires_at),
      }
    )
  }

  async create(input: {
    hostId: string
    group: string
    trigger: ReplacementTrigger
    requestedBy: string | null
    dryRun: boolean
    reason: string
    actor: string
    at: Date
  }): Promise<{ created: boolean; replacement: ReplacementRecord }> {
    return this.#db.transaction().execute(async (trx) => {
      const at = this.#t(input.at)
      const id = randomUUID()
      // The partial unique index on open replacements makes a second one for the host a no-op,
      // whichever collector tries it.
      const inserted = await trx
        .insertInto('replacements')
        .values({
          id,
          host_id: input.hostId,
          group_name: input.group,
          state: 'pending',
          reason: input.reason,
          waiting_for: null,
          trigger: input.trigger,
          requested_by: input.requestedBy,
          approved_by: null,
          approved_at: null,
          dry_run: input.dryRun ? 1 : 0,
          executor: null,
          output: null,
          created_at: at,
          updated_at: at,
          dispatched_at: null,
          finished_at: null,
        })
        .onConflict((oc) =>
          oc.column('host_id').where(sql<SqlBool>`state in ('pending', 'waiting', 'dispatched')`).doNothing(),
        )
        .returning('id')
        .executeTakeFirst()
      if (inserted === undefined) {
        const open = await this.#openRow(trx, input.hostId)
        if (open === undefined) throw new Error(`replacement of ${input.hostId}: neither created nor open`)
        return { created: false, replacement: toReplacement(open) }
      }
      await this.#insertEvent(trx, {
        replacementId: id,
        from: null,
        to: 'pending',
        reason: input.reason,
        actor: input.actor,
        at: input.at,
      })
      if (!input.dryRun) {
        await this.#setHostState(
          trx,
          input.hostId,
          ['snowflake', 'compliant', 'drifted', 'stale', 'pending'],
          {
            state: 'replacement-scheduled',
            reasons: [input.reason],
          },
          input.at,
        )
      }
      const row = await this.#row(trx, id)
      return { created: true, replacement: toReplacement(row as ReplacementRow) }
    })
  }

  async get(id: string): Promise<ReplacementRecord | undefined> {
    const row = await this.#row(this.#db, id)
    return row && toReplacement(row)
  }

  async list(
    filter: { states?: readonly ReplacementState[]; hostId?: string; limit?: number } = {},
  ): Promise<ReplacementRecord[]> {
    const rows = await this.#db
      .selectFrom('replacements')
      .selectAll()
      .$if(filter.states !== undefined, (qb) => qb.where('state', 'in', [...(filter.states ?? []), '']))
      .$if(filter.hostId !== undefined, (qb) => qb.where('host_id', '=', filter.hostId ?? ''))
      .orderBy('created_at')
      .orderBy('host_id')
      .$if(filter.limit !== undefined, (qb) => qb.limit(filter.limit ?? 0))
      .execute()
    return rows.map(toReplacement)
  }

  async events(id: string): Promise<ReplacementEvent[]> {
    const rows = await this.#db
      .selectFrom('replacement_events')
      .select(['replacement_id', 'from_state', 'to_state', 'reason', 'actor', 'at'])
      .where('replacement_id', '=', id)
      .orderBy('seq')
      .execute()
    return rows.map((r) => ({
      replacementId: r.replacement_id,
      from: r.from_state === null ? null : (r.from_state as ReplacementState),
      to: r.to_state as ReplacementState,
      reason: r.reason,
      actor: r.actor,
      at: toDate(r.at),
    }))
  }

  async snowflakesToSchedule(limit: number): Promise<HostRecord[]> {
    const rows = await this.#db
      .selectFrom('hosts')
      .select(HOST_COLUMNS)
      .where('hosts.state', '=', 'snowflake')
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('replacements as r')
              .select('r.id')
              .whereRef('r.host_id', '=', 'hosts.id')
              .where((eb) =>
                eb.or([
                  eb('r.state', 'in', OPEN),
                  // One automatic replacement per drift run: a cancelled or failed one is not retried
                  // until the host has scanned clean and drifted again (or an operator asks).
                  eb(
                    'r.created_at',
                    '>=',
                    sql<Date | number>`coalesce(hosts.drift_since, hosts.enrolled_at)`,
                  ),
                ]),
              ),
          ),
        ),
      )
      .orderBy('hosts.state_since')
      .orderBy('hosts.id')
      .limit(limit)
      .execute()
    return rows.map(toHost)
  }

  async change(id: string, change: ReplacementChange): Promise<ReplacementRecord | undefined> {
    return this.#db.transaction().execute(async (trx) => {
      const row = await this.#lockedRow(trx, id)
      if (row === undefined || !change.from.includes(row.state as ReplacementState)) return undefined
      const final = change.to === 'completed' || change.to === 'failed' || change.to === 'cancelled'
      await trx
        .updateTable('replacements')
        .set({
          state: change.to,
          reason: change.reason,
          waiting_for: change.waitingFor ?? null,
          updated_at: this.#t(change.at),
          ...(change.approvedBy === undefined
            ? {}
            : { approved_by: change.approvedBy, approved_at: this.#t(change.at) }),
          ...(change.output === undefined ? {} : { output: change.output }),
          ...(final ? { finished_at: this.#t(change.at) } : {}),
        })
        .where('id', '=', id)
        .execute()
      if (row.state !== change.to || change.approvedBy !== undefined || row.reason !== change.reason) {
        await this.#insertEvent(trx, {
          replacementId: id,
          from: row.state as ReplacementState,
          to: change.to,
          reason: change.reason,
          actor: change.actor,
          at: change.at,
        })
      }
      if (change.hostState && row.dry_run === 0) {
        await this.#setHostState(trx, row.host_id, HOST_REPLACEMENT_STATES, change.hostState, change.at)
      }
      return toReplacement((await this.#row(trx, id)) as ReplacementRow)
    })
  }

  async dispatch(
    id: string,
    input: {
      lease: { name: string; holder: string }
      groupLabel: string
      decide: DecideDispatch
      executor: string | null
      actor: string
      at: Date
    },
  ): Promise<DispatchOutcome> {
    return this.#db.transaction().execute(async (trx): Promise<DispatchOutcome> => {
      // Every dispatch locks the lease row first: dispatches of all collectors are serialized,
      // so each one's budget count sees the others' dispatches.
      const lease = await trx
        .selectFrom('leases')
        .select('holder')
        .where('name', '=', input.lease.name)
        .where('holder', '=', input.lease.holder)
        .where('expires_at', '>', this.#t(input.at))
        .$if(this.#dialect === 'postgres', (qb) => qb.forUpdate())
        .executeTakeFirst()
      if (lease === undefined) return { outcome: 'lease-lost' }
      const row = await this.#lockedRow(trx, id)
      if (row === undefined || (row.state !== 'pending' && row.state !== 'waiting'))
        return { outcome: 'gone' }
      const record = toReplacement(row)
      const stats = await this.#groupStats(trx, record.group, input.groupLabel, record.hostId)
      const decision = input.decide(record, stats, input.at)
      if (!decision.dispatch) {
        if (
          row.state !== 'waiting' ||
          row.reason !== decision.reason ||
          row.waiting_for !== decision.waitingFor
        ) {
          await trx
            .updateTable('replacements')
            .set({
              state: 'waiting',
              reason: decision.reason,
              waiting_for: decision.waitingFor,
              updated_at: this.#t(input.at),
            })
            .where('id', '=', id)
            .execute()
          // Only a change of what it waits for is history; the reason's counts change every tick.
          if (row.state !== 'waiting' || row.waiting_for !== decision.waitingFor) {
            await this.#insertEvent(trx, {
              replacementId: id,
              from: row.state as ReplacementState,
              to: 'waiting',
              reason: decision.reason,
              actor: input.actor,
              at: input.at,
            })
          }
        }
        return {
          outcome: 'waiting',
          replacement: toReplacement((await this.#row(trx, id)) as ReplacementRow),
        }
      }
      await trx
        .updateTable('replacements')
        .set({
          state: 'dispatched',
          reason: decision.reason,
          waiting_for: null,
          executor: input.executor,
          updated_at: this.#t(input.at),
          dispatched_at: this.#t(input.at),
        })
        .where('id', '=', id)
        .execute()
      await this.#insertEvent(trx, {
        replacementId: id,
        from: row.state as ReplacementState,
        to: 'dispatched',
        reason: decision.reason,
        actor: input.actor,
        at: input.at,
      })
      if (row.dry_run === 0) {
        await this.#setHostState(
          trx,
          row.host_id,
          HOST_REPLACEMENT_STATES,
          { state: 'replacing', reasons: [decision.reason] },
          input.at,
        )
      }
      return {
        outcome: 'dispatched',
        replacement: toReplacement((await this.#row(trx, id)) as ReplacementRow),
      }
    })
  }

  async groupStats(group: string, groupLabel: string, excludeHostId?: string): Promise<GroupStats> {
    return this.#groupStats(this.#db, group, groupLabel, excludeHostId)
  }

  async #groupStats(
    db: Kysely<ReplacementDatabase>,
    group: string,
    groupLabel: string,
    excludeHostId: string | undefined,
  ): Promise<GroupStats> {
    const dispatched = sql<SqlBool>`exists (select 1 from replacements d where d.host_id = hosts.id and d.state = 'dispatched')`
    const hosts = await db
      .selectFrom('hosts')
      .select((eb) => [
        eb.fn.countAll<number>().as('hosts'),
        eb.fn
          .sum<number>(
            eb
              .case()
              .when(
                eb.and([
                  eb('hosts.state', 'not in', OUT_OF_SERVICE),
                  eb.not(dispatched),
                  eb('hosts.id', '!=', excludeHostId ?? ''),
                ]),
              )
              .then(1)
              .else(0)
              .end(),
          )
          .as('in_service'),
      ])
      .where('hosts.state', '!=', 'replaced')
      .where(this.#inGroup(groupLabel, group))
      .executeTakeFirst()
    const flight = await db
      .selectFrom('replacements')
      .select((eb) => [eb.fn.countAll<number>().as('in_flight')])
      .where('group_name', '=', group)
      .where('state', '=', 'dispatched')
      .executeTakeFirst()
    const last = await db
      .selectFrom('replacements')
      .select('dispatched_at')
      .where('group_name', '=', group)
      .where('dispatched_at', 'is not', null)
      .orderBy('dispatched_at', 'desc')
      .limit(1)
      .executeTakeFirst()
    return {
      group,
      hosts: Number(hosts?.hosts ?? 0),
      inServiceOthers: Number(hosts?.in_service ?? 0),
      inFlight: Number(flight?.in_flight ?? 0),
      lastDispatchedAt: last?.dispatched_at == null ? null : toDate(last.dispatched_at),
    }
  }

  /** The hosts of a group: those whose group label has this value; "" is the hosts without the label. */
  #inGroup(label: string, group: string) {
    if (this.#dialect === 'postgres') {
      return group === ''
        ? sql<SqlBool>`not (hosts.labels ? ${label})`
        : // Containment, which the GIN index on labels serves (migration 0003): no scan of the fleet.
          sql<SqlBool>`hosts.labels @> ${JSON.stringify({ [label]: group })}::jsonb`
    }
    return group === ''
      ? sql<SqlBool>`not exists (select 1 from json_each(hosts.labels) as l where l.key = ${label})`
      : sql<SqlBool>`exists (select 1 from json_each(hosts.labels) as l where l.key = ${label} and l.value = ${group})`
  }

  async enqueueNotification(notifier: string, event: FleetEvent, at: Date): Promise<boolean> {
    const row = await this.#db
      .insertInto('notifications')
      .values({
        notifier,
        dedup_key: event.key,
        kind: event.kind,
        event: JSON.stringify(event),
        status: 'pending',
        attempts: 0,
        next_attempt_at: this.#t(at),
        last_error: null,
        created_at: this.#t(at),
        sent_at: null,
      })
      .onConflict((oc) => oc.columns(['notifier', 'dedup_key']).doNothing())
      .returning('id')
      .executeTakeFirst()
    return row !== undefined
  }

  async dueNotifications(now: Date, limit: number): Promise<NotificationRecord[]> {
    const rows = await this.#db
      .selectFrom('notifications')
      .selectAll()
      .where('status', '=', 'pending')
      .where('next_attempt_at', '<=', this.#t(now))
      .orderBy('id')
      .limit(limit)
      .execute()
    return rows.map(toNotification)
  }

  async markNotification(
    id: number,
    result: {
      status: NotificationRecord['status']
      attempts: number
      nextAttemptAt: Date
      lastError: string | null
      sentAt: Date | null
    },
  ): Promise<void> {
    await this.#db
      .updateTable('notifications')
      .set({
        status: result.status,
        attempts: result.attempts,
        next_attempt_at: this.#t(result.nextAttemptAt),
        last_error: result.lastError,
        sent_at: result.sentAt && this.#t(result.sentAt),
      })
      .where('id', '=', id)
      .execute()
  }

  async listNotifications(
    filter: { notifier?: string; kind?: FleetEventKind } = {},
  ): Promise<NotificationRecord[]> {
    const rows = await this.#db
      .selectFrom('notifications')
      .selectAll()
      .$if(filter.notifier !== undefined, (qb) => qb.where('notifier', '=', filter.notifier ?? ''))
      .$if(filter.kind !== undefined, (qb) => qb.where('kind', '=', filter.kind ?? ''))
      .orderBy('id')
      .execute()
    return rows.map(toNotification)
  }

  async fireAlert(alert: {
    notifier: string
    key: string
    labels: Record<string, string>
    annotations: Record<string, string>
    at: Date
  }): Promise<void> {
    const at = this.#t(alert.at)
    await this.#db
      .insertInto('alerts')
      .values({
        notifier: alert.notifier,
        alert_key: alert.key,
        labels: JSON.stringify(alert.labels),
        annotations: JSON.stringify(alert.annotations),
        starts_at: at,
        resolved_at: null,
        last_sent_at: null,
      })
      .onConflict((oc) =>
        oc.columns(['notifier', 'alert_key']).doUpdateSet((eb) => ({
          labels: eb.ref('excluded.labels'),
          annotations: eb.ref('excluded.annotations'),
          // A resolved alert that fires again is a new firing: new start, sent anew.
          starts_at: sql`case when alerts.resolved_at is null then alerts.starts_at else ${eb.ref('excluded.starts_at')} end`,
          last_sent_at: sql`case when alerts.resolved_at is null then alerts.last_sent_at else null end`,
          resolved_at: null,
        })),
      )
      .execute()
  }

  async resolveAlerts(notifier: string, keys: readonly string[], at: Date): Promise<number> {
    if (keys.length === 0) return 0
    const rows = await this.#db
      .updateTable('alerts')
      .set({ resolved_at: this.#t(at) })
      .where('notifier', '=', notifier)
      .where('resolved_at', 'is', null)
      .where('alert_key', 'in', [...keys])
      .returning('alert_key')
      .execute()
    return rows.length
  }

  async alertsToSend(notifier: string, now: Date, resendMs: number): Promise<AlertRecord[]> {
    const due = this.#t(new Date(now.getTime() - resendMs))
    const rows = await this.#db
      .selectFrom('alerts')
      .selectAll()
      .where('notifier', '=', notifier)
      .where((eb) =>
        eb.or([
          eb.and([
            eb('resolved_at', 'is', null),
            eb.or([eb('last_sent_at', 'is', null), eb('last_sent_at', '<=', due)]),
          ]),
          eb.and([
            eb('resolved_at', 'is not', null),
            eb.or([eb('last_sent_at', 'is', null), eb('last_sent_at', '<', eb.ref('resolved_at'))]),
          ]),
        ]),
      )
      .orderBy('alert_key')
      .execute()
    return rows.map(toAlert)
  }

  async markAlertsSent(notifier: string, keys: readonly string[], at: Date): Promise<void> {
    if (keys.length === 0) return
    await this.#db
      .updateTable('alerts')
      .set({ last_sent_at: this.#t(at) })
      .where('notifier', '=', notifier)
      .where('alert_key', 'in', [...keys])
      .execute()
  }

  async listAlerts(notifier: string): Promise<AlertRecord[]> {
    const rows = await this.#db
      .selectFrom('alerts')
      .selectAll()
      .where('notifier', '=', notifier)
      .orderBy('alert_key')
      .execute()
    return rows.map(toAlert)
  }

  async #row(db: Kysely<ReplacementDatabase>, id: string): Promise<ReplacementRow | undefined> {
    return db.selectFrom('replacements').selectAll().where('id', '=', id).executeTakeFirst()
  }

  async #lockedRow(trx: Transaction<ReplacementDatabase>, id: string): Promise<ReplacementRow | undefined> {
    return trx
      .selectFrom('replacements')
      .selectAll()
      .where('id', '=', id)
      .$if(this.#dialect === 'postgres', (qb) => qb.forUpdate())
      .executeTakeFirst()
  }

  async #openRow(trx: Transaction<ReplacementDatabase>, hostId: string): Promise<ReplacementRow | undefined> {
    return trx
      .selectFrom('replacements')
      .selectAll()
      .where('host_id', '=', hostId)
      .where('state', 'in', OPEN)
      .executeTakeFirst()
  }

  async #insertEvent(trx: Transaction<ReplacementDatabase>, event: ReplacementEvent): Promise<void> {
    await trx
      .insertInto('replacement_events')
      .values({
        replacement_id: event.replacementId,
        from_state: event.from,
        to_state: event.to,
        reason: event.reason,
        actor: event.actor,
        at: this.#t(event.at),
      })
      .execute()
  }

  /** Moves the host to `judgement` if it is in one of `from`, recording the transition. */
  async #setHostState(
    trx: Transaction<ReplacementDatabase>,
    hostId: string,
    from: readonly string[],
    judgement: Judgement,
    at: Date,
  ): Promise<void> {
    const before = await trx
      .selectFrom('hosts')
      .select('state')
      .where('id', '=', hostId)
      .$if(this.#dialect === 'postgres', (qb) => qb.forUpdate())
      .executeTakeFirst()
    if (before === undefined || !from.includes(before.state) || before.state === judgement.state) return
    await trx
      .updateTable('hosts')
      .set({
        state: judgement.state,
        state_reasons: JSON.stringify(judgement.reasons),
        state_since: this.#t(at),
      })
      .where('id', '=', hostId)
      .execute()
    await trx
      .insertInto('state_transitions')
      .values({
        host_id: hostId,
        from_state: before.state,
        to_state: judgement.state,
        reasons: JSON.stringify(judgement.reasons),
        at: this.#t(at),
      })
      .execute()
  }
}

/** Migration 0002_replacements: the tables above, and one open replacement per host at most. */
export async function createReplacementTables(db: Kysely<unknown>, dialect: Dialect): Promise<void> {
  const time = dialect === 'postgres' ? 'timestamptz' : 'integer'
  const json = dialect === 'postgres' ? 'jsonb' : 'text'
  await db.schema
    .createTable('replacements')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
    .addColumn('group_name', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('waiting_for', 'text')
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text')
    .addColumn('approved_by', 'text')
    .addColumn('approved_at', time)
    .addColumn('dry_run', 'integer', (c) => c.notNull())
    .addColumn('executor', 'text')
    .addColumn('output', 'text')
    .addColumn('created_at', time, (c) => c.notNull())
    .addColumn('updated_at', time, (c) => c.notNull())
    .addColumn('dispatched_at', time)
    .addColumn('finished_at', time)
    .execute()
  await db.schema
    .createIndex('replacements_open_host')
    .on('replacements')
    .column('host_id')
    .unique()
    .where(sql.ref('state'), 'in', OPEN)
    .execute()
  await db.schema
    .createIndex('replacements_host')
    .on('replacements')
    .columns(['host_id', 'created_at'])
    .execute()
  await db.schema
    .createIndex('replacements_group_state')
    .on('replacements')
    .columns(['group_name', 'state'])
    .execute()
  await db.schema
    .createIndex('replacements_state')
    .on('replacements')
    .columns(['state', 'created_at'])
    .execute()

  await db.schema
    .createTable('replacement_events')
    .$call((t) =>
      dialect === 'postgres'
        ? t.addColumn('seq', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
        : t.addColumn('seq', 'integer', (c) => c.primaryKey()),
    )
    .addColumn('replacement_id', 'text', (c) => c.notNull().references('replacements.id').onDelete('cascade'))
    .addColumn('from_state', 'text')
    .addColumn('to_state', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('at', time, (c) => c.notNull())
    .execute()
  await db.schema
    .createIndex('replacement_events_replacement')
    .on('replacement_events')
    .columns(['replacement_id', 'seq'])
    .execute()

  await db.schema
    .createTable('leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('acquired_at', time, (c) => c.notNull())
    .addColumn('expires_at', time, (c) => c.notNull())
    .execute()

  await db.schema
    .createTable('notifications')
    .$call((t) =>
      dialect === 'postgres'
        ? t.addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
        : t.addColumn('id', 'integer', (c) => c.primaryKey()),
    )
    .addColumn('notifier', 'text', (c) => c.notNull())
    .addColumn('dedup_key', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('event', json, (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', time, (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('created_at', time, (c) => c.notNull())
    .addColumn('sent_at', time)
    .addUniqueConstraint('notifications_key', ['notifier', 'dedup_key'])
    .execute()
  await db.schema
    .createIndex('notifications_due')
    .on('notifications')
    .columns(['status', 'next_attempt_at'])
    .execute()

  await db.schema
    .createTable('alerts')
    .addColumn('notifier', 'text', (c) => c.notNull())
    .addColumn('alert_key', 'text', (c) => c.notNull())
    .addColumn('labels', json, (c) => c.notNull())
    .addColumn('annotations', json, (c) => c.notNull())
    .addColumn('starts_at', time, (c) => c.notNull())
    .addColumn('resolved_at', time)
    .addColumn('last_sent_at', time)
    .addPrimaryKeyConstraint('alerts_pk', ['notifier', 'alert_key'])
    .execute()
}

type ReplacementRow = Selectable<ReplacementsTable>

const HOST_COLUMNS = [
  'hosts.id',
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
] as const

function toDate(value: Date | number): Date {
  return value instanceof Date ? value : new Date(value)
}

function toDateOrNull(value: Date | number | null): Date | null {
  return value === null ? null : toDate(value)
}

function toReplacement(row: ReplacementRow): ReplacementRecord {
  return {
    id: row.id,
    hostId: row.host_id,
    group: row.group_name,
    state: row.state as ReplacementState,
    reason: row.reason,
    waitingFor: row.waiting_for as WaitingFor | null,
    trigger: row.trigger as ReplacementTrigger,
    requestedBy: row.requested_by,
    approvedBy: row.approved_by,
    approvedAt: toDateOrNull(row.approved_at),
    dryRun: row.dry_run === 1,
    executor: row.executor,
    output: row.output,
    createdAt: toDate(row.created_at),
    updatedAt: toDate(row.updated_at),
    dispatchedAt: toDateOrNull(row.dispatched_at),
    finishedAt: toDateOrNull(row.finished_at),
  }
}

function toNotification(row: Selectable<NotificationsTable>): NotificationRecord {
  return {
    id: Number(row.id),
    notifier: row.notifier,
    key: row.dedup_key,
    kind: row.kind as FleetEventKind,
    event: reviveEvent(JSON.parse(row.event) as FleetEvent),
    status: row.status as NotificationRecord['status'],
    attempts: row.attempts,
    nextAttemptAt: toDate(row.next_attempt_at),
    lastError: row.last_error,
    createdAt: toDate(row.created_at),
    sentAt: toDateOrNull(row.sent_at),
  }
}

function reviveEvent(event: FleetEvent): FleetEvent {
  return { ...event, at: new Date(event.at) }
}

function toAlert(row: Selectable<AlertsTable>): AlertRecord {
  return {
    notifier: row.notifier,
    key: row.alert_key,
    labels: JSON.parse(row.labels) as Record<string, string>,
    annotations: JSON.parse(row.annotations) as Record<string, string>,
    startsAt: toDate(row.starts_at),
    resolvedAt: toDateOrNull(row.resolved_at),
    lastSentAt: toDateOrNull(row.last_sent_at),
  }
}

const STATES: ReadonlySet<string> = new Set(HOST_STATES)

function toHost(row: {
  id: string
  hostname: string
  labels: string
  image_id: string | null
  image_version: string | null
  manifest_digest: string | null
  state: string
  state_reasons: string
  state_since: Date | number
  enrolled_at: Date | number
  last_seen_at: Date | number
  last_report_at: Date | number | null
  last_heartbeat_at: Date | number | null
  drift_since: Date | number | null
  summary: string | null
  latest_report_id: string | null
}): HostRecord {
  if (!STATES.has(row.state)) throw new Error(`store holds an unknown host state "${row.state}"`)
  return {
    id: row.id,
    hostname: row.hostname,
    labels: JSON.parse(row.labels) as Record<string, string>,
    imageId: row.image_id,
    imageVersion: row.image_version,
    manifestDigest: row.manifest_digest,
    state: row.state as HostState,
    stateReasons: JSON.parse(row.state_reasons) as string[],
    stateSince: toDate(row.state_since),
    enrolledAt: toDate(row.enrolled_at),
    lastSeenAt: toDate(row.last_seen_at),
    lastReportAt: toDateOrNull(row.last_report_at),
    lastHeartbeatAt: toDateOrNull(row.last_heartbeat_at),
    driftSince: toDateOrNull(row.drift_since),
    summary: row.summary === null ? null : (JSON.parse(row.summary) as Summary),
    latestReportId: row.latest_report_id,
  }
}
