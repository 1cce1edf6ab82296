import { formatSpan } from '../config/duration.js'
import { SEVERITIES } from '../config/policy.js'
import type { ReplacementState } from '../fleet/replacements.js'
import { HOST_STATES, type HostState } from '../fleet/states.js'
import type { HostDetailView, HostView, ReplacementQueueView, ReplacementView } from '../protocol/api.js'
import type { HostFacts } from '../protocol/facts.js'
import type { Summary } from '../protocol/report.js'
import { displayText } from '../util/display.js'
import { formatDuration, type Style } from './output.js'
import { renderGroupedDrift } from './render.js'

/** `fleet hosts` for people: one row per host in the collector's order, then the count of each state. */
export function renderHosts(hosts: readonly HostView[], style: Style, now: Date, next?: string): string {
  if (hosts.length === 0) return `${style.dim('no hosts')}\n`
  const header = ['HOST', 'HOSTNAME', 'STATE', 'IMAGE', 'FINDINGS', 'LAST SEEN'].map((h) =>
    cell(h, style.bold),
  )
  const rows = hosts.map((host) => [
    cell(host.id),
    cell(host.hostname),
    cell(host.state, stateStyle(host.state, style)),
    cell(host.image ? `${host.image.id}@${host.image.version}` : '-'),
    cell(findingsSummary(host.summary)),
    cell(age(host.lastSeenAt, now)),
  ])
  const lines = table([header, ...rows])
  lines.push('', stateCounts(hosts, style))
  // A page: the counts are the page's, and the way on is said (the cursor is the collector's, escaped all the same).
  if (next !== undefined)
    lines.push(
      style.dim(
        `more hosts match: add --cursor ${displayText(next)} for the next page, or --all for every one`,
      ),
    )
  return `${lines.join('\n')}\n`
}

/** A host's facts in one line: "Debian GNU/Linux 12, kernel 6.1.0-18 x64, 4 cores AMD EPYC, 15.6 GiB, aws i-0abc". */
export function describeFacts(facts: HostFacts): string {
  const parts = [
    facts.os?.name ?? [facts.os?.id, facts.os?.version].filter(Boolean).join(' '),
    facts.kernel ? `kernel ${facts.kernel}${facts.arch ? ` ${facts.arch}` : ''}` : (facts.arch ?? ''),
    facts.cpu
      ? [facts.cpu.cores ? `${facts.cpu.cores} cores` : '', facts.cpu.model ?? ''].filter(Boolean).join(' ')
      : '',
    facts.memoryBytes ? `${(facts.memoryBytes / 1024 ** 3).toFixed(1)} GiB` : '',
    facts.cloud ? [facts.cloud.provider, facts.cloud.instanceId ?? ''].filter(Boolean).join(' ') : '',
  ]
  // Facts come from the wire: no control character reaches the terminal.
  return parts
    .filter(Boolean)
    .join(', ')
    .replace(/\p{Cc}/gu, '?')
}

/** `fleet host ID` for people: identity, state and why, image, latest drift, state history, reports. */
export function renderHostDetail(detail: HostDetailView, style: Style, now: Date): string {
  const { host } = detail
  const field = (name: string, value: string) => `  ${name.padEnd(FIELD_WIDTH)}${value}`
  const lines = [style.bold(displayText(host.hostname)) + style.dim(` (${displayText(host.id)})`)]
  lines.push(
    field(
      'state',
      `${stateStyle(host.state, style)(displayText(host.state))} since ${when(host.stateSince, now)}`,
    ),
    ...host.stateReasons.map((reason) => `  ${''.padEnd(FIELD_WIDTH)}- ${displayText(reason)}`),
  )
  lines.push(
    field(
      'image',
      host.image
        ? `${displayText(`${host.image.id}@${host.image.version}`)} ${style.dim(displayText(host.image.manifestDigest))}`
        : style.dim('none reported yet'),
    ),
    field(
      'labels',
      Object.keys(host.labels).length > 0
        ? Object.entries(host.labels)
            .map(([k, v]) => displayText(`${k}=${v}`))
            .join(', ')
        : style.dim('none'),
    ),
    ...(detail.facts ? [field('system', describeFacts(detail.facts))] : []),
    field('enrolled', when(host.enrolledAt, now)),
    field('last seen', lastSeen(host, now)),
  )
  if (host.driftSince) lines.push(field('drifting', `since ${when(host.driftSince, now)}`))

  lines.push('', style.bold('Latest drift') + latestReport(detail, style))
  if (!detail.drift) lines.push(style.dim('  no report yet'))
  else if (host.summary?.total === 0) lines.push(`  ${style.green('no drift')}`)
  else lines.push(...renderGroupedDrift(detail.drift, style))

  // Oldest first whatever order the collector keeps them in: a history reads down in time.
  const states = [...detail.states].sort((a, b) => Date.parse(a.at) - Date.parse(b.at))
  lines.push('', style.bold('State history'))
  if (states.length === 0) lines.push(style.dim('  none'))
  lines.push(
    ...table(
      states.map(({ from, to, reasons, at }) => {
        const [fromText, toText] = [displayText(from ?? ''), displayText(to)]
        const painted = stateStyle(to, style)(toText)
        const transition = from
          ? { text: `${fromText} -> ${toText}`, shown: `${stateStyle(from, style)(fromText)} -> ${painted}` }
          : { text: toText, shown: painted }
        return [cell(`  ${time(at)}`), transition, cell(reasons.join('; '), style.dim)]
      }),
    ),
  )

  lines.push('', style.bold('Recent reports'))
  if (detail.reports.length === 0) lines.push(style.dim('  none'))
  lines.push(
    ...table(
      detail.reports.map((r) => [
        cell(`  ${time(r.startedAt)}`),
        cell(r.mode),
        cell(findingsSummary(r.summary)),
        cell(r.reportId, style.dim),
      ]),
    ),
  )
  return `${lines.join('\n')}\n`
}

