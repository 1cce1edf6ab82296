import type { Summary } from '../protocol/report.js'

/**
 * A replacement's life: pending (just created) -> waiting (for a window, the budget, the
 * cooldown or an approval) -> dispatched (the executor was called, once) -> completed (the host
 * stopped reporting) | failed (it still reports after the timeout, or the executor refused) |
 * cancelled (by an operator, or because the host scanned clean with cancelWhenClean).
 */
export const REPLACEMENT_STATES_ORDERED = [
  'pending',
  'waiting',
  'dispatched',
  'completed',
  'failed',
  'cancelled',
] as const
export type ReplacementState = (typeof REPLACEMENT_STATES_ORDERED)[number]

/** The states a replacement leaves no more. */
export const FINAL_REPLACEMENT_STATES: ReadonlySet<ReplacementState> = new Set([
  'completed',
  'failed',
  'cancelled',
])

/** The states in which a replacement still holds its host (one such replacement per host at most). */
export const OPEN_REPLACEMENT_STATES = ['pending', 'waiting', 'dispatched'] as const

/** What a waiting replacement waits for. */
export type WaitingFor = 'window' | 'budget' | 'cooldown' | 'approval'

/** Who or what asked for a replacement. */
export type ReplacementTrigger = 'snowflake' | 'manual'

/** One replacement of one host. */
export interface ReplacementRecord {
  id: string
  hostId: string
  /** The host's replacement group (the value of its group label; "" when it has none). */
  group: string
  state: ReplacementState
  /** Why it is in its state, in words ("outside the maintenance windows", "executor answered 202"). */
  reason: string
  waitingFor: WaitingFor | null
  trigger: ReplacementTrigger
  /** The operator who asked for it (manual) or null. */
  requestedBy: string | null
  approvedBy: string | null
  approvedAt: Date | null
  /** A dry run records and alerts what it would do; no executor runs and no host state changes. */
  dryRun: boolean
  /** The executor type that was (or, in a dry run, would have been) called. */
  executor: string | null
  /** What the executor said: the HTTP status and body head, or the command's exit and output. */
  output: string | null
  createdAt: Date
  updatedAt: Date
  dispatchedAt: Date | null
  finishedAt: Date | null
}

/** Every change of a replacement, with who made it and when. */
export interface ReplacementEvent {
  replacementId: string
  from: ReplacementState | null
  to: ReplacementState
  reason: string
  /** `scheduler@<collector>` for the scheduler's own decisions, the admin token's name for an operator. */
  actor: string
  at: Date
}

/** The holder of a named lease (the scheduler's), for operators to see who schedules. */
export interface LeaseRecord {
  name: string
  holder: string
  acquiredAt: Date
  expiresAt: Date
}

/** The events people and automation are told about. */
export const FLEET_EVENTS = [
  'snowflake',
  'replacement-scheduled',
  'replacement-dispatched',
  'replacement-completed',
  'replacement-failed',
  'replacement-cancelled',
  'host-stale',
] as const
export type FleetEventKind = (typeof FLEET_EVENTS)[number]

/** One event, as every notifier receives it. */
export interface FleetEvent {
  kind: FleetEventKind
  /** Deduplicates deliveries: one event per key and notifier, whichever collector saw it. */
  key: string
  at: Date
  host: {
    id: string
    hostname: string
    labels: Record<string, string>
    image: string | null
    summary: Summary | null
  }
  group: string
  replacement: Pick<ReplacementRecord, 'id' | 'state' | 'reason' | 'dryRun'> | null
  /** One line for people. */
  summary: string
}

/** A notification in the outbox: recorded once per notifier and key, delivered with retries. */
export interface NotificationRecord {
  id: number
  notifier: string
  key: string
  kind: FleetEventKind
  event: FleetEvent
  status: 'pending' | 'sent' | 'failed'
  attempts: number
  nextAttemptAt: Date
  lastError: string | null
  createdAt: Date
  sentAt: Date | null
}

/** A replacement group as the budget sees it, at the moment of a dispatch. */
export interface GroupStats {
  group: string
  /** Hosts of the group, the replaced ones left out. */
  hosts: number
  /** Hosts that serve, other than the one to dispatch: reporting (not stale) and not being replaced. */
  inServiceOthers: number
  /** Replacements of the group dispatched and not finished. */
  inFlight: number
  lastDispatchedAt: Date | null
}

/** Whether a replacement may be dispatched now, and if not, what it waits for. */
export type DispatchDecision =
  | { dispatch: true; reason: string }
  | { dispatch: false; waitingFor: WaitingFor; reason: string }

/** The pure decision the store applies inside its dispatch transaction (see collector/replacement/policy.ts). */
export type DecideDispatch = (
  replacement: ReplacementRecord,
  stats: GroupStats,
  now: Date,
) => DispatchDecision

/** An alert as a notifier keeps it: firing until resolvedAt, re-sent while it fires. */
export interface AlertRecord {
  notifier: string
  key: string
  labels: Record<string, string>
  annotations: Record<string, string>
  startsAt: Date
  resolvedAt: Date | null
  /** When it was last delivered (firing, or its resolution); null until then. */
  lastSentAt: Date | null
}

/** An alert condition that holds now; a notifier keeps it firing while it holds and resolves it after. */
export interface AlertCondition {
  /** `snowflake:<host>`, `failed:<host>`, `stale:<host>`: one alert per condition and host. */
  key: string
  alertname: 'DriftwatchSnowflake' | 'DriftwatchReplacementFailed' | 'DriftwatchHostStale'
  severity: 'warning' | 'critical'
  host: FleetEvent['host']
  group: string
  summary: string
  since: Date
}
