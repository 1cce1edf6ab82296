import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { type ScheduledTask, schedule, validate } from 'node-cron'
import type { Logger } from 'pino'
import type { AgentConfig } from '../config/agent.js'
import { summarize } from '../drift/compare.js'
import { DriftwatchError, type ErrorCode, EXIT } from '../errors.js'
import type { HostFacts } from '../protocol/facts.js'
import { type DriftItem, REPORT_SCHEMA, type Report } from '../protocol/report.js'
import { CollectorClient } from './delivery.js'
import type { AgentEvents } from './events.js'
import { collectHostFacts } from './facts.js'
import type { ManifestClaims, ScanAnswer, ScanJob } from './scan-job.js'
import { forkScanner, ScanAbandoned, type Scanner } from './scanner.js'
import { Spool } from './spool.js'
import { forgetToken, type HostName, hostName, prepareStateDir, readToken, writeToken } from './state.js'

/** The config key of the finding a manifest that failed verification becomes. */
export const MANIFEST_INTEGRITY_SUBJECT = 'driftwatch:manifest-integrity'

export interface AgentDeps {
  config: AgentConfig
  logger: Logger
  version: string
  events?: AgentEvents
  scanner?: Scanner
  /** Host facts; collected with systeminformation when not given. */
  facts?: (rootDir: string) => Promise<HostFacts>
  now?: () => Date
  random?: () => number
}

/** How one scan ended, for --once and the logs. */
export type ScanOutcome =
  | { kind: 'spooled'; report: Report }
  | { kind: 'failed'; error: DriftwatchError }
  | { kind: 'skipped' }

/** What one pass over the spool delivered. */
export interface DrainResult {
  delivered: Set<string>
  /** Reports still in the spool. */
  pending: number
  /** The collector refused the enrolment secret: the configuration is wrong. */
  enrolmentRefused: boolean
}

/**
 * The agent: scans on its schedules (one at a time, each in a child process), writes every
 * report to the spool before sending it, and delivers the spool oldest first, enrolling (again)
 * whenever the collector does not know its token. Logs JSON through pino; never a token, a
 * secret or a report's content.
 */
export class AgentDaemon {
  #config: AgentConfig
  readonly #logger: Logger
  readonly #events: AgentEvents
  readonly #scanner: Scanner
  readonly #version: string
  readonly #collectFacts: (rootDir: string) => Promise<HostFacts>
  readonly #now: () => Date
  #spool: Spool
  #client: CollectorClient
  #host: HostName
  #facts: HostFacts | undefined
  #scanning: { mode: 'full' | 'quick'; abort: AbortController; done: Promise<ScanOutcome> } | undefined
  #delivering: Promise<DrainResult> | undefined
  /** A Retry-After longer than one delivery waits: nothing is sent before it. */
  #notBefore = 0
  #tasks: ScheduledTask[] = []
  #timers = new Set<NodeJS.Timeout>()
  #stopping = false
  #fatal: ((error: unknown) => void) | undefined

  private constructor(deps: AgentDeps, spool: Spool, client: CollectorClient, host: HostName) {
    this.#config = deps.config
    this.#logger = deps.logger
    this.#events = deps.events ?? {}
    this.#scanner = deps.scanner ?? forkScanner
    this.#version = deps.version
    this.#collectFacts = deps.facts ?? ((rootDir) => collectHostFacts(rootDir, deps.version))
    this.#now = deps.now ?? (() => new Date())
    this.#spool = spool
    this.#client = client
    this.#host = host
  }

  /**
   * Checks that the state directory can be written (an error now, not lost reports later),
   * opens the spool, names the host and reads its facts.
   */
  static async create(deps: AgentDeps): Promise<AgentDaemon> {
    const { config, logger } = deps
    prepareStateDir(config.stateDir)
    const spool = openSpool(config, logger, deps.events)
    const host = hostName({
      rootDir: config.root,
      stateDir: config.stateDir,
      ...(config.hostId ? { hostId: config.hostId } : {}),
    })
    const client = new CollectorClient(config.collector, deps.random)
    const daemon = new AgentDaemon(deps, spool, client, host)
    await daemon.#refreshFacts()
    logger.info(
      {
        hostId: host.id,
        collector: client.url,
        manifest: config.manifest,
        signed: config.publicKey !== undefined,
        spooled: spool.entries().length,
      },
      'agent ready',
    )
    return daemon
  }

