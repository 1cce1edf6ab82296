/**
 * Fleet-scale benchmark: a collector on PostgreSQL with N hosts (default 10,000 and 100,000).
 * For each N, in a fresh database it creates and drops:
 *   1. enrols N simulated hosts and gives each one report (1% snowflakes, 100 groups), through
 *      the store's own API (Store.enrollHost, then Store.ingestReport), 256 calls in flight at a
 *      time: the route handlers add nothing here but HTTP, and 100,000 enrolments over HTTP
 *      would take the bench's time;
 *   2. starts a real collector process on it (loopback, sweep and scheduler every 2 s, a webhook
 *      notifier so the scheduler's alert pass runs), re-enrols `--agents` of the hosts over HTTP
 *      for their tokens, and measures ingest p50/p99 at `--rate` reports/s over HTTP (open
 *      loop, from each report's scheduled time) while the sweep and the scheduler run;
 *   3. measures one sweep as the collector runs it (only the hosts time can move) and, for
 *      comparison, a full one (the first after a start); the hosts gauge's GROUP BY; the first
 *      page of `fleet hosts --state snowflake` through the API (the CLI's own command, in
 *      process); and the database's size per host (pg_database_size / N).
 * Usage: node --import tsx bench/fleet-scale.ts [--hosts 10000,100000] [--rate 500] [--seconds 10]
 * Needs `npm run build` (the collector runs from dist/) and PostgreSQL at DRIFTWATCH_TEST_POSTGRES
 * (default postgres://postgres@127.0.0.1:5432/test), whose user may create databases.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { Pool, request } from 'undici'
import { fleetHostsCommand } from '../src/cli/commands/fleet.js'
import { makeJudge, sweepDue } from '../src/collector/judge.js'
import { FleetRulesSchema } from '../src/config/collector.js'
import { openStore } from '../src/store/open.js'
import type { Store } from '../src/store/types.js'
import { makeReport } from '../test/helpers/reports.js'
import { POSTGRES_URL } from '../test/helpers/stores.js'

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10000,100000' },
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '10' },
    agents: { type: 'string', default: '1000' },
  },
})
const SIZES = values.hosts.split(',').map(Number)
const RATE = Number(values.rate)
const SECONDS = Number(values.seconds)
const AGENTS = Number(values.agents)
const IN_FLIGHT = 256
const CLI = fileURLToPath(new URL('../bin/driftwatch.js', import.meta.url))
const SECRET = randomBytes(16).toString('hex')
const ADMIN = randomBytes(16).toString('hex')
/** The collector's default rules: what its sweep is given. */
const RULES = FleetRulesSchema.parse({})

interface Figures {
  hosts: number
  enrolSeconds: number
  ingestP50: number
  ingestP99: number
  ingestErrors: number
  sweepMs: number
  fullSweepMs: number
  countMs: number
  snowflakePageMs: number
  snowflakePageHosts: number
  bytesPerHost: number
}

async function main(): Promise<void> {
  console.log(
    `fleet-scale benchmark on PostgreSQL: ${SIZES.join(', ')} hosts; ingest ${RATE}/s for ${SECONDS} s ` +
      `from ${AGENTS} agents over HTTP; hosts enrolled and given one report each through the store's API`,
  )
  const results: Figures[] = []
  for (const size of SIZES) {
    const figures = await oneSize(size)
    results.push(figures)
    console.log(JSON.stringify(figures))
  }
  console.log(`\n${table(results)}`)
  console.log(`RESULT ${JSON.stringify(results)}`)
}

