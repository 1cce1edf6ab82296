import type { PackageManagerProbe, PackageVerification } from '../types.js'
import { locateRpmDatabase, readRpmDatabase } from './database.js'
import { verifyRpmPackages } from './verify.js'

/** rpm (Fedora, RHEL, SUSE, Amazon Linux): installed packages; [] when the root has no rpm database. */
export const rpmProbe: PackageManagerProbe = {
  name: 'rpm',
  manager: 'rpm',
  detect: (rootDir) => locateRpmDatabase({ rootDir, live: false }) !== undefined,
  async collect(context) {
    return readRpmDatabase(context).packages
  },
  *owners(context) {
    for (const [subject, files] of readRpmDatabase(context).files)
      for (const f of files) yield [f.path, subject]
  },
  async verify(context, options) {
    const result: PackageVerification = { findings: [], errors: [] }
    for (const { error, ...finding } of await verifyRpmPackages(context, {
      includeConfig: options.conffiles,
    })) {
      if (finding.kind === 'unreadable') {
        result.errors.push({ subject: finding.subject, path: finding.path, message: error ?? 'unreadable' })
      } else {
        result.findings.push({ ...finding, kind: finding.kind })
      }
    }
    return result
  },
}
