import { describe, expect, test } from 'vitest'
import { makeJudge } from '../../src/collector/judge.js'
import { type FleetRules, FleetRulesSchema } from '../../src/config/collector.js'
import { formatSpan } from '../../src/config/duration.js'
import type { HostRecord, HostState, ImageRecord } from '../../src/fleet/states.js'
import type { Summary } from '../../src/protocol/report.js'

const MIN = 60_000
const HOUR = 60 * MIN
const DAY = 24 * HOUR
const now = new Date('2026-12-01T12:00:00Z')
const ago = (ms: number) => new Date(now.getTime() - ms)

const DIGEST = `sha256:${'cd34'.repeat(16)}`
const OTHER_DIGEST = `sha256:${'ab12'.repeat(16)}`

const summary = (counts: Partial<Omit<Summary, 'total'>>): Summary => {
  const s = { critical: 0, high: 0, medium: 0, low: 0, info: 0, ...counts }
  return { ...s, total: s.critical + s.high + s.medium + s.low + s.info }
}
const clean = summary({})

const host = (overrides: Partial<HostRecord> = {}): HostRecord => ({
  id: 'm-1',
  hostname: 'web-7',
  labels: { group: 'web-prod' },
  imageId: 'web-base',
  imageVersion: '2026.11.27',
  manifestDigest: DIGEST,
  state: 'compliant',
  stateReasons: ['no drift'],
  stateSince: ago(DAY),
  enrolledAt: ago(10 * DAY),
  lastSeenAt: ago(MIN),
  lastReportAt: ago(MIN),
  lastHeartbeatAt: ago(MIN),
  driftSince: null,
  summary: clean,
  latestReportId: 'r-1',
  ...overrides,
})
const image: ImageRecord = {
  id: 'web-base',
  version: '2026.11.27',
  manifestDigest: DIGEST,
  publicKeys: [],
  signedBy: null,
  registeredAt: ago(20 * DAY),
}

/** The collector's defaults, with snowflake rules overridden as a config file would. */
const rules = (snowflake: Record<string, unknown> = {}, staleAfter?: string): FleetRules =>
  FleetRulesSchema.parse({ snowflake, ...(staleAfter ? { staleAfter } : {}) })

const judge = (
  r: FleetRules,
  h: Partial<HostRecord>,
  /** The registered image; null when none is. */
  img: ImageRecord | null = image,
): { state: HostState; reasons: string[] } => makeJudge(r)(host(h), img ?? undefined, now)

describe('makeJudge: compliant and drifted', () => {
  test.each([
    {
      name: 'clean report',
      h: {},
      state: 'compliant',
      reasons: ['no drift'],
    },
    {
      name: 'before the first report',
      h: { summary: null, lastReportAt: null, imageId: null, imageVersion: null, manifestDigest: null },
      img: null,
      state: 'pending',
      reasons: ['enrolled, no report yet'],
    },
    {
      name: 'findings below every snowflake rule',
      h: { summary: summary({ high: 1, medium: 2 }), driftSince: ago(HOUR) },
      state: 'drifted',
      reasons: ['1 high and 2 medium findings'],
    },
    {
      name: 'one info finding',
      h: { summary: summary({ info: 1 }), driftSince: ago(HOUR) },
      state: 'drifted',
      reasons: ['1 info finding'],
    },
  ] as const)('$name', ({ h, state, reasons, ...rest }) => {
    const img = 'img' in rest ? rest.img : image
    expect(judge(rules(), h, img)).toEqual({ state, reasons })
  })
})