  get hostId(): string {
    return this.#host.id
  }

  /** Reports in the spool, waiting for delivery (driftwatch.spool.depth). */
  get spooled(): number {
    return this.#spool.entries().length
  }

  /**
   * `--once`: one scan, then the whole spool delivered. 0 delivered clean, 1 delivered with
   * drift, 4 not delivered (kept in the spool); a scan that cannot run, or a refused
   * enrolment secret, is bad configuration (thrown, exit 2).
   */
  async once(mode: 'full' | 'quick'): Promise<number> {
    const outcome = await this.scan(mode)
    if (outcome.kind === 'failed') throw outcome.error
    const drained = await this.drain()
    if (drained.enrolmentRefused) {
      throw new DriftwatchError(
        'CONFIG_INVALID',
        `collector.enrollSecret: the collector at ${this.#client.url} refused it`,
        {
          hint: "set it to the collector's enrollSecret (collector.yaml); the report stays in the spool",
        },
      )
    }
    if (outcome.kind !== 'spooled' || !drained.delivered.has(outcome.report.reportId))
      return EXIT.notDelivered
    return outcome.report.drift.length > 0 ? EXIT.drift : EXIT.clean
  }

  /**
   * Scans once and spools the report (or, for a manifest that failed verification, an
   * integrity finding). Never two at once: a scan asked for while one runs is skipped.
   * Throws only when the report cannot be spooled (the state directory is unwritable or full).
   */
  async scan(mode: 'full' | 'quick'): Promise<ScanOutcome> {
    if (this.#scanning) {
      const reason = `a ${this.#scanning.mode} scan is running`
      this.#logger.info({ mode, reason }, 'scan skipped')
      this.#events.scanSkipped?.({ mode, reason })
      return { kind: 'skipped' }
    }
    const abort = new AbortController()
    const done = this.#runScan(mode, abort.signal)
    this.#scanning = { mode, abort, done }
    try {
      return await done
    } finally {
      this.#scanning = undefined
    }
  }

