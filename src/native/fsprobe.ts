import { createRequire } from 'node:module'
import { constants } from 'node:os'
import { fileURLToPath } from 'node:url'
import { isMainThread } from 'node:worker_threads'
import { jsBinding } from './fsprobe-js.js'

export { HASH_CHANGED, HASH_NOT_FILE, NOT_STATED, ST, STAT_FIELDS } from './constants.js'

/**
 * The files probe's system calls, served by the native addon (src/native/fsprobe.c) where it
 * loads, else by the same functions in JavaScript (fsprobe-js.ts). Stat results are
 * STAT_FIELDS doubles at the ST offsets (constants.ts, generated from constants.json).
 */
export interface FsProbeBinding {
  /**
   * Lists a directory and lstats every entry: names NUL-terminated, STAT_FIELDS doubles each.
   * With `lazyFiles`, a regular file (by its directory entry) is not lstat'ed: its stat is
   * mode S_IFREG with errno NOT_STATED, to be taken when it is opened.
   */
  scanDir(path: string | Buffer, lazyFiles?: boolean): [names: Buffer, stats: Float64Array]
  /**
   * The same, and each entry whose very stat at its path the scan cache's records (`words`)
   * hold with a verdict marks that verdict's manifest entry in `marks` and the record in
   * `hits`, and is 1 in `marked` (see src/probes/files/stat-cache.ts).
   */
  scanDir(
    path: string | Buffer,
    words: Uint32Array,
    marks: Uint8Array,
    hits: Uint8Array,
  ): [names: Buffer, stats: Float64Array, marked: Uint8Array]
  /** lstat into out[0..STAT_FIELDS); returns the errno, 0 on success. */
  lstat(path: string | Buffer, out: Float64Array): number
  /** fstat into out[0..STAT_FIELDS); returns the errno, 0 on success. */
  fstat(fd: number, out: Float64Array): number
  /**
   * Reads and hashes a regular file in one call: the capability's length (0: none) with the
   * stat after reading in `stat`, the sha256 in `digest` and the capability in `caps`; or
   * -errno; or HASH_CHANGED when it changed while read, HASH_NOT_FILE when it is no regular file.
   */
  hashFile(path: string | Buffer, wantCaps: boolean, stat: Float64Array, digest: Buffer, caps: Buffer): number
  /**
   * hashFile for files of one directory, each opened relative to it: file k is the
   * NUL-terminated name at names[starts[k]], its capability read when wantCaps[k] is 1. Its
   * status goes to status[k], its stat to stats[k * STAT_FIELDS], its digest to
   * digests[k * DIGEST_BYTES] and its capability to caps[k * CAPS_PER_FILE]. Throws when the
   * directory cannot be opened.
   */
  hashFiles(
    dir: string | Buffer,
    names: Buffer,
    starts: Int32Array,
    wantCaps: Uint8Array,
    status: Int32Array,
    stats: Float64Array,
    digests: Buffer,
    caps: Buffer,
  ): void
  /** fgetxattr: the value, or null when the file has no such attribute. */
  getXattr(fd: number, name: string): Buffer | null
  /** flistxattr: attribute names. */
  listXattr(fd: number): string[]
}

/** Which binding serves this process, and why the native one does not when it does not. */
export interface BindingChoice {
  binding: FsProbeBinding
  native: boolean
  /** Why the JavaScript binding serves: DRIFTWATCH_NATIVE=0, or why the addon did not load. */
  reason?: string
}

/**
 * The package's root: node-gyp-build looks for build/Release there (a local build) and then
 * for prebuilds/<platform>-<arch>/ (the addon the package ships). The same relative path holds
 * from src/native/ (tests) and from dist/native/ (the built CLI).
 */
const PACKAGE_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Loads the addon unless DRIFTWATCH_NATIVE=0; anything that stops it (no prebuild for this platform, musl, no build) leaves the JavaScript binding. */
export function chooseBinding(env: NodeJS.ProcessEnv = process.env): BindingChoice {
  if (env.DRIFTWATCH_NATIVE === '0')
    return { binding: jsBinding, native: false, reason: 'DRIFTWATCH_NATIVE=0' }
  try {
    const require = createRequire(import.meta.url)
    // An addon built elsewhere, e.g. with sanitizers (test/native/sanitize.sh).
    if (env.DRIFTWATCH_ADDON)
      return { binding: require(env.DRIFTWATCH_ADDON) as FsProbeBinding, native: true }
    const load = require('node-gyp-build') as (dir: string) => FsProbeBinding
    return { binding: load(PACKAGE_ROOT), native: true }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    return { binding: jsBinding, native: false, reason: message.split('\n')[0] as string }
  }
}

const choice = chooseBinding()
export const fsprobe: FsProbeBinding = choice.binding
/** True when the native addon serves; false for the JavaScript binding. */
export const nativeBinding = choice.native

// Said once per process (worker threads load this module too), on stderr, where logs go.
if (!choice.native && isMainThread) {
  const why =
    choice.reason === 'DRIFTWATCH_NATIVE=0'
      ? 'the native addon is not used (DRIFTWATCH_NATIVE=0)'
      : `no native addon for ${process.platform}-${process.arch} (${choice.reason})`
  process.stderr.write(
    `driftwatch: ${why}; files are listed and hashed in JavaScript, slower, and capabilities and extended attributes are not checked\n`,
  )
}

const ERRNO_NAMES: Record<number, string> = {}
// The first name of each number (EAGAIN, not its alias EWOULDBLOCK).
for (const [name, errno] of Object.entries(constants.errno)) ERRNO_NAMES[errno] ??= name

/** ENOENT, EACCES, … for an errno number from a stat result. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`
}
