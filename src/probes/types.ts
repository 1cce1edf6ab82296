import { readFileSync } from 'node:fs'
import { errnoCode } from '../errors.js'
import { joinRoot } from './files/root-path.js'

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

export type PackageManager = 'deb' | 'rpm' | 'apk'

/** An installed package as its package manager records it. */
export interface PackageRecord {
  manager: PackageManager
  name: string
  /** Architecture as the manager names it (amd64, x86_64, noarch, all, …). */
  arch: string
  version: string
  /**
   * Set when the package is not cleanly installed (dpkg "half-installed", "config-files",
   * "unpacked", …): itself worth a finding.
   */
  state?: string
}

/** `deb|rpm|apk:<name>:<arch>`, the subject of package drift items. */
export function packageSubject(p: Pick<PackageRecord, 'manager' | 'name' | 'arch'>): string {
  return `${p.manager}:${p.name}:${p.arch}`
}

/** A file a package owns, with the package manager's own digest of it where it keeps one. */
export interface PackageFile {
  path: string
  digest?: { algorithm: 'md5' | 'sha1' | 'sha256'; value: string }
  /** Configuration files are expected to be edited (dpkg conffiles, rpm %config). */
  conffile?: boolean
}

/** One configuration key and its value: `sysctl:net.ipv4.ip_forward` -> "0". */
export interface ConfigEntry {
  key: string
  value: unknown
}

/** Reads a text file inside the root; undefined when it does not exist. Other errors throw. */
export function readRootText(rootDir: string, path: string): string | undefined {
  try {
    return readFileSync(joinRoot(rootDir, path), 'utf8')
  } catch (error) {
    const code = errnoCode(error)
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw error
  }
}
