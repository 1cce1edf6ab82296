import type { Severity } from '../config/policy.js'
import { type PackageRecord, packageSubject } from '../probes/types.js'
import type { DriftItem } from '../protocol/report.js'

/**
 * Compares installed packages. Pure. Several packages may share a subject (rpm keeps several
 * kernels, and gpg-pubkey entries, under one name and arch): their versions are compared as a
 * sorted list. A package left in another state than the image's (dpkg half-installed,
 * config-files, …) is a finding even at the same version.
 */
export function comparePackages(
  expected: readonly PackageRecord[],
  observed: readonly PackageRecord[],
  severity: Severity,
  options: { complete: boolean },
): DriftItem[] {
  const want = versionsBySubject(expected)
  const have = versionsBySubject(observed)
  const items: DriftItem[] = []
  for (const [subject, expectedPackage] of want) {
    const actual = have.get(subject)
    if (!actual) {
      items.push({
        kind: 'package',
        change: 'removed',
        subject,
        expected: { version: expectedPackage.version },
        severity,
      })
    } else if (actual.version !== expectedPackage.version || actual.state !== expectedPackage.state) {
      const attributes = [
        ...(actual.version !== expectedPackage.version ? ['version'] : []),
        ...(actual.state !== expectedPackage.state ? ['state'] : []),
      ]
      items.push({
        kind: 'package',
        change: 'modified',
        subject,
        attributes,
        expected: { version: expectedPackage.version },
        actual,
        severity,
      })
    }
    have.delete(subject)
  }
  if (options.complete) {
    for (const [subject, actual] of have)
      items.push({ kind: 'package', change: 'added', subject, actual, severity })
  }
  return items
}

function versionsBySubject(
  packages: readonly PackageRecord[],
): Map<string, { version: string; state?: string }> {
  const grouped = new Map<string, { versions: string[]; states: string[] }>()
  for (const p of packages) {
    const subject = packageSubject(p)
    const group = grouped.get(subject) ?? { versions: [], states: [] }
    group.versions.push(p.version)
    if (p.state) group.states.push(p.state)
    grouped.set(subject, group)
  }
  const out = new Map<string, { version: string; state?: string }>()
  for (const [subject, { versions, states }] of grouped) {
    out.set(subject, {
      version: versions.sort().join(', '),
      ...(states.length ? { state: states.sort().join(', ') } : {}),
    })
  }
  return out
}

/**
 * Names the package behind each file change: the file belongs (by the package manager's own
 * file lists, on the host or in the manifest) to a package that was itself added, removed or
 * changed. One `apt-get install` then reads as one package event with its files under it.
 */
export function attributeFileChanges(
  items: DriftItem[],
  owners: { observed: ReadonlyMap<string, string>; expected: ReadonlyMap<string, string> },
): void {
  const changed = new Set(items.filter((i) => i.kind === 'package').map((i) => i.subject))
  if (changed.size === 0) return
  for (const item of items) {
    if (item.kind !== 'file' || item.package) continue
    const owner = owners.observed.get(item.subject) ?? owners.expected.get(item.subject)
    if (owner && changed.has(owner)) item.package = owner
  }
}
