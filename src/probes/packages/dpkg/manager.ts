import { packageSubject } from '../../../manifest/schema.js'
import { readRootText } from '../../root-fs.js'
import type { PackageFileError, PackageManagerProbe } from '../types.js'
import { dpkgFileListPath, readDpkgEntries } from './database.js'
import { parseDpkgList } from './parse.js'
import { verifyDpkgPackages } from './verify.js'

/** dpkg (Debian, Ubuntu, distroless): installed packages, and those half there with their `state`. */
export const dpkgProbe: PackageManagerProbe = {
  name: 'dpkg',
  manager: 'deb',
  detect: (rootDir) => readDpkgEntries(rootDir) !== undefined,
  async collect(context) {
    const entries = readDpkgEntries(context.rootDir) ?? []
    const installed = entries.filter((e) => e.state === 'installed')
    const problems = entries.filter((e) => e.state !== 'installed')
    return [...installed, ...problems].map(({ manager, name, arch, version, state }) =>
      state === 'installed' ? { manager, name, arch, version } : { manager, name, arch, version, state },
    )
  },
  *owners(context) {
    for (const entry of readDpkgEntries(context.rootDir) ?? []) {
      const list = dpkgFileListPath(entry.name, entry.arch, context.rootDir)
      if (!list) continue
      const subject = packageSubject(entry)
      for (const path of parseDpkgList(readRootText(context.rootDir, list) ?? '')) yield [path, subject]
    }
  },
  async verify(context, options) {
    const errors: PackageFileError[] = []
    const findings = await verifyDpkgPackages(context, {
      conffiles: options.conffiles,
      onError: (error) => errors.push(error),
    })
    return { findings, errors }
  },
}
