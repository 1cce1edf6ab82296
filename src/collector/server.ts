import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { type CollectorConfig, fleetRulesOf } from '../config/collector.js'
import { DriftwatchError, errnoCode } from '../errors.js'
import { openStore } from '../store/open.js'
import type { Store } from '../store/types.js'
import { type CollectorMetrics, countReplacements } from '../telemetry/collector-metrics.js'
import { buildApp } from './app.js'
import { makeExecutor } from './executors/index.js'
import { makeJudge, sweepDue } from './judge.js'
import { makeNotifiers, Notifications } from './notifiers/hub.js'
import { fleetPageSources } from './page/data.js'
import { ReplacementScheduler, SCHEDULER_LEASE } from './replacement/scheduler.js'

export interface RunningCollector {
  app: FastifyInstance
  store: Store
  /** The URL it listens on, e.g. http://127.0.0.1:8080. */
  url: string
  scheduler: ReplacementScheduler
  /** Stops taking requests, lets in-flight ones finish within shutdownGrace, stops the sweep and closes the store. */
  stop(): Promise<void>
}

/**
 * Opens the store (running migrations), builds the app and listens, then re-judges the fleet
 * every `sweepEvery` so that hosts go stale even when nothing reports.
 */
export async function startCollector(
  config: CollectorConfig,
  logger?: Logger,
  metrics?: CollectorMetrics,
): Promise<RunningCollector> {
  const https = config.tls
    ? { cert: readPem(config.tls.cert, 'tls.cert'), key: readPem(config.tls.key, 'tls.key') }
    : undefined
  const store = await openStore(config.store)
  const judge = makeJudge(fleetRulesOf(config))
  const holder = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
  // The link in alerts; the real address is known only once listening, hence the indirection.
  let base = config.publicUrl?.replace(/\/+$/, '') ?? ''
  const link = (hostId: string) => `${base}/v1/hosts/${encodeURIComponent(hostId)}`
  const notifications = new Notifications(
    store.replacements,
    makeNotifiers(config.notifiers, link),
    logger?.child({ part: 'notifiers' }),
    metrics,
  )
  const scheduler = new ReplacementScheduler({
    store,
    judge,
    config: config.replacement,
    ...(config.replacement.executor ? { executor: makeExecutor(config.replacement.executor) } : {}),
    notifications,
    holder,
    link,
    clock: () => new Date(),
    ...(logger ? { logger: logger.child({ part: 'scheduler' }) } : {}),
  })
  const app = buildApp({
    scheduler,
    store,
    judge,
    enrollSecret: config.enrollSecret,
    adminTokens: config.adminTokens,
    bodyLimit: config.bodyLimit,
    reportHistory: config.reportHistory,
    clockSkew: config.clockSkew,
    timeouts: config.timeouts,
    ...(logger ? { logger } : {}),
    ...(https ? { https } : {}),
    ...(metrics ? { metrics } : {}),
    page: fleetPageSources(store, scheduler, config.notifiers, () => new Date()),
  })
  // Once stopping, the store is closing: the last export keeps the last count.
  let storeOpen = true
  metrics?.observeHosts(async () => (storeOpen ? store.countHosts() : undefined))
  metrics?.observeReplacements(async () =>
    storeOpen ? countReplacements(await store.replacements.countByState()) : undefined,
  )
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port })
  } catch (error) {
    await store.close()
    const code = errnoCode(error)
    throw new DriftwatchError(
      'IO',
      `listen ${config.listen.host}:${config.listen.port}: ${code ?? String(error)}`,
      {
        hint:
          code === 'EADDRINUSE'
            ? 'another process listens there: stop it or change listen in collector.yaml'
            : 'check listen in collector.yaml',
      },
    )
  }
  const address = app.server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `${https ? 'https' : 'http'}://${host}:${address.port}`
  if (base === '') base = url

  // The scheduler and the notifiers' delivery run apart: a notifier that is down never
  // holds up a dispatch. Only the lease holder delivers, so that each event goes out once.
  const loop = (every: number, what: string, run: () => Promise<unknown>) => {
    let running: Promise<void> | undefined
    const timer = setInterval(() => {
      if (running) return
      running = run()
        .then(() => undefined)
        .catch((error: unknown) => logger?.error({ err: error }, `${what} failed`))
        .finally(() => {
          running = undefined
        })
    }, every)
    timer.unref()
    return {
      stop: async () => {
        clearInterval(timer)
        await running
      },
    }
  }
  const scheduling = loop(config.replacement.every, 'replacement scheduling', async () => {
    const result = await scheduler.tick(new Date())
    if (result.created + result.dispatched + result.completed + result.failed + result.cancelled > 0) {
      logger?.info(result, 'replacements moved')
    }
  })
  const delivering = loop(Math.min(5_000, config.replacement.every), 'notification delivery', async () => {
    if (notifications.empty) return
    const lease = await store.replacements.lease(SCHEDULER_LEASE)
    if (lease?.holder === holder) await notifications.deliver(new Date())
  })

  // The first sweep judges every host (the rules may have changed since the last start); each
  // later one only the hosts that time can move, and those of images registered since one
  // interval before the last sweep that ended well (a registration may commit while one reads).
  const due = sweepDue(fleetRulesOf(config))
  let swept: Date | undefined
  let sweeping: Promise<void> | undefined
  const timer = setInterval(() => {
    if (sweeping) return
    const now = new Date()
    const since = swept && new Date(swept.getTime() - config.sweepEvery)
    sweeping = store
      .sweep(now, judge, since && { ...due, imagesSince: since })
      .then((changes) => {
        swept = now
        for (const change of changes) {
          logger?.info(
            { hostId: change.hostId, from: change.from, to: change.to, reasons: change.reasons },
            'host state changed',
          )
        }
      })
      .catch((error: unknown) => logger?.error({ err: error }, 'fleet sweep failed'))
      .finally(() => {
        sweeping = undefined
      })
  }, config.sweepEvery)
  timer.unref()

  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(timer)
      // Requests in flight get the grace; whatever is left then (a client that stalls its
      // body, a socket held open) is closed, so a stop ends well within systemd's stop timeout.
      const forced = setTimeout(() => app.server.closeAllConnections(), config.shutdownGrace)
      try {
        await app.close()
      } finally {
        clearTimeout(forced)
      }
      await sweeping
      await scheduling.stop()
      await delivering.stop()
      await scheduler.release().catch(() => {})
      scheduler.close()
      storeOpen = false
      await store.close()
    })()
    return stopping
  }
  return { app, store, scheduler, url, stop }
}

function readPem(file: string, key: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    throw new DriftwatchError(
      'CONFIG_INVALID',
      `${key}: cannot read ${file} (${errnoCode(error) ?? String(error)})`,
      {
        hint: 'point it at a PEM file the collector can read',
      },
    )
  }
}
