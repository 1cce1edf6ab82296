import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { request } from 'undici'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import { CLI, runCli } from '../helpers/cli.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { buildImageRoot } from '../helpers/tree.js'

export { ADMIN_TOKEN, ENROLL_SECRET }

/** An image root, its signed manifest and the public key, made with the CLI as a bake would. */
export async function makeImage(dir: string): Promise<{ root: string; manifest: string; publicKey: string }> {
  const root = join(dir, 'root')
  buildImageRoot(root)
  writeFileSync(
    join(root, 'etc/os-release'),
    'ID=debian\nVERSION_ID="12"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n',
  )
  const key = join(dir, 'image')
  const manifest = join(dir, 'manifest.json')
  const keygen = await runCli(['keygen', '--out', key])
  if (keygen.code !== 0) throw new Error(`keygen failed: ${keygen.stderr}`)
  const capture = await runCli([
    'manifest',
    'capture',
    '--image',
    'web-base@2026.12.01-1',
    '--root',
    root,
    '--out',
    manifest,
    '--sign',
    `${key}.key`,
  ])
  if (capture.code !== 0) throw new Error(`capture failed: ${capture.stderr}`)
  return { root, manifest, publicKey: `${key}.pub` }
}

/** A real collector (SQLite in `dir`) on loopback; `port` to come back where it was. */
export async function runCollector(dir: string, port = 0): Promise<RunningCollector> {
  return startCollector(
    CollectorConfigSchema.parse({
      listen: `127.0.0.1:${port}`,
      store: `sqlite://${join(dir, 'collector.db')}`,
      enrollSecret: ENROLL_SECRET,
      adminTokens: [ADMIN_TOKEN],
      logLevel: 'silent',
    }),
  )
}

/** One request the front saw, and what became of it. */
export interface Seen {
  path: string
  at: number
  reportId?: string
  /** The answer's status; 0 when the front hung up or never answered. */
  status: number
  /** For a report the collector took: whether it had it already. */
  duplicate?: boolean
}

export type Fault = { status: number; retryAfter?: string } | 'hang' | 'reset'

/**
 * A small real HTTP server between the agent and the collector: it forwards, or fails the next
 * report requests as told (an error status, a hang, a reset connection), or is down altogether
 * (its port closed), and records every request in the order it came.
 */
export class Front {
  readonly seen: Seen[] = []
  /** Faults for the next requests to /v1/reports, in order. */
  faults: Fault[] = []
  #server: Server | undefined
  #sockets = new Set<Socket>()
  #port = 0
  #target: string

  constructor(target: string) {
    this.#target = target
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`
  }

  set target(url: string) {
    this.#target = url
  }

  /**
   * Listens, on the same port as before once it has one. The port is chosen below the
   * kernel's ephemeral range: while it is closed, the agent's connection attempts to it could
   * otherwise be given it as their own local port and connect to themselves (TCP self-connect).
   */
  async up(): Promise<void> {
    if (this.#server) return
    for (let attempt = 0; ; attempt++) {
      const port = this.#port || 20_000 + Math.floor(Math.random() * 12_000)
      try {
        await this.#listen(port)
        this.#port = port
        return
      } catch (error) {
        if (this.#port || attempt > 20) throw error
      }
    }
  }

  async #listen(port: number): Promise<void> {
    const server = createServer((req, res) => void this.#handle(req, res))
    server.on('connection', (socket) => {
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    this.#server = server
  }

  /** Closes the port: connections are refused, as to a collector that is down. */
  async down(): Promise<void> {
    const server = this.#server
    this.#server = undefined
    for (const socket of this.#sockets) socket.destroy()
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** The reports the collector took as new, in the order it took them. */
  acceptedNew(): string[] {
    return this.seen
      .filter((s) => s.path === '/v1/reports' && s.status >= 200 && s.status < 300 && s.duplicate === false)
      .map((s) => s.reportId ?? '')
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    const seen: Seen = { path: req.url ?? '', at: Date.now(), status: 0 }
    if (seen.path === '/v1/reports') {
      try {
        const json = req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body
        seen.reportId = (JSON.parse(json.toString()) as { reportId: string }).reportId
      } catch {}
    }
    this.seen.push(seen)
    const fault = seen.path === '/v1/reports' ? this.faults.shift() : undefined
    if (fault === 'hang') return
    if (fault === 'reset') {
      req.socket.destroy()
      return
    }
    if (fault) {
      seen.status = fault.status
      res.writeHead(fault.status, {
        'content-type': 'application/json',
        ...(fault.retryAfter ? { 'retry-after': fault.retryAfter } : {}),
      })
      res.end(JSON.stringify({ code: 'UNAVAILABLE', message: 'injected by the test' }))
      return
    }
    try {
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) headers[k] = v
      }
      const answer = await request(`${this.#target}${req.url}`, {
        method: req.method as 'POST',
        headers,
        ...(body.length ? { body } : {}),
      })
      const text = await answer.body.text()
      seen.status = answer.statusCode
      if (seen.path === '/v1/reports' && answer.statusCode < 300) {
        seen.duplicate = (JSON.parse(text) as { duplicate: boolean }).duplicate
      }
      res.writeHead(answer.statusCode, { 'content-type': 'application/json' })
      res.end(text)
    } catch {
      res.writeHead(502)
      res.end()
      seen.status = 502
    }
  }
}

