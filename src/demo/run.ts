import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SIGNATURE_HEADER, verifySignature } from '../collector/executors/signature.js'
import { displayText } from '../util/display.js'
import { bakeImage, installPackageByHand, makeHost, replaceBinaryAndLoosenSsh } from './image.js'

/*
 * `driftwatch demo`: the whole loop on one machine, with the real parts a fleet runs. In a
 * temporary folder it bakes an image, captures and signs its manifest, starts a collector (a
 * real process on embedded SQLite and a loopback port), starts an agent for each of four hosts
 * made from the image, changes two of them the way real incidents look, and follows the
 * collector as it flags them, replaces them one at a time through a webhook executor, and
 * alerts. Every step is a `driftwatch` command run as a user would run it.
 */

/** The CLI this demo runs, next to the module (dist/demo/run.js -> bin/driftwatch.js). */
const CLI = fileURLToPath(new URL('../../bin/driftwatch.js', import.meta.url))

/** How long the demo waits for the collector to do one thing before it says what did not happen. */
const STEP_TIMEOUT_MS = 20_000

export interface DemoOptions {
  /** Keep the collector running at the end, so the fleet page can be explored; Ctrl-C ends it. */
  keep: boolean
  /** Prints one line of narration. */
  say: (line: string) => void
  /** Bold for step titles, when the terminal shows it. */
  bold: (text: string) => string
}

interface CommandResult {
  code: number | null
  stdout: string
  stderr: string
}

/** A signed request the webhook receiver accepted: its path and its JSON body. */
interface Delivery {
  path: string
  body: Record<string, unknown>
}

class DemoFailure extends Error {}

