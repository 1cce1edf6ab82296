import { describe, expect, test } from 'vitest'
import { MaintenanceWindows } from '../../src/collector/replacement/windows.js'
import { ReplacementConfigSchema, WindowSchema } from '../../src/config/replacement.js'

const window = (start: string, duration: string, timezone?: string) =>
  WindowSchema.parse({ start, duration, ...(timezone ? { timezone } : {}) })

describe('maintenance windows', () => {
  // 02:00 in Berlin is 01:00 UTC in winter.
  const berlin = new MaintenanceWindows([window('0 2 * * *', '2h', 'Europe/Berlin')])

  test.each([
    { now: '2026-12-03T00:59:59Z', open: undefined },
    { now: '2026-12-03T01:00:00Z', open: '2026-12-03T03:00:00.000Z' },
    { now: '2026-12-03T02:30:00Z', open: '2026-12-03T03:00:00.000Z' },
    { now: '2026-12-03T02:59:59Z', open: '2026-12-03T03:00:00.000Z' },
    { now: '2026-12-03T03:00:00Z', open: undefined },
  ])('a window that starts 02:00 Europe/Berlin for 2h, at $now: open until $open', ({ now, open }) => {
    expect(berlin.openUntil(new Date(now))?.toISOString()).toBe(open)
  })

  test('the next opening is the next start in its time zone; now when open', () => {
    expect(berlin.nextOpening(new Date('2026-12-03T10:00:00Z'))?.toISOString()).toBe(
      '2026-12-04T01:00:00.000Z',
    )
    expect(berlin.nextOpening(new Date('2026-12-03T01:30:00Z'))?.toISOString()).toBe(
      '2026-12-03T01:30:00.000Z',
    )
  })

  test('several windows: open when any is; weekdays only is honoured', () => {
    const windows = new MaintenanceWindows([window('0 22 * * 1-5', '1h'), window('0 6 * * 0,6', '3h')])
    expect(windows.openUntil(new Date('2026-12-03T22:30:00Z'))).toBeDefined() // Thursday
    expect(windows.openUntil(new Date('2026-12-05T22:30:00Z'))).toBeUndefined() // Saturday
    expect(windows.openUntil(new Date('2026-12-05T08:59:00Z'))).toBeDefined()
    expect(windows.describe()).toBe('0 22 * * 1-5 (UTC) for 1h, 0 6 * * 0,6 (UTC) for 3h')
  })

  test('no windows: always open', () => {
    expect(new MaintenanceWindows([]).openUntil(new Date())).toBeDefined()
  })

  test.each([
    { windows: [{ start: '0 25 * * *', duration: '1h' }], message: /not a cron expression/ },
    {
      windows: [{ start: '0 2 * * *', duration: '1h', timezone: 'Mars/Olympus' }],
      message: /not an IANA time zone/,
    },
    { windows: [{ start: '0 2 * * *', duration: 'two hours' }], message: /not a duration/ },
  ])('a bad window is refused with a message that says why: $message', ({ windows, message }) => {
    const result = ReplacementConfigSchema.safeParse({ windows })
    expect(result.success).toBe(false)
    expect(result.error?.issues[0]?.message).toMatch(message)
  })
})
