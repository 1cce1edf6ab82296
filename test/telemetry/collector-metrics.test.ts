import { type DataPoint, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics'
import Fastify from 'fastify'
import { describe, expect, test } from 'vitest'
import { CollectorMetrics, instrumentCollectorApp } from '../../src/telemetry/collector-metrics.js'

/** A pull reader: the SDK's own aggregation, collected when the test asks. */
class PullReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

function setup(options: ConstructorParameters<typeof CollectorMetrics>[1] = {}) {
  const reader = new PullReader()
  const provider = new MeterProvider({ readers: [reader] })
  const metrics = new CollectorMetrics(provider.getMeter('driftwatch'), options)
  const collect = async () => (await reader.collect()).resourceMetrics
  return { metrics, collect }
}

function points(resourceMetrics: ResourceMetrics, name: string): DataPoint<unknown>[] {
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name === name) return metric.dataPoints as DataPoint<unknown>[]
    }
  }
  return []
}

describe('the fleet gauges read their source at most once per refresh', () => {
  test('two collections within refreshMs share one count; after it, the source is read again', async () => {
    let now = 0
    let reads = 0
    const { metrics, collect } = setup({ refreshMs: 10_000, clock: () => now })
    metrics.observeReplacements(() => {
      reads++
      return [{ state: 'dispatched', count: reads }]
    })
    expect(points(await collect(), 'driftwatch.replacements').map((p) => p.value)).toEqual([1])
    now = 9_999
    expect(points(await collect(), 'driftwatch.replacements').map((p) => p.value)).toEqual([1])
    expect(reads).toBe(1)
    now = 10_000
    expect(points(await collect(), 'driftwatch.replacements').map((p) => p.value)).toEqual([2])
    expect(reads).toBe(2)
  })

  test('a source that fails keeps the last count and reports the error; undefined keeps it too', async () => {
    const errors: unknown[] = []
    const { metrics, collect } = setup({ refreshMs: 0, onSourceError: (error) => errors.push(error) })
    const answers: (() => ReturnType<Parameters<CollectorMetrics['observeHosts']>[0]>)[] = [
      () => [{ state: 'snowflake', imageId: 'web-base', imageVersion: '1', group: 'web', count: 3 }],
      () => {
        throw new Error('store: connection reset')
      },
      async () => undefined,
    ]
    let call = 0
    metrics.observeHosts(() => answers[call++]?.())
    for (let i = 0; i < 3; i++) {
      const [point] = points(await collect(), 'driftwatch.hosts')
      expect(point?.value).toBe(3)
      expect(point?.attributes).toEqual({
        state: 'snowflake',
        'image.id': 'web-base',
        'image.version': '1',
        group: 'web',
      })
    }
    expect(errors.map(String)).toEqual(['Error: store: connection reset'])
  })

  test('without a source the gauge has no point (nothing made up)', async () => {
    const { collect } = setup()
    expect(points(await collect(), 'driftwatch.hosts')).toEqual([])
  })
})

describe('http.server.request.duration per the HTTP semantic conventions', () => {
  test('route template, method, status; error.type on a 5xx; no route for an unknown path; _OTHER for an unknown method', async () => {
    const { metrics, collect } = setup()
    const app = Fastify()
    instrumentCollectorApp(app, metrics, 'https')
    app.get('/v1/hosts/:id', async () => ({ ok: true }))
    app.get('/boom', async () => {
      throw new Error('bug')
    })
    expect((await app.inject({ method: 'GET', url: '/v1/hosts/h-secret-1' })).statusCode).toBe(200)
    expect((await app.inject({ method: 'GET', url: '/boom' })).statusCode).toBe(500)
    expect((await app.inject({ method: 'GET', url: '/etc/passwd' })).statusCode).toBe(404)
    metrics.recordHttpRequest({
      method: 'PROPFIND',
      route: undefined,
      status: 405,
      scheme: 'https',
      seconds: 0.001,
    })
    await app.close()

    const attributes = points(await collect(), 'http.server.request.duration').map((p) => p.attributes)
    expect(attributes).toEqual([
      {
        'http.request.method': 'GET',
        'http.response.status_code': 200,
        'url.scheme': 'https',
        'http.route': '/v1/hosts/:id',
      },
      {
        'http.request.method': 'GET',
        'http.response.status_code': 500,
        'url.scheme': 'https',
        'http.route': '/boom',
        'error.type': '500',
      },
      { 'http.request.method': 'GET', 'http.response.status_code': 404, 'url.scheme': 'https' },
      { 'http.request.method': '_OTHER', 'http.response.status_code': 405, 'url.scheme': 'https' },
    ])
  })
})
