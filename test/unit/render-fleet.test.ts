import { describe, expect, test } from 'vitest'
import { plainStyle, type Style } from '../../src/cli/output.js'
import {
  age,
  findingsSummary,
  renderHostDetail,
  renderHosts,
  stateStyle,
} from '../../src/cli/render-fleet.js'
import { groupDrift } from '../../src/drift/group.js'
import type { HostDetailView, HostView } from '../../src/protocol/api.js'
import type { Summary } from '../../src/protocol/report.js'

const now = new Date('2026-12-01T12:00:00.000Z')
const DIGEST = `sha256:${'cd34'.repeat(16)}`

const summary = (counts: Partial<Omit<Summary, 'total'>>): Summary => {
  const s = { critical: 0, high: 0, medium: 0, low: 0, info: 0, ...counts }
  return { ...s, total: s.critical + s.high + s.medium + s.low + s.info }
}

const view = (overrides: Partial<HostView>): HostView => ({
  id: 'a1b2c3d4e5f6',
  hostname: 'web-7',
  labels: { group: 'web-prod', zone: 'eu-1' },
  image: { id: 'web-base', version: '2026.11.27-1', manifestDigest: DIGEST },
  state: 'compliant',
  stateReasons: ['no drift'],
  stateSince: '2026-11-30T09:00:00.000Z',
  enrolledAt: '2026-11-20T12:00:00.000Z',
  lastSeenAt: '2026-12-01T11:59:30.000Z',
  lastReportAt: '2026-12-01T11:45:00.000Z',
  lastHeartbeatAt: '2026-12-01T11:59:30.000Z',
  driftSince: null,
  summary: summary({}),
  ...overrides,
})

/** Shows where colour goes, without escape codes. */
const tags: Style = {
  bold: (s) => `<b>${s}</b>`,
  dim: (s) => `<d>${s}</d>`,
  red: (s) => `<r>${s}</r>`,
  yellow: (s) => `<y>${s}</y>`,
  green: (s) => `<g>${s}</g>`,
  cyan: (s) => `<c>${s}</c>`,
}

describe('renderHosts', () => {
  const hosts: HostView[] = [
    view({
      id: 'f00d',
      hostname: 'web-12',
      state: 'snowflake',
      stateReasons: ['2 critical findings'],
      summary: summary({ critical: 2, high: 1 }),
      lastSeenAt: '2026-12-01T09:55:00.000Z',
    }),
    view({}),
    view({
      id: 'beef01',
      hostname: 'db-1',
      state: 'drifted',
      image: { id: 'db-base', version: '7', manifestDigest: DIGEST },
      summary: summary({ medium: 3 }),
      lastSeenAt: '2026-11-28T10:00:00.000Z',
    }),
    view({
      id: 'new1',
      hostname: 'web-13',
      image: null,
      summary: null,
      lastReportAt: null,
      lastSeenAt: '2026-12-01T11:59:59.800Z',
    }),
    view({ id: 'gone', hostname: 'web-2', state: 'stale', lastSeenAt: '2026-12-01T10:00:00.000Z' }),
  ]

  test('a table in the order the collector sent, then the count of each state', () => {
    expect(renderHosts(hosts, plainStyle, now)).toBe(
      [
        'HOST          HOSTNAME  STATE      IMAGE                  FINDINGS            LAST SEEN',
        'f00d          web-12    snowflake  web-base@2026.11.27-1  2 critical, 1 high  2h 5m ago',
        'a1b2c3d4e5f6  web-7     compliant  web-base@2026.11.27-1  no drift            30s ago',
        'beef01        db-1      drifted    db-base@7              3 medium            3d 2h ago',
        'new1          web-13    compliant  -                      no report           just now',
        'gone          web-2     stale      web-base@2026.11.27-1  no drift            2h ago',
        '',
        '5 hosts: 2 compliant, 1 drifted, 1 snowflake, 1 stale',
        '',
      ].join('\n'),
    )
  })

  test('states are coloured without breaking the columns', () => {
    const lines = renderHosts(hosts.slice(0, 2), tags, now).split('\n')
    expect(lines[0]).toBe(
      '<b>HOST</b>          <b>HOSTNAME</b>  <b>STATE</b>      <b>IMAGE</b>                  <b>FINDINGS</b>            <b>LAST SEEN</b>',
    )
    expect(lines[1]).toBe(
      'f00d          web-12    <b><r>snowflake</r></b>  web-base@2026.11.27-1  2 critical, 1 high  2h 5m ago',
    )
    expect(lines[2]).toBe(
      'a1b2c3d4e5f6  web-7     <g>compliant</g>  web-base@2026.11.27-1  no drift            30s ago',
    )
    expect(lines[4]).toBe('2 hosts: 1 <g>compliant</g>, 1 <b><r>snowflake</r></b>')
  })

  test('one host; no hosts', () => {
    expect(
      renderHosts([view({})], plainStyle, now)
        .split('\n')
        .at(-2),
    ).toBe('1 host: 1 compliant')
    expect(renderHosts([], plainStyle, now)).toBe('no hosts\n')
  })
})

