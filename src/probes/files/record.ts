import { type BigIntStats, constants } from 'node:fs'
import type { FileEntry, FileType } from '../../manifest/schema.js'

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

/** `seconds.nanoseconds`, exact, from a bigint stat. */
export function mtimeString(st: BigIntStats): string {
  const ns = st.mtimeNs
  const s = ns / 1_000_000_000n
  return `${s}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`
}

/** The identity of a file's content as far as stat can tell: device, inode, size, mtime and ctime in ns. */
export function statKey(st: BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`
}

/** A directory's record: type, mode and owner (its size says nothing about the image). */
export function directoryEntry(path: string, st: BigIntStats, withMtime: boolean): FileEntry {
  const mode = Number(st.mode)
  const entry: FileEntry = {
    path,
    type: fileTypeOf(mode),
    mode: modeString(mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
  }
  if (withMtime) entry.mtime = mtimeString(st)
  return entry
}
