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
import type { HostRecord, Judgement } from '../fleet/states.js'

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
  /** How many replacements are in each state: every state, 0 when none; counted by the database. */
  countByState(): Promise<Record<ReplacementState, number>>
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
  /** Notifications, the last recorded first; with `limit`, only that many. */
  listNotifications(filter?: {
    notifier?: string
    kind?: FleetEventKind
    limit?: number
  }): Promise<NotificationRecord[]>

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
  /** The notifier's alerts, the last started or resolved first; with `limit`, only that many. */
  listAlerts(notifier: string, options?: { limit?: number }): Promise<AlertRecord[]>
}
