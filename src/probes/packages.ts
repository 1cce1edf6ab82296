import type { Policy } from '../config/policy.js'
import { type PackageManager, type PackageRecord, packageSubject } from '../manifest/schema.js'
import type { ProbeRun } from '../protocol/report.js'
import { compareCodeUnits } from '../util/compare.js'
import { apkProbe, readApkInstalled } from './apk.js'
import { dpkgFileListPath, dpkgProbe, parseDpkgList, readDpkgDatabase, readDpkgEntries } from './dpkg.js'
import { readRootText, resolveInRoot } from './root-fs.js'
import { locateRpmDatabase, readRpmDatabase, rpmProbe } from './rpm.js'
import type { Probe, ProbeContext } from './types.js'

/** The package probes, one per package manager, in the order they run. */
export const packageProbes: { manager: PackageManager; probe: Probe<PackageRecord[]> }[] = [
  { manager: 'deb', probe: dpkgProbe },
  { manager: 'rpm', probe: rpmProbe },
  { manager: 'apk', probe: apkProbe },
]

/**
 * The package managers whose database the root holds, as Goss detects the one it asks: a
 * Debian or Ubuntu root has dpkg's, a Fedora or SUSE one rpm's, an Alpine one apk's.
 */
export function detectPackageManagers(rootDir: string): PackageManager[] {
  const context = { rootDir, live: false }
  const found: PackageManager[] = []
  if (readDpkgEntries(rootDir) !== undefined) found.push('deb')
  if (locateRpmDatabase(context) !== undefined) found.push('rpm')
  if (readApkInstalled(rootDir) !== undefined) found.push('apk')
  return found
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
  for (const { manager, probe } of packageProbes) {
    if (!policy.managers.includes(manager)) continue
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
  if (policy.managers.includes('deb')) {
    for (const entry of readDpkgDatabase(context.rootDir)?.entries ?? []) {
      const list = dpkgFileListPath(entry.name, entry.arch, context.rootDir)
      if (!list) continue
      const subject = packageSubject(entry)
      for (const path of parseDpkgList(readRootText(context.rootDir, list) ?? '')) own(path, subject)
    }
  }
  if (policy.managers.includes('rpm')) {
    try {
      for (const [subject, files] of readRpmDatabase(context).files)
        for (const f of files) own(f.path, subject)
    } catch {
      // An unreadable rpm database is reported by the rpm probe; attribution goes without it.
    }
  }
  if (policy.managers.includes('apk')) {
    for (const [subject, files] of readApkInstalled(context.rootDir)?.files ?? [])
      for (const f of files) own(f.path, subject)
  }
  return owners
}

/**
 * Runs one probe, timing it; a failure becomes the run's error instead of an exception. Each
 * probe starts in a turn of the event loop of its own: during a scan, this thread hands out
 * the walk's work between probes instead of after all of them.
 */
export async function runProbe<T>(
  probe: Probe<T>,
  context: ProbeContext,
  use: (result: T) => void,
): Promise<ProbeRun> {
  await new Promise((resolve) => setImmediate(resolve))
  const started = performance.now()
  try {
    use(await probe.collect(context))
    return { name: probe.name, ok: true, durationMs: Math.round(performance.now() - started) }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return {
      name: probe.name,
      ok: false,
      durationMs: Math.round(performance.now() - started),
      error: message,
    }
  }
}