describe('renderHostDetail', () => {
  const drift = groupDrift([
    {
      kind: 'package',
      change: 'added',
      subject: 'deb:curl:amd64',
      actual: { version: '8.1' },
      severity: 'high',
    },
    {
      kind: 'file',
      change: 'added',
      subject: '/usr/bin/curl',
      package: 'deb:curl:amd64',
      severity: 'critical',
    },
    {
      kind: 'file',
      change: 'modified',
      subject: '/usr/bin/ls',
      attributes: ['sha256'],
      expected: {},
      actual: {},
      severity: 'critical',
    },
    {
      kind: 'config',
      change: 'modified',
      subject: 'sysctl:net.ipv4.ip_forward',
      expected: '0',
      actual: '1',
      severity: 'high',
    },
  ])
  const snowflake: HostDetailView = {
    host: view({
      state: 'snowflake',
      stateReasons: [
        '2 critical findings',
        'manifest sha256:ab12ab12ab12… is not the registered sha256:cd34cd34cd34… for web-base@2026.11.27-1',
      ],
      stateSince: '2026-12-01T11:45:00.000Z',
      driftSince: '2026-11-28T10:00:00.000Z',
      summary: summary({ critical: 2, high: 2 }),
    }),
    drift,
    latestReport: {
      reportId: 'r-0003',
      mode: 'quick',
      startedAt: '2026-12-01T11:44:58.000Z',
      durationMs: 2140,
    },
    // Newest first, as a store may keep them: the history still reads oldest first.
    states: [
      {
        from: 'drifted',
        to: 'snowflake',
        reasons: ['2 critical findings'],
        at: '2026-12-01T11:45:00.000Z',
      },
      { from: 'compliant', to: 'drifted', reasons: ['1 high finding'], at: '2026-11-28T10:00:00.000Z' },
      { from: null, to: 'compliant', reasons: ['enrolled, no report yet'], at: '2026-11-20T12:00:00.000Z' },
    ],
    reports: [
      {
        reportId: 'r-0003',
        receivedAt: '2026-12-01T11:45:00.000Z',
        startedAt: '2026-12-01T11:44:58.000Z',
        mode: 'quick',
        summary: summary({ critical: 2, high: 2 }),
      },
      {
        reportId: 'r-0002',
        receivedAt: '2026-11-28T10:00:05.000Z',
        startedAt: '2026-11-28T10:00:00.000Z',
        mode: 'full',
        summary: summary({ high: 1 }),
      },
    ],
  }

  test('a snowflake: identity, state and why, image, drift as the scan report groups it, history', () => {
    expect(renderHostDetail(snowflake, plainStyle, now)).toBe(
      [
        'web-7 (a1b2c3d4e5f6)',
        '  state      snowflake since 2026-12-01 11:45:00Z, 15m ago',
        '             - 2 critical findings',
        '             - manifest sha256:ab12ab12ab12… is not the registered sha256:cd34cd34cd34… for web-base@2026.11.27-1',
        `  image      web-base@2026.11.27-1 ${DIGEST}`,
        '  labels     group=web-prod, zone=eu-1',
        '  enrolled   2026-11-20 12:00:00Z, 11d ago',
        '  last seen  30s ago (report 15m ago, heartbeat 30s ago)',
        '  drifting   since 2026-11-28 10:00:00Z, 3d 2h ago',
        '',
        'Latest drift  4 items (2 critical, 2 high), quick scan r-0003 started 2026-12-01 11:44:58Z, took 2.1 s',
        '',
        'Packages',
        '  high     added  deb:curl:amd64  8.1 installed',
        '      critical added  /usr/bin/curl  [deb:curl:amd64]',
        '',
        'Files',
        '  critical modified  /usr/bin/ls  content',
        '',
        'Configuration',
        '  high     modified  sysctl:net.ipv4.ip_forward  0 -> 1',
        '',
        'State history',
        '  2026-11-20 12:00:00Z  compliant             enrolled, no report yet',
        '  2026-11-28 10:00:00Z  compliant -> drifted  1 high finding',
        '  2026-12-01 11:45:00Z  drifted -> snowflake  2 critical findings',
        '',
        'Recent reports',
        '  2026-12-01 11:44:58Z  quick  2 critical, 2 high  r-0003',
        '  2026-11-28 10:00:00Z  full   1 high              r-0002',
        '',
      ].join('\n'),
    )
  })

  test('a host enrolled that has not reported yet', () => {
    const fresh: HostDetailView = {
      host: view({
        labels: {},
        image: null,
        state: 'pending',
        stateReasons: ['enrolled, no report yet'],
        stateSince: '2026-12-01T11:58:00.000Z',
        enrolledAt: '2026-12-01T11:58:00.000Z',
        lastSeenAt: '2026-12-01T11:58:00.000Z',
        lastReportAt: null,
        lastHeartbeatAt: null,
        summary: null,
      }),
      drift: null,
      latestReport: null,
      states: [
        { from: null, to: 'pending', reasons: ['enrolled, no report yet'], at: '2026-12-01T11:58:00.000Z' },
      ],
      reports: [],
    }
    expect(renderHostDetail(fresh, plainStyle, now)).toBe(
      [
        'web-7 (a1b2c3d4e5f6)',
        '  state      pending since 2026-12-01 11:58:00Z, 2m ago',
        '             - enrolled, no report yet',
        '  image      none reported yet',
        '  labels     none',
        '  enrolled   2026-12-01 11:58:00Z, 2m ago',
        '  last seen  2m ago (no report yet)',
        '',
        'Latest drift',
        '  no report yet',
        '',
        'State history',
        '  2026-12-01 11:58:00Z  pending  enrolled, no report yet',
        '',
        'Recent reports',
        '  none',
        '',
      ].join('\n'),
    )
  })

  test('a clean host says so', () => {
    const clean: HostDetailView = {
      ...snowflake,
      host: view({}),
      drift: groupDrift([]),
      states: [],
      reports: [],
    }
    const text = renderHostDetail(clean, plainStyle, now)
    expect(text).toContain(
      'Latest drift  quick scan r-0003 started 2026-12-01 11:44:58Z, took 2.1 s\n  no drift\n\nState history\n  none\n',
    )
  })

  test('state transitions are coloured by state', () => {
    const text = renderHostDetail(snowflake, tags, now)
    expect(text).toContain('  state      <b><r>snowflake</r></b> since')
    expect(text).toContain(
      '  2026-12-01 11:45:00Z  <y>drifted</y> -> <b><r>snowflake</r></b>  <d>2 critical findings</d>',
    )
    expect(text).toContain(
      '  2026-11-20 12:00:00Z  <g>compliant</g>             <d>enrolled, no report yet</d>',
    )
  })
})

