import type { FleetEvent } from '../../fleet/replacements.js'
import { describePost, postWithRetries } from '../executors/http.js'
import type { Delivery, EventNotifier } from './types.js'

const ICON: Record<FleetEvent['kind'], string> = {
  snowflake: ':snowflake:',
  'replacement-scheduled': ':calendar:',
  'replacement-dispatched': ':rocket:',
  'replacement-completed': ':white_check_mark:',
  'replacement-failed': ':x:',
  'replacement-cancelled': ':no_entry_sign:',
  'host-stale': ':zzz:',
}

/** A Slack incoming webhook: one message per event. */
export class SlackNotifier implements EventNotifier {
  readonly kind = 'events'

  constructor(
    readonly name: string,
    readonly options: { url: string; timeoutMs: number; link?: (hostId: string) => string },
  ) {}

  async deliver(event: FleetEvent): Promise<Delivery> {
    const link = this.options.link?.(event.host.id)
    // Slack's mrkdwn: &, < and > are escaped; the link is Slack's own <url|text>.
    const mrkdwn = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    const host = link ? `<${link}|${mrkdwn(event.host.hostname)}>` : mrkdwn(event.host.hostname)
    const text = `${ICON[event.kind]} *${event.kind}* ${host}: ${mrkdwn(event.summary)}`
    const result = await postWithRetries(this.options.url, JSON.stringify({ text }), () => ({}), {
      timeoutMs: this.options.timeoutMs,
      retries: 0,
    })
    return { ok: result.ok, error: result.ok ? null : describePost(result) }
  }
}
