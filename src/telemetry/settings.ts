import { z } from 'zod'
import { Duration } from '../config/duration.js'
import { DriftwatchError } from '../errors.js'

/** What OTEL_METRICS_EXPORTER may name (the OpenTelemetry SDK's own list). */
export const METRICS_EXPORTERS = ['otlp', 'prometheus', 'console', 'none'] as const
export type MetricsExporterName = (typeof METRICS_EXPORTERS)[number]

/** What OTEL_EXPORTER_OTLP_PROTOCOL may name. */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number]

const Exporter = z.enum(METRICS_EXPORTERS)

/**
 * The `telemetry:` section of collector.yaml and agent.yaml: the same settings as the standard
 * OTEL_* variables, which win over it when they are set (so the variables always work as the
 * OpenTelemetry documentation says). Every key is optional; without the section, metrics go
 * by OTLP to http://localhost:4318, as every OpenTelemetry SDK does by default.
 */
export const telemetrySchema = z.strictObject({
  serviceName: z
    .string()
    .min(1)
    .max(256)
    .optional()
    .describe('OTEL_SERVICE_NAME: `driftwatch-agent` or `driftwatch-collector` unless set.'),
  resourceAttributes: z
    .record(z.string().min(1).max(256), z.string().max(4096))
    .optional()
    .describe(
      'OTEL_RESOURCE_ATTRIBUTES: extra resource attributes, e.g. `{ deployment.environment.name: prod }`.',
    ),
  exporter: z
    .union([Exporter, z.array(Exporter).min(1)])
    .optional()
    .describe('OTEL_METRICS_EXPORTER: one of otlp, prometheus, console, none, or a list of them.'),
  exportInterval: Duration.optional().describe(
    'OTEL_METRIC_EXPORT_INTERVAL (there in milliseconds; here a duration such as 60s).',
  ),
  otlp: z
    .strictObject({
      endpoint: z
        .url({ protocol: /^https?$/ })
        .optional()
        .describe(
          'OTEL_EXPORTER_OTLP_ENDPOINT: the base URL; `/v1/metrics` is added for the HTTP protocols.',
        ),
      protocol: z
        .enum(OTLP_PROTOCOLS)
        .optional()
        .describe('OTEL_EXPORTER_OTLP_PROTOCOL: how metrics are sent (default http/protobuf).'),
      headers: z.record(z.string().min(1).max(256), z.string().max(4096)).optional().describe(
        // biome-ignore lint/suspicious/noTemplateCurlyInString: an environment reference as the YAML writes it
        'OTEL_EXPORTER_OTLP_HEADERS, e.g. an API key: `{ authorization: "Bearer ${OTLP_TOKEN}" }`.',
      ),
    })
    .optional()
    .describe('The OTLP exporter: where and how metrics are sent.'),
  prometheus: z
    .strictObject({
      host: z
        .string()
        .min(1)
        .optional()
        .describe(
          'OTEL_EXPORTER_PROMETHEUS_HOST: the address /metrics is served on (default 0.0.0.0 as the SDK does).',
        ),
      port: z
        .number()
        .int()
        .min(0)
        .max(65535)
        .optional()
        .describe('OTEL_EXPORTER_PROMETHEUS_PORT (default 9464).'),
    })
    .optional()
    .describe('The Prometheus exporter: where /metrics is served.'),
})
export type TelemetrySettings = z.output<typeof telemetrySchema>

/** The metrics setup after the OTEL_* variables and the YAML section are put together. */
export interface ResolvedTelemetry {
  serviceName: string
  /** YAML's, then OTEL_RESOURCE_ATTRIBUTES' (which win). */
  resourceAttributes: Record<string, string>
  exporters: MetricsExporterName[]
  exportIntervalMs: number
  otlp: {
    protocol: OtlpProtocol
    /** The full metrics URL to post to (grpc: the endpoint), or undefined for the SDK's default. */
    url: string | undefined
    headers: Record<string, string>
  }
  prometheus: { host: string; port: number }
}

const DEFAULT_EXPORT_INTERVAL_MS = 60_000
const DEFAULT_PROMETHEUS_PORT = 9464

/**
 * Puts together the OTEL_* variables and the YAML section: a variable that is set wins, then
 * the YAML key, then the OpenTelemetry default. A variable with a value the SDK would only
 * warn about (an unknown exporter, an interval that is not a number) stops the start here,
 * naming the variable.
 */
export function resolveTelemetry(
  settings: TelemetrySettings | undefined,
  env: NodeJS.ProcessEnv,
  defaults: { serviceName: string },
): ResolvedTelemetry {
  const yaml = settings ?? {}
  const exporters = resolveExporters(env.OTEL_METRICS_EXPORTER, yaml.exporter)
  const protocol = resolveProtocol(
    nonEmpty(env.OTEL_EXPORTER_OTLP_METRICS_PROTOCOL) ?? nonEmpty(env.OTEL_EXPORTER_OTLP_PROTOCOL),
    yaml.otlp?.protocol,
  )
  const envAttributes = parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES ?? '')
  return {
    serviceName:
      nonEmpty(env.OTEL_SERVICE_NAME) ??
      envAttributes['service.name'] ??
      yaml.serviceName ??
      yaml.resourceAttributes?.['service.name'] ??
      defaults.serviceName,
    resourceAttributes: { ...yaml.resourceAttributes, ...envAttributes },
    exporters,
    exportIntervalMs: resolveInterval(env.OTEL_METRIC_EXPORT_INTERVAL, yaml.exportInterval),
    otlp: {
      protocol,
      url: resolveOtlpUrl(env, yaml.otlp?.endpoint, protocol),
      headers: { ...yaml.otlp?.headers },
    },
    prometheus: {
      host: nonEmpty(env.OTEL_EXPORTER_PROMETHEUS_HOST) ?? yaml.prometheus?.host ?? '0.0.0.0',
      port: resolvePort(env.OTEL_EXPORTER_PROMETHEUS_PORT, yaml.prometheus?.port),
    },
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim()
  return trimmed ? trimmed : undefined
}