describe('helpers', () => {
  test.each([
    { summary: null, text: 'no report' },
    { summary: summary({}), text: 'no drift' },
    { summary: summary({ critical: 2, high: 1 }), text: '2 critical, 1 high' },
    { summary: summary({ low: 1, info: 4 }), text: '1 low, 4 info' },
    { summary: { ...summary({}), total: 3 }, text: '3 findings' },
  ])('findingsSummary $text', ({ summary, text }) => {
    expect(findingsSummary(summary)).toBe(text)
  })

  test.each([
    { at: '2026-12-01T12:00:00.000Z', text: 'just now' },
    { at: '2026-12-01T12:00:05.000Z', text: 'just now' },
    { at: '2026-12-01T11:59:59.000Z', text: '1s ago' },
    { at: '2026-12-01T09:55:00.000Z', text: '2h 5m ago' },
    { at: '2026-11-28T10:00:00.000Z', text: '3d 2h ago' },
    { at: 'not a time', text: 'not a time' },
  ])('age $at', ({ at, text }) => {
    expect(age(at, now)).toBe(text)
  })

  test.each([
    { state: 'pending', shown: '<d>x</d>' },
    { state: 'compliant', shown: '<g>x</g>' },
    { state: 'drifted', shown: '<y>x</y>' },
    { state: 'snowflake', shown: '<b><r>x</r></b>' },
    { state: 'stale', shown: '<b><y>x</y></b>' },
    { state: 'replacement-scheduled', shown: '<c>x</c>' },
    { state: 'replacing', shown: '<c>x</c>' },
    { state: 'replaced', shown: '<d>x</d>' },
  ] as const)('stateStyle $state', ({ state, shown }) => {
    expect(stateStyle(state, tags)('x')).toBe(shown)
  })
})