/** "2 critical, 1 high"; "no drift"; "no report" before the first one. */
export function findingsSummary(summary: Summary | null): string {
  if (!summary) return 'no report'
  if (summary.total === 0) return 'no drift'
  const counts = SEVERITIES.filter((s) => summary[s] > 0).map((s) => `${summary[s]} ${s}`)
  return counts.length > 0 ? counts.join(', ') : `${summary.total} findings`
}

/** How a state reads in a list: green is fine, red is to be replaced, cyan is being replaced. */
export function stateStyle(state: HostState, style: Style): (s: string) => string {
  switch (state) {
    case 'pending':
      return style.dim
    case 'compliant':
      return style.green
    case 'drifted':
      return style.yellow
    case 'snowflake':
      return (s) => style.bold(style.red(s))
    case 'stale':
      return (s) => style.bold(style.yellow(s))
    case 'replacement-scheduled':
    case 'replacing':
      return style.cyan
    case 'replaced':
      return style.dim
    default:
      // A state this CLI does not know yet (a newer collector): shown plain.
      return (s) => s
  }
}

/** A time relative to now for people: "3m ago", "just now"; the text as is when it is not a time. */
export function age(iso: string, now: Date): string {
  const at = Date.parse(iso)
  if (Number.isNaN(at)) return iso
  const ms = now.getTime() - at
  // A collector clock a little ahead of this one is not "in the future".
  return ms < 1000 ? 'just now' : `${formatSpan(ms)} ago`
}

const FIELD_WIDTH = 11

/** A table cell: its text, which sets the width, and the text as shown (coloured). */
interface Cell {
  text: string
  shown: string
}

/** A table cell of text from outside: escaped for the terminal before it is measured. */
function cell(raw: string, paint: (s: string) => string = (s) => s): Cell {
  const text = displayText(raw)
  return { text, shown: text === '' ? '' : paint(text) }
}

/** Columns as wide as their widest cell, two spaces apart; escape codes do not count in the width. */
function table(rows: Cell[][]): string[] {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, c.text.length)
    })
  }
  return rows.map((row) =>
    row
      .map((c, i) =>
        i === row.length - 1 ? c.shown : c.shown + ' '.repeat((widths[i] ?? 0) - c.text.length),
      )
      .join('  ')
      .trimEnd(),
  )
}

function stateCounts(hosts: readonly HostView[], style: Style): string {
  const counts = HOST_STATES.map((state) => ({ state, n: hosts.filter((h) => h.state === state).length }))
    .filter(({ n }) => n > 0)
    .map(({ state, n }) => `${n} ${stateStyle(state, style)(state)}`)
  return `${hosts.length} ${hosts.length === 1 ? 'host' : 'hosts'}: ${counts.join(', ')}`
}

function lastSeen(host: HostView, now: Date): string {
  const parts = [host.lastReportAt ? `report ${age(host.lastReportAt, now)}` : 'no report yet']
  if (host.lastHeartbeatAt) parts.push(`heartbeat ${age(host.lastHeartbeatAt, now)}`)
  return displayText(`${age(host.lastSeenAt, now)} (${parts.join(', ')})`)
}

function latestReport(detail: HostDetailView, style: Style): string {
  const report = detail.latestReport
  if (!report) return ''
  const summary = detail.host.summary
  const counted = summary && summary.total > 0 ? `${summaryTotal(summary)}, ` : ''
  return style.dim(
    `  ${counted}${displayText(report.mode)} scan ${displayText(report.reportId)} started ${displayText(time(report.startedAt))}, took ${formatDuration(report.durationMs)}`,
  )
}

