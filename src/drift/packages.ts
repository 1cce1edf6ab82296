import type { Severity } from '../config/policy.js'
import { type PackageRecord, packageSubject } from '../manifest/schema.js'
import type { DriftItem } from '../protocol/report.js'

/**
 * The arch of a declared package that matches every installed arch of its name: Goss states
 * none, and an SBOM's purl may leave it out. Its versions are those of all installed arches.
 */
export const ANY_ARCH = '*'
/** The version of a declared package that is to be installed in whatever version. */
export const ANY_VERSION = '*'
/** The state of a declared package that must not be installed (dpkg's word for it). */
export const NOT_INSTALLED = 'not-installed'

/**
 * Compares installed packages. Pure. Several packages may share a subject (rpm keeps several
 * kernels, and gpg-pubkey entries, under one name and arch): their versions are compared as a
 * sorted list. A package left in another state than the image's (dpkg half-installed,
 * config-files, …) is a finding even at the same version. A declared manifest may state a
 * package of ANY_ARCH, in ANY_VERSION, or NOT_INSTALLED (then each installed arch is "added").
 */
export function comparePackages(
  expected: readonly PackageRecord[],
  observed: readonly PackageRecord[],
  severity: Severity,
  options: { complete: boolean },
): DriftItem[] {
  const want = versionsBySubject(expected)
  const have = versionsBySubject(observed)
  const anyArch = expected.some((p) => p.arch === ANY_ARCH) ? byName(observed) : undefined
  const items: DriftItem[] = []
  for (const [subject, expectedPackage] of want) {
    const byAnyArch = anyArch?.get(subject)
    const subjects = byAnyArch ? byAnyArch.subjects : have.has(subject) ? [subject] : []
    const actual = byAnyArch ? byAnyArch.found : have.get(subject)
    if (expectedPackage.state === NOT_INSTALLED) {
      // A removed package whose configuration files dpkg keeps is not installed (dpkg-query, Goss).
      for (const s of subjects)
        if (have.get(s)?.state !== 'config-files')
          items.push({ kind: 'package', change: 'added', subject: s, actual: have.get(s), severity })
    } else if (!actual) {
      items.push({
        kind: 'package',
        change: 'removed',
        subject,
        expected: { version: expectedPackage.version },
        severity,
      })
    } else {
      const version = expectedPackage.version !== ANY_VERSION && actual.version !== expectedPackage.version
      const state = actual.state !== expectedPackage.state
      if (version || state) {
        items.push({
          kind: 'package',
          change: 'modified',
          // One installed arch of a package stated for any arch: name that one.
          subject: subjects.length === 1 ? (subjects[0] as string) : subject,
          attributes: [...(version ? ['version'] : []), ...(state ? ['state'] : [])],
          expected: { version: expectedPackage.version },
          actual,
          severity,
        })
      }
    }
    for (const s of subjects) have.delete(s)
  }
  if (options.complete) {
    for (const [subject, actual] of have)
      items.push({ kind: 'package', change: 'added', subject, actual, severity })
  }
  return items
}

/**
 * Installed packages by `<manager>:<name>:*`: the subjects of every arch of that name, and
 * their versions as one list, each version once (multi-arch copies share a version).
 */
function byName(
  packages: readonly PackageRecord[],
): Map<string, { subjects: string[]; found: { version: string; state?: string } }> {
  const anyArch = packages.map((p) => ({ ...p, arch: ANY_ARCH }))
  const out = new Map<string, { subjects: string[]; found: { version: string; state?: string } }>()
  for (const [subject, found] of versionsBySubject(anyArch, true)) out.set(subject, { subjects: [], found })
  for (const p of packages) {
    const entry = out.get(packageSubject({ ...p, arch: ANY_ARCH }))
    const subject = packageSubject(p)
    if (entry && !entry.subjects.includes(subject)) entry.subjects.push(subject)
  }
  return out
}

function versionsBySubject(
  packages: readonly PackageRecord[],
  unique = false,
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
    const list = (list: string[]) => (unique ? [...new Set(list)] : list).sort().join(', ')
    out.set(subject, {
      version: list(versions),
      ...(states.length ? { state: list(states) } : {}),
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
