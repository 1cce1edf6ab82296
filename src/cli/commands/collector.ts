import { startCollector } from '../../collector/server.js'
import { loadCollectorConfig } from '../../config/collector.js'
import { createLogger } from '../../telemetry/logger.js'
import type { CommandOutput } from '../output.js'

/**
 * Runs the collector until SIGTERM or SIGINT, then shuts down gracefully: no new requests,
 * in-flight ones finished, the store closed. Logs are JSON on stdout.
 */
export async function collectorCommand(options: { config: string }): Promise<CommandOutput> {
  const config = loadCollectorConfig(options.config)
  const logger = createLogger({ name: 'driftwatch-collector', level: config.logLevel })
  const collector = await startCollector(config, logger)
  logger.info({ url: collector.url, store: collector.store.dialect }, 'collector listening')
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'))
    process.once('SIGINT', () => resolve('SIGINT'))
  })
  logger.info({ signal }, 'collector stopping')
  await collector.stop()
  logger.info('collector stopped')
  return { exitCode: 0, json: { stopped: signal }, text: () => '' }
}
