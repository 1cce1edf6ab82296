import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { errnoCode } from '../../errors.js'

/** One POST's outcome: the status and the body's head, or why no answer came. */
export interface PostResult {
  ok: boolean
  status: number | null
  body: string
  error: string | null
  attempts: number
}

/**
 * POSTs a JSON body, again on a network error, a 5xx or a 429, with exponential backoff and
 * full jitter (capped at 30 s), honouring Retry-After. A 2xx is success; another 4xx is final.
 */
export async function postWithRetries(
  url: string,
  body: string,
  headers: () => Record<string, string>,
  options: { timeoutMs: number; retries: number; baseDelayMs?: number },
): Promise<PostResult> {
  const base = options.baseDelayMs ?? 500
  let last: PostResult = { ok: false, status: null, body: '', error: 'not sent', attempts: 0 }
  for (let attempt = 0; attempt <= options.retries; attempt++) {
    let retryAfterMs: number | undefined
    try {
      const response = await request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers() },
        body,
        signal: AbortSignal.timeout(options.timeoutMs),
      })
      const text = (await response.body.text()).slice(0, 2048)
      const ok = response.statusCode >= 200 && response.statusCode < 300
      last = { ok, status: response.statusCode, body: text, error: null, attempts: attempt + 1 }
      if (ok || (response.statusCode < 500 && response.statusCode !== 429)) return last
      const after = Number(response.headers['retry-after'])
      if (Number.isFinite(after) && after >= 0) retryAfterMs = Math.min(after * 1000, 60_000)
    } catch (error) {
      const why =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${options.timeoutMs} ms`
          : (errnoCode(error) ?? (error instanceof Error ? error.message : String(error)))
      last = { ok: false, status: null, body: '', error: why, attempts: attempt + 1 }
    }
    if (attempt < options.retries) {
      await sleep(retryAfterMs ?? Math.random() * Math.min(30_000, base * 2 ** attempt))
    }
  }
  return last
}

/** A POST's outcome in one line, for records and logs. */
export function describePost(result: PostResult): string {
  const tries = result.attempts > 1 ? ` after ${result.attempts} attempts` : ''
  if (result.status === null) return `no answer${tries}: ${result.error}`
  return `HTTP ${result.status}${tries}${result.body ? `: ${result.body.trim().slice(0, 500)}` : ''}`
}
