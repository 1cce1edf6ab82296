import { randomUUID } from 'node:crypto'
import { type Kysely, type Selectable, type SqlBool, sql, type Transaction, type Updateable } from 'kysely'
import {
  type GroupStats,
  OPEN_REPLACEMENT_STATES,
  REPLACEMENT_STATES_ORDERED,
  type ReplacementEvent,
  type ReplacementRecord,
  type ReplacementState,
  type ReplacementTrigger,
  type WaitingFor,
} from '../fleet/replacements.js'
import type { Judgement } from '../fleet/states.js'
import type { DialectOps } from './dialects/dialect.js'
import type { ReplacementDatabase, ReplacementsTable } from './replacement-tables.js'
import type { DispatchOutcome, ReplacementStore } from './replacements.js'
import { HOST_COLUMNS, hostState, toDate, toDateOrNull, toHost } from './rows.js'
import type { Statements } from './statements.js'
import { recordTransition, stateValues } from './transitions.js'

type ReplacementRow = Selectable<ReplacementsTable>
type Db = Kysely<ReplacementDatabase>
type Trx = Transaction<ReplacementDatabase>

const OPEN: readonly string[] = OPEN_REPLACEMENT_STATES
const HOST_REPLACEMENT_STATES = ['replacement-scheduled', 'replacing', 'replaced']
/** Host states from which a new replacement schedules the host. */
const HOST_SCHEDULABLE_STATES = ['snowflake', 'compliant', 'drifted', 'stale', 'pending']
/** Host states that do not serve: silent, or being (or been) replaced. */
const OUT_OF_SERVICE = ['stale', 'replacing', 'replaced']

type RecordMethods =
  | 'create'
  | 'get'
  | 'list'
  | 'countByState'
  | 'events'
  | 'snowflakesToSchedule'
  | 'change'
  | 'dispatch'
  | 'groupStats'

/**
 * Replacement records. Every change of one has the same shape (see `move`): in one transaction,
 * the replacement's row is locked and read, checked, updated, its change recorded as an event,
 * and its host's state follows (unless a dry run). The host's state is written with the hot
 * path's own statements (`q`), so it is the same write a report's judgement makes.
 */
