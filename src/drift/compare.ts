import { PathMatcher } from '../config/path-matcher.js'
import type { FileAttribute, Policy, Severity } from '../config/policy.js'
import type { FileEntry } from '../manifest/schema.js'
import type { DriftItem, Summary } from '../protocol/report.js'
import { SEVERITIES } from '../protocol/report.js'

export interface CompareFilesOptions {
  /**
   * True for a captured manifest: an attribute the capture records only when present
   * (capabilities) means "none" when absent. False for a declared manifest, where an
   * attribute that an entry leaves out is simply not checked.
   */
  complete: boolean
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
 * Compares the files of a manifest with the files observed on a host, as they are observed:
 * the walk hands over entries in any order and nothing observed needs to be kept. Pure: data
 * in, drift items out. `finish` adds the expected files that were never observed.
 */
export class FileComparer {
  private readonly matcher: PathMatcher
  private readonly unseen = new Map<string, FileEntry>()
  private readonly items: DriftItem[] = []

  constructor(
    expected: readonly FileEntry[],
    policy: Policy,
    private readonly options: CompareFilesOptions,
  ) {
    this.matcher = new PathMatcher(policy.files)
    for (const e of expected) this.unseen.set(e.path, e)
  }

  /** One observed entry; `unreadable` when the probe could not read all of it. */
  observe(o: FileEntry, unreadable = false): void {
    const e = this.unseen.get(o.path)
    if (e === undefined) {
      let severity = this.matcher.severityOf(o.path)
      if (isPrivileged(o.mode) || o.caps) severity = 'critical'
      this.items.push({ kind: 'file', change: 'added', subject: o.path, actual: withoutPath(o), severity })
      return
    }
    this.unseen.delete(o.path)
    const item = entryDrift(e, o, this.matcher, this.options, unreadable)
    if (item) this.items.push(item)
  }

  /** The drift items: what was observed to differ, then what was expected and never seen. */
  finish(): DriftItem[] {
    for (const e of this.unseen.values()) {
      this.items.push({
        kind: 'file',
        change: 'removed',
        subject: e.path,
        expected: withoutPath(e),
        severity: this.matcher.severityOf(e.path),
      })
    }
    this.unseen.clear()
    return this.items
  }
}

/** Compares two complete lists of files (two manifests, or a manifest and a finished walk). */
export function compareFiles(
  expected: readonly FileEntry[],
  observed: readonly FileEntry[],
  policy: Policy,
  options: CompareFilesOptions & { unreadable?: ReadonlySet<string> },
): DriftItem[] {
  const comparer = new FileComparer(expected, policy, options)
  for (const o of observed) comparer.observe(o, options.unreadable?.has(o.path) ?? false)
  return comparer.finish()
}

/**
 * THE reference for a match: the drift item an observed entry `o` gives against its manifest
 * entry `e` at the same path under a policy (`matcher`), or undefined when it matches. Every
 * other place that decides a match without calling this (the walk workers' entry index, the
 * scan cache's verdicts, FileCheck) decides only `identicalEntry`, which implies a match here
 * under any policy; test/unit/match.test.ts proves it over generated entries and mutations.
 */
export function entryDrift(
  e: FileEntry,
  o: FileEntry,
  matcher: PathMatcher,
  options: CompareFilesOptions,
  unreadable = false,
): DriftItem | undefined {
  if (identicalEntry(e, o)) return undefined
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
    if (have === undefined && unreadable) continue // what the probe could not read is a probe error, not drift
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

/** The attributes an entry is recorded with, but for xattrs (a map) and package (not observed). */
const RECORDED = ['type', 'mode', 'uid', 'gid', 'size', 'sha256', 'target', 'caps', 'mtime'] as const

/**
 * Whether an observed entry is exactly its manifest entry: every recorded attribute the same,
 * present or absent alike (the owning package apart, which a walk does not observe). What
 * the fast paths decide; it implies that `entryDrift` finds no drift, whatever the policy.
 */
export function identicalEntry(e: FileEntry, o: FileEntry): boolean {
  for (const attribute of RECORDED) if (e[attribute] !== o[attribute]) return false
  return e.xattrs === o.xattrs || sameValue(e.xattrs, o.xattrs)
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

/** Deep equality of JSON values. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  return ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

function withoutPath(entry: FileEntry): Omit<FileEntry, 'path' | 'package'> {
  const { path: _path, package: _package, ...rest } = entry
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
