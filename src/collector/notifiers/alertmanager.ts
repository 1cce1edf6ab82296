import type { AlertRecord } from '../../fleet/replacements.js'
import { describePost, postWithRetries } from '../executors/http.js'
import type { AlertNotifier, Delivery } from './types.js'

/**
 * Alertmanager's API v2 (POST /api/v2/alerts). A firing alert's endsAt lies a few resends
 * ahead: Alertmanager keeps it while driftwatch re-sends it, and resolves it by itself if the
 * collectors go silent. A resolved alert is sent once more with endsAt at its resolution.
 */
export class AlertmanagerNotifier implements AlertNotifier {
  readonly kind = 'alerts'

  constructor(
    readonly name: string,
    readonly options: { url: string; resendEveryMs: number; timeoutMs: number },
  ) {}

  get resendEveryMs(): number {
    return this.options.resendEveryMs
  }

  async send(alerts: readonly AlertRecord[], now: Date): Promise<Delivery> {
    if (alerts.length === 0) return { ok: true, error: null }
    const body = JSON.stringify(
      alerts.map((alert) => alertmanagerAlert(alert, now, this.options.resendEveryMs)),
    )
    const url = new URL(
      'api/v2/alerts',
      this.options.url.endsWith('/') ? this.options.url : `${this.options.url}/`,
    )
    const result = await postWithRetries(url.toString(), body, () => ({}), {
      timeoutMs: this.options.timeoutMs,
      retries: 0,
    })
    return { ok: result.ok, error: result.ok ? null : describePost(result) }
  }
}

export function alertmanagerAlert(alert: AlertRecord, now: Date, resendEveryMs: number) {
  const endsAt = alert.resolvedAt ?? new Date(now.getTime() + 4 * resendEveryMs)
  return {
    labels: alert.labels,
    annotations: alert.annotations,
    startsAt: alert.startsAt.toISOString(),
    endsAt: endsAt.toISOString(),
    ...(alert.annotations.link ? { generatorURL: alert.annotations.link } : {}),
  }
}
