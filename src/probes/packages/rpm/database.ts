import { existsSync } from 'node:fs'
import { DriftwatchError } from '../../../errors.js'
import { type PackageRecord, packageSubject } from '../../../manifest/schema.js'
import { compareCodeUnits } from '../../../util/compare.js'
import { joinRoot } from '../../files/root-path.js'
import { resolveInRoot } from '../../root-fs.js'
import type { PackageFile, ProbeContext } from '../../types.js'
import { readBdbBlobs } from './bdb.js'
import { type BlobVisitor, parseRpmHeader, type RpmHeader, type RpmPackageFile } from './header.js'
import { readSqliteBlobs } from './sqlite.js'

// The rpm database read directly, never through the rpm command: where it is, which backend
// keeps it, and the header blob of every installed package (see header.ts).

/** Where an rpm database was found: the directory inside the root and its backend. */
export interface RpmDatabaseLocation {
  /** The database directory, absolute inside the root (links resolved inside it). */
  dir: string
  backend: 'sqlite' | 'bdb' | 'ndb'
  /** The database file on the host's file system (under the root). */
  file: string
}

// rpm >= 4.17 distributions (Fedora 36+, openSUSE) moved the database under /usr and left
// /var/lib/rpm as a link to it; everyone else keeps /var/lib/rpm.
const DB_DIRS = ['/usr/lib/sysimage/rpm', '/var/lib/rpm']
const DB_FILES = [
  { name: 'rpmdb.sqlite', backend: 'sqlite' },
  { name: 'Packages', backend: 'bdb' },
  { name: 'Packages.db', backend: 'ndb' },
] as const

/** The root's rpm database, or undefined when the root has none (not an rpm system). */
export function locateRpmDatabase(ctx: ProbeContext): RpmDatabaseLocation | undefined {
  for (const dir of DB_DIRS) {
    const resolved = resolveInRoot(ctx.rootDir, dir)
    if (resolved === undefined) continue
    for (const { name, backend } of DB_FILES) {
      const path = resolved === '/' ? `/${name}` : `${resolved}/${name}`
      const file = joinRoot(ctx.rootDir, path)
      if (typeof file === 'string' && existsSync(file)) return { dir: resolved, backend, file }
    }
  }
  return undefined
}

/** Hands every header blob of the database with its instance number to `visit`, one at a time. */
function readHeaderBlobs(location: RpmDatabaseLocation, visit: BlobVisitor): void {
  switch (location.backend) {
    case 'sqlite':
      readSqliteBlobs(location.file, visit)
      return
    case 'bdb':
      readBdbBlobs(location.file, visit)
      return
    case 'ndb':
      throw new DriftwatchError(
        'INPUT_INVALID',
        `${location.file}: rpm ndb databases are not supported yet`,
        {
          hint: 'on the host, `rpmdb --rebuilddb --define "_db_backend sqlite"` converts it to sqlite',
        },
      )
  }
}

/** The parsed headers of the root's rpm database; [] when the root has none. */
export function readRpmHeaders(ctx: ProbeContext): RpmHeader[] {
  const location = locateRpmDatabase(ctx)
  if (location === undefined) return []
  const headers: { hnum: number; header: RpmHeader }[] = []
  readHeaderBlobs(location, (hnum, blob) => {
    try {
      headers.push({ hnum, header: parseRpmHeader(blob) })
    } catch (error) {
      if (!(error instanceof DriftwatchError)) throw error
      throw new DriftwatchError('INPUT_INVALID', `${location.file}: package #${hnum}: ${error.message}`, {
        hint: error.hint,
        cause: error,
      })
    }
  })
  return headers.sort((a, b) => a.hnum - b.hnum).map(({ header }) => header)
}

/** Name, then arch, then version: a stable order whatever order packages were installed in. */
function comparePackages(a: PackageRecord, b: PackageRecord): number {
  return (
    compareCodeUnits(a.name, b.name) ||
    compareCodeUnits(a.arch, b.arch) ||
    compareCodeUnits(a.version, b.version)
  )
}

/**
 * The packages of the root's rpm database and the files each owns, keyed by package subject
 * (`rpm:<name>:<arch>`; packages installed in several versions, like kernels, share one list).
 */
export function readRpmDatabase(ctx: ProbeContext): {
  packages: PackageRecord[]
  files: Map<string, PackageFile[]>
} {
  const packages: PackageRecord[] = []
  const files = new Map<string, PackageFile[]>()
  const headers = readRpmHeaders(ctx).sort((a, b) => comparePackages(a.pkg, b.pkg))
  for (const { pkg, files: owned } of headers) {
    packages.push(pkg)
    const subject = packageSubject(pkg)
    const list = files.get(subject)
    const shared = owned.map(toPackageFile)
    if (list === undefined) files.set(subject, shared)
    else list.push(...shared)
  }
  return { packages, files }
}

function toPackageFile(file: RpmPackageFile): PackageFile {
  const out: PackageFile = { path: file.path }
  if (file.digest !== undefined) out.digest = file.digest
  if (file.conffile) out.conffile = true
  return out
}