describe('makeJudge: stale', () => {
  test.each([
    { name: 'seen exactly staleAfter ago', silent: 15 * MIN, state: 'compliant' },
    { name: 'seen 1 ms past staleAfter', silent: 15 * MIN + 1, state: 'stale' },
    { name: 'seen 2h 5m ago', silent: 2 * HOUR + 5 * MIN, state: 'stale' },
  ])('$name: $state', ({ silent, state }) => {
    const result = judge(rules(), {
      lastSeenAt: ago(silent),
      lastReportAt: ago(silent),
      lastHeartbeatAt: null,
    })
    expect(result.state).toBe(state)
    if (state === 'stale')
      expect(result.reasons).toEqual([`no report or heartbeat for ${formatSpan(silent)}`])
  })

  test('the reason says how long', () => {
    expect(judge(rules(), { lastSeenAt: ago(2 * HOUR + 5 * MIN) }).reasons).toEqual([
      'no report or heartbeat for 2h 5m',
    ])
  })

  test('staleAfter comes from the rules', () => {
    expect(judge(rules({}, '1h'), { lastSeenAt: ago(30 * MIN) }).state).toBe('compliant')
    expect(judge(rules({}, '1h'), { lastSeenAt: ago(HOUR + 1) }).state).toBe('stale')
  })

  test('stale wins over snowflake rules', () => {
    const result = judge(rules(), {
      lastSeenAt: ago(HOUR),
      summary: summary({ critical: 3 }),
      manifestDigest: OTHER_DIGEST,
    })
    expect(result).toEqual({ state: 'stale', reasons: ['no report or heartbeat for 1h'] })
  })
})

