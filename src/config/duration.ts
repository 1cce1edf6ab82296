import { z } from 'zod'

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses a duration such as `90s`, `15m`, `2h`, `7d` or `1h30m` into milliseconds; undefined when invalid. */
export function parseDuration(text: string): number | undefined {
  if (!/^(?:\d+(?:ms|s|m|h|d))+$/.test(text)) return undefined
  let total = 0
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|s|m|h|d)/g))
    total += Number(amount) * (UNITS_MS[unit ?? ''] ?? 0)
  return total
}

const SPAN_UNITS = [
  { unit: 'd', ms: 86_400_000 },
  { unit: 'h', ms: 3_600_000 },
  { unit: 'm', ms: 60_000 },
  { unit: 's', ms: 1000 },
] as const

/**
 * A span of time in its two largest units, for people: "45s", "2h 5m", "3d 2h". Below two
 * days it stays in hours ("24h", "36h"), as uptime and kubectl show ages.
 */
export function formatSpan(ms: number): string {
  const units = ms < 2 * 86_400_000 ? SPAN_UNITS.slice(1) : SPAN_UNITS
  let rest = Math.floor(Math.max(0, ms) / 1000) * 1000
  const parts: string[] = []
  for (const { unit, ms: size } of units) {
    const amount = Math.floor(rest / size)
    rest -= amount * size
    if (parts.length > 0) {
      if (amount > 0) parts.push(`${amount}${unit}`)
      break
    }
    if (amount > 0) parts.push(`${amount}${unit}`)
  }
  return parts.length > 0 ? parts.join(' ') : '0s'
}

/** A zod type for a duration written as text (`15m`), read as milliseconds. */
export const Duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text)
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration; write it as 90s, 15m, 2h or 7d` })
    return z.NEVER
  }
  return ms
})
