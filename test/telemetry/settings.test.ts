import { describe, expect, test } from 'vitest'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import { parseYamlText } from '../../src/config/load.js'
import { DriftwatchError } from '../../src/errors.js'
import { hostArch, resourceAttributes } from '../../src/telemetry/metrics.js'
import { parseResourceAttributes, resolveTelemetry, telemetrySchema } from '../../src/telemetry/settings.js'

const defaults = { serviceName: 'driftwatch-collector' }

describe('telemetry settings: the OTEL_* variables, then the telemetry: section, then the defaults', () => {
  test('nothing set: OTLP over HTTP protobuf to the SDK default, every 60 s, Prometheus on 9464', () => {
    const resolved = resolveTelemetry(undefined, {}, defaults)
    expect(resolved).toEqual({
      serviceName: 'driftwatch-collector',
      resourceAttributes: {},
      exporters: ['otlp'],
      exportIntervalMs: 60_000,
      otlp: { protocol: 'http/protobuf', url: undefined, headers: {} },
      prometheus: { host: '0.0.0.0', port: 9464 },
    })
  })

  test('the YAML section alone', () => {
    const settings = telemetrySchema.parse({
      serviceName: 'fleet-collector',
      resourceAttributes: { 'deployment.environment.name': 'prod' },
      exporter: ['otlp', 'prometheus'],
      exportInterval: '15s',
      otlp: { endpoint: 'http://otel.internal:4318/', headers: { authorization: 'Bearer x' } },
      prometheus: { host: '127.0.0.1', port: 9470 },
    })
    expect(resolveTelemetry(settings, {}, defaults)).toEqual({
      serviceName: 'fleet-collector',
      resourceAttributes: { 'deployment.environment.name': 'prod' },
      exporters: ['otlp', 'prometheus'],
      exportIntervalMs: 15_000,
      otlp: {
        protocol: 'http/protobuf',
        url: 'http://otel.internal:4318/v1/metrics',
        headers: { authorization: 'Bearer x' },
      },
      prometheus: { host: '127.0.0.1', port: 9470 },
    })
  })

  test('every variable wins over its YAML key', () => {
    const settings = telemetrySchema.parse({
      serviceName: 'from-yaml',
      resourceAttributes: { 'deployment.environment.name': 'prod', team: 'infra' },
      exporter: 'console',
      exportInterval: '15s',
      otlp: { endpoint: 'http://yaml:4318', protocol: 'http/json' },
      prometheus: { host: '127.0.0.1', port: 9470 },
    })
    const resolved = resolveTelemetry(
      settings,
      {
        OTEL_SERVICE_NAME: 'from-env',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging,cloud.region=eu%2Dwest%201',
        OTEL_METRICS_EXPORTER: 'prometheus',
        OTEL_METRIC_EXPORT_INTERVAL: '5000',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'https://env:4318',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_PROMETHEUS_HOST: '::1',
        OTEL_EXPORTER_PROMETHEUS_PORT: '0',
      },
      defaults,
    )
    expect(resolved).toEqual({
      serviceName: 'from-env',
      resourceAttributes: {
        'deployment.environment.name': 'staging',
        team: 'infra',
        'cloud.region': 'eu-west 1',
      },
      exporters: ['prometheus'],
      exportIntervalMs: 5000,
      // grpc takes the endpoint itself; no /v1/metrics path.
      otlp: { protocol: 'grpc', url: 'https://env:4318', headers: {} },
      prometheus: { host: '::1', port: 0 },
    })
  })

  test.each([
    {
      name: 'the signal variable is used as it is',
      env: { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://a:1/custom' },
      url: 'http://a:1/custom',
    },
    {
      name: 'the general one gets /v1/metrics',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318' },
      url: 'http://a:4318/v1/metrics',
    },
    {
      name: 'a base path is kept',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318/otlp/' },
      url: 'http://a:4318/otlp/v1/metrics',
    },
    { name: 'none: the SDK default', env: {}, url: undefined },
  ])('OTLP endpoint: $name', ({ env, url }) => {
    expect(resolveTelemetry(undefined, env, defaults).otlp.url).toBe(url)
  })

  test.each([
    { value: 'none', exporters: [] },
    { value: 'prometheus,none', exporters: [] },
    { value: ' otlp , prometheus,otlp', exporters: ['otlp', 'prometheus'] },
    { value: '', exporters: ['otlp'] },
  ])('OTEL_METRICS_EXPORTER="$value"', ({ value, exporters }) => {
    expect(resolveTelemetry(undefined, { OTEL_METRICS_EXPORTER: value }, defaults).exporters).toEqual(
      exporters,
    )
  })

  test('service.name from OTEL_RESOURCE_ATTRIBUTES counts when OTEL_SERVICE_NAME is not set', () => {
    expect(
      resolveTelemetry(undefined, { OTEL_RESOURCE_ATTRIBUTES: 'service.name=edge-collector' }, defaults)
        .serviceName,
    ).toBe('edge-collector')
  })

  test.each([
    {
      variable: 'OTEL_METRICS_EXPORTER',
      value: 'jaeger',
      expected: /a list of otlp, prometheus, console, none/,
    },
    {
      variable: 'OTEL_EXPORTER_OTLP_PROTOCOL',
      value: 'http',
      expected: /one of http\/protobuf, http\/json, grpc/,
    },
    { variable: 'OTEL_METRIC_EXPORT_INTERVAL', value: '60s', expected: /whole number of milliseconds/ },
    { variable: 'OTEL_METRIC_EXPORT_INTERVAL', value: '0', expected: /whole number of milliseconds above 0/ },
    { variable: 'OTEL_EXPORTER_PROMETHEUS_PORT', value: '70000', expected: /port number/ },
    { variable: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'otel:4318', expected: /http:\/\/ or https:\/\/ URL/ },
    { variable: 'OTEL_RESOURCE_ATTRIBUTES', value: 'team', expected: /key=value pairs/ },
    { variable: 'OTEL_RESOURCE_ATTRIBUTES', value: 'team=%E0%A4%A', expected: /percent-encoded/ },
  ])('$variable="$value" stops the start with an error that names it', ({ variable, value, expected }) => {
    let error: unknown
    try {
      resolveTelemetry(undefined, { [variable]: value }, defaults)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(DriftwatchError)
    expect((error as DriftwatchError).code).toBe('CONFIG_INVALID')
    expect((error as DriftwatchError).message).toContain(`${variable}: "${value}"`)
    expect((error as DriftwatchError).message).toMatch(expected)
    expect((error as DriftwatchError).hint).toContain(variable)
  })

  test('OTEL_RESOURCE_ATTRIBUTES: empty pairs are skipped, values percent-decoded, = inside a value kept', () => {
    expect(parseResourceAttributes('a=1,, b = x%3Dy ,c=')).toEqual({ a: '1', b: 'x=y', c: '' })
  })
})

describe('collector.yaml telemetry: section', () => {
  const base = 'enrollSecret: 0123456789abcdef\nadminTokens: [0123456789abcdef]\n'

  test('is read with the rest of the file', () => {
    const config = parseYamlText(
      `${base}telemetry:\n  exporter: prometheus\n  prometheus: { host: 127.0.0.1, port: 9464 }\n  exportInterval: 30s\n`,
      'collector.yaml',
      CollectorConfigSchema,
    )
    expect(config.telemetry).toEqual({
      exporter: 'prometheus',
      prometheus: { host: '127.0.0.1', port: 9464 },
      exportInterval: 30_000,
    })
  })

  test.each([
    { yaml: 'telemetry: { exporters: otlp }', error: /telemetry: unknown key "exporters"/ },
    { yaml: 'telemetry: { exporter: zipkin }', error: /telemetry\.exporter/ },
    { yaml: 'telemetry: { exportInterval: 60 }', error: /telemetry\.exportInterval/ },
    { yaml: 'telemetry: { otlp: { endpoint: "otel:4318" } }', error: /telemetry\.otlp\.endpoint/ },
    { yaml: 'telemetry: { prometheus: { port: 99999 } }', error: /telemetry\.prometheus\.port/ },
  ])('refuses $yaml naming the key', ({ yaml, error }) => {
    expect(() => parseYamlText(`${base}${yaml}\n`, 'collector.yaml', CollectorConfigSchema)).toThrow(error)
  })
})

describe('resource attributes', () => {
  const resolved = resolveTelemetry(undefined, {}, defaults)

  test('service, host and image, in the semantic conventions names', () => {
    const attributes = resourceAttributes(
      {
        serviceName: 'driftwatch-agent',
        serviceVersion: '0.1.0',
        instanceId: 'i-1',
        hostId: 'machine-1',
        hostName: 'web-7',
        image: { id: 'web-base', version: '2026.11.27-1' },
      },
      resolveTelemetry(undefined, {}, { serviceName: 'driftwatch-agent' }),
    )
    expect(attributes).toEqual({
      'service.name': 'driftwatch-agent',
      'service.version': '0.1.0',
      'service.instance.id': 'i-1',
      'host.name': 'web-7',
      'host.id': 'machine-1',
      'host.arch': hostArch(process.arch),
      'host.image.id': 'web-base',
      'host.image.version': '2026.11.27-1',
    })
  })

  test('OTEL_RESOURCE_ATTRIBUTES may override what driftwatch detects', () => {
    const withEnv = resolveTelemetry(
      undefined,
      { OTEL_RESOURCE_ATTRIBUTES: 'host.name=web-7.prod' },
      defaults,
    )
    const attributes = resourceAttributes(
      { serviceName: 'driftwatch-collector', serviceVersion: '0.1.0', hostName: 'web-7' },
      withEnv,
    )
    expect(attributes['host.name']).toBe('web-7.prod')
    expect(attributes['service.instance.id']).toMatch(/^[0-9a-f-]{36}$/)
    expect(
      resourceAttributes({ serviceName: 'driftwatch-collector', serviceVersion: '1' }, resolved)[
        'service.name'
      ],
    ).toBe('driftwatch-collector')
  })

  test.each([
    { node: 'x64', semconv: 'amd64' },
    { node: 'arm64', semconv: 'arm64' },
    { node: 'arm', semconv: 'arm32' },
    { node: 'ia32', semconv: 'x86' },
    { node: 'riscv64', semconv: 'riscv64' },
  ])('host.arch of $node is $semconv', ({ node, semconv }) => {
    expect(hostArch(node)).toBe(semconv)
  })
})