  async #runScan(mode: 'full' | 'quick', signal: AbortSignal): Promise<ScanOutcome> {
    const config = this.#config
    const workers = config.scan.workers ?? defaultWorkers(mode)
    const job: ScanJob = {
      manifest: config.manifest,
      ...(config.publicKey ? { publicKey: config.publicKey } : {}),
      rootDir: config.root,
      stateDir: config.stateDir,
      mode,
      labels: config.labels,
      ...(workers ? { workers } : {}),
      ...(config.scan.hashBytesPerSecond ? { hashBytesPerSecond: config.scan.hashBytesPerSecond } : {}),
      verifyPackages: config.scan.verifyPackages,
    }
    const started = performance.now()
    let answer: ScanAnswer
    try {
      answer = await this.#scanner(job, signal)
    } catch (error) {
      if (error instanceof ScanAbandoned) {
        this.#logger.info({ mode }, 'scan abandoned: the agent is stopping')
        return { kind: 'skipped' }
      }
      const failed = new DriftwatchError(
        'IO',
        `${mode} scan: ${error instanceof Error ? error.message : String(error)}`,
      )
      this.#logger.error({ mode, error: failed.message }, 'scan failed')
      return { kind: 'failed', error: failed }
    }
    const durationMs = Math.round(performance.now() - started)
    const cost = { durationMs, cpuMs: answer.usage.cpuMs, maxRssBytes: answer.usage.maxRssBytes }
    if (answer.kind === 'failed' && answer.inStateDir) {
      const full = /ENOSPC/.test(answer.error.message)
      throw new DriftwatchError(
        'IO',
        `stateDir ${config.stateDir}: cannot write the scan cache (${full ? 'the disk is full' : answer.error.message})`,
        {
          hint: full
            ? 'free space on that file system'
            : 'stateDir in agent.yaml must be a directory the agent can write (systemd: StateDirectory=driftwatch)',
        },
      )
    }
    if (answer.kind === 'failed') {
      this.#logger.error(
        { mode, code: answer.error.code, error: answer.error.message, hint: answer.error.hint },
        'scan failed',
      )
      this.#events.scanFinished?.({ mode, outcome: 'failed', ...cost, files: 0, drift: 0 })
      const code = (answer.error.code === 'INTERNAL' ? 'IO' : answer.error.code) as ErrorCode
      return {
        kind: 'failed',
        error: new DriftwatchError(
          code,
          answer.error.message,
          answer.error.hint ? { hint: answer.error.hint } : {},
        ),
      }
    }
    let report: Report
    if (answer.kind === 'integrity') {
      this.#logger.error(
        { mode, manifest: config.manifest, reason: answer.error.message },
        'the manifest failed verification and is not used; reporting an integrity finding',
      )
      report = integrityReport(answer.claims, answer.error.message, mode, this.#now())
    } else {
      report = answer.report
      this.#logger.info(
        {
          mode,
          durationMs,
          cpuMs: answer.usage.cpuMs,
          maxRssBytes: answer.usage.maxRssBytes,
          files: report.scan.files,
          drift: report.summary.total,
          cache: answer.cache,
          ...(config.scan.hashBytesPerSecond ? { hashWaitMs: answer.hashWaitMs } : {}),
        },
        'scan finished',
      )
    }
    this.#events.scanFinished?.({
      mode,
      outcome: answer.kind,
      ...cost,
      files: report.scan.files,
      drift: report.summary.total,
      report,
    })
    this.#spoolReport(report)
    return { kind: 'spooled', report }
  }

  /** The report, as the host names itself, written durably to the spool before anything is sent. */
  #spoolReport(report: Report): void {
    this.#spool.makeRoom()
    const carried = this.#spool.dropped
    report.host = {
      id: this.#host.id,
      hostname: this.#host.hostname,
      labels: this.#config.labels,
      ...(this.#facts ? { facts: this.#facts } : {}),
    }
    if (carried > 0) report.agent = { droppedReports: carried }
    const body = gzipSync(JSON.stringify(report))
    this.#spool.add(report.reportId, body, carried)
    const entries = this.#spool.entries().length
    this.#logger.info(
      {
        reportId: report.reportId,
        mode: report.scan.mode,
        drift: report.summary.total,
        spooled: entries,
        ...(carried ? { carriesDropped: carried } : {}),
      },
      'report spooled',
    )
    this.#events.spooled?.({ reportId: report.reportId, entries, bytes: this.#spool.bytes })
  }

  /** Sends the spool, oldest first; one pass at a time (a second caller shares the running one). */
  drain(): Promise<DrainResult> {
    this.#delivering ??= this.#drain().finally(() => {
      this.#delivering = undefined
    })
    return this.#delivering
  }

  async #drain(): Promise<DrainResult> {
    const result: DrainResult = {
      delivered: new Set(),
      pending: this.#spool.entries().length,
      enrolmentRefused: false,
    }
    if (result.pending === 0) return result
    const wait = this.#notBefore - Date.now()
    if (wait > 0) {
      this.#logger.info(
        { waitMs: wait, spooled: result.pending },
        'delivery waits: the collector asked for it (Retry-After)',
      )
      return result
    }
    let enrolledNow = false
    let token = this.#token()
    for (const entry of [...this.#spool.entries()]) {
      if (!token) {
        const enrolled = await this.#enrol()
        if (enrolled.refused) result.enrolmentRefused = true
        if (!enrolled.token) break
        token = enrolled.token
        enrolledNow = true
      }
      const started = performance.now()
      let outcome = await this.#client.sendReport(token, this.#spool.read(entry))
      if (outcome.kind === 'unauthorized' && !enrolledNow) {
        this.#logger.warn(
          { reason: outcome.message },
          'the collector does not know this host token; enrolling again',
        )
        forgetToken(this.#config.stateDir)
        const enrolled = await this.#enrol()
        if (enrolled.refused) result.enrolmentRefused = true
        if (!enrolled.token) break
        token = enrolled.token
        enrolledNow = true
        outcome = await this.#client.sendReport(token, this.#spool.read(entry))
      }
      if (outcome.kind === 'ok') {
        this.#spool.remove(entry)
        result.delivered.add(entry.reportId)
        const durationMs = Math.round(performance.now() - started)
        const duplicate = outcome.body.duplicate === true
        this.#logger.info(
          { reportId: entry.reportId, duplicate, state: outcome.body.state, durationMs },
          'report delivered',
        )
        this.#events.delivered?.({ reportId: entry.reportId, duplicate, durationMs })
        continue
      }
      if (outcome.kind === 'unauthorized') {
        // Refused with a token just given: nothing to set aside for, the report waits.
        this.#logger.warn(
          { reason: outcome.message },
          'the collector refused a fresh host token; reports stay in the spool',
        )
        break
      }
      if (outcome.kind === 'rejected') {
        const keptAt = this.#spool.reject(entry)
        this.#logger.error(
          { reportId: entry.reportId, status: outcome.status, reason: outcome.message, keptAt },
          'the collector refused the report for good; it is set aside',
        )
        this.#events.reportRejected?.({ reportId: entry.reportId, status: outcome.status })
        continue
      }
      if (outcome.retryAfterMs !== undefined) this.#notBefore = Date.now() + outcome.retryAfterMs
      this.#logger.warn(
        {
          reason: outcome.reason,
          spooled: this.#spool.entries().length,
          ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
        },
        'the collector is unavailable; reports stay in the spool',
      )
      this.#events.deliveryFailed?.({
        reason: outcome.reason,
        ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
      })
      break
    }
    result.pending = this.#spool.entries().length
    return result
  }

  #token(): string | undefined {
    return readToken(this.#config.stateDir, { hostId: this.#host.id, collector: this.#client.url })
  }

  /** Enrols with the secret: the token, or `refused` when the collector refused the secret. */
  async #enrol(): Promise<{ token?: string; refused?: boolean }> {
    const outcome = await this.#client.enroll({
      secret: this.#config.collector.enrollSecret,
      host: {
        id: this.#host.id,
        hostname: this.#host.hostname,
        labels: this.#config.labels,
        ...(this.#facts ? { facts: this.#facts } : {}),
      },
    })
    if (outcome.kind === 'ok') {
      writeToken(this.#config.stateDir, {
        hostId: this.#host.id,
        collector: this.#client.url,
        token: outcome.body.token,
        enrolledAt: this.#now().toISOString(),
      })
      this.#logger.info({ hostId: this.#host.id, rotated: outcome.body.rotated === true }, 'enrolled')
      this.#events.enrolled?.({ rotated: outcome.body.rotated === true })
      return { token: outcome.body.token }
    }
    if (outcome.kind === 'unavailable') {
      this.#logger.warn({ reason: outcome.reason }, 'cannot enrol: the collector is unavailable')
      return {}
    }
    this.#logger.error(
      { status: outcome.status, reason: outcome.message },
      'the collector refused the enrolment: check collector.enrollSecret',
    )
    return { refused: true }
  }

  /** Delivers what is spooled, then tells the collector the host is alive. */
  async heartbeat(): Promise<void> {
    const drained = await this.drain()
    if (drained.pending > 0) return
    let token = this.#token()
    if (!token) {
      const enrolled = await this.#enrol()
      if (!enrolled.token) return
      token = enrolled.token
    }
    const beat = () =>
      this.#client.heartbeat(token ?? '', {
        hostId: this.#host.id,
        sentAt: this.#now().toISOString(),
        agentVersion: this.#version,
      })
    let outcome = await beat()
    if (outcome.kind === 'unauthorized') {
      forgetToken(this.#config.stateDir)
      const enrolled = await this.#enrol()
      if (!enrolled.token) return
      token = enrolled.token
      outcome = await beat()
    }
    const ok = outcome.kind === 'ok'
    if (!ok) this.#logger.debug({ outcome: outcome.kind }, 'heartbeat not delivered')
    this.#events.heartbeat?.({ ok })
  }

  /**
   * Runs the schedules until stop(): a quick scan at start (schedule.atStart), quick and full
   * scans by cron, each delayed by the host's splay; heartbeats. The promise ends only when a report cannot be spooled (rejects).
   */
  start(): Promise<void> {
    const finished = new Promise<void>((_, reject) => {
      this.#fatal = reject
    })
    this.#schedule()
    void this.#guard(this.heartbeat())
    // A host just booted (or installed) reports now, not at the first cron tick; after the
    // splay all the same, so that a fleet started at once does not scan at once.
    if (this.#config.schedule.atStart) this.#scanAfterSplay('quick')
    return finished
  }

  #schedule(): void {
    const { schedule: plan } = this.#config
    for (const [key, expression] of [
      ['quick', plan.quick],
      ['full', plan.full],
      ...(plan.heartbeat.kind === 'cron' ? [['heartbeat', plan.heartbeat.expression]] : []),
    ] as const) {
      if (!validate(expression)) {
        throw new DriftwatchError(
          'CONFIG_INVALID',
          `schedule.${key}: "${expression}" is not a cron expression`,
          {
            hint: 'five fields (minute hour day month weekday), or six with seconds first: "*/15 * * * *"',
          },
        )
      }
    }
    const options = { ...(plan.timezone ? { timezone: plan.timezone } : {}) }
    const scanAt = (mode: 'full' | 'quick') => () => this.#scanAfterSplay(mode)
    this.#tasks = [
      schedule(plan.quick, scanAt('quick'), { ...options, name: 'quick' }),
      schedule(plan.full, scanAt('full'), { ...options, name: 'full' }),
    ]
    if (plan.heartbeat.kind === 'cron') {
      this.#tasks.push(
        schedule(plan.heartbeat.expression, () => void this.#guard(this.heartbeat()), {
          ...options,
          name: 'heartbeat',
        }),
      )
    } else {
      const timer = setInterval(() => void this.#guard(this.heartbeat()), plan.heartbeat.ms)
      this.#timers.add(timer)
    }
    this.#logger.info(
      {
        quick: plan.quick,
        full: plan.full,
        heartbeat: plan.heartbeat.kind === 'cron' ? plan.heartbeat.expression : `${plan.heartbeat.ms} ms`,
        splayMs: splayOffset(this.#host.id, plan.splay),
        atStart: plan.atStart,
      },
      'schedules started',
    )
  }

  /** Starts a scan once the host's splay delay is over. */
  #scanAfterSplay(mode: 'full' | 'quick'): void {
    if (this.#stopping) return
    const timer = setTimeout(
      () => {
        this.#timers.delete(timer)
        void this.#guard(this.#scheduledScan(mode))
      },
      splayOffset(this.#host.id, this.#config.schedule.splay),
    )
    this.#timers.add(timer)
  }

  async #scheduledScan(mode: 'full' | 'quick'): Promise<void> {
    if (this.#stopping) return
    const outcome = await this.scan(mode)
    if (outcome.kind === 'spooled' && !this.#stopping) await this.drain()
  }

  /** A failure to spool ends the daemon (one clear line, non-zero exit); anything else is logged. */
  async #guard(work: Promise<unknown>): Promise<void> {
    try {
      await work
    } catch (error) {
      if (error instanceof DriftwatchError && error.code === 'IO') {
        this.#fatal?.(error)
        return
      }
      this.#logger.error(
        { error: error instanceof Error ? error.message : String(error) },
        'agent task failed',
      )
    }
  }

  #unschedule(): void {
    for (const task of this.#tasks) void task.destroy()
    this.#tasks = []
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
  }

  /**
   * SIGTERM: no new work; the running scan abandoned (its process ended); the spool delivered
   * for at most `flushMs`, then the connections closed. Whatever was not delivered stays spooled.
   */
  async stop(flushMs = 5000): Promise<void> {
    if (this.#stopping) return
    this.#stopping = true
    this.#unschedule()
    if (this.#scanning) {
      this.#scanning.abort.abort()
      await this.#scanning.done.catch(() => undefined)
    }
    const flushing = this.drain().catch(() => undefined)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([flushing, new Promise((resolve) => (timer = setTimeout(resolve, flushMs)))])
    clearTimeout(timer)
    await this.#client.close()
    await flushing
    this.#logger.info({ spooled: this.#spool.entries().length }, 'agent stopped')
  }

  /** Closes the connections (after --once). */
  async close(): Promise<void> {
    await this.#client.close()
  }

  /** SIGHUP: a new configuration (already loaded and valid); the manifest is read on every scan anyway. */
  async reload(config: AgentConfig): Promise<void> {
    const previous = this.#client
    this.#config = config
    this.#spool.limits = config.spool
    this.#host = hostName({
      rootDir: config.root,
      stateDir: config.stateDir,
      ...(config.hostId ? { hostId: config.hostId } : {}),
    })
    this.#client = new CollectorClient(config.collector)
    await this.#delivering?.catch(() => undefined)
    await previous.close()
    if (!this.#stopping) {
      this.#unschedule()
      this.#schedule()
    }
    await this.#refreshFacts()
    this.#logger.info({ hostId: this.#host.id, collector: this.#client.url }, 'configuration reloaded')
  }

  async #refreshFacts(): Promise<void> {
    try {
      this.#facts = await this.#collectFacts(this.#config.root)
    } catch (error) {
      this.#logger.warn(
        { error: error instanceof Error ? error.message : String(error) },
        'host facts unavailable',
      )
    }
  }
}

