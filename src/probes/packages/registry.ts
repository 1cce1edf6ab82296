import type { Policy } from '../../config/policy.js'
import { type PackageManager, type PackageRecord, packageSubject } from '../../manifest/schema.js'
import type { ProbeRun } from '../../protocol/report.js'
import { compareCodeUnits } from '../../util/compare.js'
import { resolveInRoot } from '../root-fs.js'
import { runProbe } from '../run-probe.js'
import type { ProbeContext } from '../types.js'
import { apkProbe } from './apk.js'
import { dpkgProbe } from './dpkg/manager.js'
import { rpmProbe } from './rpm/manager.js'
import type { PackageManagerProbe, PackageVerification } from './types.js'

/** The package managers, in the order they run: scan, capture and `packages verify` go through this list. */
export const packageManagers: readonly PackageManagerProbe[] = [dpkgProbe, rpmProbe, apkProbe]

/** The package managers the policy asks for, in the registry's order. */
function managersOf(policy: Policy['packages']): PackageManagerProbe[] {
  return packageManagers.filter((m) => policy.managers.includes(m.manager))
}

/**
 * The package managers whose database the root holds, as Goss detects the one it asks: a
 * Debian or Ubuntu root has dpkg's, a Fedora or SUSE one rpm's, an Alpine one apk's.
 */
export function detectPackageManagers(rootDir: string): PackageManager[] {
  return packageManagers.filter((m) => m.detect(rootDir)).map((m) => m.manager)
}

export interface PackageInventory {
  packages: PackageRecord[]
  runs: ProbeRun[]
}

/**
 * Runs the package probes the policy names. A manager whose database is absent yields no
 * packages; one whose database cannot be read fails alone (its run says why), never the scan.
 */
export async function collectPackages(
  context: ProbeContext,
  policy: Policy['packages'],
): Promise<PackageInventory> {
  const packages: PackageRecord[] = []
  const runs: ProbeRun[] = []
  for (const probe of managersOf(policy)) {
    runs.push(await runProbe(probe, context, (found) => packages.push(...found)))
  }
  packages.sort(
    (a, b) =>
      compareCodeUnits(packageSubject(a), packageSubject(b)) || compareCodeUnits(a.version, b.version),
  )
  return { packages, runs }
}

/**
 * Which package owns each path, by the package managers' own file lists: path -> subject
 * (`deb:curl:amd64`). Directories shared by many packages are left out: they belong to none.
 * `only`: just these paths (a scan asks for those of its drift items); a listed path is
 * resolved only when its last name is one of theirs (resolving never changes it).
 */
export function packageOwners(
  context: ProbeContext,
  policy: Policy['packages'],
  only?: ReadonlySet<string>,
): Map<string, string> {
  const owners = new Map<string, string>()
  const names = only && new Set([...only].map((path) => path.slice(path.lastIndexOf('/') + 1)))
  const shared = new Set<string>()
  // Package lists name paths as packaged (/bin/login); on a merged-/usr system the file is at
  // /usr/bin/login through the /bin symlink. Directories are resolved inside the root, once each.
  const resolvedDirs = new Map<string, string>()
  const canonical = (path: string) => {
    const slash = path.lastIndexOf('/')
    const parent = path.slice(0, slash) || '/'
    let dir = resolvedDirs.get(parent)
    if (dir === undefined) {
      dir = resolveInRoot(context.rootDir, parent) ?? parent
      resolvedDirs.set(parent, dir)
    }
    return dir === '/' ? path.slice(slash) : dir + path.slice(slash)
  }
  const own = (listed: string, subject: string) => {
    if (names && !names.has(listed.slice(listed.lastIndexOf('/') + 1))) return
    const path = canonical(listed)
    if (only && !only.has(path)) return
    if (shared.has(path)) return
    const previous = owners.get(path)
    if (previous !== undefined && previous !== subject) {
      owners.delete(path)
      shared.add(path)
    } else {
      owners.set(path, subject)
    }
  }
  for (const manager of managersOf(policy)) {
    try {
      for (const [path, subject] of manager.owners(context)) own(path, subject)
    } catch {
      // An unreadable database is reported by its probe (collectPackages); attribution goes without it.
    }
  }
  return owners
}

/** A package manager on the root whose files `packages verify` cannot check, and why. */
export interface UnverifiedManager {
  manager: PackageManager
  reason: string
}

/**
 * Checks every package-owned file against its package manager's own digests: dpkg's md5sums
 * (conffiles apart, as debsums does) and rpm's file digests (%config apart, as rpm -V does).
 * A manager that keeps no digests to verify by (apk) is named in `unverified` when the root
 * holds its database.
 */
export async function verifyPackages(
  context: ProbeContext,
  policy: Policy['packages'],
  options: { conffiles?: boolean } = {},
): Promise<PackageVerification & { unverified: UnverifiedManager[] }> {
  const result: PackageVerification & { unverified: UnverifiedManager[] } = {
    findings: [],
    errors: [],
    unverified: [],
  }
  for (const manager of managersOf(policy)) {
    if (manager.verify === undefined) {
      if (manager.detect(context.rootDir))
        result.unverified.push({ manager: manager.manager, reason: manager.unverifiable })
      continue
    }
    const { findings, errors } = await manager.verify(context, { conffiles: options.conffiles === true })
    result.findings.push(...findings)
    result.errors.push(...errors)
  }
  result.findings.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return result
}
