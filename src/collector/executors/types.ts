import type { ReplacementRecord } from '../../fleet/replacements.js'
import type { HostRecord } from '../../fleet/states.js'

/** The cloud instance behind a host, as its agent reported it (host facts), when it did. */
export interface CloudInstance {
  provider: string
  instanceId: string | null
}

/** What an executor is told: the replacement, the host and its facts. */
export interface DispatchRequest {
  replacement: ReplacementRecord
  host: HostRecord
  cloud: CloudInstance | null
}

/** What came of a dispatch: accepted or not, and what the executor said (kept in the record). */
export interface DispatchResult {
  ok: boolean
  output: string
}

/** Replaces a host: a signed webhook or a command (see webhook.ts, command.ts). */
export interface Executor {
  readonly type: 'webhook' | 'command'
  dispatch(request: DispatchRequest): Promise<DispatchResult>
}

/** The JSON document a webhook executor posts; the command executor sets the same facts in the environment. */
export function dispatchDocument(request: DispatchRequest) {
  const { replacement, host } = request
  return {
    schema: 'driftwatch.replacement/v1',
    replacementId: replacement.id,
    trigger: replacement.trigger,
    group: replacement.group,
    host: {
      id: host.id,
      hostname: host.hostname,
      labels: host.labels,
      cloud: request.cloud,
    },
    image:
      host.imageId === null
        ? null
        : { id: host.imageId, version: host.imageVersion, manifestDigest: host.manifestDigest },
    findings: host.summary,
    reasons: host.stateReasons,
  }
}

/** Output kept in a record: its head, enough to tell what happened. */
export const OUTPUT_LIMIT = 8192

export function clip(text: string): string {
  return text.length > OUTPUT_LIMIT
    ? `${text.slice(0, OUTPUT_LIMIT)}\n… (${text.length - OUTPUT_LIMIT} more characters)`
    : text
}