describe('makeJudge: snowflake rules', () => {
  test.each([
    // severity: the threshold and worse make a snowflake
    {
      name: 'severity critical (default), 2 critical',
      r: {},
      h: { summary: summary({ critical: 2 }) },
      reasons: ['2 critical findings'],
    },
    {
      name: 'severity critical (default), 1 critical',
      r: {},
      h: { summary: summary({ critical: 1 }) },
      reasons: ['1 critical finding'],
    },
    {
      name: 'severity critical (default), high only',
      r: {},
      h: { summary: summary({ high: 9 }) },
      reasons: [],
    },
    {
      name: 'severity high, a high one',
      r: { severity: 'high' },
      h: { summary: summary({ high: 1, medium: 4 }) },
      reasons: ['1 high finding'],
    },
    {
      name: 'severity high, worse counts too',
      r: { severity: 'high' },
      h: { summary: summary({ critical: 1, high: 2, low: 1 }) },
      reasons: ['1 critical and 2 high findings'],
    },
    {
      name: 'severity high, medium only',
      r: { severity: 'high' },
      h: { summary: summary({ medium: 4 }) },
      reasons: [],
    },
    {
      name: 'severity low, every severity but info',
      r: { severity: 'low' },
      h: { summary: summary({ critical: 1, high: 1, low: 2, info: 5 }) },
      reasons: ['1 critical, 1 high and 2 low findings'],
    },
    {
      name: 'severity none, critical findings',
      r: { severity: 'none' },
      h: { summary: summary({ critical: 5 }) },
      reasons: [],
    },
    // counts: n or more
    {
      name: 'counts high 5, 4 high',
      r: { counts: { high: 5 } },
      h: { summary: summary({ high: 4 }) },
      reasons: [],
    },
    {
      name: 'counts high 5, exactly 5 high',
      r: { counts: { high: 5 } },
      h: { summary: summary({ high: 5 }) },
      reasons: ['5 high findings, snowflake at 5 or more'],
    },
    {
      name: 'counts high 5, 6 high',
      r: { counts: { high: 5 } },
      h: { summary: summary({ high: 6 }) },
      reasons: ['6 high findings, snowflake at 5 or more'],
    },
    {
      name: 'counts medium 1, 1 medium',
      r: { counts: { medium: 1 } },
      h: { summary: summary({ medium: 1 }) },
      reasons: ['1 medium finding, snowflake at 1 or more'],
    },
    {
      name: 'counts in severity order',
      r: { counts: { low: 2, high: 1 } },
      h: { summary: summary({ high: 1, low: 2 }) },
      reasons: ['1 high finding, snowflake at 1 or more', '2 low findings, snowflake at 2 or more'],
    },
    {
      name: 'counts with severity none',
      r: { severity: 'none', counts: { critical: 2 } },
      h: { summary: summary({ critical: 1 }) },
      reasons: [],
    },
    // driftGrace: strictly longer than the grace
    {
      name: 'driftGrace 24h, drifted exactly 24h',
      r: { driftGrace: '24h' },
      h: { summary: summary({ low: 1 }), driftSince: ago(DAY) },
      reasons: [],
    },
    {
      name: 'driftGrace 24h, drifted 24h and 1 ms',
      r: { driftGrace: '24h' },
      h: { summary: summary({ low: 1 }), driftSince: ago(DAY + 1) },
      reasons: ['drifted for 24h, grace is 24h'],
    },
    {
      name: 'driftGrace 24h, drifted 3d 2h',
      r: { driftGrace: '24h' },
      h: { summary: summary({ low: 1 }), driftSince: ago(3 * DAY + 2 * HOUR) },
      reasons: ['drifted for 3d 2h, grace is 24h'],
    },
    { name: 'driftGrace, no drift', r: { driftGrace: '1h' }, h: { driftSince: null }, reasons: [] },
    {
      name: 'no driftGrace, drifted for weeks',
      r: {},
      h: { summary: summary({ low: 1 }), driftSince: ago(30 * DAY) },
      reasons: [],
    },
    // manifestMismatch (default on)
    {
      name: 'manifest mismatch',
      r: {},
      h: { manifestDigest: OTHER_DIGEST },
      reasons: [
        'manifest sha256:ab12ab12ab12… is not the registered sha256:cd34cd34cd34… for web-base@2026.11.27',
      ],
    },
    {
      name: 'manifest mismatch turned off',
      r: { manifestMismatch: false },
      h: { manifestDigest: OTHER_DIGEST },
      reasons: [],
    },
    { name: 'manifest matches', r: {}, h: {}, reasons: [] },
    // reportsMissingAfter: heartbeats, but reports stopped
    {
      name: 'reportsMissingAfter 6h, report exactly 6h ago',
      r: { reportsMissingAfter: '6h' },
      h: { lastReportAt: ago(6 * HOUR) },
      reasons: [],
    },
    {
      name: 'reportsMissingAfter 6h, report 6h and 1 ms ago',
      r: { reportsMissingAfter: '6h' },
      h: { lastReportAt: ago(6 * HOUR + 1) },
      reasons: ['heartbeats but no report for 6h, limit is 6h'],
    },
    {
      name: 'reportsMissingAfter 6h, never reported, enrolled 7h ago',
      r: { reportsMissingAfter: '6h' },
      h: {
        summary: null,
        lastReportAt: null,
        enrolledAt: ago(7 * HOUR),
        imageId: null,
        imageVersion: null,
        manifestDigest: null,
      },
      reasons: ['heartbeats but no report since enrolment 7h ago, limit is 6h'],
    },
    {
      name: 'reportsMissingAfter 6h, never reported, enrolled exactly 6h ago',
      r: { reportsMissingAfter: '6h' },
      h: {
        summary: null,
        lastReportAt: null,
        enrolledAt: ago(6 * HOUR),
        imageId: null,
        imageVersion: null,
        manifestDigest: null,
      },
      reasons: [],
    },
    {
      name: 'reportsMissingAfter 1h, no heartbeats at all',
      r: { reportsMissingAfter: '1h' },
      h: { lastReportAt: ago(2 * HOUR), lastHeartbeatAt: null },
      reasons: [],
    },
    {
      name: 'reportsMissingAfter 1h, last heartbeat stale',
      r: { reportsMissingAfter: '1h' },
      h: { lastReportAt: ago(2 * HOUR), lastHeartbeatAt: ago(HOUR) },
      reasons: [],
    },
  ])('$name', ({ r, h, reasons }) => {
    const result = judge(rules(r), h as Partial<HostRecord>)
    if (reasons.length > 0) expect(result).toEqual({ state: 'snowflake', reasons })
    else expect(result.state).not.toBe('snowflake')
  })

  test.each([
    {
      name: 'unregistered image, rule on',
      unregisteredImage: true,
      state: 'snowflake',
      reasons: ['image web-base@2026.11.27 is not registered'],
    },
    {
      name: 'unregistered image, rule off (default)',
      unregisteredImage: false,
      state: 'compliant',
      reasons: ['no drift'],
    },
  ])('$name', ({ unregisteredImage, state, reasons }) => {
    expect(judge(rules({ unregisteredImage }), {}, null)).toEqual({ state, reasons })
  })

  test('a host without an image is not an unregistered one', () => {
    const h = { summary: null, lastReportAt: null, imageId: null, imageVersion: null, manifestDigest: null }
    expect(judge(rules({ unregisteredImage: true }), h, null).state).toBe('pending')
  })

  test('every rule that holds is a reason, in a stable order', () => {
    const result = judge(
      rules({ severity: 'high', counts: { high: 2 }, driftGrace: '1h', reportsMissingAfter: '2h' }),
      {
        summary: summary({ critical: 1, high: 2 }),
        driftSince: ago(3 * HOUR),
        lastReportAt: ago(3 * HOUR),
        manifestDigest: OTHER_DIGEST,
      },
    )
    expect(result).toEqual({
      state: 'snowflake',
      reasons: [
        '1 critical and 2 high findings',
        '2 high findings, snowflake at 2 or more',
        'drifted for 3h, grace is 1h',
        'manifest sha256:ab12ab12ab12… is not the registered sha256:cd34cd34cd34… for web-base@2026.11.27',
        'heartbeats but no report for 3h, limit is 2h',
      ],
    })
  })

  test('a snowflake rule wins over drifted', () => {
    expect(judge(rules(), { summary: summary({ critical: 1, low: 3 }), driftSince: ago(HOUR) })).toEqual({
      state: 'snowflake',
      reasons: ['1 critical finding'],
    })
  })

  test('a snowflake by manifest alone, without drift', () => {
    expect(judge(rules(), { manifestDigest: OTHER_DIGEST }).state).toBe('snowflake')
  })
})

