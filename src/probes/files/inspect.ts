import { createHash } from 'node:crypto'
import {
  type BigIntStats,
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readlinkSync,
  readSync,
} from 'node:fs'
import { describeSystemError, errnoCode } from '../../errors.js'
import type { FileEntry } from '../../manifest/schema.js'
import { xattr } from '../../native/xattr.js'
import { decodeName } from '../../util/pathname.js'
import { decodeCapabilities } from './caps.js'
import { type FileJob, type FileResult, WANT } from './protocol.js'
import { fileTypeOf, modeString, mtimeString, statKey } from './record.js'
import { joinRoot } from './root-path.js'
import type { StatCache, StatIdentity } from './stat-cache.js'

// 128 KiB: large enough that system calls are few, small enough that the hash reads it from cache.
const READ_BUFFER = Buffer.allocUnsafe(128 << 10)
const ATTEMPTS = 3
// O_NONBLOCK: if a regular file is swapped for a FIFO between lstat and open, open must not hang.
// O_NOATIME: an audit should not touch what it audits (refused for files we do not own: retried without).
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK
let noatime = constants.O_NOATIME ?? 0

/**
 * Records one non-directory file: lstat, link target, and for regular files the content digest
 * and capabilities. Never opens anything but a regular file. Runs inside a hash worker.
 */
export function inspectFile(rootDir: string, job: FileJob, cache: StatCache): FileResult {
  const fsPath = joinRoot(rootDir, job.path)
  let st: BigIntStats
  try {
    st = lstatSync(fsPath, { bigint: true })
  } catch (error) {
    const code = errnoCode(error)
    if (code === 'ENOENT' || code === 'ENOTDIR') return { bytesHashed: 0 }
    return { entry: { path: job.path }, error: describeSystemError(error), bytesHashed: 0 }
  }
  const entry: FileEntry = baseEntry(job.path, st)
  if (job.want & WANT.mtime) entry.mtime = mtimeString(st)
  if (entry.type === 'symlink') {
    try {
      entry.target = decodeName(readlinkSync(fsPath, { encoding: 'buffer' }))
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return { bytesHashed: 0 }
      return { entry, error: describeSystemError(error), bytesHashed: 0 }
    }
    return { entry, bytesHashed: 0 }
  }
  if (entry.type !== 'file' || (job.want & (WANT.sha256 | WANT.caps | WANT.xattrs)) === 0) {
    return { entry, bytesHashed: 0 }
  }
  const cached = (job.want & WANT.xattrs) === 0 ? cache.lookup(st) : undefined
  if (cached) {
    if (job.want & WANT.sha256) entry.sha256 = cached.sha256
    if (job.want & WANT.caps && cached.caps) entry.caps = cached.caps
    return { entry, stat: identity(st), bytesHashed: 0 }
  }
  return readContent(fsPath, entry, job.want)
}

function baseEntry(path: string, st: BigIntStats): FileEntry {
  const mode = Number(st.mode)
  const entry: FileEntry = {
    path,
    type: fileTypeOf(mode),
    mode: modeString(mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
  }
  if (entry.type === 'file') entry.size = Number(st.size)
  return entry
}

function readContent(fsPath: string | Buffer, entry: FileEntry, want: number): FileResult {
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
      const before = fstatSync(fd, { bigint: true })
      if (fileTypeOf(Number(before.mode)) !== 'file') continue
      const hash = createHash('sha256')
      for (;;) {
        const n = readSync(fd, READ_BUFFER, 0, READ_BUFFER.length, null)
        if (n === 0) break
        hash.update(READ_BUFFER.subarray(0, n))
        bytesHashed += n
      }
      const after = fstatSync(fd, { bigint: true })
      if (statKey(before) !== statKey(after)) continue
      const recorded: FileEntry = {
        ...baseEntry(entry.path, after),
        ...(entry.mtime ? { mtime: mtimeString(after) } : {}),
      }
      if (want & WANT.sha256) recorded.sha256 = hash.digest('hex')
      const attrs = readAttributes(fd, want)
      if (attrs.caps) recorded.caps = attrs.caps
      if (attrs.xattrs) recorded.xattrs = attrs.xattrs
      return { entry: recorded, stat: identity(after), bytesHashed }
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
function readAttributes(fd: number, want: number): { caps?: string; xattrs?: Record<string, string> } {
  const out: { caps?: string; xattrs?: Record<string, string> } = {}
  if (want & WANT.caps) {
    const raw = xattr.get(fd, 'security.capability')
    if (raw) out.caps = decodeCapabilities(raw)
  }
  if (want & WANT.xattrs) {
    const xattrs: Record<string, string> = {}
    for (const name of xattr.list(fd).sort()) {
      if (name === 'security.capability') continue
      const value = xattr.get(fd, name)
      if (value) xattrs[name] = createHash('sha256').update(value).digest('hex')
    }
    out.xattrs = xattrs
  }
  return out
}

function identity(st: BigIntStats): StatIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs }
}
