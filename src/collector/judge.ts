import type { FleetRules } from '../config/collector.js'
import { formatSpan } from '../config/duration.js'
import { SEVERITIES, type Severity } from '../config/policy.js'
import {
  type HostRecord,
  type ImageRecord,
  type Judge,
  type Judgement,
  REPLACEMENT_STATES,
} from '../fleet/states.js'
import type { Summary } from '../protocol/report.js'
import type { SweepDue } from '../store/types.js'

/**
 * Fleet judgement: the state a host is in given what the collector knows of it, its
 * registered image and the time. Pure; the store applies it inside its transaction.
 * Precedence: a replacement state is kept, then stale, snowflake, drifted, compliant (pending
 * before the first report).
 */
export function makeJudge(rules: FleetRules): Judge {
  return (host, image, now) => {
    // The replacement scheduler owns these states; judging never moves a host out of them.
    if (REPLACEMENT_STATES.has(host.state)) return { state: host.state, reasons: [...host.stateReasons] }
    const silent = now.getTime() - host.lastSeenAt.getTime()
    if (silent > rules.staleAfter) {
      return { state: 'stale', reasons: [`no report or heartbeat for ${formatSpan(silent)}`] }
    }
    const reasons = snowflakeReasons(rules, host, image, now)
    if (reasons.length > 0) return { state: 'snowflake', reasons }
    return driftedOrCompliant(host.summary)
  }
}

/**
 * The limits after which time alone moves a host under these rules: a sweep given them judges
 * only the hosts past one (store/host-queries.ts). Every rule above that reads `now` is here.
 */
export function sweepDue(rules: FleetRules): SweepDue {
  const { driftGrace, reportsMissingAfter } = rules.snowflake
  return {
    staleAfter: rules.staleAfter,
    ...(driftGrace === undefined ? {} : { driftGrace }),
    ...(reportsMissingAfter === undefined ? {} : { reportsMissingAfter }),
  }
}

/** Every snowflake rule that holds for the host, in the order the rules are documented. */
function snowflakeReasons(
  rules: FleetRules,
  host: HostRecord,
  image: ImageRecord | undefined,
  now: Date,
): string[] {
  const snowflake = rules.snowflake
  const reasons: string[] = []
  const summary = host.summary
  if (summary && snowflake.severity !== 'none') {
    const worst = SEVERITIES.slice(0, SEVERITIES.indexOf(snowflake.severity) + 1)
    const found = findings(summary, worst)
    if (found) reasons.push(found)
  }
  if (summary) {
    for (const severity of SEVERITIES) {
      const limit = snowflake.counts[severity]
      if (limit !== undefined && summary[severity] >= limit) {
        reasons.push(`${findings(summary, [severity])}, snowflake at ${limit} or more`)
      }
    }
  }
  if (snowflake.driftGrace !== undefined && host.driftSince) {
    const drifted = now.getTime() - host.driftSince.getTime()
    if (drifted > snowflake.driftGrace) {
      reasons.push(`drifted for ${formatSpan(drifted)}, grace is ${formatSpan(snowflake.driftGrace)}`)
    }
  }
  if (
    snowflake.manifestMismatch &&
    image &&
    host.manifestDigest &&
    host.manifestDigest !== image.manifestDigest
  ) {
    reasons.push(
      `manifest ${shortDigest(host.manifestDigest)} is not the registered ${shortDigest(image.manifestDigest)} for ${image.id}@${image.version}`,
    )
  }
  if (snowflake.unregisteredImage && !image && host.imageId !== null) {
    reasons.push(`image ${host.imageId}@${host.imageVersion ?? '?'} is not registered`)
  }
  const missing = snowflake.reportsMissingAfter
  if (missing !== undefined && host.lastHeartbeatAt) {
    // Only an agent that is alive but has stopped scanning: a silent host is stale instead.
    const beating = now.getTime() - host.lastHeartbeatAt.getTime() <= rules.staleAfter
    const since = now.getTime() - (host.lastReportAt ?? host.enrolledAt).getTime()
    if (beating && since > missing) {
      reasons.push(
        host.lastReportAt
          ? `heartbeats but no report for ${formatSpan(since)}, limit is ${formatSpan(missing)}`
          : `heartbeats but no report since enrolment ${formatSpan(since)} ago, limit is ${formatSpan(missing)}`,
      )
    }
  }
  return reasons
}

function driftedOrCompliant(summary: Summary | null): Judgement {
  // Nothing is known of a host that never reported: not compliant, pending.
  if (!summary) return { state: 'pending', reasons: ['enrolled, no report yet'] }
  if (summary.total === 0) return { state: 'compliant', reasons: ['no drift'] }
  // A report may count findings by total only; say how many there are whatever their severity.
  return { state: 'drifted', reasons: [findings(summary, SEVERITIES) || plural(summary.total, 'finding')] }
}

/** "2 critical findings", "2 critical and 1 high findings"; empty when none of these severities. */
function findings(summary: Summary, severities: readonly Severity[]): string {
  const present = severities.filter((s) => summary[s] > 0)
  if (present.length === 0) return ''
  const parts = present.map((s) => `${summary[s]} ${s}`)
  const total = present.reduce((n, s) => n + summary[s], 0)
  const last = parts.pop() as string
  const counted = parts.length > 0 ? `${parts.join(', ')} and ${last}` : last
  return `${counted} ${total === 1 ? 'finding' : 'findings'}`
}

function plural(n: number, noun: string): string {
  return `${n} ${n === 1 ? noun : `${noun}s`}`
}

/** `sha256:` and the first 12 hex digits, as container tools shorten ids. */
function shortDigest(digest: string): string {
  const [algorithm, hex] = digest.split(':', 2)
  return hex && hex.length > 12 ? `${algorithm}:${hex.slice(0, 12)}…` : digest
}
