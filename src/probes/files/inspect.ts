import { createHash } from 'node:crypto'
import { closeSync, constants, openSync, readlinkSync, readSync } from 'node:fs'
import { describeSystemError, errnoCode } from '../../errors.js'
import type { FileEntry } from '../../manifest/schema.js'
import { CAPS_PER_FILE, DIGEST_BYTES } from '../../native/constants.js'
import {
  errnoName,
  fsprobe,
  HASH_CHANGED,
  HASH_NOT_FILE,
  NOT_STATED,
  ST,
  STAT_FIELDS,
} from '../../native/fsprobe.js'
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
const ENOENT = 2
const ENOTDIR = 20

/**
 * Records a path that has no stat yet: lstat it, then as `inspectEntry`; the result carries
 * the stat it was recorded with.
 */
export function inspectFile(rootDir: string, path: string, want: number, cache: StatCache): FileResult {
  const fresh = new Float64Array(STAT_FIELDS)
  const errno = fsprobe.lstat(joinRoot(rootDir, path), fresh)
  if (errno === ENOENT || errno === ENOTDIR) return { bytesHashed: 0 }
  if (errno !== 0) return { entry: { path }, error: describeErrno(errno), bytesHashed: 0 }
  const r = inspectEntry(rootDir, path, fresh, 0, want, cache)
  return r.entry && !r.error && !r.stat ? { ...r, stat: fresh, statOffset: 0 } : r
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
  const known = withoutContent(rootDir, path, s, o, want, cache)
  if ('bytesHashed' in known) return known
  return readContent(joinRoot(rootDir, path), known.read, want)
}

/** A file of one directory for `inspectFiles`: its path, where its name starts in the listing's names, its lstat's offset and what to record. */
export interface DirectoryFile {
  path: string
  nameStart: number
  o: number
  want: number
}

/**
 * `inspectEntry` for files of one directory `dir`, listed with their NUL-terminated `names`
 * and lstats `s` (a regular file listed by type only, NOT_STATED, has its content read, and
 * its stat taken then): the regular files to read are hashed by one native call that opens each
 * relative to the directory, not by a path lookup and a call each. A file that call could
 * not read as it was listed (changed, replaced, unreadable) is read again alone, as
 * `inspectEntry` reads it. Results in the order of `files`.
 */
export function inspectFiles(
  rootDir: string,
  dir: string,
  names: Buffer,
  files: DirectoryFile[],
  s: Float64Array,
  cache: StatCache,
): FileResult[] {
  const results: FileResult[] = new Array(files.length)
  const toRead: { k: number; entry: FileEntry }[] = []
  for (let k = 0; k < files.length; k++) {
    const f = files[k] as DirectoryFile
    // Listed by type only, and not to be read by hashFiles (which stats what it opens): lstat now.
    const readByBatch = (f.want & (WANT.sha256 | WANT.caps)) !== 0 && (f.want & WANT.xattrs) === 0
    if (s[f.o + ST.errno] === NOT_STATED && !readByBatch) {
      results[k] = inspectFile(rootDir, f.path, f.want, cache)
      continue
    }
    const known = withoutContent(rootDir, f.path, s, f.o, f.want, cache)
    // Other extended attributes are read through a descriptor kept open, one file at a time.
    if ('bytesHashed' in known) results[k] = known
    else if (f.want & WANT.xattrs) results[k] = readContent(joinRoot(rootDir, f.path), known.read, f.want)
    else toRead.push({ k, entry: known.read })
  }
  if (toRead.length === 0) return results
  const n = toRead.length
  const { starts, wantCaps, status, digests, caps } = scratchFor(n)
  for (let j = 0; j < n; j++) {
    const f = files[(toRead[j] as { k: number }).k] as DirectoryFile
    starts[j] = f.nameStart
    wantCaps[j] = f.want & WANT.caps ? 1 : 0
  }
  // Kept by the results: a walk worker sends each entry's stat with it.
  const stats = new Float64Array(n * STAT_FIELDS)
  try {
    // As many files as starts: the other arrays may be longer.
    fsprobe.hashFiles(
      joinRoot(rootDir, dir),
      names,
      starts.subarray(0, n),
      wantCaps,
      status,
      stats,
      digests,
      caps,
    )
  } catch {
    // The directory went or cannot be opened: each file says for itself what is wrong.
    status.fill(HASH_CHANGED)
  }
  for (let j = 0; j < n; j++) {
    const { k, entry } = toRead[j] as { k: number; entry: FileEntry }
    const f = files[k] as DirectoryFile
    const code = status[j] as number
    if (code < 0) {
      // Read again alone: from a fresh lstat when the listing did not stat it.
      results[k] =
        s[f.o + ST.errno] === NOT_STATED
          ? inspectFile(rootDir, f.path, f.want, cache)
          : readContent(joinRoot(rootDir, f.path), entry, f.want)
      continue
    }
    const o = j * STAT_FIELDS
    const recorded = entryFromStat(f.path, stats, o, entry.mtime !== undefined)
    if (f.want & WANT.sha256)
      recorded.sha256 = digests.toString('hex', j * DIGEST_BYTES, (j + 1) * DIGEST_BYTES)
    if (code > 0)
      recorded.caps = decodeCapabilities(caps.subarray(j * CAPS_PER_FILE, j * CAPS_PER_FILE + code))
    results[k] = { entry: recorded, stat: stats, statOffset: o, bytesHashed: stats[o + ST.size] as number }
  }
  return results
}

/**
 * The arrays a hashFiles call fills, for `n` files at least: one set per thread, reused (their
 * contents are read before the next call), grown when a directory has more files.
 */
function scratchFor(n: number) {
  if (scratch.starts.length < n) {
    const size = Math.max(n, 2 * scratch.starts.length)
    scratch = {
      starts: new Int32Array(size),
      wantCaps: new Uint8Array(size),
      status: new Int32Array(size),
      digests: Buffer.alloc(size * DIGEST_BYTES),
      caps: Buffer.alloc(size * CAPS_PER_FILE),
    }
  }
  return scratch
}
let scratch = {
  starts: new Int32Array(0),
  wantCaps: new Uint8Array(0),
  status: new Int32Array(0),
  digests: Buffer.alloc(0),
  caps: Buffer.alloc(0),
}

/**
 * What `inspectEntry` records without reading the file: the result, or for a regular file
 * whose content is wanted and not in the cache, the entry to complete by reading it.
 */
function withoutContent(
  rootDir: string,
  path: string,
  s: Float64Array,
  o: number,
  want: number,
  cache: StatCache,
): FileResult | { read: FileEntry } {
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
    return { entry, stat: s, statOffset: o, cached: true, bytesHashed: 0 }
  }
  return { read: entry }
}

const ELOOP = 40
const ENXIO = 6
const DIGEST = Buffer.alloc(DIGEST_BYTES)
const CAPS = Buffer.alloc(4 * CAPS_PER_FILE)

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
      return {
        entry: recorded,
        stat: copyStat(after, 0),
        statOffset: 0,
        bytesHashed: after[ST.size] as number,
      }
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
      return { entry: recorded, stat: copyStat(after, 0), statOffset: 0, bytesHashed }
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