/** A control character a terminal acts on, other than the newlines of text output itself. */
function controlIn(text: string): string | undefined {
  for (const c of text) {
    const code = c.codePointAt(0) ?? 0
    if ((code < 0x20 && code !== 0x0a) || (code >= 0x7f && code <= 0x9f)) return JSON.stringify(c)
  }
  return undefined
}

describe('a hostile host cannot drive the terminal', () => {
  const evil = '\u001b]0;owned\u0007\u001b[2J\rweb-1\n  state    compliant\u009b31m'
  const hostile = view({
    id: 'h\u001b[1m',
    hostname: evil,
    labels: { group: `a\u001bb` },
    stateReasons: [`image x\u001b[2J@1 is not registered`],
    image: { id: 'web\u0007', version: '1\u001b', manifestDigest: DIGEST },
    lastSeenAt: 'not a time\u001b[2J',
  })

  // Only the renderer's own newlines remain; no ESC, BEL, CR or C1 from the host.
  const noControls = (text: string) => expect(controlIn(text)).toBeUndefined()

  test('fleet hosts escapes every field a host sent', () => {
    const text = renderHosts([hostile], plainStyle, now)
    noControls(text)
    expect(text).toContain('\\x1B]0;owned\\x07\\x1B[2J\\x0Dweb-1\\x0A  state    compliant\\u009B31m')
    expect(text).toContain('h\\x1B[1m')
    expect(text).toContain('web\\x07@1\\x1B')
    expect(text.split('\n')).toHaveLength(5)
  })

  test('fleet host escapes identity, labels, reasons, image and the latest drift', () => {
    const detail: HostDetailView = {
      host: { ...hostile, summary: summary({ critical: 1, high: 1 }) },
      drift: groupDrift([
        {
          kind: 'file',
          change: 'modified',
          subject: '/usr/bin/\u001b[2Jls',
          attributes: ['mode'],
          expected: { mode: '0755' },
          actual: { mode: '0777\u001b' },
          severity: 'critical',
        },
        {
          kind: 'config',
          change: 'modified',
          subject: 'sysctl:x\u0007',
          expected: { v: '\u009b' },
          actual: '1\r',
          severity: 'high',
        },
      ]),
      latestReport: null,
      states: [{ from: null, to: 'compliant', reasons: ['r\u001b'], at: 'x\u001b' }],
      reports: [],
    }
    const text = renderHostDetail(detail, plainStyle, now)
    noControls(text)
    expect(text).toContain('group=a\\x1Bb')
    expect(text).toContain('- image x\\x1B[2J@1 is not registered')
    expect(text).toContain('/usr/bin/\\x1B[2Jls')
    expect(text).toContain('mode 0755 -> 0777\\x1B')
    expect(text).toContain('{"v":"\\u009B"} -> 1\\x0D')
  })
})
