import { readFileSync } from 'node:fs'
import { Agent, type Dispatcher, RetryAgent, type RetryHandler, request } from 'undici'
import { DriftwatchError, errnoCode } from '../errors.js'
import type { EnrollRequest, EnrollResponse, HeartbeatRequest } from '../protocol/api.js'

/** How the agent reaches its collector (agent.yaml `collector`). */
export interface DeliveryOptions {
  url: string
  ca?: string
  cert?: string
  key?: string
  connectTimeout: number
  responseTimeout: number
  retries: number
  minBackoff: number
  maxBackoff: number
}

/** What became of one request, in the words the daemon acts on. */
export type Outcome<T> =
  /** The collector took it. */
  | { kind: 'ok'; status: number; body: T }
  /** 401: the collector does not know the token (or the secret): enrol again. */
  | { kind: 'unauthorized'; status: number; message: string }
  /** Another 4xx: the collector will never take these bytes; retrying is pointless. */
  | { kind: 'rejected'; status: number; message: string }
  /** Unreachable, reset, timed out, 429 or 5xx after every retry: try again next cycle. */
  | { kind: 'unavailable'; reason: string; retryAfterMs?: number }

/** Answers worth a retry: overload and the collector's (or its proxy's) own failures. */
const RETRY_STATUS = [429, 500, 502, 503, 504]
/** Network failures worth a retry, undici's list and its timeouts (a collector that hangs). */
const RETRY_ERRORS = [
  'ECONNRESET',
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETDOWN',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EHOSTUNREACH',
  'EPIPE',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]

/** A Retry-After header in milliseconds: seconds, or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value
  if (text === undefined || text.trim() === '') return undefined
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000
  const at = Date.parse(text)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/**
 * The wait before retry `attempt` (1 for the first): full jitter, a random time between zero
 * and the capped exponential backoff, so that a fleet that lost its collector at once does not
 * come back at once either (AWS Architecture Blog, "Exponential Backoff And Jitter").
 */
export function backoffDelay(
  attempt: number,
  options: { minBackoff: number; maxBackoff: number },
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxBackoff, options.minBackoff * 2 ** Math.max(0, attempt - 1))
  return Math.floor(random() * ceiling)
}

/**
 * The agent's HTTP client for the collector: undici with connect and response timeouts, the
 * collector's CA pinned when given, a client certificate when given, and undici's RetryAgent
 * deciding retries with capped exponential backoff, full jitter and Retry-After. Every POST
 * the agent makes is idempotent (reports by reportId), so POSTs are retried too.
 */
export class CollectorClient {
  readonly url: string
  #base: URL
  #dispatcher: Dispatcher
  #options: DeliveryOptions
  /** Retries waiting their turn, ended at once by close(). */
  #waiting = new Set<{ timer: NodeJS.Timeout; fail: () => void }>()
  #closed = false