function summaryTotal(summary: Summary): string {
  return `${summary.total} ${summary.total === 1 ? 'item' : 'items'} (${findingsSummary(summary)})`
}

/** An absolute time and how long ago: "2026-12-01 11:58:00Z, 2m ago". */
function when(iso: string, now: Date): string {
  return displayText(`${time(iso)}, ${age(iso, now)}`)
}

/** A time in UTC to the second, as people read it: "2026-12-01 11:58:00Z". */
function time(iso: string): string {
  const at = Date.parse(iso)
  if (Number.isNaN(at)) return iso
  return new Date(at)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z')
}

const REPLACEMENT_STYLE: Record<ReplacementState, (style: Style) => (s: string) => string> = {
  pending: (s) => s.yellow,
  waiting: (s) => s.yellow,
  dispatched: (s) => s.bold,
  completed: (s) => s.green,
  failed: (s) => s.red,
  cancelled: (s) => s.dim,
}

/** `fleet replacements` for people: the queue, each group's budget, the windows, the lease holder. */
export function renderReplacementQueue(queue: ReplacementQueueView, style: Style, now: Date): string {
  const lines: string[] = []
  if (queue.dryRun)
    lines.push(style.yellow('dry run: replacements are recorded and alerted, no executor runs'), '')
  if (queue.replacements.length === 0) lines.push(style.dim('no replacements'))
  else {
    const header = ['ID', 'HOST', 'GROUP', 'STATE', 'SINCE', 'REASON'].map((h) => cell(h, style.bold))
    const rows = queue.replacements.map((r) => [
      cell(r.id.slice(0, 8)),
      cell(r.hostname || r.hostId),
      cell(r.group || '-'),
      cell(r.state + (r.dryRun ? ' (dry run)' : ''), REPLACEMENT_STYLE[r.state](style)),
      cell(age(r.updatedAt, now)),
      cell(r.reason),
    ])
    lines.push(...table([header, ...rows]))
  }
  if (queue.groups.length > 0) {
    lines.push('', style.bold('Budget'))
    for (const g of queue.groups) {
      lines.push(
        `  ${displayText(g.group || '(no group)')}: ${g.inFlight} of ${g.maxConcurrent} in flight, ${g.inService} of ${g.hosts} hosts in service (min ${g.minHealthyPercent}%), ${g.budgetLeft} more may go now`,
      )
    }
  }
  const w = queue.window
  lines.push(
    '',
    `${style.bold('Windows')}  ${displayText(w.windows)}: ${
      w.open
        ? style.green(w.openUntil ? `open until ${time(w.openUntil)}` : 'open')
        : `closed${w.nextOpening ? `, next opens ${time(w.nextOpening)}` : ', none opens within 8 days'}`
    }`,
  )
  lines.push(
    `${style.bold('Scheduler')}  ${
      queue.lease
        ? `${displayText(queue.lease.holder)} holds the lease (for ${formatSpan(queue.lease.ageMs)}, renewed until ${time(queue.lease.expiresAt)})`
        : style.dim('no collector holds the lease')
    }`,
  )
  return `${lines.join('\n')}\n`
}

/** One replacement after an action (approve, cancel, replace), or in detail with its history. */
export function renderReplacement(r: ReplacementView, style: Style, now: Date): string {
  const field = (name: string, value: string) => `  ${name.padEnd(FIELD_WIDTH)}${value}`
  const lines = [
    `${style.bold(`replacement ${r.id}`)}${r.dryRun ? style.yellow(' (dry run)') : ''}`,
    field('host', `${displayText(r.hostname || r.hostId)} ${style.dim(`(${displayText(r.hostId)})`)}`),
    field('group', displayText(r.group || '(no group)')),
    field('state', `${REPLACEMENT_STYLE[r.state](style)(r.state)} since ${when(r.updatedAt, now)}`),
    field('reason', displayText(r.reason)),
    field('asked by', r.trigger === 'manual' ? displayText(r.requestedBy ?? '?') : 'the snowflake rules'),
  ]
  if (r.approvedBy && r.approvedAt)
    lines.push(field('approved', `by ${displayText(r.approvedBy)}, ${when(r.approvedAt, now)}`))
  if (r.dispatchedAt) lines.push(field('dispatched', `${when(r.dispatchedAt, now)} to ${r.executor ?? '-'}`))
  if (r.output)
    lines.push(
      field(
        'output',
        r.output
          .split('\n')
          .map(displayText)
          .join(`\n  ${''.padEnd(FIELD_WIDTH)}`),
      ),
    )
  if (r.events) {
    lines.push('', style.bold('History'))
    for (const e of r.events)
      lines.push(`  ${time(e.at)}  ${e.to.padEnd(10)} ${displayText(e.actor)}: ${displayText(e.reason)}`)
  }
  return `${lines.join('\n')}\n`
}
