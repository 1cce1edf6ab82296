import type { PackageManager, PackageRecord } from '../../manifest/schema.js'
import type { Probe, ProbeContext } from '../types.js'

/** A package-owned file that is not as its package installed it, by the package manager's digests. */
export interface PackageFileFinding {
  /** The owning package, `deb|rpm:<name>:<arch>`. */
  subject: string
  path: string
  kind: 'modified' | 'missing'
  conffile: boolean
}

/** A package-owned file that could not be checked (permission denied, I/O error). */
export interface PackageFileError {
  subject: string
  path: string
  message: string
}

export interface PackageVerification {
  findings: PackageFileFinding[]
  /** Files that could not be checked (permission denied, I/O error). */
  errors: PackageFileError[]
}

export interface PackageVerifyOptions {
  /** Check configuration files too (dpkg conffiles, rpm %config); they are expected to be edited. */
  conffiles: boolean
}

/** Verification by the package manager's own digests, or why the manager has none to verify by. */
type Verification =
  | {
      /** Checks every file of every installed package against the digests the database keeps. */
      verify(context: ProbeContext, options: PackageVerifyOptions): Promise<PackageVerification>
    }
  | {
      verify?: undefined
      /** Why `packages verify` leaves this manager's files unchecked, in a few words. */
      unverifiable: string
    }

/**
 * One package manager, read from its own database files (never by running it): its packages
 * (the probe's `collect`, named `name` in a report's runs), the files each package owns, and
 * the verification of those files. The registry lists one per manager.
 */
export type PackageManagerProbe = Probe<PackageRecord[]> &
  Verification & {
    /** The manager as policies and package subjects name it (`deb:curl:amd64`). */
    manager: PackageManager
    /** True when the root holds this manager's database. */
    detect(rootDir: string): boolean
    /**
     * Every path the database lists as installed by a package, as packaged (links in it not
     * resolved), with the subject of the package; a path several packages list comes once per
     * package. Throws when the database cannot be read.
     */
    owners(context: ProbeContext): Iterable<readonly [path: string, subject: string]>
  }