async function oneSize(hosts: number): Promise<Figures> {
  const database = await freshDatabase()
  const dir = mkdtempSync(join(tmpdir(), 'driftwatch-fleet-'))
  const receiver = await webhookReceiver()
  try {
    const store = await openStore(database.url)
    const started = performance.now()
    try {
      await populate(store, hosts)
    } finally {
      await store.close()
    }
    const enrolSeconds = (performance.now() - started) / 1000
    console.log(`${hosts} hosts enrolled and reported in ${enrolSeconds.toFixed(0)} s`)

    const collector = await startCollector(dir, database.url, receiver.url)
    let ingest: Latencies
    let snowflakePage: { ms: number; value: number }
    try {
      const agents = await enrolAgents(collector.url, Math.min(AGENTS, hosts))
      const pool = new Pool(collector.url, { connections: 64, pipelining: 1 })
      // Warm-up, long enough for the collector's first (full) sweep and a few scheduler ticks.
      await steadyRate(pool, agents, RATE, 6)
      ingest = await steadyRate(pool, agents, RATE, SECONDS)
      await pool.close()
      snowflakePage = await median(7, async () => {
        const output = await fleetHostsCommand({ collector: collector.url, token: ADMIN, state: 'snowflake' })
        return (output.json as { hosts: unknown[] }).hosts.length
      })
    } finally {
      await collector.stop()
    }

    const check = await openStore(database.url)
    try {
      const judge = makeJudge(RULES)
      const sweep = await median(5, () => check.sweep(new Date(), judge, sweepDue(RULES)))
      const full = await median(3, () => check.sweep(new Date(), judge))
      const count = await median(5, () => check.countHosts())
      const size = await database.size()
      return {
        hosts,
        enrolSeconds: round(enrolSeconds),
        ingestP50: round(ingest.p50),
        ingestP99: round(ingest.p99),
        ingestErrors: ingest.errors,
        sweepMs: round(sweep.ms),
        fullSweepMs: round(full.ms),
        countMs: round(count.ms),
        snowflakePageMs: round(snowflakePage.ms),
        snowflakePageHosts: snowflakePage.value,
        bytesPerHost: Math.round(size / hosts),
      }
    } finally {
      await check.close()
    }
  } finally {
    receiver.close()
    rmSync(dir, { recursive: true, force: true })
    await database.drop()
  }
}

/** A database of its own, created for this run and dropped after it. */
async function freshDatabase() {
  const name = `dw_fleet_${randomBytes(4).toString('hex')}`
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: POSTGRES_URL })
    await client.connect()
    try {
      return await client.query(statement)
    } finally {
      await client.end()
    }
  }
  await admin(`create database ${name}`)
  const url = new URL(POSTGRES_URL)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    size: async () =>
      Number((await admin(`select pg_database_size('${name}') as bytes`)).rows[0]?.bytes ?? Number.NaN),
    drop: async () => {
      await admin(`drop database if exists ${name} with (force)`)
    },
  }
}

/**
 * N hosts in 100 groups, each with one report: 1 in 100 has critical findings (a snowflake),
 * 1 in 10 some low ones (drifted), the rest none. Calls go IN_FLIGHT at a time.
 */
async function populate(store: Store, hosts: number): Promise<void> {
  const judge = makeJudge(RULES)
  const now = new Date()
  const ids = Array.from({ length: hosts }, (_, i) => `host-${i.toString().padStart(6, '0')}`)
  await inBatches(ids, (id, i) =>
    store.enrollHost({
      hostId: id,
      hostname: `${id}.fleet.internal`,
      labels: { group: `g${i % 100}`, zone: `z${i % 3}` },
      tokenHash: randomBytes(32).toString('hex'),
      at: now,
    }),
  )
  await inBatches(ids, (id, i) => {
    const [findings, severity] =
      i % 100 === 7 ? [3, 'critical' as const] : i % 10 === 3 ? [2, 'low' as const] : [0, 'low' as const]
    return store.ingestReport(
      {
        hostId: id,
        report: makeReport({
          hostId: id,
          hostname: `${id}.fleet.internal`,
          findings,
          severity,
          startedAt: now,
        }),
        receivedAt: now,
        historyLimit: 20,
      },
      judge,
    )
  })
}

async function inBatches<T>(items: readonly T[], run: (item: T, index: number) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += IN_FLIGHT)
    await Promise.all(items.slice(i, i + IN_FLIGHT).map((item, j) => run(item, i + j)))
}

/** Answers every notification with 200, so that the scheduler's alert pass has a notifier to feed. */
async function webhookReceiver() {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(200).end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() }
}

