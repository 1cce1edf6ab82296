import { type Kysely, type Selectable, sql } from 'kysely'
import type { AlertRecord, FleetEvent, FleetEventKind, NotificationRecord } from '../fleet/replacements.js'
import type { DialectOps } from './dialects/dialect.js'
import type { AlertsTable, NotificationsTable, ReplacementDatabase } from './replacement-tables.js'
import type { ReplacementStore } from './replacements.js'
import { toDate, toDateOrNull } from './rows.js'

type NotificationMethods =
  | 'enqueueNotification'
  | 'dueNotifications'
  | 'markNotification'
  | 'listNotifications'
  | 'fireAlert'
  | 'resolveAlerts'
  | 'alertsToSend'
  | 'markAlertsSent'
  | 'listAlerts'

/**
 * The notification outbox (each event once per notifier, delivered when due) and the alerts a
 * notifier keeps firing until they are resolved.
 */
export function notificationStore(
  db: Kysely<ReplacementDatabase>,
  ops: DialectOps,
): Pick<ReplacementStore, NotificationMethods> {
  return {
    async enqueueNotification(notifier, event, at) {
      const row = await db
        .insertInto('notifications')
        .values({
          notifier,
          dedup_key: event.key,
          kind: event.kind,
          event: JSON.stringify(event),
          status: 'pending',
          attempts: 0,
          next_attempt_at: ops.time(at),
          last_error: null,
          created_at: ops.time(at),
          sent_at: null,
        })
        .onConflict((oc) => oc.columns(['notifier', 'dedup_key']).doNothing())
        .returning('id')
        .executeTakeFirst()
      return row !== undefined
    },

    async dueNotifications(now, limit) {
      const rows = await db
        .selectFrom('notifications')
        .selectAll()
        .where('status', '=', 'pending')
        .where('next_attempt_at', '<=', ops.time(now))
        .orderBy('id')
        .limit(limit)
        .execute()
      return rows.map(toNotification)
    },

    async markNotification(id, result) {
      await db
        .updateTable('notifications')
        .set({
          status: result.status,
          attempts: result.attempts,
          next_attempt_at: ops.time(result.nextAttemptAt),
          last_error: result.lastError,
          sent_at: result.sentAt && ops.time(result.sentAt),
        })
        .where('id', '=', id)
        .execute()
    },

    async listNotifications(filter = {}) {
      const rows = await db
        .selectFrom('notifications')
        .selectAll()
        .$if(filter.notifier !== undefined, (qb) => qb.where('notifier', '=', filter.notifier ?? ''))
        .$if(filter.kind !== undefined, (qb) => qb.where('kind', '=', filter.kind ?? ''))
        // The id grows with each one recorded: the newest are read from the key's end.
        .orderBy('id', 'desc')
        .$if(filter.limit !== undefined, (qb) => qb.limit(filter.limit ?? 0))
        .execute()
      return rows.map(toNotification)
    },

    async fireAlert(alert) {
      const at = ops.time(alert.at)
      await db
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
    },

    async resolveAlerts(notifier, keys, at) {
      if (keys.length === 0) return 0
      const rows = await db
        .updateTable('alerts')
        .set({ resolved_at: ops.time(at) })
        .where('notifier', '=', notifier)
        .where('resolved_at', 'is', null)
        .where('alert_key', 'in', [...keys])
        .returning('alert_key')
        .execute()
      return rows.length
    },

    async alertsToSend(notifier, now, resendMs) {
      const due = ops.time(new Date(now.getTime() - resendMs))
      const rows = await db
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
    },

    async markAlertsSent(notifier, keys, at) {
      if (keys.length === 0) return
      await db
        .updateTable('alerts')
        .set({ last_sent_at: ops.time(at) })
        .where('notifier', '=', notifier)
        .where('alert_key', 'in', [...keys])
        .execute()
    },

    async listAlerts(notifier, options = {}) {
      const rows = await db
        .selectFrom('alerts')
        .selectAll()
        .where('notifier', '=', notifier)
        .orderBy(sql`coalesce(resolved_at, starts_at)`, 'desc')
        .orderBy('alert_key')
        .$if(options.limit !== undefined, (qb) => qb.limit(options.limit ?? 0))
        .execute()
      return rows.map(toAlert)
    },
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
