import { DriftwatchError } from '../errors.js'
import { writeFileAtomic } from '../util/atomic.js'

export type Format = 'text' | 'json'

/** What a command handler returns: data for JSON, a rendering for people, and the exit code. */
export interface CommandOutput {
  exitCode: number
  json: unknown
  text: (style: Style) => string
  /** A document printed as is whatever the format (a manifest written to stdout). */
  raw?: Buffer
}

export function parseFormat(value: string): Format {
  if (value === 'text' || value === 'json') return value
  throw new DriftwatchError('USAGE', `--format ${value}: expected text or json`, {
    hint: 'use --format text or --format json',
  })
}

/** Writes one document: JSON (exactly one, to stdout or --out) or text for people. */
export function emit(output: CommandOutput, format: Format, out: string | undefined): void {
  if (output.raw) {
    process.stdout.write(output.raw)
    return
  }
  if (format === 'json') {
    const text = `${JSON.stringify(output.json, null, 2)}\n`
    if (out) writeFileAtomic(out, text)
    else process.stdout.write(text)
    return
  }
  if (out) writeFileAtomic(out, output.text(plainStyle))
  else process.stdout.write(output.text(styleFor(process.stdout)))
}

/** ANSI colours, only on a terminal and never when NO_COLOR is set. */
export interface Style {
  bold(s: string): string
  dim(s: string): string
  red(s: string): string
  yellow(s: string): string
  green(s: string): string
  cyan(s: string): string
}

const ansi = (code: number) => (s: string) => `\u001b[${code}m${s}\u001b[0m`
const identity = (s: string) => s
export const plainStyle: Style = {
  bold: identity,
  dim: identity,
  red: identity,
  yellow: identity,
  green: identity,
  cyan: identity,
}
const colourStyle: Style = {
  bold: ansi(1),
  dim: ansi(2),
  red: ansi(31),
  yellow: ansi(33),
  green: ansi(32),
  cyan: ansi(36),
}

export function styleFor(stream: NodeJS.WriteStream): Style {
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== ''
  return stream.isTTY && !noColor ? colourStyle : plainStyle
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000
    unit++
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US')
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`
}
