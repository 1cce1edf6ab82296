import type { Attributes, Counter, Histogram, Meter } from '@opentelemetry/api'
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_SCHEME,
  HTTP_REQUEST_METHOD_VALUE_OTHER,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions'
import type { FastifyInstance } from 'fastify'
import { REPLACEMENT_STATES_ORDERED, type ReplacementState } from '../fleet/replacements.js'
import { counter, gauge, histogram } from './instruments.js'

/** Hosts of one state, image version and replacement group: one data point of driftwatch.hosts. */
export interface HostCount {
  state: string
  imageId: string | null
  imageVersion: string | null
  group: string | null
  count: number
}

/** Replacements in one state: one data point of driftwatch.replacements. */
export interface ReplacementCount {
  state: string
  count: number
}

/** What became of one notification (an alert to Alertmanager, Slack or a webhook). */
export type NotificationOutcome = 'sent' | 'failed' | 'retried'

/**
 * Every collector instrument: its name as OpenTelemetry sees it, unit (UCUM) and attributes.
 * No attribute is per host (no host id, path or package name), so the number of series stays
 * bounded by states × image versions × groups whatever the size of the fleet.
 */
export const COLLECTOR_INSTRUMENTS = {
  hosts: {
    name: 'driftwatch.hosts',
    unit: '{host}',
    attributes: ['state', 'image.id', 'image.version', 'group'],
  },
  reportsIngested: { name: 'driftwatch.reports.ingested', unit: '{report}', attributes: ['duplicate'] },
  reportsRejected: { name: 'driftwatch.reports.rejected', unit: '{report}', attributes: ['reason'] },
  ingestDuration: { name: 'driftwatch.report.ingest.duration', unit: 's', attributes: [] },
  replacements: { name: 'driftwatch.replacements', unit: '{replacement}', attributes: ['state'] },
  notifications: {
    name: 'driftwatch.notifications',
    unit: '{notification}',
    attributes: ['notifier', 'outcome'],
  },
  httpServerDuration: {
    name: METRIC_HTTP_SERVER_REQUEST_DURATION,
    unit: 's',
    attributes: [
      ATTR_HTTP_REQUEST_METHOD,
      ATTR_HTTP_ROUTE,
      ATTR_HTTP_RESPONSE_STATUS_CODE,
      ATTR_URL_SCHEME,
      ATTR_ERROR_TYPE,
    ],
  },
} as const

/** The HTTP methods the semantic conventions name; any other is `_OTHER`. */
const KNOWN_METHODS = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'TRACE',
])

/** The route whose answers count reports ingested and rejected. */
const REPORTS_ROUTE = '/v1/reports'

/**
 * The collector's metrics. Counters are fed by the HTTP hooks (instrumentCollectorApp) and by
 * the notifiers (recordNotification); the fleet gauges read their sources when a reader
 * collects, at most once per `refreshMs` however many readers there are.
 */
export class CollectorMetrics {
  readonly #reportsIngested: Counter
  readonly #reportsRejected: Counter
  readonly #ingestDuration: Histogram
  readonly #notifications: Counter
  readonly #httpDuration: Histogram
  readonly #hosts: CachedSource<HostCount>
  readonly #replacements: CachedSource<ReplacementCount>

  constructor(
    meter: Meter,
    options: { refreshMs?: number; clock?: () => number; onSourceError?: (error: unknown) => void } = {},
  ) {
    const i = COLLECTOR_INSTRUMENTS
    const refreshMs = options.refreshMs ?? 10_000
    const clock = options.clock ?? Date.now
    this.#hosts = new CachedSource(refreshMs, clock, options.onSourceError)
    this.#replacements = new CachedSource(refreshMs, clock, options.onSourceError)
    this.#reportsIngested = counter(
      meter,
      i.reportsIngested,
      'Reports accepted from agents (duplicate: a retry of a report already stored)',
    )
    this.#reportsRejected = counter(
      meter,
      i.reportsRejected,
      'Reports refused, by reason (the error code the agent was answered)',
    )
    this.#ingestDuration = histogram(
      meter,
      i.ingestDuration,
      'From a report arriving to its answer, stored and the host judged',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    )
    this.#notifications = counter(
      meter,
      i.notifications,
      'Notifications, by notifier type and outcome (sent, failed, retried)',
    )
    this.#httpDuration = histogram(
      meter,
      i.httpServerDuration,
      'Duration of HTTP server requests.',
      // The semantic conventions' advised boundaries for this instrument.
      [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
    )
    const hosts = gauge(meter, i.hosts, 'Hosts by state, image version and replacement group')
    hosts.addCallback(async (result) => {
      for (const row of await this.#hosts.read()) {
        const attributes: Attributes = { state: row.state }
        if (row.imageId !== null) attributes['image.id'] = row.imageId
        if (row.imageVersion !== null) attributes['image.version'] = row.imageVersion
        if (row.group !== null) attributes.group = row.group
        result.observe(row.count, attributes)
      }
    })
    gauge(meter, i.replacements, 'Replacements by state').addCallback(async (result) => {
      for (const row of await this.#replacements.read()) result.observe(row.count, { state: row.state })
    })
  }

  /** Where driftwatch.hosts comes from: the fleet counted by state, image version and group. */
  observeHosts(source: Source<HostCount>): void {
    this.#hosts.source = source
  }

  /** Where driftwatch.replacements comes from: the replacement records counted by state. */
  observeReplacements(source: Source<ReplacementCount>): void {
    this.#replacements.source = source
  }

  /** Notification attempts by a notifier (its type: alertmanager, slack, webhook); `count` alerts sent at once. */
  recordNotification(notifier: string, outcome: NotificationOutcome, count = 1): void {
    if (count > 0) this.#notifications.add(count, { notifier, outcome })
  }

  /** A report stored (or recognised as a retry) after `seconds`. */
  reportIngested(duplicate: boolean, seconds: number): void {
    this.#reportsIngested.add(1, { duplicate })
    this.#ingestDuration.record(seconds)
  }

  /** A report refused with this error code. */
  reportRejected(reason: string): void {
    this.#reportsRejected.add(1, { reason })
  }

  /** One HTTP request answered (http.server.request.duration, per the HTTP semantic conventions). */
  recordHttpRequest(request: {
    method: string
    route: string | undefined
    status: number
    scheme: 'http' | 'https'
    seconds: number
  }): void {
    const method = request.method.toUpperCase()
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: KNOWN_METHODS.has(method) ? method : HTTP_REQUEST_METHOD_VALUE_OTHER,
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: request.status,
      [ATTR_URL_SCHEME]: request.scheme,
    }
    if (request.route !== undefined) attributes[ATTR_HTTP_ROUTE] = request.route
    // A server error's type is its status code (HTTP semantic conventions, error.type).
    if (request.status >= 500) attributes[ATTR_ERROR_TYPE] = String(request.status)
    this.#httpDuration.record(request.seconds, attributes)
  }
}

