import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import protobuf from 'protobufjs'

const PROTO_DIR = fileURLToPath(new URL('./otlp-proto/', import.meta.url))

/** One data point as decoded, attributes flattened to plain values. */
export interface DecodedPoint {
  attributes: Record<string, string | number | boolean>
  /** Sum and gauge points. */
  value?: number
  /** Histogram points. */
  count?: number
  sum?: number
  bucketCounts?: number[]
  explicitBounds?: number[]
}

export interface DecodedMetric {
  name: string
  unit: string
  description: string
  kind: 'sum' | 'gauge' | 'histogram'
  monotonic?: boolean
  temporality?: string
  points: DecodedPoint[]
}

export interface DecodedExport {
  resource: Record<string, string | number | boolean>
  scopes: { name: string; version: string; metrics: DecodedMetric[] }[]
}

/**
 * An OTLP/HTTP receiver on a loopback port: it takes what an exporter posts to /v1/metrics,
 * checks it is protobuf, and decodes it with the OTLP protobuf definitions themselves
 * (test/telemetry/otlp-proto), as an OpenTelemetry Collector would.
 */
export async function startOtlpReceiver(): Promise<{
  endpoint: string
  exports: DecodedExport[]
  requests: { path: string; contentType: string | undefined }[]
  close: () => Promise<void>
}> {
  const root = new protobuf.Root()
  root.resolvePath = (_origin, target) => `${PROTO_DIR}${target}`
  await root.load('opentelemetry/proto/collector/metrics/v1/metrics_service.proto')
  const requestType = root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest')
  const responseType = root.lookupType(
    'opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse',
  )

  const exports: DecodedExport[] = []
  const requests: { path: string; contentType: string | undefined }[] = []
  const server = createServer((request, response) => {
    void readBody(request).then((body) => {
      const contentType = request.headers['content-type']
      requests.push({ path: request.url ?? '', contentType })
      const json = contentType === 'application/json'
      if (
        request.method !== 'POST' ||
        request.url !== '/v1/metrics' ||
        !(json || contentType === 'application/x-protobuf')
      ) {
        response.statusCode = 400
        response.end()
        return
      }
      const bytes = request.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body
      // OTLP/JSON is the protobuf message's JSON mapping: read through the same message type.
      const decoded = json
        ? requestType.fromObject(JSON.parse(bytes.toString('utf8')))
        : requestType.decode(bytes)
      const message = requestType.toObject(decoded, { longs: Number, enums: String, arrays: true })
      for (const resourceMetrics of message.resourceMetrics as RawResourceMetrics[])
        exports.push(flatten(resourceMetrics))
      if (json) {
        response.setHeader('content-type', 'application/json')
        response.end('{}')
        return
      }
      response.setHeader('content-type', 'application/x-protobuf')
      response.end(Buffer.from(responseType.encode(responseType.create({})).finish()))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    exports,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/** An OTLP/gRPC receiver: the MetricsService of the same protobuf definitions, on a loopback port. */
export async function startOtlpGrpcReceiver(): Promise<{
  endpoint: string
  exports: DecodedExport[]
  close: () => Promise<void>
}> {
  const definition = protoLoader.loadSync('opentelemetry/proto/collector/metrics/v1/metrics_service.proto', {
    includeDirs: [PROTO_DIR],
    longs: Number,
    enums: String,
    arrays: true,
  })
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    opentelemetry: {
      proto: { collector: { metrics: { v1: { MetricsService: { service: grpc.ServiceDefinition } } } } }
    }
  }
  const exports: DecodedExport[] = []
  const server = new grpc.Server()
  server.addService(loaded.opentelemetry.proto.collector.metrics.v1.MetricsService.service, {
    Export: (
      call: grpc.ServerUnaryCall<{ resourceMetrics: RawResourceMetrics[] }, object>,
      callback: grpc.sendUnaryData<object>,
    ) => {
      for (const resourceMetrics of call.request.resourceMetrics) exports.push(flatten(resourceMetrics))
      callback(null, {})
    },
  })
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  )
  return {
    endpoint: `http://127.0.0.1:${port}`,
    exports,
    close: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
  }
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => resolve(Buffer.concat(chunks)))
    request.on('error', reject)
  })
}

interface RawKeyValue {
  key: string
  value: { stringValue?: string; intValue?: number; doubleValue?: number; boolValue?: boolean }
}
interface RawPoint {
  attributes?: RawKeyValue[]
  asDouble?: number
  asInt?: number
  count?: number
  sum?: number
  bucketCounts?: number[]
  explicitBounds?: number[]
}
interface RawMetric {
  name: string
  unit?: string
  description?: string
  sum?: { dataPoints: RawPoint[]; isMonotonic?: boolean; aggregationTemporality?: string }
  gauge?: { dataPoints: RawPoint[] }
  histogram?: { dataPoints: RawPoint[]; aggregationTemporality?: string }
}
interface RawResourceMetrics {
  resource?: { attributes?: RawKeyValue[] }
  scopeMetrics: { scope?: { name?: string; version?: string }; metrics: RawMetric[] }[]
}

function attributesOf(list: RawKeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const { key, value } of list ?? []) {
    const v = value.stringValue ?? value.intValue ?? value.doubleValue ?? value.boolValue
    if (v !== undefined) out[key] = v
  }
  return out
}

function pointOf(point: RawPoint): DecodedPoint {
  const decoded: DecodedPoint = { attributes: attributesOf(point.attributes) }
  const value = point.asDouble ?? point.asInt
  if (value !== undefined) decoded.value = value
  if (point.count !== undefined) decoded.count = point.count
  if (point.sum !== undefined) decoded.sum = point.sum
  if (point.bucketCounts) decoded.bucketCounts = point.bucketCounts
  if (point.explicitBounds) decoded.explicitBounds = point.explicitBounds
  return decoded
}

function flatten(raw: RawResourceMetrics): DecodedExport {
  return {
    resource: attributesOf(raw.resource?.attributes),
    scopes: raw.scopeMetrics.map((scope) => ({
      name: scope.scope?.name ?? '',
      version: scope.scope?.version ?? '',
      metrics: scope.metrics.map((metric): DecodedMetric => {
        const base = { name: metric.name, unit: metric.unit ?? '', description: metric.description ?? '' }
        if (metric.sum) {
          return {
            ...base,
            kind: 'sum',
            monotonic: metric.sum.isMonotonic ?? false,
            temporality: metric.sum.aggregationTemporality ?? '',
            points: metric.sum.dataPoints.map(pointOf),
          }
        }
        if (metric.histogram) {
          return {
            ...base,
            kind: 'histogram',
            temporality: metric.histogram.aggregationTemporality ?? '',
            points: metric.histogram.dataPoints.map(pointOf),
          }
        }
        return { ...base, kind: 'gauge', points: (metric.gauge?.dataPoints ?? []).map(pointOf) }
      }),
    })),
  }
}

/** The metrics of the last export, by name. */
export function metricsByName(decoded: DecodedExport | undefined): Map<string, DecodedMetric> {
  const out = new Map<string, DecodedMetric>()
  for (const scope of decoded?.scopes ?? []) for (const metric of scope.metrics) out.set(metric.name, metric)
  return out
}

/** The standard variables for the Prometheus exporter on a loopback port the system picks. */
export const PROMETHEUS_ON_LOOPBACK = {
  OTEL_METRICS_EXPORTER: 'prometheus',
  OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
  OTEL_EXPORTER_PROMETHEUS_PORT: '0',
}
