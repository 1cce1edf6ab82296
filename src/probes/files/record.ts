import { constants } from 'node:fs'
import type { FileEntry, FileType } from '../../manifest/schema.js'
import { ST, STAT_FIELDS } from '../../native/fsprobe.js'

/*
 * Records are made from stat results as the native helper returns them: STAT_FIELDS doubles
 * per entry in a Float64Array, read at an offset (see src/native/fsprobe.c).
 */

/** The file type of a stat mode; never opens anything. */
export function fileTypeOf(mode: number): FileType {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFREG:
      return 'file'
    case constants.S_IFDIR:
      return 'dir'
    case constants.S_IFLNK:
      return 'symlink'
    case constants.S_IFIFO:
      return 'fifo'
    case constants.S_IFSOCK:
      return 'socket'
    case constants.S_IFCHR:
      return 'char'
    default:
      return 'block'
  }
}

/** Permission bits including setuid/setgid/sticky as four octal digits. */
export function modeString(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0')
}

/** Type, mode and owner, and the size of a regular file (a directory's size says nothing of the image). */
export function entryFromStat(path: string, s: Float64Array, o: number, withMtime: boolean): FileEntry {
  const mode = s[o + ST.mode] as number
  const type = fileTypeOf(mode)
  const entry: FileEntry = {
    path,
    type,
    mode: modeString(mode),
    uid: s[o + ST.uid] as number,
    gid: s[o + ST.gid] as number,
  }
  if (type === 'file') entry.size = s[o + ST.size] as number
  if (withMtime) entry.mtime = mtimeString(s, o)
  return entry
}

/** `seconds.nanoseconds`, exact. */
export function mtimeString(s: Float64Array, o: number): string {
  return `${s[o + ST.mtimeSec]}.${String(s[o + ST.mtimeNsec]).padStart(9, '0')}`
}

/**
 * Whether two stats are of the same content as far as stat can tell: device, inode, size,
 * mtime and ctime (nanoseconds) all equal. ctime cannot be set from user space.
 */
export function sameContentStat(a: Float64Array, ao: number, b: Float64Array, bo: number): boolean {
  for (let k = ST.size; k <= ST.ctimeNsec; k++) if (a[ao + k] !== b[bo + k]) return false
  return true
}

export function isDirectoryMode(mode: number): boolean {
  return (mode & constants.S_IFMT) === constants.S_IFDIR
}

/** The device of a stat as one number (exact: device numbers are far below 2^53). */
export function deviceOf(s: Float64Array, o: number): number {
  return (s[o + ST.devHi] as number) * 2 ** 32 + (s[o + ST.devLo] as number)
}

/** A copy of one stat result, to keep or send. */
export function copyStat(s: Float64Array, o: number): Float64Array {
  return s.slice(o, o + STAT_FIELDS)
}
