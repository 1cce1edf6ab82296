import type { Logger } from 'pino'
import { type NotifierConfig, notifierName } from '../../config/replacement.js'
import type { AlertCondition, FleetEvent } from '../../fleet/replacements.js'
import type { ReplacementStore } from '../../store/replacements.js'
import type { CollectorMetrics, NotificationOutcome } from '../../telemetry/collector-metrics.js'
import { AlertmanagerNotifier } from './alertmanager.js'
import { SlackNotifier } from './slack.js'
import type { AlertNotifier, EventNotifier, Notifier } from './types.js'
import { WebhookNotifier } from './webhook.js'

/** Attempts of one event before it is recorded as failed; the waits between them double up to an hour. */
const MAX_ATTEMPTS = 10
const FIRST_RETRY_MS = 5_000
const LAST_RETRY_MS = 3_600_000
/** Events delivered per round and notifier-independent outbox batch. */
const BATCH = 100

type NotificationMetrics = Pick<CollectorMetrics, 'recordNotification'>

/**
 * The notifiers and their outbox. Publishing only records (once per notifier and event key,
 * whichever collector publishes); delivery runs apart, each attempt bounded by its timeout,
 * so that a notifier that is down never holds up ingest or scheduling. Alerts are level
 * based: `reconcile` is given every condition that holds, fires those and resolves the rest.
 */
export class Notifications {
  readonly #events: EventNotifier[]
  readonly #alerts: AlertNotifier[]
  readonly #metrics: NotificationMetrics | undefined

  constructor(
    readonly store: ReplacementStore,
    notifiers: readonly Notifier[],
    readonly logger?: Logger,
    /** Counts every delivery attempt as driftwatch.notifications. */
    metrics?: NotificationMetrics,
  ) {
    this.#events = notifiers.filter((n): n is EventNotifier => n.kind === 'events')
    this.#alerts = notifiers.filter((n): n is AlertNotifier => n.kind === 'alerts')
    this.#metrics = metrics
  }

  /** A delivery attempt, counted by the notifier's type (never its name: a bounded attribute). */
  #count(notifier: Notifier, outcome: NotificationOutcome, count = 1): void {
    this.#metrics?.recordNotification(notifierType(notifier), outcome, count)
  }

  get empty(): boolean {
    return this.#events.length === 0 && this.#alerts.length === 0
  }

  /** Records the event for every event notifier; never throws. */
  async publish(event: FleetEvent): Promise<void> {
    for (const notifier of this.#events) {
      try {
        await this.store.enqueueNotification(notifier.name, event, event.at)
      } catch (error) {
        this.logger?.error(
          { err: error, notifier: notifier.name, event: event.key },
          'notification not recorded',
        )
      }
    }
  }

  /** Fires every alert whose condition holds and resolves those that fired and hold no more. */
  async reconcile(
    conditions: readonly AlertCondition[],
    now: Date,
    link: (hostId: string) => string,
  ): Promise<void> {
    const wanted = new Map(conditions.map((c) => [c.key, c]))
    for (const notifier of this.#alerts) {
      for (const condition of conditions) {
        await this.store.fireAlert({
          notifier: notifier.name,
          key: condition.key,
          labels: {
            alertname: condition.alertname,
            host: condition.host.id,
            hostname: condition.host.hostname,
            image: condition.host.image ?? '',
            group: condition.group,
            severity: condition.severity,
          },
          annotations: { summary: condition.summary, link: link(condition.host.id) },
          at: condition.since,
        })
      }
      const firing = (await this.store.listAlerts(notifier.name)).filter((a) => a.resolvedAt === null)
      await this.store.resolveAlerts(
        notifier.name,
        firing.filter((a) => !wanted.has(a.key)).map((a) => a.key),
        now,
      )
    }
  }

  /** One round of delivery: due events, then alerts to (re)send. Failures are recorded, never thrown. */
  async deliver(now: Date): Promise<{ sent: number; failed: number }> {
    let sent = 0
    let failed = 0
    const byName = new Map(this.#events.map((n) => [n.name, n]))
    for (const notification of await this.store.dueNotifications(now, BATCH)) {
      const notifier = byName.get(notification.notifier)
      if (!notifier) continue
      const delivery = await notifier.deliver(notification.event).catch((error: unknown) => ({
        ok: false,
        error: error instanceof Error ? error.message : String(error),
      }))
      const attempts = notification.attempts + 1
      if (delivery.ok) {
        sent++
        this.#count(notifier, 'sent')
        await this.store.markNotification(notification.id, {
          status: 'sent',
          attempts,
          nextAttemptAt: now,
          lastError: null,
          sentAt: now,
        })
        continue
      }
      failed++
      const final = attempts >= MAX_ATTEMPTS
      this.#count(notifier, final ? 'failed' : 'retried')
      const wait = Math.min(LAST_RETRY_MS, FIRST_RETRY_MS * 2 ** (attempts - 1))
      await this.store.markNotification(notification.id, {
        status: final ? 'failed' : 'pending',
        attempts,
        nextAttemptAt: new Date(now.getTime() + wait * (0.5 + Math.random() / 2)),
        lastError: delivery.error,
        sentAt: null,
      })
      this.logger?.warn(
        { notifier: notifier.name, event: notification.key, attempts, error: delivery.error },
        'notification not delivered',
      )
    }
    for (const notifier of this.#alerts) {
      const alerts = await this.store.alertsToSend(notifier.name, now, notifier.resendEveryMs)
      if (alerts.length === 0) continue
      const delivery = await notifier.send(alerts, now).catch((error: unknown) => ({
        ok: false,
        error: error instanceof Error ? error.message : String(error),
      }))
      if (delivery.ok) {
        sent += alerts.length
        this.#count(notifier, 'sent', alerts.length)
        await this.store.markAlertsSent(
          notifier.name,
          alerts.map((a) => a.key),
          now,
        )
      } else {
        failed += alerts.length
        // Unsent alerts are sent again at the next round.
        this.#count(notifier, 'retried', alerts.length)
        this.logger?.warn(
          { notifier: notifier.name, alerts: alerts.length, error: delivery.error },
          'alerts not delivered',
        )
      }
    }
    return { sent, failed }
  }
}

/** The type of a notifier, as collector.yaml names it. */
function notifierType(notifier: Notifier): string {
  if (notifier instanceof AlertmanagerNotifier) return 'alertmanager'
  if (notifier instanceof SlackNotifier) return 'slack'
  if (notifier instanceof WebhookNotifier) return 'webhook'
  return 'other'
}

/** The notifiers collector.yaml configures; `link` points at a host in the collector. */
export function makeNotifiers(
  configs: readonly NotifierConfig[],
  link: (hostId: string) => string,
  clock: () => Date = () => new Date(),
): Notifier[] {
  return configs.map((config, index): Notifier => {
    const name = notifierName(configs, index)
    if (config.type === 'alertmanager') {
      return new AlertmanagerNotifier(name, {
        url: config.url,
        resendEveryMs: config.resendEvery,
        timeoutMs: config.timeout,
      })
    }
    if (config.type === 'slack')
      return new SlackNotifier(name, { url: config.url, timeoutMs: config.timeout, link })
    return new WebhookNotifier(
      name,
      { url: config.url, secret: config.secret, timeoutMs: config.timeout },
      clock,
    )
  })
}