/** Runs the demo; resolves with its exit code (0: the loop worked as narrated). */
export async function runDemo(options: DemoOptions): Promise<number> {
  const { say, bold } = options
  const started = Date.now()
  const dir = mkdtempSync(join(tmpdir(), 'driftwatch-demo-'))
  const secret = randomBytes(24).toString('hex')
  const adminToken = randomBytes(24).toString('hex')
  const webhookSecret = randomBytes(24).toString('hex')
  const env = {
    ...process.env,
    DRIFTWATCH_ENROLL_SECRET: secret,
    DRIFTWATCH_ADMIN_TOKEN: adminToken,
    DRIFTWATCH_WEBHOOK_SECRET: webhookSecret,
    NO_COLOR: '1',
  }
  const run = (args: string[]): Promise<CommandResult> => runCommand(args, env)
  const step = (n: number, title: string) => say(`\n${bold(`${n}. ${title}`)}`)
  const receiver = await startReceiver(webhookSecret)
  let collector: ChildProcess | undefined

  try {
    step(1, 'Bake a golden image and sign its manifest')
    const image = join(dir, 'image')
    bakeImage(image)
    await expectCode(run(['keygen', '--out', join(dir, 'image-key')]), 0, 'keygen')
    const manifest = join(dir, 'web-base.json.gz')
    await expectCode(
      run([
        'manifest',
        'capture',
        '--image',
        'web-base@2026.12.03-1',
        '--root',
        image,
        '--out',
        manifest,
        '--sign',
        join(dir, 'image-key.key'),
      ]),
      0,
      'manifest capture',
    )
    const shown = await run(['manifest', 'verify', manifest, '--key', join(dir, 'image-key.pub')])
    await expectCode(Promise.resolve(shown), 0, 'manifest verify')
    say(`   An image folder was baked and captured: ${displayText(manifest)}`)
    say('   The manifest is signed with ed25519; `manifest verify` checked its digest and signature.')

    step(2, 'Start a collector on embedded SQLite')
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const collectorYaml = join(dir, 'collector.yaml')
    writeFileSync(collectorYaml, collectorConfig(dir, port, receiver.url))
    const log = openSync(join(dir, 'collector.log'), 'a')
    collector = spawn(process.execPath, [CLI, 'collector', '--config', collectorYaml], {
      env,
      stdio: ['ignore', log, log],
    })
    await waitFor(
      'the collector to answer /readyz',
      async () => (await fetchOk(`${url}/readyz`)) || undefined,
    )
    say(`   Listening on ${url} (its log: ${displayText(join(dir, 'collector.log'))}).`)
    say('   Replacement budget: one host at a time in group "web"; executor: a signed webhook.')
    say('   No maintenance windows are configured, so a replacement may start at any time.')
    const admin = { ...env, DRIFTWATCH_COLLECTOR: url }
    const register = await runCommand(
      ['fleet', 'image', 'register', manifest, '--key', join(dir, 'image-key.pub')],
      admin,
    )
    await expectCode(Promise.resolve(register), 0, 'fleet image register')
    say('   The image bake registered web-base@2026.12.03-1 with the collector.')

    step(3, 'Start four hosts from the image, each with its agent')
    const hosts = ['web-1', 'web-2', 'web-3', 'web-4']
    const agentConfigs = new Map<string, string>()
    for (const name of hosts) {
      const root = join(dir, 'hosts', name)
      makeHost(image, root, name, randomUUID().replaceAll('-', ''))
      const config = join(dir, `agent-${name}.yaml`)
      writeFileSync(
        config,
        agentConfig(url, manifest, join(dir, 'image-key.pub'), root, join(dir, 'state', name), name),
      )
      mkdirSync(join(dir, 'state', name), { recursive: true, mode: 0o700 })
      agentConfigs.set(name, config)
    }
    const firstScans = await Promise.all(hosts.map((name) => agentOnce(agentConfigs.get(name) ?? '', env)))
    firstScans.forEach((result, i) => {
      if (result.code !== 0) throw failure(`agent --once on ${hosts[i]}`, result, 'exit 0 (delivered, clean)')
    })
    await waitFor('four compliant hosts', async () => {
      const states = await hostStates(url, adminToken)
      return hosts.every((h) => states.get(h) === 'compliant') ? states : undefined
    })
    say('   Each agent enrolled, scanned its host against the signed manifest and reported: 4 compliant.')

    step(4, 'Two incidents')
    installPackageByHand(join(dir, 'hosts', 'web-2'))
    say('   web-2: an operator ran `apt-get install netcat-openbsd` by hand.')
    replaceBinaryAndLoosenSsh(join(dir, 'hosts', 'web-3'))
    say('   web-3: /usr/sbin/sshd was replaced, and a drop-in turned on PermitRootLogin.')
    const rescans = await Promise.all(
      ['web-2', 'web-3'].map((h) => agentOnce(agentConfigs.get(h) ?? '', env)),
    )
    rescans.forEach((result, i) => {
      if (result.code !== 1)
        throw failure(`agent --once on web-${i + 2}`, result, 'exit 1 (delivered with drift)')
    })
    say('   Their agents scanned again and delivered what changed (exit 1: drift).')

    step(5, 'The collector flags the snowflakes and replaces them within the budget')
    await waitFor('web-2 and web-3 to be flagged', async () => {
      const states = await hostStates(url, adminToken)
      return ['web-2', 'web-3'].every((h) => !['compliant', 'pending', undefined].includes(states.get(h)))
        ? states
        : undefined
    })
    const fleet = await runCommand(['fleet', 'hosts'], admin)
    printIndented(say, fleet.stdout)
    say('   Budget: one replacement at a time in group "web"; the second snowflake waits for the first.')
    say("   (A real executor terminates the instance; here the replaced host's agent never reports again.)")
    await waitFor('both replacements to be dispatched and completed', async () => {
      const states = await hostStates(url, adminToken)
      return ['web-2', 'web-3'].every((h) => states.get(h) === 'replaced') ? states : undefined
    })
    const dispatches = receiver.deliveries.filter((d) => d.path === '/replace').map((d) => hostnameOf(d.body))
    say('   The webhook executor received a signed POST for each (the receiver verified the signature).')
    say(
      `   Dispatched in turn: ${dispatches.map((h) => displayText(String(h))).join(', ')}; both are replaced.`,
    )
    const queue = await runCommand(['fleet', 'replacements'], admin)
    printIndented(say, queue.stdout)

    step(6, 'What each snowflake did, and its way out')
    const list = await hostList(url, adminToken)
    for (const name of ['web-2', 'web-3']) {
      const detail = await runCommand(['fleet', 'host', hostIdOf(list, name)], admin)
      say(`   ${bold(`driftwatch fleet host ${name}`)}`)
      printIndented(say, detail.stdout, 5)
    }

    step(7, 'Alerts, as the webhook notifier delivered them')
    const alerts = receiver.deliveries.filter((d) => d.path === '/alerts')
    if (alerts.length === 0) throw new DemoFailure('no alert reached the webhook notifier')
    for (const alert of alerts) say(`   ${displayText(describeAlert(alert.body))}`)

    say(`\n${bold('Fleet page')}: ${url}/  (sign in with the admin token ${adminToken})`)
    say(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`)
    if (options.keep) {
      say(`--keep: the collector keeps running; its files are in ${displayText(dir)}. Ctrl-C ends it.`)
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve)
        process.once('SIGTERM', resolve)
      })
    }
    return 0
  } catch (error) {
    say(`\ndemo failed: ${displayText(error instanceof Error ? error.message : String(error))}`)
    say(`its files are kept in ${displayText(dir)} (collector.log has the collector's side)`)
    options.keep = true
    return 1
  } finally {
    if (collector) await stop(collector)
    await new Promise<void>((resolve) => receiver.server.close(() => resolve()))
    if (!options.keep) rmSync(dir, { recursive: true, force: true })
  }
}

function collectorConfig(dir: string, port: number, receiverUrl: string): string {
  return `listen: 127.0.0.1:${port}
store: sqlite://${join(dir, 'collector.db')}
enrollSecret: \${DRIFTWATCH_ENROLL_SECRET}
adminTokens: [{ name: demo-operator, token: "\${DRIFTWATCH_ADMIN_TOKEN}" }]
sweepEvery: 1s
snowflake:
  severity: critical
replacement:
  dryRun: false
  groupLabel: group
  budget: { maxConcurrent: 1, minHealthyPercent: 50 }
  every: 1s
  goneAfter: 3s
  timeout: 1m
  executor: { type: webhook, url: ${receiverUrl}/replace, secret: "\${DRIFTWATCH_WEBHOOK_SECRET}", retries: 0 }
notifiers:
  - { type: webhook, url: ${receiverUrl}/alerts, secret: "\${DRIFTWATCH_WEBHOOK_SECRET}" }
logLevel: warn
`
}

function agentConfig(
  url: string,
  manifest: string,
  key: string,
  root: string,
  state: string,
  name: string,
): string {
  return `collector:
  url: ${url}
  enrollSecret: \${DRIFTWATCH_ENROLL_SECRET}
  retries: 1
manifest: ${manifest}
publicKey: ${key}
root: ${root}
stateDir: ${state}
hostId: ${name}
labels: { group: web }
schedule: { splay: 0s }
logLevel: warn
`
}

function agentOnce(config: string, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return runCommand(['agent', '--config', config, '--once', '--mode', 'full'], env)
}

function runCommand(args: string[], env: NodeJS.ProcessEnv): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

async function expectCode(
  result: Promise<CommandResult>,
  code: number,
  what: string,
): Promise<CommandResult> {
  const r = await result
  if (r.code !== code) throw failure(what, r, `exit ${code}`)
  return r
}

function failure(what: string, r: CommandResult, expected: string): DemoFailure {
  const detail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ')
  return new DemoFailure(`${what} exited ${r.code}, expected ${expected}: ${detail}`)
}

/** Polls `check` until it returns something, or fails the demo naming what did not happen. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + STEP_TIMEOUT_MS
  for (;;) {
    const value = await check().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new DemoFailure(`waited ${STEP_TIMEOUT_MS / 1000} s for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

async function fetchOk(url: string): Promise<boolean> {
  const response = await fetch(url)
  await response.arrayBuffer()
  return response.ok
}

interface HostSummary {
  id: string
  hostname: string
  state: string
}

async function hostList(url: string, token: string): Promise<HostSummary[]> {
  const response = await fetch(`${url}/v1/hosts`, { headers: { authorization: `Bearer ${token}` } })
  const body = (await response.json()) as { hosts?: HostSummary[] }
  if (!response.ok || !Array.isArray(body.hosts))
    throw new DemoFailure(`GET /v1/hosts answered ${response.status}`)
  return body.hosts
}

async function hostStates(url: string, token: string): Promise<Map<string, string>> {
  return new Map((await hostList(url, token)).map((h) => [h.hostname, h.state]))
}

function hostIdOf(hosts: HostSummary[], hostname: string): string {
  const host = hosts.find((h) => h.hostname === hostname)
  if (!host) throw new DemoFailure(`${hostname} is not in the fleet`)
  return host.id
}

function hostnameOf(body: Record<string, unknown>): unknown {
  const host = body.host as Record<string, unknown> | undefined
  return host?.hostname ?? host?.id ?? '?'
}

function describeAlert(body: Record<string, unknown>): string {
  return `${String(hostnameOf(body)).padEnd(6)} ${String(body.kind ?? 'event').padEnd(22)} ${String(body.summary ?? '')}`
}

function printIndented(say: (line: string) => void, text: string, indent = 3): void {
  if (text.trim() === '') return
  for (const line of text.trimEnd().split('\n')) say(`${' '.repeat(indent)}${line}`)
}

/**
 * The other end of the executor and the notifier: a local HTTP server that accepts a request
 * only when its X-Driftwatch-Signature (t=<unix>,v1=<HMAC-SHA256 of "t.body">) verifies, as a
 * receiver in production must.
 */
async function startReceiver(
  secret: string,
): Promise<{ server: Server; url: string; deliveries: Delivery[] }> {
  const deliveries: Delivery[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (c: Buffer) => chunks.push(c))
    request.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      if (!verifySignature(secret, raw, String(request.headers[SIGNATURE_HEADER] ?? ''), new Date())) {
        response.writeHead(401).end()
        return
      }
      try {
        deliveries.push({ path: request.url ?? '/', body: JSON.parse(raw) as Record<string, unknown> })
        response.writeHead(204).end()
      } catch {
        response.writeHead(400).end()
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { server, url: `http://127.0.0.1:${port}`, deliveries }
}

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}
