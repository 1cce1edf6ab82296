import type { ExecutorConfig } from '../../config/replacement.js'
import { CommandExecutor } from './command.js'
import type { Executor } from './types.js'
import { WebhookExecutor } from './webhook.js'

/** The executor collector.yaml configures. */
export function makeExecutor(config: ExecutorConfig, clock: () => Date = () => new Date()): Executor {
  return config.type === 'webhook'
    ? new WebhookExecutor(
        { url: config.url, secret: config.secret, timeoutMs: config.timeout, retries: config.retries },
        clock,
      )
    : new CommandExecutor({ run: config.run, timeoutMs: config.timeout })
}