function invalidVariable(name: string, value: string, expected: string): DriftwatchError {
  return new DriftwatchError('CONFIG_INVALID', `${name}: "${value}" is not ${expected}`, {
    hint: `set ${name} to ${expected}, or unset it to use telemetry in the config file`,
  })
}

function resolveExporters(
  variable: string | undefined,
  yaml: MetricsExporterName | MetricsExporterName[] | undefined,
): MetricsExporterName[] {
  let names: MetricsExporterName[]
  const text = nonEmpty(variable)
  if (text !== undefined) {
    names = []
    for (const part of text.split(',')) {
      const name = part.trim()
      if (!(METRICS_EXPORTERS as readonly string[]).includes(name)) {
        throw invalidVariable('OTEL_METRICS_EXPORTER', text, `a list of ${METRICS_EXPORTERS.join(', ')}`)
      }
      names.push(name as MetricsExporterName)
    }
  } else if (yaml !== undefined) {
    names = Array.isArray(yaml) ? yaml : [yaml]
  } else {
    names = ['otlp']
  }
  // As in the SDK: `none` anywhere in the list turns metrics off.
  if (names.includes('none')) return []
  return [...new Set(names)]
}

function resolveProtocol(variable: string | undefined, yaml: OtlpProtocol | undefined): OtlpProtocol {
  if (variable === undefined) return yaml ?? 'http/protobuf'
  if (!(OTLP_PROTOCOLS as readonly string[]).includes(variable)) {
    throw invalidVariable('OTEL_EXPORTER_OTLP_PROTOCOL', variable, `one of ${OTLP_PROTOCOLS.join(', ')}`)
  }
  return variable as OtlpProtocol
}

function resolveInterval(variable: string | undefined, yaml: number | undefined): number {
  const text = nonEmpty(variable)
  if (text === undefined) return yaml ?? DEFAULT_EXPORT_INTERVAL_MS
  const ms = Number(text)
  if (!/^\d+$/.test(text) || ms <= 0) {
    throw invalidVariable('OTEL_METRIC_EXPORT_INTERVAL', text, 'a whole number of milliseconds above 0')
  }
  return ms
}

function resolvePort(variable: string | undefined, yaml: number | undefined): number {
  const text = nonEmpty(variable)
  if (text === undefined) return yaml ?? DEFAULT_PROMETHEUS_PORT
  const port = Number(text)
  if (!/^\d+$/.test(text) || port > 65535) {
    throw invalidVariable('OTEL_EXPORTER_PROMETHEUS_PORT', text, 'a port number from 0 to 65535')
  }
  return port
}

/**
 * The URL the OTLP exporter posts metrics to. The signal's own variable is used as it is; the
 * general endpoint (variable or YAML) gets `/v1/metrics` appended for HTTP, as the OTLP
 * exporter specification says; grpc takes the endpoint itself.
 */
function resolveOtlpUrl(
  env: NodeJS.ProcessEnv,
  yamlEndpoint: string | undefined,
  protocol: OtlpProtocol,
): string | undefined {
  const signal = nonEmpty(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT)
  if (signal !== undefined) return checkUrl('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', signal)
  const general = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT)
  const base = general !== undefined ? checkUrl('OTEL_EXPORTER_OTLP_ENDPOINT', general) : yamlEndpoint
  if (base === undefined) return undefined
  if (protocol === 'grpc') return base
  return `${base.replace(/\/+$/, '')}/v1/metrics`
}

function checkUrl(name: string, value: string): string {
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw invalidVariable(name, value, 'an http:// or https:// URL')
  }
  return value
}

/**
 * OTEL_RESOURCE_ATTRIBUTES: `key=value,key2=value2`, values percent-encoded (W3C Baggage's
 * octet rules, as the resource SDK specification says).
 */
export function parseResourceAttributes(text: string): Record<string, string> {
  const attributes: Record<string, string> = {}
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue
    const equals = pair.indexOf('=')
    const key = equals > 0 ? pair.slice(0, equals).trim() : ''
    if (key === '') throw invalidVariable('OTEL_RESOURCE_ATTRIBUTES', text, 'a list of key=value pairs')
    let value: string
    try {
      value = decodeURIComponent(pair.slice(equals + 1).trim())
    } catch {
      throw invalidVariable('OTEL_RESOURCE_ATTRIBUTES', text, 'a list of key=value pairs, percent-encoded')
    }
    attributes[key] = value
  }
  return attributes
}
