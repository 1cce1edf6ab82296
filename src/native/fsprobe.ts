import { createRequire } from 'node:module'

/** Doubles per entry in a stat result, and what each one is (see src/native/fsprobe.c). */
export const STAT_FIELDS = 13
export const ST = {
  mode: 0,
  uid: 1,
  gid: 2,
  size: 3,
  devHi: 4,
  devLo: 5,
  inoHi: 6,
  inoLo: 7,
  mtimeSec: 8,
  mtimeNsec: 9,
  ctimeSec: 10,
  ctimeNsec: 11,
  errno: 12,
} as const

interface FsProbeBinding {
  /** Lists a directory and lstats every entry: names NUL-terminated, STAT_FIELDS doubles each. */
  scanDir(path: string | Buffer): [names: Buffer, stats: Float64Array]
  /** lstat into out[0..STAT_FIELDS); returns the errno, 0 on success. */
  lstat(path: string | Buffer, out: Float64Array): number
  /** fstat into out[0..STAT_FIELDS); returns the errno, 0 on success. */
  fstat(fd: number, out: Float64Array): number
  /** fgetxattr: the value, or null when the file has no such attribute. */
  getXattr(fd: number, name: string): Buffer | null
  /** flistxattr: attribute names. */
  listXattr(fd: number): string[]
}

// Built by `npm ci` (node-gyp, binding.gyp at the package root); the same relative path
// holds from src/native/ (tests) and from dist/native/ (the built CLI).
const require = createRequire(import.meta.url)
export const fsprobe: FsProbeBinding = require('../../build/Release/driftwatch_native.node')

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  5: 'EIO',
  13: 'EACCES',
  20: 'ENOTDIR',
  40: 'ELOOP',
}

/** ENOENT, EACCES, … for an errno number from a stat result. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`
}