  constructor(options: DeliveryOptions, random: () => number = Math.random) {
    this.#options = options
    this.#base = new URL(options.url.endsWith('/') ? options.url : `${options.url}/`)
    this.url = this.#base.origin + this.#base.pathname.replace(/\/+$/, '')
    const connect = {
      timeout: options.connectTimeout,
      ...(options.ca ? { ca: readPem(options.ca, 'collector.ca') } : {}),
      ...(options.cert ? { cert: readPem(options.cert, 'collector.cert') } : {}),
      ...(options.key ? { key: readPem(options.key, 'collector.key') } : {}),
    }
    const agent = new Agent({
      connect,
      headersTimeout: options.responseTimeout,
      bodyTimeout: options.responseTimeout,
      // One host, one collector: a connection or two is plenty.
      connections: 2,
    })
    const retry: RetryHandler.RetryCallback = (error, { state }, callback) => {
      const { statusCode, code, headers } = error as Error & {
        statusCode?: number
        code?: string
        headers?: Record<string, string | string[]>
      }
      if (this.#closed) return callback(error)
      if (code && code !== 'UND_ERR_REQ_RETRY' && !RETRY_ERRORS.includes(code)) return callback(error)
      if (statusCode !== undefined && !RETRY_STATUS.includes(statusCode)) return callback(error)
      if (state.counter > options.retries) return callback(error)
      let delay = backoffDelay(state.counter, options, random)
      const retryAfter =
        statusCode === 429 || statusCode === 503 ? parseRetryAfter(headers?.['retry-after']) : undefined
      if (retryAfter !== undefined) {
        // Longer than one delivery waits: the daemon keeps the report and waits that long.
        if (retryAfter > options.maxBackoff) return callback(error)
        delay = retryAfter
      }
      const waiting = {
        timer: setTimeout(() => {
          this.#waiting.delete(waiting)
          callback(null)
        }, delay),
        fail: () => callback(error),
      }
      this.#waiting.add(waiting)
    }
    this.#dispatcher = new RetryAgent(agent, {
      retry,
      maxRetries: options.retries,
      methods: ['GET', 'POST', 'PUT'],
      statusCodes: RETRY_STATUS,
      errorCodes: RETRY_ERRORS,
    })
  }

  enroll(body: EnrollRequest): Promise<Outcome<EnrollResponse>> {
    return this.#post<EnrollResponse>('v1/enroll', undefined, Buffer.from(JSON.stringify(body)), false)
  }

  /** `body`: the report as gzipped JSON, as kept in the spool. */
  sendReport(
    token: string,
    body: Buffer,
  ): Promise<Outcome<{ reportId: string; duplicate: boolean; state?: string }>> {
    return this.#post('v1/reports', token, body, true)
  }

  heartbeat(token: string, body: HeartbeatRequest): Promise<Outcome<{ state: string }>> {
    return this.#post('v1/heartbeats', token, Buffer.from(JSON.stringify(body)), false)
  }

  /** Ends waiting retries (they fail now, their reports stay spooled) and the connections. */
  async close(): Promise<void> {
    this.#closed = true
    for (const waiting of this.#waiting) {
      clearTimeout(waiting.timer)
      waiting.fail()
    }
    this.#waiting.clear()
    await this.#dispatcher.destroy().catch(() => undefined)
  }

  async #post<T>(
    path: string,
    token: string | undefined,
    body: Buffer,
    gzipped: boolean,
  ): Promise<Outcome<T>> {
    if (this.#closed) return { kind: 'unavailable', reason: 'the agent is stopping' }
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(gzipped ? { 'content-encoding': 'gzip' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    }
    let status: number
    let text: string
    try {
      const response = await request(new URL(path, this.#base), {
        method: 'POST',
        headers,
        body,
        dispatcher: this.#dispatcher,
      })
      status = response.statusCode
      text = await response.body.text()
    } catch (error) {
      const failed = error as Error & { statusCode?: number; headers?: Record<string, string | string[]> }
      if (typeof failed.statusCode === 'number' && RETRY_STATUS.includes(failed.statusCode)) {
        const retryAfterMs = parseRetryAfter(failed.headers?.['retry-after'])
        return {
          kind: 'unavailable',
          reason: `the collector answered ${failed.statusCode}`,
          ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
        }
      }
      return { kind: 'unavailable', reason: describeNetworkError(error, this.#options) }
    }
    if (status >= 200 && status < 300) {
      try {
        return { kind: 'ok', status, body: JSON.parse(text) as T }
      } catch {
        return {
          kind: 'rejected',
          status,
          message: 'the answer is not JSON: is this a driftwatch collector?',
        }
      }
    }
    const message = apiMessage(text) ?? `HTTP ${status}`
    if (status === 401) return { kind: 'unauthorized', status, message }
    // A 404 from a host route means the collector no longer knows this host.
    if (status === 404 && path !== 'v1/enroll' && /not enrolled/.test(message))
      return { kind: 'unauthorized', status, message }
    if (status >= 400 && status < 500) return { kind: 'rejected', status, message }
    return { kind: 'unavailable', reason: `the collector answered ${status}: ${message}` }
  }
}

function apiMessage(text: string): string | undefined {
  try {
    const value = JSON.parse(text) as { message?: unknown }
    return typeof value.message === 'string' ? value.message.slice(0, 500) : undefined
  } catch {
    return text.trim() ? text.trim().slice(0, 200) : undefined
  }
}

/** A network failure in a few words for a log line. */
export function describeNetworkError(
  error: unknown,
  options: Pick<DeliveryOptions, 'connectTimeout' | 'responseTimeout'>,
): string {
  const code = errnoCode(error) ?? ''
  const cause = (error as { cause?: unknown })?.cause
  const causeCode = errnoCode(cause) ?? ''
  const any = `${code} ${causeCode}`
  if (/ECONNREFUSED/.test(any)) return 'connection refused'
  if (/UND_ERR_CONNECT_TIMEOUT|ETIMEDOUT/.test(any))
    return `no connection within ${options.connectTimeout} ms`
  if (/UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT/.test(any))
    return `no answer within ${options.responseTimeout} ms`
  if (/ECONNRESET|UND_ERR_SOCKET|EPIPE/.test(any)) return 'the connection was reset'
  if (/ENOTFOUND|EAI_AGAIN/.test(any)) return 'unknown host name'
  if (/CERT|SELF_SIGNED|ERR_TLS|ERR_SSL/.test(any))
    return `TLS: ${(error as Error).message} (is collector.ca the CA that signed the collector's certificate?)`
  return error instanceof Error ? error.message : String(error)
}

function readPem(file: string, key: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    throw new DriftwatchError(
      'CONFIG_INVALID',
      `${key}: ${file}: cannot read (${errnoCode(error) ?? String(error)})`,
      {
        hint: 'point it at a readable PEM file, or remove the key',
      },
    )
  }
}
