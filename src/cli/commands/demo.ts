import { runDemo } from '../../demo/run.js'
import { type CommandOutput, styleFor } from '../output.js'

/**
 * `driftwatch demo`: the whole loop (bake, capture, collector, agents, incidents, snowflakes,
 * replacement, alerts) in a temporary folder, narrated on stdout as it happens.
 */
export async function demoCommand(options: { keep: boolean }): Promise<CommandOutput> {
  const style = styleFor(process.stdout)
  const exitCode = await runDemo({
    keep: options.keep,
    say: (line) => process.stdout.write(`${line}\n`),
    bold: style.bold,
  })
  return { exitCode, json: { exitCode }, text: () => '' }
}
