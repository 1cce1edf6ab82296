import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import { DiagLogLevel, diag, type Meter, metrics } from '@opentelemetry/api'
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import type { IMetricReader, PushMetricExporter } from '@opentelemetry/sdk-metrics'
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions'
import type { Logger } from 'pino'
import { DriftwatchError, errnoCode } from '../errors.js'
import { type ResolvedTelemetry, resolveTelemetry, type TelemetrySettings } from './settings.js'

/** The instrumentation scope every driftwatch instrument belongs to. */
export const METER_NAME = 'driftwatch'

/** What a process says about itself in every export (OpenTelemetry resource semantic conventions). */
export interface ResourceFacts {
  /** service.name unless OTEL_SERVICE_NAME or the YAML says otherwise. */
  serviceName: 'driftwatch-agent' | 'driftwatch-collector'
  serviceVersion: string
  /** service.instance.id; a fresh UUID per process when not given. */
  instanceId?: string
  /** host.id: the machine id (the agent's is the one it reports as; by default /etc/machine-id). */
  hostId?: string
  /** host.name; os.hostname() by default. */
  hostName?: string
  /** host.image.id and host.image.version: the image this host was built from, from its manifest. */
  image?: { id: string; version: string }
}

/** Running metrics: the meter instruments are made from, and how to stop. */
export interface MetricsHandle {
  readonly meter: Meter
  readonly settings: ResolvedTelemetry
  /** Where /metrics is served, when the Prometheus exporter is on (the real port when 0 was asked). */
  readonly prometheusUrl: string | undefined
  /** Exports what is pending, stops the exporters and the /metrics server. */
  shutdown(): Promise<void>
}

/**
 * Starts OpenTelemetry's Node SDK for metrics only: traces and logs have no processors, so
 * nothing but metrics leaves the process. Exporters come from the OTEL_* variables and the
 * YAML section (see settings.ts); with none, a no-op meter is returned and nothing is started.
 */
export async function startMetrics(options: {
  facts: ResourceFacts
  settings?: TelemetrySettings
  env?: NodeJS.ProcessEnv
  /** Where the SDK's own warnings go (an export that failed, an endpoint that refused). */
  logger?: Logger
}): Promise<MetricsHandle> {
  const env = options.env ?? process.env
  const resolved = resolveTelemetry(options.settings, env, { serviceName: options.facts.serviceName })
  if (resolved.exporters.length === 0) {
    return {
      meter: metrics.getMeterProvider().getMeter(METER_NAME, options.facts.serviceVersion),
      settings: resolved,
      prometheusUrl: undefined,
      shutdown: async () => {},
    }
  }

  if (options.logger) routeDiagnostics(options.logger)
  const diagnostics = options.logger !== undefined
  // The SDK and its exporters are loaded only when metrics are on: they take a while to load.
  const [
    { NodeSDK },
    { ConsoleMetricExporter, PeriodicExportingMetricReader },
    { PrometheusExporter },
    { resourceFromAttributes },
  ] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/exporter-prometheus'),
    import('@opentelemetry/resources'),
  ])
  const readers: IMetricReader[] = []
  const bounded: ShutdownBoundedExporter[] = []
  let prometheusServer: Server | undefined
  let prometheusUrl: string | undefined
  for (const name of resolved.exporters) {
    if (name === 'prometheus') {
      const exporter = new PrometheusExporter({ preventServerStart: true })
      prometheusServer = await servePrometheus(exporter, resolved.prometheus)
      const address = prometheusServer.address() as AddressInfo
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
      prometheusUrl = `http://${host}:${address.port}/metrics`
      readers.push(exporter)
    } else {
      let exporter: PushMetricExporter = new ConsoleMetricExporter()
      if (name === 'otlp') {
        const otlp = new ShutdownBoundedExporter(
          await otlpExporter(resolved.otlp),
          await otlpExporter(resolved.otlp, SHUTDOWN_EXPORT_MS),
        )
        bounded.push(otlp)
        exporter = otlp
      }
      readers.push(
        new PeriodicExportingMetricReader({
          exporter,
          exportIntervalMillis: resolved.exportIntervalMs,
          exportTimeoutMillis: Math.min(30_000, resolved.exportIntervalMs),
        }),
      )
    }
  }

  const sdk = new NodeSDK({
    resource: resourceFromAttributes(resourceAttributes(options.facts, resolved)),
    autoDetectResources: false,
    metricReaders: readers,
    // Metrics only: no span processor means no tracer provider; no log processor exports nothing.
    spanProcessors: [],
    logRecordProcessors: [],
    // No spans, so no context to carry across async calls or requests. The SDK takes null as
    // "register none" (sdk-node's setupContextManager), though its type leaves null out; a
    // registered one would also outlive shutdown and refuse the next start in the process.
    textMapPropagator: null,
    contextManager: null as unknown as undefined,
  })
  sdk.start()
  const meter = metrics.getMeterProvider().getMeter(METER_NAME, options.facts.serviceVersion)

  let stopping: Promise<void> | undefined
  return {
    meter,
    settings: resolved,
    prometheusUrl,
    shutdown() {
      stopping ??= (async () => {
        try {
          for (const exporter of bounded) exporter.closing()
          await sdk.shutdown()
        } finally {
          if (prometheusServer) await closeServer(prometheusServer)
          // The global provider is the SDK's; unset it so that a later start registers its own.
          metrics.disable()
          if (diagnostics) diag.disable()
        }
      })()
      return stopping
    },
  }
}

