import { createHash } from 'node:crypto'
import { closeSync, constants, openSync, readlinkSync, readSync } from 'node:fs'
import { describeSystemError, errnoCode } from '../../errors.js'
import type { FileEntry } from '../../manifest/schema.js'
import { errnoName, fsprobe, ST, STAT_FIELDS } from '../../native/fsprobe.js'
import { decodeName } from '../../util/pathname.js'
import { decodeCapabilities } from './caps.js'
import { type FileResult, WANT } from './protocol.js'
import { copyStat, entryFromStat, fileTypeOf, sameContentStat } from './record.js'
import { joinRoot } from './root-path.js'
import type { StatCache } from './stat-cache.js'

// 128 KiB: large enough that system calls are few, small enough that the hash reads it from cache.
const READ_BUFFER = Buffer.allocUnsafe(128 << 10)
const ATTEMPTS = 3
// O_NONBLOCK: if a regular file is swapped for a FIFO between lstat and open, open must not hang.
// O_NOATIME: an audit should not touch what it audits (refused for files we do not own: retried without).
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK
let noatime = constants.O_NOATIME ?? 0
const before = new Float64Array(STAT_FIELDS)
const after = new Float64Array(STAT_FIELDS)
const single = new Float64Array(STAT_FIELDS)
const ENOENT = 2
const ENOTDIR = 20

/** Records a path that has no stat yet: lstat it, then as `inspectEntry`. */
export function inspectFile(rootDir: string, path: string, want: number, cache: StatCache): FileResult {
  const errno = fsprobe.lstat(joinRoot(rootDir, path), single)
  if (errno === ENOENT || errno === ENOTDIR) return { bytesHashed: 0 }
  if (errno !== 0) return { entry: { path }, error: describeErrno(errno), bytesHashed: 0 }
  return inspectEntry(rootDir, path, single, 0, want, cache)
}

/**
 * Records one non-directory entry from its lstat (`s` at offset `o`): type, mode, owner, link
 * target, and for regular files the content digest and capabilities, taken from the scan cache
 * when the stat is unchanged. Never opens anything but a regular file.
 */
export function inspectEntry(
  rootDir: string,
  path: string,
  s: Float64Array,
  o: number,
  want: number,
  cache: StatCache,
): FileResult {
  const entry = entryFromStat(path, s, o, (want & WANT.mtime) !== 0)
  if (entry.type === 'symlink') {
    try {
      entry.target = decodeName(readlinkSync(joinRoot(rootDir, path), { encoding: 'buffer' }))
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return { bytesHashed: 0 }
      return { entry, error: describeSystemError(error), bytesHashed: 0 }
    }
    return { entry, bytesHashed: 0 }
  }
  if (entry.type !== 'file' || (want & (WANT.sha256 | WANT.caps | WANT.xattrs)) === 0) {
    return { entry, bytesHashed: 0 }
  }
  const cached = (want & WANT.xattrs) === 0 ? cache.lookup(s, o, (want & WANT.caps) !== 0) : undefined
  if (cached) {
    if (want & WANT.sha256) entry.sha256 = cached.sha256
    if (want & WANT.caps && cached.caps) entry.caps = cached.caps
    return { entry, stat: copyStat(s, o), cached: true, bytesHashed: 0 }
  }
  return readContent(joinRoot(rootDir, path), entry, want)
}

/** What the native hashFile returns besides a capability's length or -errno. */
const HASH_CHANGED = -100000
const HASH_NOT_FILE = -100001
const ELOOP = 40
const ENXIO = 6
const DIGEST = Buffer.alloc(32)
const CAPS = Buffer.alloc(256)