function openSpool(config: AgentConfig, logger: Logger, events: AgentEvents = {}): Spool {
  return Spool.open(join(config.stateDir, 'spool'), config.spool, {
    dropped: (entry, reason) => {
      logger.warn(
        { reportId: entry.reportId, reason },
        'spool full: the oldest undelivered report was dropped',
      )
      events.spoolDropped?.({ reportId: entry.reportId, dropped: 1 })
    },
    discarded: (file, reason) => logger.warn({ file, reason }, 'spool: a partial file was removed'),
  })
}

/**
 * Walk threads of a scan when agent.yaml does not say: one for a quick scan, which stats files
 * and reads only what changed, so that more threads add only their start-up cost (CPU the
 * host pays every 15 minutes); one per core for a full scan, which is hashing.
 */
export function defaultWorkers(mode: 'full' | 'quick'): number | undefined {
  return mode === 'quick' ? 1 : undefined
}

/** A fixed delay per host in [0, splay): hosts of one fleet spread their scans, each on its own beat. */
export function splayOffset(hostId: string, splayMs: number): number {
  if (splayMs <= 0) return 0
  const hash = createHash('sha256').update(hostId).digest()
  return Math.floor((hash.readUInt32BE(0) / 2 ** 32) * splayMs)
}

/**
 * The report a host sends when its manifest failed verification: one critical finding that
 * says why (so the collector makes the host a snowflake), and the digest of what the host
 * holds (so it is not the registered one either).
 */
export function integrityReport(
  claims: ManifestClaims,
  reason: string,
  mode: 'full' | 'quick',
  now: Date,
): Report {
  const drift: DriftItem[] = [
    {
      kind: 'config',
      change: 'modified',
      subject: MANIFEST_INTEGRITY_SUBJECT,
      expected: 'a manifest that verifies',
      actual: reason.slice(0, 1000),
      severity: 'critical',
    },
  ]
  return {
    schema: REPORT_SCHEMA,
    reportId: crypto.randomUUID(),
    host: { id: 'unknown', hostname: '', labels: {} },
    image: {
      id: claims.image?.id ?? 'unknown',
      version: claims.image?.version ?? 'unknown',
      manifestDigest: claims.digest,
    },
    scan: {
      mode,
      startedAt: now.toISOString(),
      durationMs: 0,
      files: 0,
      bytesHashed: 0,
      probes: [{ name: 'manifest', ok: false, durationMs: 0, error: reason.slice(0, 4096) }],
    },
    drift,
    summary: summarize(drift),
  }
}