describe('makeJudge: replacement states are kept', () => {
  test.each(['replacement-scheduled', 'replacing', 'replaced'] as const)('%s', (state) => {
    const reasons = ['2 critical findings']
    const result = judge(rules(), {
      state,
      stateReasons: reasons,
      lastSeenAt: ago(10 * DAY),
      summary: clean,
    })
    expect(result).toEqual({ state, reasons })
    // A copy: the store may keep the judgement without aliasing the record.
    expect(result.reasons).not.toBe(reasons)
  })

  test.each(['compliant', 'drifted', 'snowflake', 'stale'] as const)('%s is judged anew', (state) => {
    expect(judge(rules(), { state, stateReasons: ['old'] })).toEqual({
      state: 'compliant',
      reasons: ['no drift'],
    })
  })
})

describe('formatSpan', () => {
  test.each([
    { ms: 0, text: '0s' },
    { ms: -5000, text: '0s' },
    { ms: 999, text: '0s' },
    { ms: 45_000, text: '45s' },
    { ms: 90_000, text: '1m 30s' },
    { ms: 15 * MIN, text: '15m' },
    { ms: 2 * HOUR + 5 * MIN + 30_000, text: '2h 5m' },
    { ms: 2 * HOUR + 30_000, text: '2h' },
    { ms: DAY, text: '24h' },
    { ms: 2 * DAY - 1, text: '47h 59m' },
    { ms: 2 * DAY, text: '2d' },
    { ms: 3 * DAY + 2 * HOUR + 7 * MIN, text: '3d 2h' },
    { ms: 3 * DAY + 7 * MIN, text: '3d' },
  ])('$ms ms is $text', ({ ms, text }) => {
    expect(formatSpan(ms)).toBe(text)
  })
})