function readContent(fsPath: string | Buffer, entry: FileEntry, want: number): FileResult {
  // Other extended attributes are read through a descriptor kept open here; the common case
  // is one native call: open, stat, read and hash, stat again, capabilities, close.
  if (want & WANT.xattrs) return readContentByDescriptor(fsPath, entry, want)
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const status = fsprobe.hashFile(fsPath, (want & WANT.caps) !== 0, after, DIGEST, CAPS)
    if (status >= 0) {
      const recorded = entryFromStat(entry.path, after, 0, entry.mtime !== undefined)
      if (want & WANT.sha256) recorded.sha256 = DIGEST.toString('hex')
      if (status > 0) recorded.caps = decodeCapabilities(CAPS.subarray(0, status))
      return { entry: recorded, stat: copyStat(after, 0), bytesHashed: after[ST.size] as number }
    }
    // Changed while read, or replaced by something that is not a regular file: again.
    if (status === HASH_CHANGED || status === HASH_NOT_FILE) continue
    const errno = -status
    if (errno === ENOENT) return { bytesHashed: 0 }
    // ELOOP: the file was replaced by a symlink after lstat; ENXIO: by a socket.
    if (errno === ELOOP || errno === ENXIO) continue
    return { entry, error: describeErrno(errno), bytesHashed: 0 }
  }
  return { entry, error: `changed while being read (${ATTEMPTS} attempts)`, bytesHashed: 0 }
}

function readContentByDescriptor(fsPath: string | Buffer, entry: FileEntry, want: number): FileResult {
  let bytesHashed = 0
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    let fd: number
    try {
      fd = openNoFollow(fsPath)
    } catch (error) {
      const code = errnoCode(error)
      if (code === 'ENOENT') return { bytesHashed }
      // ELOOP: the file was replaced by a symlink after lstat; ENXIO: by a socket.
      if (code === 'ELOOP' || code === 'ENXIO') continue
      return { entry, error: describeSystemError(error), bytesHashed }
    }
    try {
      if (fsprobe.fstat(fd, before) !== 0 || fileTypeOf(before[ST.mode] as number) !== 'file') continue
      const size = before[ST.size] as number
      const hash = createHash('sha256')
      let total = 0
      // Stop at the size fstat gave: the fstat after reading catches a file that grew meanwhile.
      while (total < size) {
        const n = readSync(fd, READ_BUFFER, 0, READ_BUFFER.length, null)
        if (n === 0) break
        hash.update(READ_BUFFER.subarray(0, n))
        total += n
      }
      bytesHashed += total
      if (fsprobe.fstat(fd, after) !== 0 || !sameContentStat(before, 0, after, 0)) continue
      const recorded = entryFromStat(entry.path, after, 0, entry.mtime !== undefined)
      if (want & WANT.sha256) recorded.sha256 = hash.digest('hex')
      readAttributes(fd, want, recorded)
      return { entry: recorded, stat: copyStat(after, 0), bytesHashed }
    } catch (error) {
      return { entry, error: describeSystemError(error), bytesHashed }
    } finally {
      closeSync(fd)
    }
  }
  return { entry, error: `changed while being read (${ATTEMPTS} attempts)`, bytesHashed }
}

function openNoFollow(fsPath: string | Buffer): number {
  try {
    return openSync(fsPath, OPEN_FLAGS | noatime)
  } catch (error) {
    if (noatime && errnoCode(error) === 'EPERM') {
      noatime = 0
      return openSync(fsPath, OPEN_FLAGS)
    }
    throw error
  }
}

/** Reads extended attributes through the open descriptor: no second path lookup, no race. */
function readAttributes(fd: number, want: number, entry: FileEntry): void {
  if (want & WANT.caps) {
    const raw = fsprobe.getXattr(fd, 'security.capability')
    if (raw) entry.caps = decodeCapabilities(raw)
  }
  if (want & WANT.xattrs) {
    const xattrs: Record<string, string> = {}
    for (const name of fsprobe.listXattr(fd).sort()) {
      if (name === 'security.capability') continue
      const value = fsprobe.getXattr(fd, name)
      if (value) xattrs[name] = createHash('sha256').update(value).digest('hex')
    }
    entry.xattrs = xattrs
  }
}

export function describeErrno(errno: number): string {
  const name = errnoName(errno)
  return name === 'EACCES' || name === 'EPERM' ? 'permission denied' : name
}
