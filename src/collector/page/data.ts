import { type NotifierConfig, notifierName } from '../../config/replacement.js'
import type { AlertRecord, FleetEventKind, NotificationRecord } from '../../fleet/replacements.js'
import type { HostDetailView, HostView, ReplacementQueueView } from '../../protocol/api.js'
import type { ReplacementStore } from '../../store/replacements.js'
import type { Store } from '../../store/types.js'
import { replacementQueue } from '../replacement/queue.js'
import type { ReplacementScheduler } from '../replacement/scheduler.js'
import { hostDetailView, hostView } from '../views.js'

/** One event told to a notifier, or one alert a notifier keeps firing, as the page lists it. */
export interface AlertView {
  at: string
  hostId: string
  hostname: string
  /** critical, warning or info */
  severity: string
  /** The event (snowflake, replacement-dispatched, …) or, for an alert, firing or resolved. */
  event: string
  summary: string
  /** Where it went: the notifier's name (webhook, slack, alertmanager, or the name collector.yaml gives). */
  notifier: string
  /** sent; pending (being retried); failed (given up) */
  delivery: 'sent' | 'pending' | 'failed'
}

/**
 * What the fleet page reads, and nothing more. The replacement queue and the alerts are there
 * when the collector runs a scheduler and notifiers (fleetPageSources); without them the page
 * says there are none.
 */
export interface FleetPageData {
  hosts(): Promise<HostView[]>
  host(id: string): Promise<HostDetailView | undefined>
  replacements?(): Promise<ReplacementQueueView>
  recentAlerts?(limit: number): Promise<AlertView[]>
}

/** Reports shown on a host's page. */
const HOST_PAGE_REPORTS = 10

/** The page's data from the collector's store, plus the replacement and alert sources when there are. */
export function fleetPageData(
  store: Store,
  extra: Pick<FleetPageData, 'replacements' | 'recentAlerts'> = {},
): FleetPageData {
  return {
    async hosts() {
      return (await store.listHosts()).map(hostView)
    },
    async host(id) {
      const host = await store.getHost(id)
      if (!host) return undefined
      const [latest, states, reports] = await Promise.all([
        store.latestReport(id),
        store.stateHistory(id),
        store.reportHistory(id, HOST_PAGE_REPORTS),
      ])
      return hostDetailView(host, latest, states, reports)
    },
    ...extra,
  }
}

/**
 * The replacement queue (as GET /v1/replacements shows it) and the alerts recorded in the store:
 * what a running collector gives its fleet page. Both are read from the store on each view, so
 * every collector sharing a database shows the same queue and alerts.
 */
export function fleetPageSources(
  store: Store,
  scheduler: ReplacementScheduler,
  notifiers: readonly NotifierConfig[],
  clock: () => Date,
): Pick<FleetPageData, 'replacements' | 'recentAlerts'> {
  const alertNotifiers = notifiers.flatMap((n, index) =>
    n.type === 'alertmanager' ? [notifierName(notifiers, index)] : [],
  )
  return {
    replacements: () => replacementQueue(store, scheduler, clock()),
    recentAlerts: (limit) => recordedAlerts(store.replacements, alertNotifiers, limit),
  }
}

/**
 * The latest `limit` events and alerts of every notifier, newest first. The latest `limit` of
 * each source are enough to hold the latest `limit` of all, whatever the history.
 */
export async function recordedAlerts(
  store: ReplacementStore,
  alertNotifiers: readonly string[],
  limit: number,
): Promise<AlertView[]> {
  const events = (await store.listNotifications({ limit })).map(eventView)
  const alerts = (await Promise.all(alertNotifiers.map((name) => store.listAlerts(name, { limit }))))
    .flat()
    .map(alertView)
  return [...events, ...alerts].sort((a, b) => b.at.localeCompare(a.at)).slice(0, limit)
}

/** How much an event needs a person, in Alertmanager's words (the alerts carry their own). */
const EVENT_SEVERITY: Partial<Record<FleetEventKind, string>> = {
  snowflake: 'critical',
  'replacement-failed': 'critical',
  'host-stale': 'warning',
}

function eventView(n: NotificationRecord): AlertView {
  return {
    at: n.createdAt.toISOString(),
    hostId: n.event.host.id,
    hostname: n.event.host.hostname,
    severity: EVENT_SEVERITY[n.kind] ?? 'info',
    event: n.kind,
    summary: n.event.summary,
    notifier: n.notifier,
    delivery: n.status,
  }
}

function alertView(a: AlertRecord): AlertView {
  return {
    at: (a.resolvedAt ?? a.startsAt).toISOString(),
    hostId: a.labels.host ?? '',
    hostname: a.labels.hostname ?? '',
    severity: a.labels.severity ?? 'warning',
    event: a.resolvedAt ? 'resolved' : 'firing',
    summary: a.annotations.summary ?? a.labels.alertname ?? a.key,
    notifier: a.notifier,
    delivery: a.lastSentAt && a.lastSentAt >= (a.resolvedAt ?? a.startsAt) ? 'sent' : 'pending',
  }
}
