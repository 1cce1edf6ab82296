/**
 * Ingest benchmark: simulated agents post realistic reports (20 findings each) over HTTP to a
 * real collector process, on SQLite and on PostgreSQL. Two runs per store:
 *   - saturation: every agent posts its next report as soon as the last is answered (so
 *     `--agents` reports are in flight; `--concurrency` caps it), for `--seconds`;
 *   - steady: an open-loop `--rate` reports/s (latency counted from each report's scheduled
 *     send time, so a stall is not hidden); p50/p99.
 * Usage: npx tsx bench/ingest.ts [--agents 200] [--seconds 10] [--concurrency N] [--rate 500]
 *                               [--stores sqlite,postgres]
 * Needs `npm run build` (the collector runs from dist/) and PostgreSQL at DRIFTWATCH_TEST_POSTGRES
 * (default postgres://postgres@127.0.0.1:5432/test) for the PostgreSQL run.
 * DRIFTWATCH_BENCH_NODE_ARGS passes flags to the collector's node, e.g. "--cpu-prof".
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Pool, request } from 'undici'
import { makeReport } from '../test/helpers/reports.js'
import { postgresSchema } from '../test/helpers/stores.js'

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    concurrency: { type: 'string' },
    rate: { type: 'string', default: '500' },
    stores: { type: 'string', default: 'sqlite,postgres' },
  },
})
const AGENTS = Number(values.agents)
const SECONDS = Number(values.seconds)
const CONCURRENCY = Math.min(AGENTS, Number(values.concurrency ?? AGENTS))
const RATE = Number(values.rate)
const CLI = fileURLToPath(new URL('../bin/driftwatch.js', import.meta.url))
const SECRET = randomBytes(16).toString('hex')
const ADMIN = randomBytes(16).toString('hex')

interface Agent {
  id: string
  token: string
  /** The report as JSON, with REPORT_ID standing where each send puts a fresh UUID. */
  template: [string, string]
}

interface RunResult {
  reports: number
  seconds: number
  latencies: number[]
  errors: number
}

async function main(): Promise<void> {
  console.log(
    `ingest benchmark: ${AGENTS} agents, 20 findings per report, ${SECONDS} s per run, ` +
      `${CONCURRENCY} in flight at saturation, ${RATE}/s steady`,
  )
  const rows: string[] = []
  for (const store of values.stores.split(',')) {
    const { url, cleanup } = await storeUrl(store)
    const dir = mkdtempSync(join(tmpdir(), 'driftwatch-bench-'))
    const collector = await startCollector(dir, url)
    try {
      const agents = await enrollAgents(collector.url)
      const pool = new Pool(collector.url, { connections: CONCURRENCY, pipelining: 1 })
      await saturate(pool, agents, 2) // warm-up: JIT, caches, the database's own
      const cpuBefore = processCpuSeconds(collector.child.pid as number)
      const saturation = await saturate(pool, agents, SECONDS)
      const cpu = processCpuSeconds(collector.child.pid as number) - cpuBefore
      const steady = await steadyRate(pool, agents, RATE, SECONDS)
      await pool.close()
      rows.push(
        row(store, 'saturation', saturation, `collector CPU ${(cpu / saturation.seconds).toFixed(2)} cores`),
        row(store, `steady ${RATE}/s`, steady, ''),
      )
      console.log(rows.slice(-2).join('\n'))
    } finally {
      await collector.stop()
      rmSync(dir, { recursive: true, force: true })
      await cleanup()
    }
  }
  console.log(
    `\n| store | run | reports/s | p50 | p99 | max | errors |\n| --- | --- | --- | --- | --- | --- | --- |\n${rows.join('\n')}`,
  )
}

function row(store: string, run: string, result: RunResult, note: string): string {
  const sorted = [...result.latencies].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
  const ms = (v: number) => `${v.toFixed(1)} ms`
  return `| ${store} | ${run} | ${(result.reports / result.seconds).toFixed(0)} | ${ms(at(0.5))} | ${ms(at(0.99))} | ${ms(at(1))} | ${result.errors} |${note ? ` ${note}` : ''}`
}