export function replacementRecords(
  db: Db,
  ops: DialectOps,
  q: Statements,
): Pick<ReplacementStore, RecordMethods> {
  const t = (date: Date) => ops.time(date)

  const row = async (from: Db, id: string): Promise<ReplacementRow | undefined> =>
    from.selectFrom('replacements').selectAll().where('id', '=', id).executeTakeFirst()

  /** The replacement's row, locked until the transaction ends. */
  const lockedRow = (trx: Trx, id: string): Promise<ReplacementRow | undefined> =>
    trx
      .selectFrom('replacements')
      .selectAll()
      .where('id', '=', id)
      .$call((qb) => ops.lock(qb, 'replacements'))
      .executeTakeFirst()

  const insertEvent = async (trx: Trx, event: ReplacementEvent) => {
    await trx
      .insertInto('replacement_events')
      .values({
        replacement_id: event.replacementId,
        from_state: event.from,
        to_state: event.to,
        reason: event.reason,
        actor: event.actor,
        at: t(event.at),
      })
      .execute()
  }

  /** Moves the host to `judgement` if it is in one of `from`, recording the transition. */
  const setHostState = async (
    trx: Trx,
    hostId: string,
    from: readonly string[],
    judgement: Judgement,
    at: Date,
  ) => {
    const before = await trx
      .selectFrom('hosts')
      .select('state')
      .where('id', '=', hostId)
      .$call((qb) => ops.lock(qb, 'hosts'))
      .executeTakeFirst()
    if (before === undefined || !from.includes(before.state) || before.state === judgement.state) return
    const after = { id: hostId, state: judgement.state, stateReasons: judgement.reasons, stateSince: at }
    await q.updateState.run(trx, { hostId, ...stateValues(ops, after) })
    await recordTransition(trx, q, ops, { state: hostState(before.state) }, after)
  }

  /**
   * A locked replacement moved to `to`: its row updated with `set`, the move recorded as an
   * event when `recorded`, the host moved to `hostState` unless a dry run; the record after.
   */
  const move = async (
    trx: Trx,
    locked: ReplacementRow,
    m: {
      to: ReplacementState
      reason: string
      actor: string
      at: Date
      set: Updateable<ReplacementsTable>
      recorded: boolean
      hostState?: Judgement | undefined
    },
  ): Promise<ReplacementRecord> => {
    await trx
      .updateTable('replacements')
      .set({ state: m.to, reason: m.reason, updated_at: t(m.at), ...m.set })
      .where('id', '=', locked.id)
      .execute()
    if (m.recorded) {
      const from = locked.state as ReplacementState
      await insertEvent(trx, {
        replacementId: locked.id,
        from,
        to: m.to,
        reason: m.reason,
        actor: m.actor,
        at: m.at,
      })
    }
    if (m.hostState && locked.dry_run === 0)
      await setHostState(trx, locked.host_id, HOST_REPLACEMENT_STATES, m.hostState, m.at)
    return toReplacement((await row(trx, locked.id)) as ReplacementRow)
  }

  const groupStats = async (
    from: Db,
    group: string,
    groupLabel: string,
    excludeHostId: string | undefined,
  ) => {
    const dispatched = sql<SqlBool>`exists (select 1 from replacements d where d.host_id = hosts.id and d.state = 'dispatched')`
    const inGroup = group === '' ? ops.labelAbsent(groupLabel) : ops.labelIs(groupLabel, group)
    const hosts = await from
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
      .where(inGroup)
      .executeTakeFirst()
    const flight = await from
      .selectFrom('replacements')
      .select((eb) => [eb.fn.countAll<number>().as('in_flight')])
      .where('group_name', '=', group)
      .where('state', '=', 'dispatched')
      .executeTakeFirst()
    const last = await from
      .selectFrom('replacements')
      .select('dispatched_at')
      .where('group_name', '=', group)
      .where('dispatched_at', 'is not', null)
      .orderBy('dispatched_at', 'desc')
      .limit(1)
      .executeTakeFirst()
    const stats: GroupStats = {
      group,
      hosts: Number(hosts?.hosts ?? 0),
      inServiceOthers: Number(hosts?.in_service ?? 0),
      inFlight: Number(flight?.in_flight ?? 0),
      lastDispatchedAt: last?.dispatched_at == null ? null : toDate(last.dispatched_at),
    }
    return stats
  }

  return {
    create: (input) =>
      db.transaction().execute(async (trx) => {
        const at = t(input.at)
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
            oc
              .column('host_id')
              .where(sql<SqlBool>`state in ('pending', 'waiting', 'dispatched')`)
              .doNothing(),
          )
          .returning('id')
          .executeTakeFirst()
        if (inserted === undefined) {
          const open = await trx
            .selectFrom('replacements')
            .selectAll()
            .where('host_id', '=', input.hostId)
            .where('state', 'in', OPEN)
            .executeTakeFirst()
          if (open === undefined) throw new Error(`replacement of ${input.hostId}: neither created nor open`)
          return { created: false, replacement: toReplacement(open) }
        }
        const { reason, actor } = input
        await insertEvent(trx, { replacementId: id, from: null, to: 'pending', reason, actor, at: input.at })
        if (!input.dryRun) {
          const scheduled: Judgement = { state: 'replacement-scheduled', reasons: [reason] }
          await setHostState(trx, input.hostId, HOST_SCHEDULABLE_STATES, scheduled, input.at)
        }
        return { created: true, replacement: toReplacement((await row(trx, id)) as ReplacementRow) }
      }),

    async get(id) {
      const found = await row(db, id)
      return found && toReplacement(found)
    },

    async list(filter = {}) {
      const rows = await db
        .selectFrom('replacements')
        .selectAll()
        .$if(filter.states !== undefined, (qb) => qb.where('state', 'in', [...(filter.states ?? []), '']))
        .$if(filter.hostId !== undefined, (qb) => qb.where('host_id', '=', filter.hostId ?? ''))
        .orderBy('created_at')
        .orderBy('host_id')
        .$if(filter.limit !== undefined, (qb) => qb.limit(filter.limit ?? 0))
        .execute()
      return rows.map(toReplacement)
    },

    async countByState() {
      // Grouped in SQL (the index on state serves it): finished replacements pile up, and the
      // collector's gauge asks every few seconds.
      const rows = await db
        .selectFrom('replacements')
        .select((eb) => ['state', eb.fn.countAll<number | string>().as('count')])
        .groupBy('state')
        .execute()
      const counts = Object.fromEntries(REPLACEMENT_STATES_ORDERED.map((state) => [state, 0]))
      for (const { state, count } of rows) counts[state] = Number(count)
      return counts as Record<ReplacementState, number>
    },

    async events(id) {
      const rows = await db
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
    },

    async snowflakesToSchedule(limit) {
      const rows = await db
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
    },

    change: (id, change) =>
      db.transaction().execute(async (trx) => {
        const locked = await lockedRow(trx, id)
        if (locked === undefined || !change.from.includes(locked.state as ReplacementState)) return undefined
        const final = change.to === 'completed' || change.to === 'failed' || change.to === 'cancelled'
        const at = t(change.at)
        return move(trx, locked, {
          to: change.to,
          reason: change.reason,
          actor: change.actor,
          at: change.at,
          hostState: change.hostState,
          set: {
            waiting_for: change.waitingFor ?? null,
            ...(change.approvedBy === undefined ? {} : { approved_by: change.approvedBy, approved_at: at }),
            ...(change.output === undefined ? {} : { output: change.output }),
            ...(final ? { finished_at: at } : {}),
          },
          recorded:
            locked.state !== change.to || change.approvedBy !== undefined || locked.reason !== change.reason,
        })
      }),

    dispatch: (id, input) =>
      db.transaction().execute(async (trx): Promise<DispatchOutcome> => {
        // Every dispatch locks the lease row first: dispatches of all collectors are serialized,
        // so each one's budget count sees the others' dispatches.
        const lease = await trx
          .selectFrom('leases')
          .select('holder')
          .where('name', '=', input.lease.name)
          .where('holder', '=', input.lease.holder)
          .where('expires_at', '>', t(input.at))
          .$call((qb) => ops.lock(qb, 'leases'))
          .executeTakeFirst()
        if (lease === undefined) return { outcome: 'lease-lost' }
        const locked = await lockedRow(trx, id)
        if (locked === undefined || (locked.state !== 'pending' && locked.state !== 'waiting'))
          return { outcome: 'gone' }
        const record = toReplacement(locked)
        const stats = await groupStats(trx, record.group, input.groupLabel, record.hostId)
        const decision = input.decide(record, stats, input.at)
        const { actor, at } = input
        if (!decision.dispatch) {
          // Only a change of what it waits for is history; the reason's counts change every tick.
          const news = locked.state !== 'waiting' || locked.waiting_for !== decision.waitingFor
          if (!news && locked.reason === decision.reason) return { outcome: 'waiting', replacement: record }
          const replacement = await move(trx, locked, {
            to: 'waiting',
            reason: decision.reason,
            actor,
            at,
            set: { waiting_for: decision.waitingFor },
            recorded: news,
          })
          return { outcome: 'waiting', replacement }
        }
        const replacement = await move(trx, locked, {
          to: 'dispatched',
          reason: decision.reason,
          actor,
          at,
          set: { waiting_for: null, executor: input.executor, dispatched_at: t(at) },
          recorded: true,
          hostState: { state: 'replacing', reasons: [decision.reason] },
        })
        return { outcome: 'dispatched', replacement }
      }),

    groupStats: (group, groupLabel, excludeHostId) => groupStats(db, group, groupLabel, excludeHostId),
  }
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