/** The real collector, as an operator starts it: its own process, from a config file. */
async function startCollector(dir: string, storeUrl: string, webhook: string) {
  const config = join(dir, 'collector.yaml')
  writeFileSync(
    config,
    [
      'listen: 127.0.0.1:0',
      `store: ${storeUrl}`,
      `enrollSecret: ${SECRET}`,
      `adminTokens: [${ADMIN}]`,
      'logLevel: info',
      'sweepEvery: 2s',
      'replacement:',
      '  every: 2s',
      '  budget: { maxConcurrent: 2, minHealthyPercent: 90 }',
      'notifiers:',
      `  - { type: webhook, url: "${webhook}", secret: "${SECRET}" }`,
    ].join('\n'),
  )
  const child: ChildProcess = spawn(process.execPath, [CLI, 'collector', '--config', config], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
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
    stop: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  }
}

interface Agent {
  token: string
  /** The report as JSON, split where each send puts a fresh report id. */
  template: [string, string]
}

/** Re-enrols the first `count` hosts over HTTP, for tokens the bench knows. */
async function enrolAgents(url: string, count: number): Promise<Agent[]> {
  const agents: Agent[] = []
  for (let i = 0; i < count; i++) {
    const id = `host-${(i * 10).toString().padStart(6, '0')}`
    const response = await request(`${url}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        secret: SECRET,
        host: { id, hostname: `${id}.fleet.internal`, labels: { group: `g${(i * 10) % 100}` } },
      }),
    })
    const { token } = (await response.body.json()) as { token: string }
    const placeholder = '00000000-0000-4000-8000-000000000000'
    const text = JSON.stringify(
      makeReport({ hostId: id, findings: 20, severity: 'low', reportId: placeholder }),
    )
    agents.push({ token, template: text.split(placeholder) as [string, string] })
  }
  return agents
}

interface Latencies {
  p50: number
  p99: number
  errors: number
}

/** Open loop: one report every 1/rate s whatever the answers; latency from the scheduled time. */
async function steadyRate(pool: Pool, agents: Agent[], rate: number, seconds: number): Promise<Latencies> {
  const latencies: number[] = []
  let errors = 0
  const started = performance.now()
  const inFlight: Promise<void>[] = []
  for (let i = 0; i < rate * seconds; i++) {
    const scheduled = started + (i * 1000) / rate
    const wait = scheduled - performance.now()
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait))
    const agent = agents[i % agents.length] as Agent
    inFlight.push(
      pool
        .request({
          path: '/v1/reports',
          method: 'POST',
          headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' },
          body: agent.template[0] + randomUUID() + agent.template[1],
        })
        .then(async (response) => {
          await response.body.dump()
          if (response.statusCode !== 201) errors++
          latencies.push(performance.now() - scheduled)
        }),
    )
  }
  await Promise.all(inFlight)
  latencies.sort((a, b) => a - b)
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN
  return { p50: at(0.5), p99: at(0.99), errors }
}

/** The median time of `runs` runs, and what the last one returned. */
async function median<T>(runs: number, run: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const times: number[] = []
  let value: T | undefined
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    value = await run()
    times.push(performance.now() - t0)
  }
  times.sort((a, b) => a - b)
  return { ms: times[Math.floor(times.length / 2)] as number, value: value as T }
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}

function table(results: Figures[]): string {
  const rows: [string, (f: Figures) => number][] = [
    ['ingest p50 at rate (ms)', (f) => f.ingestP50],
    ['ingest p99 at rate (ms)', (f) => f.ingestP99],
    ['one sweep, hosts due only (ms)', (f) => f.sweepMs],
    ['full sweep, after a start (ms)', (f) => f.fullSweepMs],
    ['hosts gauge GROUP BY (ms)', (f) => f.countMs],
    ['fleet hosts --state snowflake, first page (ms)', (f) => f.snowflakePageMs],
    ['database size per host (bytes)', (f) => f.bytesPerHost],
    ['enrol + first report, store API (s)', (f) => f.enrolSeconds],
  ]
  const first = results[0]
  const last = results.at(-1)
  const header = `| measure | ${results.map((r) => `${r.hosts} hosts`).join(' | ')} | growth |`
  const lines = [header, `|${' --- |'.repeat(results.length + 2)}`]
  for (const [name, pick] of rows) {
    const growth = first && last && results.length > 1 ? `×${(pick(last) / pick(first)).toFixed(2)}` : ''
    lines.push(`| ${name} | ${results.map(pick).join(' | ')} | ${growth} |`)
  }
  return lines.join('\n')
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