/** The SDK's warnings and errors into our JSON log; without this they are dropped. */
function routeDiagnostics(logger: Logger): void {
  const warn = (message: string, ...args: unknown[]) =>
    logger.warn(args.length > 0 ? { otel: args.map(String) } : {}, `metrics: ${readableDiagnostic(message)}`)
  const quiet = () => {}
  diag.setLogger({ error: warn, warn, info: quiet, debug: quiet, verbose: quiet }, DiagLogLevel.WARN)
}

/** The SDK's error handler hands over a whole error as JSON (stack and all); its message is what a reader needs. */
function readableDiagnostic(message: string): string {
  if (!message.startsWith('{')) return message
  try {
    const parsed = JSON.parse(message) as { message?: unknown }
    return typeof parsed.message === 'string' ? parsed.message : message
  } catch {
    return message
  }
}

/**
 * `timeoutMillis`: how long one export may take, its retries included; without it, the
 * exporter's own (OTEL_EXPORTER_OTLP_TIMEOUT, 10 s by default).
 */
async function otlpExporter(
  otlp: ResolvedTelemetry['otlp'],
  timeoutMillis?: number,
): Promise<PushMetricExporter> {
  const timeout = timeoutMillis !== undefined ? { timeoutMillis } : {}
  const config = {
    ...(otlp.url !== undefined ? { url: otlp.url } : {}),
    ...(Object.keys(otlp.headers).length > 0 ? { headers: otlp.headers } : {}),
    ...timeout,
  }
  switch (otlp.protocol) {
    case 'grpc':
      return new (await import('@opentelemetry/exporter-metrics-otlp-grpc')).OTLPMetricExporter({
        ...(config.url !== undefined ? { url: config.url } : {}),
        ...timeout,
      })
    case 'http/json':
      return new (await import('@opentelemetry/exporter-metrics-otlp-http')).OTLPMetricExporter(config)
    case 'http/protobuf':
      return new (await import('@opentelemetry/exporter-metrics-otlp-proto')).OTLPMetricExporter(config)
  }
}

/** The last export, at shutdown, waits at most this long for the OTLP endpoint, retries included. */
const SHUTDOWN_EXPORT_MS = 2_000

/**
 * An OTLP exporter whose last export, the one at shutdown, is made by a twin with a short
 * timeout. The SDK retries a refused export for up to its whole timeout (10 s), on timers that
 * keep the process alive: without this, an agent or collector whose OTLP endpoint is down
 * would take about 9 s to stop.
 */
