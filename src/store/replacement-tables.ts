import { type Generated, type Kysely, sql } from 'kysely'
import { OPEN_REPLACEMENT_STATES } from '../fleet/replacements.js'
import type { DialectOps } from './dialects/dialect.js'
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

/** Migration 0002_replacements: the tables above, and one open replacement per host at most. */
export async function createReplacementTables(db: Kysely<unknown>, ops: DialectOps): Promise<void> {
  const { time, json } = ops.columns
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
    .where(sql.ref('state'), 'in', OPEN_REPLACEMENT_STATES)
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
    .$call((t) => ops.addSequence(t, 'seq'))
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
    .$call((t) => ops.addSequence(t, 'id'))
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
