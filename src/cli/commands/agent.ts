import { createRequire } from 'node:module'
import { setFlagsFromString } from 'node:v8'
import { AgentDaemon } from '../../agent/daemon.js'
import type { AgentEvents } from '../../agent/events.js'
import { type AgentConfig, loadAgentConfig } from '../../config/agent.js'
import { DriftwatchError, EXIT } from '../../errors.js'
import { startAgentMetrics } from '../../telemetry/agent-telemetry.js'
import { createLogger } from '../../telemetry/logger.js'
import type { CommandOutput } from '../output.js'

const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string }

export interface AgentOptions {
  config: string
  once: boolean
  mode: string
  root?: string
}

function load(options: AgentOptions): AgentConfig {
  const config = loadAgentConfig(options.config)
  return options.root ? { ...config, root: options.root } : config
}

/**
 * `driftwatch agent`: runs the agent until SIGTERM (or, with --once, one scan and its
 * delivery). SIGHUP reloads agent.yaml; a file that no longer loads is logged and the running
 * configuration kept. Logs are JSON on stdout.
 */
export async function agentCommand(options: AgentOptions): Promise<CommandOutput> {
  if (options.mode !== 'full' && options.mode !== 'quick') {
    throw new DriftwatchError('USAGE', `--mode ${options.mode}: expected full or quick`, {
      hint: 'full re-hashes every file; quick re-hashes only files whose stat changed',
    })
  }
  const mode = options.mode
  // undici parses HTTP with WebAssembly (llhttp): V8's optimising tier would compile it again
  // in the background, a transient 35 MB the agent never needs (its requests are few).
  setFlagsFromString('--liftoff-only')
  const config = load(options)
  const logger = createLogger({ name: 'driftwatch-agent', level: config.logLevel })
  // Filled with the metrics' handlers once the daemon names its host (see startAgentMetrics).
  const events: AgentEvents = {}
  const daemon = await AgentDaemon.create({ config, logger, version, events })
  if (options.once) {
    try {
      const exitCode = await daemon.once(mode)
      return { exitCode, json: { exitCode }, text: () => '' }
    } finally {
      await daemon.close()
    }
  }

  // Metrics run with the daemon only: a one-shot run says what it found by its exit code.
  const telemetry = await startAgentMetrics({ config, daemon, version, logger }).catch(
    async (error: unknown) => {
      await daemon.close()
      throw error
    },
  )
  Object.assign(events, telemetry.events)

  const onHangup = () => {
    let next: AgentConfig
    try {
      next = load(options)
    } catch (error) {
      logger.error(
        { error: error instanceof Error ? error.message : String(error) },
        'SIGHUP: agent.yaml does not load; the running configuration is kept',
      )
      return
    }
    daemon
      .reload(next)
      .catch((error: unknown) =>
        logger.error(
          { error: error instanceof Error ? error.message : String(error) },
          'SIGHUP: reload failed',
        ),
      )
  }
  process.on('SIGHUP', onHangup)
  let stopSignal: (signal: NodeJS.Signals) => void = () => undefined
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    stopSignal = resolve
  })
  const onTerm = () => stopSignal('SIGTERM')
  const onInt = () => stopSignal('SIGINT')
  process.once('SIGTERM', onTerm)
  process.once('SIGINT', onInt)
  try {
    const signal = await Promise.race([signalled, daemon.start().then(() => undefined)])
    logger.info({ signal }, 'agent stopping')
    await daemon.stop()
  } catch (error) {
    // A report that cannot be spooled: stop now, say why once (the CLI prints it), exit non-zero.
    await daemon.stop(0).catch(() => undefined)
    throw error
  } finally {
    process.off('SIGHUP', onHangup)
    process.off('SIGTERM', onTerm)
    process.off('SIGINT', onInt)
    // The last export: what the agent did up to its stop.
    await telemetry.handle.shutdown()
  }
  return { exitCode: EXIT.clean, json: { stopped: true }, text: () => '' }
}