class ShutdownBoundedExporter implements PushMetricExporter {
  #closing = false
  readonly selectAggregationTemporality: PushMetricExporter['selectAggregationTemporality']
  readonly selectAggregation: PushMetricExporter['selectAggregation']

  constructor(
    private readonly regular: PushMetricExporter,
    private readonly last: PushMetricExporter,
  ) {
    this.selectAggregationTemporality = regular.selectAggregationTemporality?.bind(regular)
    this.selectAggregation = regular.selectAggregation?.bind(regular)
  }

  /** From now on, exports go through the twin with the short timeout. */
  closing(): void {
    this.#closing = true
  }

  export(...args: Parameters<PushMetricExporter['export']>): void {
    ;(this.#closing ? this.last : this.regular).export(...args)
  }

  forceFlush(): Promise<void> {
    return (this.#closing ? this.last : this.regular).forceFlush()
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.regular.shutdown(), this.last.shutdown()])
  }
}

/**
 * /metrics on a server of our own rather than the exporter's, so that port 0 works (the
 * exporter treats 0 as "use the default") and a port in use is a clear error, not a log line.
 */
async function servePrometheus(
  exporter: PrometheusExporter,
  where: { host: string; port: number },
): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0]
    if (request.method === 'GET' && path === '/metrics') {
      exporter.getMetricsRequestHandler(request, response)
      return
    }
    response.statusCode = 404
    response.end('not found: metrics are at /metrics\n')
  })
  server.unref()
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => {
      const code = errnoCode(error)
      reject(
        new DriftwatchError(
          'IO',
          `telemetry.prometheus: cannot listen on ${where.host}:${where.port} (${code ?? String(error)})`,
          {
            hint:
              code === 'EADDRINUSE'
                ? 'another process listens there: set OTEL_EXPORTER_PROMETHEUS_PORT (or telemetry.prometheus.port) to a free port'
                : 'check OTEL_EXPORTER_PROMETHEUS_HOST (or telemetry.prometheus.host)',
          },
        ),
      )
    })
    server.listen(where.port, where.host, () => resolve())
  })
  return server
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeAllConnections()
  })
}

/**
 * The resource: service.*, host.* and the image, then the YAML's attributes and
 * OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME, each overriding what came before.
 */
export function resourceAttributes(
  facts: ResourceFacts,
  resolved: ResolvedTelemetry,
): Record<string, string> {
  const hostId = facts.hostId ?? readMachineId()
  return {
    [ATTR_SERVICE_VERSION]: facts.serviceVersion,
    'service.instance.id': facts.instanceId ?? randomUUID(),
    'host.name': facts.hostName ?? hostname(),
    ...(hostId !== undefined ? { 'host.id': hostId } : {}),
    'host.arch': hostArch(process.arch),
    ...(facts.image ? { 'host.image.id': facts.image.id, 'host.image.version': facts.image.version } : {}),
    ...resolved.resourceAttributes,
    [ATTR_SERVICE_NAME]: resolved.serviceName,
  }
}

/** host.arch in the semantic conventions' words (amd64, arm64, …), from Node's process.arch. */
export function hostArch(arch: string): string {
  const names: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm32',
    ia32: 'x86',
    ppc: 'ppc32',
    ppc64: 'ppc64',
    s390x: 's390x',
  }
  return names[arch] ?? arch
}

/** /etc/machine-id, which systemd and the OpenTelemetry host detector use as host.id. */
function readMachineId(): string | undefined {
  try {
    const id = readFileSync('/etc/machine-id', 'utf8').trim()
    return id === '' ? undefined : id
  } catch {
    return undefined
  }
}

let packageVersion: string | undefined

/** service.version: the package's version (src/telemetry and dist/telemetry are both two levels down). */
export function serviceVersion(): string {
  packageVersion ??= (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version
  return packageVersion
}
