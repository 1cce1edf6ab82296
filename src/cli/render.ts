import { groupDrift } from '../drift/group.js'
import type { GroupedDrift } from '../protocol/api.js'
import type { DriftItem, Report } from '../protocol/report.js'
import { displayJson, displayText } from '../util/display.js'
import { formatBytes, formatCount, formatDuration, type Style } from './output.js'

const KIND_TITLES: Record<DriftItem['kind'], string> = {
  package: 'Packages',
  file: 'Files',
  config: 'Configuration',
}

/**
 * A drift report for people: grouped by kind, most severe first, with a one-line summary.
 * `rootDir`: the root scanned; other than `/` it is an image folder, named as such, since its
 * machine id and hostname are usually absent or the baking machine's.
 */
export function renderReport(report: Report, style: Style, rootDir = '/'): string {
  const lines: string[] = []
  const { image, host, scan } = report
  const known = !host.id.startsWith('unknown:')
  const where =
    rootDir === '/'
      ? `${displayText(host.hostname)} (${displayText(host.id)})`
      : `image folder ${displayText(rootDir)}${known ? ` (${displayText(host.hostname)}, ${displayText(host.id)})` : ''}`
  lines.push(
    style.bold(displayText(`${image.id}@${image.version}`)) + style.dim(` on ${where}, ${scan.mode} scan`),
  )
  lines.push(...renderDrift(report.drift, style))
  const failing = scan.probes.filter((p) => !p.ok || p.errorCount)
  if (failing.length > 0) {
    lines.push('', style.bold('Probe errors'))
    for (const probe of failing) {
      const name = displayText(probe.name)
      if (probe.error) lines.push(`  ${name}: ${displayText(probe.error)}`)
      for (const e of probe.errors ?? [])
        lines.push(`  ${name}: ${displayText(e.subject)}: ${displayText(e.message)}`)
      const unlisted = (probe.errorCount ?? 0) - (probe.errors?.length ?? 0)
      if (unlisted > 0) lines.push(style.dim(`  ${name}: … and ${unlisted} more`))
    }
  }
  lines.push('', summaryLine(report, style))
  return `${lines.join('\n')}\n`
}

/** Drift items for people, grouped as `groupDrift` does: a heading per kind, then one line per item. */
export function renderDrift(items: readonly DriftItem[], style: Style): string[] {
  return renderGroupedDrift(groupDrift(items), style)
}

/** Drift already grouped (the collector sends it so): packages with the files they explain, files, config. */
export function renderGroupedDrift(drift: GroupedDrift, style: Style): string[] {
  const lines: string[] = []
  const sections: [DriftItem['kind'], { item: DriftItem; files: DriftItem[] }[]][] = [
    ['package', drift.packages],
    ['file', drift.files.map((item) => ({ item, files: [] }))],
    ['config', drift.config],
  ]
  for (const [kind, group] of sections) {
    if (group.length === 0) continue
    lines.push('', style.bold(KIND_TITLES[kind]))
    const width = Math.max(...group.map(({ item }) => changeLabel(item).length))
    for (const { item, files } of group) {
      lines.push(`  ${itemLine(item, width, style)}`)
      const shown = files.slice(0, MAX_FILES_PER_PACKAGE)
      const fileWidth = Math.max(0, ...shown.map((f) => changeLabel(f).length))
      for (const file of shown) lines.push(`      ${itemLine(file, fileWidth, style)}`)
      if (files.length > shown.length)
        lines.push(style.dim(`      … and ${files.length - shown.length} more files`))
    }
  }
  return lines
}

/** Files listed under one package event; the JSON report has them all. */
const MAX_FILES_PER_PACKAGE = 20

function itemLine(item: DriftItem, width: number, style: Style): string {
  const severity = severityStyle(item.severity, style)(item.severity.padEnd(8))
  // A file of an unchanged package, changed behind the package manager's back: say whose it is.
  const owner = item.kind === 'file' && item.package ? style.dim(`  [${displayText(item.package)}]`) : ''
  return `${severity} ${changeLabel(item).padEnd(width)}  ${displayText(item.subject)}${detail(item, style)}${owner}`
}

