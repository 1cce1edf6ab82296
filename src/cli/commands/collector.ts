import { startCollector } from '../../collector/server.js'
import { loadCollectorConfig } from '../../config/collector.js'
import { CollectorMetrics } from '../../telemetry/collector-metrics.js'
import { createLogger } from '../../telemetry/logger.js'
import { serviceVersion, startMetrics } from '../../telemetry/metrics.js'
import type { CommandOutput } from '../output.js'

/**
 * Runs the collector until SIGTERM or SIGINT, then shuts down gracefully: no new requests,
 * in-flight ones finished, the store closed, the last metrics exported. Logs are JSON on stdout.
 */
export async function collectorCommand(options: { config: string }): Promise<CommandOutput> {
  const config = loadCollectorConfig(options.config)
  const logger = createLogger({ name: 'driftwatch-collector', level: config.logLevel })
  const telemetry = await startMetrics({
    facts: { serviceName: 'driftwatch-collector', serviceVersion: serviceVersion() },
    ...(config.telemetry ? { settings: config.telemetry } : {}),
    logger,
  })
  const metrics = new CollectorMetrics(telemetry.meter, {
    onSourceError: (error) => logger.warn({ err: error }, 'metrics: counting the fleet failed'),
  })
  let collector: Awaited<ReturnType<typeof startCollector>>
  try {
    collector = await startCollector(config, logger, metrics)
  } catch (error) {
    await telemetry.shutdown()
    throw error
  }
  logger.info(
    {
      url: collector.url,
      store: collector.store.dialect,
      metrics: telemetry.settings.exporters,
      ...(telemetry.prometheusUrl ? { prometheus: telemetry.prometheusUrl } : {}),
    },
    'collector listening',
  )
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'))
    process.once('SIGINT', () => resolve('SIGINT'))
  })
  logger.info({ signal }, 'collector stopping')
  await collector.stop()
  await telemetry.shutdown()
  logger.info('collector stopped')
  return { exitCode: 0, json: { stopped: signal }, text: () => '' }
}
