/**
 * What every probe is given: the root all host reads go through (an image folder, a test
 * fixture, or `/`), and whether that root is the running system (then /proc and the kernel
 * may be asked too). A probe never runs external commands and never writes.
 */
export interface ProbeContext {
  rootDir: string
  /** True when rootDir is `/` of the running host: live values (/proc/sys, kernel) may be read. */
  live: boolean
}

/** A probe: one file, a pure parser beside it, a fixture root under test/fixtures/roots. */
export interface Probe<T> {
  name: string
  collect(context: ProbeContext): Promise<T>
}

/** A file a package owns, with the package manager's own digest of it where it keeps one. */
export interface PackageFile {
  path: string
  digest?: { algorithm: 'md5' | 'sha1' | 'sha256'; value: string }
  /** Configuration files are expected to be edited (dpkg conffiles, rpm %config). */
  conffile?: boolean
}