function summaryLine(report: Report, style: Style): string {
  const { summary, scan } = report
  const stats = `${formatCount(scan.files)} files, ${formatBytes(scan.bytesHashed)} hashed in ${formatDuration(scan.durationMs)}`
  if (summary.total === 0) return `${style.green('no drift')} · ${stats}`
  const counts = (['critical', 'high', 'medium', 'low', 'info'] as const)
    .filter((s) => summary[s] > 0)
    .map((s) => `${summary[s]} ${s}`)
    .join(', ')
  const noun = summary.total === 1 ? 'drift item' : 'drift items'
  return `${style.red(`${summary.total} ${noun}`)} (${counts}) · ${stats}`
}

function changeLabel(item: DriftItem): string {
  if (item.change === 'modified' && item.attributes?.length === 1 && item.attributes[0] === 'type')
    return 'type changed'
  return item.change
}

function detail(item: DriftItem, style: Style): string {
  if (item.kind === 'package') return style.dim(`  ${packageDetail(item)}`)
  if (item.kind === 'config') {
    // The file that sets the value, when one does (a sysctl.d file, an sshd_config drop-in).
    const source = item.source ? `  (${displayText(item.source)})` : ''
    if (item.change === 'added') return style.dim(`  ${short(item.actual)}${source}`)
    if (item.change === 'removed') return style.dim(`  was ${short(item.expected)}`)
    return style.dim(`  ${short(item.expected)} -> ${short(item.actual)}${source}`)
  }
  if (item.change !== 'modified') {
    const entry = (item.change === 'added' ? item.actual : item.expected) as
      | Record<string, unknown>
      | undefined
    const type = entry?.type
    const extra = [
      typeof type === 'string' && type !== 'file' ? displayText(type) : '',
      typeof entry?.mode === 'string' ? displayText(entry.mode) : '',
    ]
      .filter(Boolean)
      .join(' ')
    const target = typeof entry?.target === 'string' ? ` -> ${displayText(entry.target)}` : ''
    return extra || target ? style.dim(`  ${extra ? `(${extra})` : ''}${target}`) : ''
  }
  if (item.attributes?.[0] === 'type') {
    const e = item.expected as Record<string, unknown>
    const a = item.actual as Record<string, unknown>
    return style.dim(`  ${short(e.type)} -> ${short(a.type)}`)
  }
  const e = (item.expected ?? {}) as Record<string, unknown>
  const a = (item.actual ?? {}) as Record<string, unknown>
  const parts = (item.attributes ?? []).map((attr) => {
    if (attr === 'sha256') return 'content'
    if (attr === 'xattrs') return 'xattrs'
    return `${displayText(attr)} ${short(e[attr])} -> ${short(a[attr])}`
  })
  return style.dim(`  ${parts.join(', ')}`)
}

function packageDetail(item: DriftItem): string {
  const e = (item.expected ?? {}) as { version?: string }
  const a = (item.actual ?? {}) as { version?: string; state?: string }
  const version = (v: unknown) => (v === undefined ? '' : short(v))
  if (item.change === 'added') return `${version(a.version)} installed`
  if (item.change === 'removed') return `${version(e.version)} gone`
  const parts = []
  if (a.version !== e.version) parts.push(`${short(e.version)} -> ${short(a.version)}`)
  if (a.state) parts.push(`state ${short(a.state)}`)
  return parts.join(', ')
}

function short(value: unknown): string {
  if (value === null || value === undefined) return 'none'
  if (typeof value === 'string') return displayText(value)
  return displayJson(value)
}

function severityStyle(severity: DriftItem['severity'], style: Style): (s: string) => string {
  if (severity === 'critical') return (s) => style.bold(style.red(s))
  if (severity === 'high') return style.red
  if (severity === 'medium') return style.yellow
  return style.dim
}
