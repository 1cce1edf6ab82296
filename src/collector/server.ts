import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { type CollectorConfig, fleetRulesOf } from '../config/collector.js'
import { DriftwatchError, errnoCode } from '../errors.js'
import { openStore } from '../store/open.js'
import type { Store } from '../store/types.js'
import { buildApp } from './app.js'
import { makeJudge } from './judge.js'

export interface RunningCollector {
  app: FastifyInstance
  store: Store
  /** The URL it listens on, e.g. http://127.0.0.1:8080. */
  url: string
  /** Stops taking requests, lets in-flight ones finish within shutdownGrace, stops the sweep and closes the store. */
  stop(): Promise<void>
}

/**
 * Opens the store (running migrations), builds the app and listens, then re-judges the fleet
 * every `sweepEvery` so that hosts go stale even when nothing reports.
 */
export async function startCollector(config: CollectorConfig, logger?: Logger): Promise<RunningCollector> {
  const https = config.tls
    ? { cert: readPem(config.tls.cert, 'tls.cert'), key: readPem(config.tls.key, 'tls.key') }
    : undefined
  const store = await openStore(config.store)
  const judge = makeJudge(fleetRulesOf(config))
  const app = buildApp({
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
  })
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

  let sweeping: Promise<void> | undefined
  const timer = setInterval(() => {
    if (sweeping) return
    sweeping = store
      .sweep(new Date(), judge)
      .then((changes) => {
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
      await store.close()
    })()
    return stopping
  }
  return { app, store, url, stop }
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
