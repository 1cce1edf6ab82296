import { PathMatcher } from '../config/path-matcher.js'
import type { FileAttribute, Policy, Severity } from '../config/policy.js'
import { SEVERITIES } from '../config/policy.js'
import type { FileEntry } from '../manifest/schema.js'
import type { DriftItem, Summary } from '../protocol/report.js'

export interface CompareFilesOptions {
  /**
   * True for a captured manifest: an attribute the capture records only when present
   * (capabilities) means "none" when absent. False for a declared manifest, where an
   * attribute that an entry leaves out is simply not checked.
   */
  complete: boolean
  /** Paths the probe could not fully read: what it could not see is not reported as drift. */
  unreadable?: ReadonlySet<string>
}

/** The attributes compared, in the order a report names them. */
const COMPARED: readonly Exclude<FileAttribute, 'type'>[] = [
  'mode',
  'uid',
  'gid',
  'size',
  'sha256',
  'target',
  'caps',
  'xattrs',
  'mtime',
]

/**
 * Compares the files of a manifest with the files observed on a host. Pure: data in, drift
 * items out, in the order of the expected list, then additions in the order observed.
 */
export function compareFiles(
  expected: readonly FileEntry[],
  observed: readonly FileEntry[],
  policy: Policy,
  options: CompareFilesOptions,
): DriftItem[] {
  const matcher = new PathMatcher(policy.files)
  const items: DriftItem[] = []
  const unmatched = new Map<string, FileEntry>()
  for (const o of observed) unmatched.set(o.path, o)
  for (const e of expected) {
    const o = unmatched.get(e.path)
    if (o === undefined) {
      items.push({ kind: 'file', change: 'removed', subject: e.path, expected: withoutPath(e), severity: matcher.severityOf(e.path) })
      continue
    }
    unmatched.delete(e.path)
    const item = compareEntry(e, o, matcher, options)
    if (item) items.push(item)
  }
  for (const o of unmatched.values()) {
    let severity = matcher.severityOf(o.path)
    if (isPrivileged(o.mode) || o.caps) severity = 'critical'
    items.push({ kind: 'file', change: 'added', subject: o.path, actual: withoutPath(o), severity })
  }
  return items
}

function compareEntry(
  e: FileEntry,
  o: FileEntry,
  matcher: PathMatcher,
  options: CompareFilesOptions,
): DriftItem | undefined {
  const checked = matcher.attributesOf(e.path)
  if (checked.has('type') && e.type !== undefined && o.type !== undefined && e.type !== o.type) {
    let severity = matcher.severityOf(e.path)
    if (isPrivileged(o.mode) || o.caps) severity = 'critical'
    return {
      kind: 'file',
      change: 'modified',
      subject: e.path,
      attributes: ['type'],
      expected: withoutPath(e),
      actual: withoutPath(o),
      severity,
    }
  }
  const unreadable = options.unreadable?.has(e.path) ?? false
  const changed: string[] = []
  const expected: Record<string, unknown> = {}
  const actual: Record<string, unknown> = {}
  for (const attribute of COMPARED) {
    if (!checked.has(attribute)) continue
    let want = e[attribute]
    let have = o[attribute]
    if (attribute === 'caps' && options.complete) {
      want ??= ''
      have ??= ''
    }
    if (want === undefined) continue // declared manifests leave attributes unchecked
    if (have === undefined && unreadable) continue // reported as a probe error instead
    if (!sameValue(want, have)) {
      changed.push(attribute)
      expected[attribute] = want === '' ? null : want
      actual[attribute] = have === '' || have === undefined ? null : have
    }
  }
  if (changed.length === 0) return undefined
  let severity = matcher.severityOf(e.path)
  if (gainsPrivilege(e, o)) severity = 'critical'
  return {
    kind: 'file',
    change: 'modified',
    subject: e.path,
    attributes: changed,
    expected,
    actual,
    severity,
  }
}

/** setuid or setgid in a four-digit octal mode. */
function isPrivileged(mode: string | undefined): boolean {
  return mode !== undefined && (Number.parseInt(mode, 8) & 0o6000) !== 0
}

function gainsPrivilege(e: FileEntry, o: FileEntry): boolean {
  const before = e.mode === undefined ? 0 : Number.parseInt(e.mode, 8) & 0o6000
  const after = o.mode === undefined ? 0 : Number.parseInt(o.mode, 8) & 0o6000
  if ((after & ~before) !== 0) return true
  return o.caps !== undefined && o.caps !== e.caps
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

function withoutPath(entry: FileEntry): Omit<FileEntry, 'path'> {
  const { path: _path, ...rest } = entry
  return rest
}

/** Counts per severity, as the report's summary. */
export function summarize(items: readonly DriftItem[]): Summary {
  const summary: Summary = { total: items.length, critical: 0, high: 0, medium: 0, low: 0, info: 0 }
  for (const item of items) summary[item.severity]++
  return summary
}

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity)
}
