import { type Expression, type Kysely, type SelectQueryBuilder, type SqlBool, sql } from 'kysely'
import { DriftwatchError } from '../errors.js'
import { type HostRecord, REPLACEMENT_STATES } from '../fleet/states.js'
import type { DialectOps } from './dialects/dialect.js'
import type { Database } from './schema.js'
import type { HostCountRow, HostPage, HostPageFilter, HostPageRequest, SweepDue } from './types.js'

/**
 * The fleet-wide reads that must stay cheap at 100,000 hosts: a page of hosts (keyset on the
 * host id, every filter in SQL), the hosts counted by group, and the hosts a sweep must judge.
 * Each is served by an index of migration 0003 (migrations.ts).
 */

/** The hosts table, for a caller that adds its columns and maps the rows. */
export type HostQuery = SelectQueryBuilder<Database, 'hosts', object>

/**
 * One page of hosts in id order. `read` selects and maps the columns (the store's row mapping);
 * the page asks for one host more than `limit` to know whether there is a next page.
 */
export async function pageHosts(
  db: Kysely<Database>,
  ops: DialectOps,
  request: HostPageRequest,
  read: (query: HostQuery) => Promise<HostRecord[]>,
): Promise<HostPage> {
  const limit = Math.max(1, Math.floor(request.limit))
  const after = request.after === undefined ? undefined : decodeCursor(request.after)
  const query = db
    .selectFrom('hosts')
    .where(hostFilter(ops, request.filter ?? {}))
    .$if(after !== undefined, (qb) => qb.where('hosts.id', '>', after ?? ''))
    .orderBy('hosts.id')
    .limit(limit + 1)
  const hosts = await read(query)
  if (hosts.length <= limit) return { hosts }
  hosts.length = limit
  return { hosts, next: encodeCursor((hosts.at(-1) as HostRecord).id) }
}

/** Every host counted by state, image version and `group` label, in one GROUP BY. */
export async function countHosts(db: Kysely<Database>, ops: DialectOps): Promise<HostCountRow[]> {
  const group = ops.labelValue('group')
  const rows = await db
    .selectFrom('hosts')
    .select((eb) => [
      'hosts.state',
      'hosts.image_id',
      'hosts.image_version',
      group.as('grp'),
      eb.fn.countAll<number | string>().as('n'),
    ])
    .groupBy(['hosts.state', 'hosts.image_id', 'hosts.image_version', group])
    .execute()
  return rows.map((r) => ({
    state: r.state,
    imageId: r.image_id,
    imageVersion: r.image_version,
    group: r.grp,
    count: Number(r.n),
  }))
}

/**
 * The hosts a sweep must judge at `now`, through `read` (which adds the condition to the
 * store's own query), in id order. Without `due`, every host; with it, only those whose state
 * can change with time alone under these limits, plus the hosts of images registered since
 * `due.imagesSince` (a registration changes what their manifest is judged against).
 */
export async function sweepCandidates<Row extends { id: string }>(
  ops: DialectOps,
  now: Date,
  due: SweepDue | undefined,
  read: (condition: Expression<SqlBool>) => Promise<Row[]>,
): Promise<Row[]> {
  if (due === undefined) return read(sql<SqlBool>`1 = 1`)
  const rows = await read(dueByTime(ops, now, due))
  if (due.imagesSince === undefined) return rows
  const byImage = await read(
    sql<SqlBool>`(hosts.image_id, hosts.image_version) in (select i.id, i.version from images i where i.registered_at >= ${ops.time(due.imagesSince)})`,
  )
  const seen = new Set(rows.map((r) => r.id))
  const merged = [...rows, ...byImage.filter((r) => !seen.has(r.id))]
  return merged.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

/**
 * Hosts that time alone can move (fleet judgement, collector/judge.ts): not yet stale and
 * silent for staleAfter; drifted (not yet a snowflake) for driftGrace; heartbeating but without
 * a report for reportsMissingAfter. A replacement state is never left by judgement. Each arm
 * is a range on an indexed column, so PostgreSQL ORs index scans instead of reading every host.
 */
function dueByTime(ops: DialectOps, now: Date, due: SweepDue): Expression<SqlBool> {
  const before = (ms: number) => ops.time(new Date(now.getTime() - ms))
  const arms = [sql<SqlBool>`(hosts.state <> 'stale' and hosts.last_seen_at <= ${before(due.staleAfter)})`]
  if (due.driftGrace !== undefined) {
    arms.push(
      sql<SqlBool>`(hosts.state not in ('stale', 'snowflake') and hosts.drift_since <= ${before(due.driftGrace)})`,
    )
  }
  if (due.reportsMissingAfter !== undefined) {
    const since = before(due.reportsMissingAfter)
    arms.push(
      sql<SqlBool>`(hosts.state <> 'stale' and hosts.last_heartbeat_at is not null and (hosts.last_report_at <= ${since} or (hosts.last_report_at is null and hosts.enrolled_at <= ${since})))`,
    )
  }
  const kept = sql.join([...REPLACEMENT_STATES].map((s) => sql.lit(s)))
  return sql<SqlBool>`(hosts.state not in (${kept}) and (${sql.join(arms, sql` or `)}))`
}

/** The filter of a page, all in SQL: states, image id, and every label given. */
function hostFilter(ops: DialectOps, filter: HostPageFilter): Expression<SqlBool> {
  const parts: Expression<SqlBool>[] = []
  if (filter.states !== undefined) {
    // No state at all matches nothing (an empty IN list is not SQL).
    parts.push(
      filter.states.length === 0
        ? sql<SqlBool>`1 = 0`
        : sql<SqlBool>`hosts.state in (${sql.join(filter.states)})`,
    )
  }
  if (filter.imageId !== undefined) parts.push(sql<SqlBool>`hosts.image_id = ${filter.imageId}`)
  const labels = Object.entries(filter.labels ?? {})
  for (const [key, value] of labels) parts.push(ops.labelIs(key, value))
  return parts.length === 0 ? sql<SqlBool>`1 = 1` : sql<SqlBool>`(${sql.join(parts, sql` and `)})`
}

/**
 * Cursors are opaque to clients: the last host id of the page, base64url-encoded behind a
 * version tag, so that the format can change without old cursors being misread.
 */
const CURSOR_TAG = 'h1.'

export function encodeCursor(hostId: string): string {
  return CURSOR_TAG + Buffer.from(hostId, 'utf8').toString('base64url')
}

function decodeCursor(cursor: string): string {
  const body = cursor.startsWith(CURSOR_TAG) ? cursor.slice(CURSOR_TAG.length) : undefined
  const hostId =
    body !== undefined && /^[A-Za-z0-9_-]+$/.test(body) ? Buffer.from(body, 'base64url').toString('utf8') : ''
  if (hostId === '' || encodeCursor(hostId) !== cursor) {
    throw new DriftwatchError('INPUT_INVALID', 'cursor: not a cursor this collector gave out', {
      hint: 'pass the `next` of the previous page unchanged, or leave the cursor out to start at the first page',
    })
  }
  return hostId
}
