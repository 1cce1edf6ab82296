import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { loadCollectorConfig } from '../../src/config/collector.js'
import { resolveTelemetry } from '../../src/telemetry/settings.js'
import { CLI, REPO, runCli, tempDir } from '../helpers/cli.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'

interface Started {
  child: ChildProcessWithoutNullStreams
  /** The "collector listening" log line. */
  listening: { url: string; metrics: string[]; prometheus?: string }
  exited: Promise<number | null>
}

/** `driftwatch collector` as a service manager starts it, up to its "listening" line. */
function startCollector(config: string, env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [CLI, 'collector', '--config', config], {
    env: { ...process.env, ...env },
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  let logs = ''
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (d: Buffer) => {
      logs += d.toString()
    })
    child.stdout.on('data', (d: Buffer) => {
      logs += d.toString()
      for (const line of logs.split('\n')) {
        if (!line.includes('"msg":"collector listening"')) continue
        resolve({ child, listening: JSON.parse(line) as Started['listening'], exited })
      }
    })
    void exited.then((code) => reject(new Error(`collector exited (${code}) before listening:\n${logs}`)))
  })
}

async function stop(started: Started): Promise<number | null> {
  started.child.kill('SIGTERM')
  return started.exited
}

describe('driftwatch collector: metrics as a user turns them on', () => {
  const dir = tempDir('driftwatch-telemetry-cli-')
  afterAll(() => dir.cleanup())
  const writeConfig = (name: string, telemetry: string[]) => {
    const file = join(dir.path, name)
    writeFileSync(
      file,
      [
        'listen: 127.0.0.1:0',
        `store: sqlite://${join(dir.path, `${name}.db`)}`,
        `enrollSecret: ${ENROLL_SECRET}`,
        `adminTokens: [${ADMIN_TOKEN}]`,
        ...telemetry,
        '',
      ].join('\n'),
    )
    return file
  }

  test('the shipped config/collector.yaml sends OTLP to a local OpenTelemetry Collector', () => {
    process.env.DRIFTWATCH_ENROLL_SECRET = ENROLL_SECRET
    process.env.DRIFTWATCH_ADMIN_TOKEN = ADMIN_TOKEN
    const config = loadCollectorConfig(join(REPO, 'config/collector.yaml'))
    const resolved = resolveTelemetry(config.telemetry, {}, { serviceName: 'driftwatch-collector' })
    expect(resolved.exporters).toEqual(['otlp'])
    expect(resolved.otlp).toEqual({
      protocol: 'http/protobuf',
      url: 'http://localhost:4318/v1/metrics',
      headers: {},
    })
  })

  test('telemetry.exporter: prometheus serves /metrics with the fleet and the resource', async () => {
    const config = writeConfig('prometheus.yaml', [
      'telemetry:',
      '  exporter: prometheus',
      '  prometheus: { host: 127.0.0.1, port: 0 }',
    ])
    const started = await startCollector(config, {
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test',
    })
    try {
      expect(started.listening.metrics).toEqual(['prometheus'])
      const url = started.listening.prometheus ?? ''
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
      const enrolled = await fetch(`${started.listening.url}/v1/enroll`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          secret: ENROLL_SECRET,
          host: { id: 'h-cli-1', hostname: 'h', labels: { group: 'web' } },
        }),
      })
      expect(enrolled.status).toBe(201)
      const text = await (await fetch(url)).text()
      expect(text).toMatch(/^target_info\{.*service_name="driftwatch-collector".*\} 1$/m)
      expect(text).toMatch(/^target_info\{.*deployment_environment_name="test".*\} 1$/m)
      expect(text).toMatch(/^target_info\{.*service_version="0\.1\.0".*\} 1$/m)
      // Enrolled, not yet reported: pending, and no image label.
      expect(text).toMatch(/^driftwatch_hosts\{state="pending",group="web",.*\} 1$/m)
      expect(text).not.toMatch(/^driftwatch_hosts\{state="compliant"/m)
      expect(text).toMatch(/^http_server_request_duration_count\{.*http_route="\/v1\/enroll".*\} 1$/m)
      expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404)
    } finally {
      expect(await stop(started)).toBe(0)
    }
  }, 60_000)

  test('OTEL_METRICS_EXPORTER=none wins over the file: no exporter, no /metrics', async () => {
    const config = writeConfig('none.yaml', [
      'telemetry: { exporter: prometheus, prometheus: { host: 127.0.0.1, port: 0 } }',
    ])
    const started = await startCollector(config, { OTEL_METRICS_EXPORTER: 'none' })
    try {
      expect(started.listening.metrics).toEqual([])
      expect(started.listening.prometheus).toBeUndefined()
    } finally {
      expect(await stop(started)).toBe(0)
    }
  }, 60_000)

  test('a bad OTEL_* variable stops the start with one line that names it (exit 2)', async () => {
    const config = writeConfig('bad.yaml', [])
    const result = await runCli(['collector', '--config', config], {
      env: { OTEL_METRICS_EXPORTER: 'zipkin' },
    })
    expect(result.code).toBe(2)
    expect(result.stderr.trim().split('\n')[0]).toMatch(
      /OTEL_METRICS_EXPORTER: "zipkin" is not a list of otlp, prometheus/,
    )
  }, 60_000)
})