/**
 * Adds the HTTP metrics to the collector's app: one onResponse hook times every request, and
 * counts POST /v1/reports answers as ingested or rejected (by the code of the error body the
 * agent got, read in onSend, so that the reason is exactly what the agent was told).
 */
export function instrumentCollectorApp(
  app: FastifyInstance,
  metrics: CollectorMetrics,
  scheme: 'http' | 'https',
): void {
  const refusals = new WeakMap<object, string>()
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode >= 400 && request.routeOptions.url === REPORTS_ROUTE) {
      refusals.set(request, errorCodeOf(payload))
    }
    return payload
  })
  app.addHook('onResponse', async (request, reply) => {
    const seconds = reply.elapsedTime / 1000
    const route = request.routeOptions.url
    metrics.recordHttpRequest({ method: request.method, route, status: reply.statusCode, scheme, seconds })
    if (route !== REPORTS_ROUTE) return
    if (reply.statusCode === 201 || reply.statusCode === 200)
      metrics.reportIngested(reply.statusCode === 200, seconds)
    else metrics.reportRejected(refusals.get(request) ?? `HTTP_${reply.statusCode}`)
  })
}

/** The `code` of an error body (`{code, message, hint}`), or INTERNAL when it has none. */
function errorCodeOf(payload: unknown): string {
  if (typeof payload !== 'string') return 'INTERNAL'
  try {
    const code = (JSON.parse(payload) as { code?: unknown }).code
    return typeof code === 'string' && /^[A-Z_]{1,40}$/.test(code) ? code : 'INTERNAL'
  } catch {
    return 'INTERNAL'
  }
}

/** Counts for a gauge; undefined keeps the last counts (e.g. while the store is closing). */
type Source<T> = () => Promise<readonly T[] | undefined> | readonly T[] | undefined

/**
 * A source read at most once per `refreshMs`: several readers (OTLP and Prometheus at once)
 * share one count, and a slow store is not asked again while a count is under way. A source
 * that fails leaves the last count in place (and reports the error), so a gauge does not
 * drop to nothing while the store is briefly away.
 */
class CachedSource<T> {
  source: Source<T> | undefined
  #value: readonly T[] = []
  #readAt = Number.NEGATIVE_INFINITY
  #pending: Promise<readonly T[]> | undefined

  constructor(
    private readonly refreshMs: number,
    private readonly clock: () => number,
    private readonly onError: ((error: unknown) => void) | undefined,
  ) {}

  read(): Promise<readonly T[]> {
    const source = this.source
    if (!source) return Promise.resolve([])
    if (this.clock() - this.#readAt < this.refreshMs) return Promise.resolve(this.#value)
    this.#pending ??= (async () => {
      try {
        const value = await Promise.resolve().then(source)
        if (value !== undefined) {
          this.#value = value
          this.#readAt = this.clock()
        }
      } catch (error) {
        this.onError?.(error)
      } finally {
        this.#pending = undefined
      }
      return this.#value
    })()
    return this.#pending
  }
}

/**
 * The store's count by state as driftwatch.replacements reads it: every state, zeros too, so
 * that a state that empties reads 0 rather than vanishing (the "replacement failed" rule compares).
 */
export function countReplacements(byState: Readonly<Record<ReplacementState, number>>): ReplacementCount[] {
  return REPLACEMENT_STATES_ORDERED.map((state) => ({ state, count: byState[state] }))
}
