import type { Logger } from 'pino'
import type { AgentEvents } from '../agent/events.js'
import type { AgentConfig } from '../config/agent.js'
import { outlineObject } from '../manifest/outline.js'
import { readManifestBytes } from '../manifest/read.js'
import { ImageRefSchema } from '../manifest/schema.js'
import { AgentMetrics } from './agent-metrics.js'
import { type MetricsHandle, startMetrics } from './metrics.js'

/** The agent daemon's metrics, started: the SDK to shut down, and the events that feed it. */
export interface AgentTelemetry {
  handle: MetricsHandle
  /** For the daemon's `deps.events`. */
  events: AgentEvents
}

/**
 * Starts the agent's metrics: service driftwatch-agent, host.id the id the host reports as,
 * host.image.* the image its manifest names, and the agent's instruments fed by the daemon's
 * events, the spool depth read from the daemon when a reader collects.
 */
export async function startAgentMetrics(options: {
  config: AgentConfig
  daemon: { readonly hostId: string; readonly spooled: number }
  version: string
  logger: Logger
  env?: NodeJS.ProcessEnv
}): Promise<AgentTelemetry> {
  const { config, daemon } = options
  const image = manifestImage(config.manifest)
  const handle = await startMetrics({
    facts: {
      serviceName: 'driftwatch-agent',
      serviceVersion: options.version,
      hostId: daemon.hostId,
      ...(image ? { image } : {}),
    },
    ...(config.telemetry ? { settings: config.telemetry } : {}),
    ...(options.env ? { env: options.env } : {}),
    logger: options.logger,
  })
  const metrics = new AgentMetrics(handle.meter)
  metrics.observeSpoolDepth(() => daemon.spooled)
  options.logger.info(
    {
      metrics: handle.settings.exporters,
      ...(handle.prometheusUrl ? { prometheus: handle.prometheusUrl } : {}),
      ...(image ? { image: `${image.id}@${image.version}` } : {}),
    },
    'metrics started',
  )
  return { handle, events: metrics.events() }
}

/**
 * The image a manifest says it is, for the resource attributes: read at start without the
 * file entries (only the `image` member is parsed) and without verification, which every scan
 * does. Undefined when the manifest cannot be read as one; the scan then says why.
 */
export function manifestImage(file: string): { id: string; version: string } | undefined {
  try {
    const bytes = readManifestBytes(file)
    const member = outlineObject(bytes)?.find(
      (m) => bytes.toString('latin1', m.keyStart, m.keyEnd) === '"image"',
    )
    // A manifest whose outline is in doubt is parsed whole, as a scan would.
    const image = member
      ? JSON.parse(bytes.toString('utf8', member.valueStart, member.valueEnd))
      : (JSON.parse(bytes.toString('utf8')) as { image?: unknown }).image
    const parsed = ImageRefSchema.safeParse(image)
    return parsed.success ? { id: parsed.data.id, version: parsed.data.version } : undefined
  } catch {
    return undefined
  }
}