async function storeUrl(store: string): Promise<{ url: string; cleanup: () => Promise<void> }> {
  if (store === 'sqlite') return { url: '', cleanup: async () => {} }
  if (store !== 'postgres') throw new Error(`--stores: unknown store ${store}`)
  const { url, drop } = postgresSchema('dw_bench')
  return { url, cleanup: drop }
}

/** The real collector, as an operator starts it: its own process, from a config file. */
async function startCollector(dir: string, storeUrl: string) {
  const config = join(dir, 'collector.yaml')
  writeFileSync(
    config,
    [
      'listen: 127.0.0.1:0',
      `store: ${storeUrl || `sqlite://${join(dir, 'collector.db')}`}`,
      `enrollSecret: ${SECRET}`,
      `adminTokens: [${ADMIN}]`,
      'logLevel: info',
    ].join('\n'),
  )
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...(process.env.DRIFTWATCH_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      CLI,
      'collector',
      '--config',
      config,
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = ''
    child.once('exit', (code) => reject(new Error(`collector exited with ${code}`)))
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const match = /"url":"(http[^"]+)".*"msg":"collector listening"/.exec(buffer)
      if (match?.[1]) resolve(match[1])
    })
  })
  child.stdout?.resume()
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

async function enrollAgents(url: string): Promise<Agent[]> {
  const agents: Agent[] = []
  for (let i = 0; i < AGENTS; i++) {
    const id = `bench-${i.toString().padStart(5, '0')}`
    const response = await request(`${url}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ secret: SECRET, host: { id, hostname: id, labels: { group: `g${i % 10}` } } }),
    })
    const { token } = (await response.body.json()) as { token: string }
    const text = JSON.stringify(
      makeReport({ hostId: id, findings: 20, reportId: '00000000-0000-4000-8000-000000000000' }),
    )
    const [before, after] = text.split('00000000-0000-4000-8000-000000000000') as [string, string]
    agents.push({ id, token, template: [before, after] })
  }
  return agents
}

async function post(pool: Pool, agent: Agent): Promise<boolean> {
  const response = await pool.request({
    path: '/v1/reports',
    method: 'POST',
    headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' },
    body: agent.template[0] + randomUUID() + agent.template[1],
  })
  await response.body.dump()
  return response.statusCode === 201
}

/** Closed loop: CONCURRENCY senders, each posting its next report as soon as the last is answered. */
async function saturate(pool: Pool, agents: Agent[], seconds: number): Promise<RunResult> {
  const latencies: number[] = []
  let errors = 0
  const started = performance.now()
  const end = started + seconds * 1000
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      for (let i = worker; performance.now() < end; i += CONCURRENCY) {
        const t0 = performance.now()
        if (!(await post(pool, agents[i % agents.length] as Agent))) errors++
        latencies.push(performance.now() - t0)
      }
    }),
  )
  return { reports: latencies.length, seconds: (performance.now() - started) / 1000, latencies, errors }
}

/** Open loop: one report every 1/rate s whatever the answers; latency from the scheduled time. */
async function steadyRate(pool: Pool, agents: Agent[], rate: number, seconds: number): Promise<RunResult> {
  const latencies: number[] = []
  let errors = 0
  const total = rate * seconds
  const started = performance.now()
  const inFlight: Promise<void>[] = []
  for (let i = 0; i < total; i++) {
    const scheduled = started + (i * 1000) / rate
    const wait = scheduled - performance.now()
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
    inFlight.push(
      post(pool, agents[i % agents.length] as Agent).then((ok) => {
        if (!ok) errors++
        latencies.push(performance.now() - scheduled)
      }),
    )
  }
  await Promise.all(inFlight)
  return { reports: total, seconds: (performance.now() - started) / 1000, latencies, errors }
}

function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
