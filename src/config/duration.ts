import { z } from 'zod'

const UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses a duration such as `90s`, `15m`, `2h`, `7d` or `1h30m` into milliseconds; undefined when invalid. */
export function parseDuration(text: string): number | undefined {
  const parts = /^(?:\d+(?:ms|s|m|h|d))+$/.test(text) ? text.match(/\d+(?:ms|s|m|h|d)/g) : null
  if (!parts) return undefined
  let total = 0
  for (const part of parts) {
    const [, amount, unit] = /^(\d+)(ms|s|m|h|d)$/.exec(part) ?? []
    total += Number(amount) * (UNITS_MS[unit ?? ''] ?? Number.NaN)
  }
  return Number.isFinite(total) ? total : undefined
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
