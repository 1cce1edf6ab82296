import type { FleetEvent } from '../../fleet/replacements.js'
import { describePost, postWithRetries } from '../executors/http.js'
import { SIGNATURE_HEADER, signBody } from '../executors/signature.js'
import type { Delivery, EventNotifier } from './types.js'

/** POSTs each event as JSON, signed as the webhook executor signs (X-Driftwatch-Signature). */
export class WebhookNotifier implements EventNotifier {
  readonly kind = 'events'

  constructor(
    readonly name: string,
    readonly options: { url: string; secret: string; timeoutMs: number },
    readonly clock: () => Date = () => new Date(),
  ) {}

  async deliver(event: FleetEvent): Promise<Delivery> {
    const body = JSON.stringify({ schema: 'driftwatch.event/v1', ...event, at: event.at.toISOString() })
    const result = await postWithRetries(
      this.options.url,
      body,
      () => ({ [SIGNATURE_HEADER]: signBody(this.options.secret, body, this.clock()) }),
      { timeoutMs: this.options.timeoutMs, retries: 0 },
    )
    return { ok: result.ok, error: result.ok ? null : describePost(result) }
  }
}
