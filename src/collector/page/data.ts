import type { HostDetailView, HostView } from '../../protocol/api.js'
import type { Store } from '../../store/types.js'
import { hostDetailView, hostView } from '../views.js'

/** One replacement group's limits, as the page shows them next to the queue. */
export interface ReplacementGroupView {
  /** The value of the host label that forms the group (e.g. group=web-prod). */
  group: string
  maxConcurrent: number
  minHealthyPercent: number
  /** Replacements of this group dispatched and not yet finished. */
  inFlight: number
  /** Maintenance windows: a cron start, a duration and a time zone; `open` now or not. */
  windows: { start: string; duration: string; timezone: string; open: boolean }[]
}

/** One host in the replacement queue. */
export interface ReplacementView {
  hostId: string
  hostname: string
  group: string
  /** e.g. scheduled, awaiting-approval, dispatched, replacing, done, failed, cancelled. */
  status: string
  /** Why it is queued (the snowflake reasons) or why it waits (budget, window, approval). */
  reason: string
  requestedAt: string
}

export interface ReplacementQueueView {
  dryRun: boolean
  groups: ReplacementGroupView[]
  replacements: ReplacementView[]
}

/** One alert sent (or being sent) to a notifier. */
export interface AlertView {
  at: string
  hostId: string | null
  hostname: string | null
  severity: string
  /** "firing" or "resolved" */
  status: string
  summary: string
  /** Where it went: alertmanager, slack, webhook. */
  notifier: string
}

/**
 * What the fleet page reads, and nothing more. The replacement scheduler and the notifiers add
 * their parts when they are connected; until then the page says there are none.
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