/** agent.yaml for a test: fast schedules, short timeouts and backoff; `extra` lines appended. */
export function writeAgentConfig(
  dir: string,
  options: {
    url: string
    image: { root: string; manifest: string; publicKey: string }
    stateDir: string
    extra?: string[]
  },
): string {
  const file = join(dir, `agent-${Math.random().toString(36).slice(2)}.yaml`)
  const lines = [
    'collector:',
    `  url: ${options.url}`,
    `  enrollSecret: ${ENROLL_SECRET}`,
    '  connectTimeout: 5s',
    '  responseTimeout: 5s',
    '  retries: 3',
    '  minBackoff: 50ms',
    '  maxBackoff: 2s',
    `manifest: ${options.image.manifest}`,
    `publicKey: ${options.image.publicKey}`,
    `root: ${options.image.root}`,
    `stateDir: ${options.stateDir}`,
    'labels: { group: web }',
    'schedule:',
    '  quick: "* * * * * *"',
    '  full: "0 0 1 1 *"',
    '  heartbeat: 1s',
    '  splay: 0s',
    'scan: { workers: 1 }',
    'logLevel: info',
    ...(options.extra ?? []),
  ]
  writeFileSync(file, `${lines.join('\n')}\n`)
  return file
}

export interface LogLine {
  msg: string
  level: number
  reportId?: string
  [key: string]: unknown
}

/** The agent as systemd runs it: a real process; its JSON log lines parsed as they come. */
export class AgentProcess {
  readonly child: ChildProcessWithoutNullStreams
  readonly exited: Promise<number | null>
  stdout = ''
  stderr = ''

  constructor(args: string[], env: Record<string, string> = {}, user: { uid?: number; gid?: number } = {}) {
    this.child = spawn(process.execPath, [CLI, 'agent', ...args], {
      // Metrics off unless a test turns them on: nothing listens on the default OTLP endpoint here.
      env: { OTEL_METRICS_EXPORTER: 'none', ...process.env, ...env },
      ...user,
    })
    this.child.stdout.on('data', (d: Buffer) => {
      this.stdout += d.toString()
    })
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString()
    })
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))),
    )
  }

  lines(): LogLine[] {
    const out: LogLine[] = []
    for (const line of this.stdout.split('\n')) {
      if (!line.startsWith('{')) continue
      try {
        out.push(JSON.parse(line) as LogLine)
      } catch {}
    }
    return out
  }

  /** Report ids in the order they were spooled (logged only after write, fsync and rename). */
  spooled(): string[] {
    return this.lines()
      .filter((l) => l.msg === 'report spooled')
      .map((l) => l.reportId ?? '')
  }
}

/** Polls until `check` holds, or fails with `what` after `ms`. */
export async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** The reports in the spool directory, oldest first. */
export function spoolFiles(stateDir: string): string[] {
  try {
    return readdirSync(join(stateDir, 'spool'))
      .filter((f) => f.endsWith('.json.gz'))
      .sort()
  } catch {
    return []
  }
}
