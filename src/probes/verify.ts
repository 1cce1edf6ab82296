import type { Policy } from '../config/policy.js'
import { verifyDpkgPackages } from './dpkg.js'
import { verifyRpmPackages } from './rpm.js'
import type { ProbeContext } from './types.js'

/** A package-owned file that is not as its package installed it, by the package manager's digests. */
export interface PackageFileFinding {
  /** The owning package, `deb|rpm:<name>:<arch>`. */
  subject: string
  path: string
  kind: 'modified' | 'missing'
  conffile: boolean
}

export interface PackageVerification {
  findings: PackageFileFinding[]
  /** Files that could not be checked (permission denied, I/O error). */
  errors: { subject: string; path: string; message: string }[]
}

/**
 * Checks every package-owned file against the package manager's own digests: dpkg's md5sums
 * (conffiles apart, as debsums does) and rpm's file digests (%config apart, as rpm -V does).
 * apk keeps sha1 checksums only for some files and is not verified.
 */
export async function verifyPackages(
  context: ProbeContext,
  policy: Policy['packages'],
  options: { conffiles?: boolean } = {},
): Promise<PackageVerification> {
  const result: PackageVerification = { findings: [], errors: [] }
  if (policy.managers.includes('deb')) {
    const findings = await verifyDpkgPackages(context, {
      conffiles: options.conffiles === true,
      onError: (error) => result.errors.push(error),
    })
    result.findings.push(...findings)
  }
  if (policy.managers.includes('rpm')) {
    for (const finding of await verifyRpmPackages(context, { includeConfig: options.conffiles === true })) {
      if (finding.kind === 'unreadable') {
        result.errors.push({
          subject: finding.subject,
          path: finding.path,
          message: finding.error ?? 'unreadable',
        })
      } else {
        result.findings.push({
          subject: finding.subject,
          path: finding.path,
          kind: finding.kind,
          conffile: finding.conffile,
        })
      }
    }
  }
  result.findings.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return result
}
