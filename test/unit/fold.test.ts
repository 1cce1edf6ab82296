import { describe, expect, test } from 'vitest'
import { DriftwatchError } from '../../src/errors.js'
import type { HostRecord, ImageRecord, Judge } from '../../src/fleet/states.js'
import { foldHeartbeat, foldReport, imageKey, reportTimes } from '../../src/store/fold.js'
import { DIGEST_A, DIGEST_B, makeReport } from '../helpers/reports.js'

const MIN = 60_000
const T0 = new Date('2026-12-01T12:00:00.000Z')
const at = (minutes: number) => new Date(T0.getTime() + minutes * MIN)

const image = (version: string, manifestDigest: string): ImageRecord => ({
  id: 'web-base',
  version,
  manifestDigest,
  publicKeys: [],
  signedBy: null,
  registeredAt: at(-1000),
})
const OLD = image('2026.11.27-1', DIGEST_A)
const NEW = image('2026.12.01-1', DIGEST_B)
const IMAGES = new Map([OLD, NEW].map((i) => [imageKey(i.id, i.version), i]))

/** Snowflake when the manifest is not its registered image's; drifted on findings; else compliant. */
const judge: Judge = (host, registered) => {
  if (host.summary === null) return { state: 'pending', reasons: ['enrolled, no report yet'] }
  if (registered === undefined) return { state: 'snowflake', reasons: ['unregistered image'] }
  if (registered.manifestDigest !== host.manifestDigest)
    return { state: 'snowflake', reasons: ['foreign manifest'] }
  if (host.summary.total > 0) return { state: 'drifted', reasons: [`${host.summary.total} findings`] }
  return { state: 'compliant', reasons: [] }
}

const enrolled: HostRecord = {
  id: 'h-1',
  hostname: 'web-1',
  labels: { group: 'web' },
  imageId: null,
  imageVersion: null,
  manifestDigest: null,
  state: 'pending',
  stateReasons: ['enrolled, no report yet'],
  stateSince: at(-60),
  enrolledAt: at(-60),
  lastSeenAt: at(-60),
  lastReportAt: null,
  lastHeartbeatAt: null,
  driftSince: null,
  summary: null,
  latestReportId: null,
}

/** Folds a report that started at `startedAt` and came at `receivedAt` (minutes from T0). */
function fold(
  before: HostRecord,
  latestScan: Date | null,
  options: { startedAt: number; receivedAt: number; findings?: number; image?: ImageRecord },
) {
  const img = options.image ?? OLD
  const report = makeReport({
    hostId: before.id,
    startedAt: at(options.startedAt),
    findings: options.findings ?? 0,
    image: { id: img.id, version: img.version, manifestDigest: img.manifestDigest },
  })
  const times = reportTimes(report, at(options.receivedAt))
  return { report, times, ...foldReport(before, latestScan, report, times, judge, IMAGES) }
}

describe('folding a report into its host', () => {
  test('the first report is the latest: image, summary and report id are its; judged against its image', () => {
    const { isLatest, host, report } = fold(enrolled, null, { startedAt: 0, receivedAt: 1 })
    expect(isLatest).toBe(true)
    expect(host).toMatchObject({
      imageId: OLD.id,
      imageVersion: OLD.version,
      manifestDigest: DIGEST_A,
      summary: report.summary,
      latestReportId: report.reportId,
      lastSeenAt: at(1),
      lastReportAt: at(1),
      state: 'compliant',
      stateSince: at(1),
      driftSince: null,
    })
    expect(enrolled.state).toBe('pending') // the host before is not changed
  })

  test('a report whose scan started before the latest one only marks contact', () => {
    const first = fold(enrolled, null, { startedAt: 10, receivedAt: 11 })
    const older = fold(first.host, first.times.orderedAt, { startedAt: 5, receivedAt: 12, findings: 3 })
    expect(older.isLatest).toBe(false)
    expect(older.host).toEqual({ ...first.host, lastSeenAt: at(12), lastReportAt: at(12) })
  })

  test('the drift run starts with its first drifted report and ends with a clean one', () => {
    const first = fold(enrolled, null, { startedAt: 0, receivedAt: 1, findings: 2 })
    expect(first.host).toMatchObject({ state: 'drifted', driftSince: at(0), stateSince: at(1) })
    const again = fold(first.host, first.times.orderedAt, { startedAt: 10, receivedAt: 11, findings: 5 })
    // Same state: its start stays; the drift run goes on from its first report.
    expect(again.host).toMatchObject({ state: 'drifted', driftSince: at(0), stateSince: at(1) })
    expect(again.host.stateReasons).toEqual(['5 findings'])
    const clean = fold(again.host, again.times.orderedAt, { startedAt: 20, receivedAt: 21 })
    expect(clean.host).toMatchObject({ state: 'compliant', driftSince: null, stateSince: at(21) })
  })

  test('a host whose clock runs ahead cannot place a report after the time it was received', () => {
    const ahead = fold(enrolled, null, { startedAt: 600, receivedAt: 2, findings: 1 })
    expect(ahead.times.scanStartedAt).toEqual(at(600))
    expect(ahead.times.orderedAt).toEqual(at(2))
    expect(ahead.host.driftSince).toEqual(at(2))
    // The next honest report, started before the bad clock's claim, is still the latest.
    const next = fold(ahead.host, ahead.times.orderedAt, { startedAt: 5, receivedAt: 6 })
    expect(next.isLatest).toBe(true)
  })

  test('a new image is judged against its own registration, an unknown one against none', () => {
    const first = fold(enrolled, null, { startedAt: 0, receivedAt: 1 })
    const upgraded = fold(first.host, first.times.orderedAt, { startedAt: 10, receivedAt: 11, image: NEW })
    expect(upgraded.host).toMatchObject({ imageVersion: NEW.version, state: 'compliant' })
    const unknown = image('2027.01.01-1', DIGEST_A)
    const foreign = fold(upgraded.host, upgraded.times.orderedAt, {
      startedAt: 20,
      receivedAt: 21,
      image: unknown,
    })
    expect(foreign.host).toMatchObject({ state: 'snowflake', stateReasons: ['unregistered image'] })
  })

  test('a report the store cannot keep is refused with what and how to fix', () => {
    const report = makeReport({ hostId: 'h-1', startedAt: T0 })
    const notADate = { ...report, scan: { ...report.scan, startedAt: 'yesterday' } }
    expect(() => reportTimes(notADate, T0)).toThrow(DriftwatchError)
    expect(() => reportTimes(notADate, T0)).toThrow(/scan.startedAt "yesterday" is not a date/)
    const loneSurrogate = { ...report, image: { ...report.image, id: 'web-\ud800' } }
    expect(() => reportTimes(loneSurrogate, T0)).toThrow(/image: holds a lone surrogate/)
  })
})

describe('folding a heartbeat into its host', () => {
  test('marks contact, never backwards, and judges the host again', () => {
    const { host } = fold(enrolled, null, { startedAt: 0, receivedAt: 10 })
    const stale: HostRecord = { ...host, state: 'stale', stateReasons: ['no contact'], stateSince: at(20) }
    const beat = foldHeartbeat(stale, at(30), judge, OLD)
    expect(beat).toMatchObject({
      lastSeenAt: at(30),
      lastHeartbeatAt: at(30),
      state: 'compliant',
      stateSince: at(30),
    })
    const late = foldHeartbeat(beat, at(25), judge, OLD)
    expect(late).toMatchObject({ lastSeenAt: at(30), lastHeartbeatAt: at(25), stateSince: at(30) })
  })
})
