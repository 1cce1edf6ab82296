import type { AlertRecord, FleetEvent } from '../../fleet/replacements.js'

/** A delivery's outcome; `error` says why it failed, in one line. */
export interface Delivery {
  ok: boolean
  error: string | null
}

/** Tells people or automation about each event once (Slack, a signed webhook). */
export interface EventNotifier {
  readonly kind: 'events'
  readonly name: string
  deliver(event: FleetEvent): Promise<Delivery>
}

/** Keeps alerts firing while their condition holds and resolves them after (Alertmanager). */
export interface AlertNotifier {
  readonly kind: 'alerts'
  readonly name: string
  /** Firing alerts are sent again this often. */
  readonly resendEveryMs: number
  send(alerts: readonly AlertRecord[], now: Date): Promise<Delivery>
}

export type Notifier = EventNotifier | AlertNotifier
