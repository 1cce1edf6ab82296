import { createHash } from 'node:crypto'
import { closeSync, constants, openSync, readlinkSync, readSync, statSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { describeSystemError, errnoCode } from '../../errors.js'
import { joinRoot } from '../files/root-path.js'

// A package hash worker: hashes the files it is sent with the digest their package manager
// keeps (MD5 for dpkg's md5sums, rpm's file digest algorithm). Synchronous I/O is right here:
// this thread does nothing else, and one runs per core (hashing.ts hands out the work).

/** Paths to hash with one algorithm, `start` being the index of the first one in the caller's list. */
export interface HashJob {
  start: number
  algorithm: 'md5' | 'sha1' | 'sha256'
  paths: string[]
}

/** What became of one path: its digest (hex), or why there is none (`code` is the errno name). */
export type HashResult = { digest: string } | { notRegular: true } | { code: string; message: string }

export interface HashDone {
  start: number
  results: HashResult[]
}

export interface HashInit {
  rootDir: string
}

// 512 KiB: few system calls per file, and small enough to stay in cache while it is hashed.
const READ_BUFFER = Buffer.allocUnsafe(512 << 10)
// Like the kernel's limit on symlinks followed in one lookup.
const MAX_SYMLINKS = 40
// O_NONBLOCK: a FIFO swapped in after the stat must not hang the open.
// O_NOATIME: an audit should not touch what it audits (refused for files we do not own: retried without).
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK
let noatime = constants.O_NOATIME ?? 0

const { rootDir } = workerData as HashInit
const port = parentPort
if (!port) throw new Error('hash-worker must run as a worker thread')
const resolvedDirs = new Map<string, string>()
// Hard links hashed already, by inode and change time: packages ship some (Mesa's drivers are
// one 25 MB file under a dozen names), and md5sums list them next to each other.
const linkDigests = new Map<string, string>()

port.on('message', (job: HashJob) => {
  const done: HashDone = { start: job.start, results: job.paths.map((path) => hashFile(path, job.algorithm)) }
  port.postMessage(done)
})

function hashFile(path: string, algorithm: HashJob['algorithm']): HashResult {
  try {
    // debsums follows symlinks in every component, the last one too (merged /usr: /bin -> usr/bin).
    const fsPath = rootDir === '/' ? joinRoot('/', path) : joinRoot(rootDir, resolveInRoot(path))
    // Stat before open: opening a device node that took a file's place could have side effects.
    const st = statSync(fsPath, { bigint: true })
    if (!st.isFile()) return { notRegular: true }
    const link = st.nlink > 1n ? `${algorithm}:${st.dev}:${st.ino}:${st.size}:${st.ctimeNs}` : undefined
    const known = link === undefined ? undefined : linkDigests.get(link)
    if (known !== undefined) return { digest: known }
    const digest = digestOf(fsPath, Number(st.size), algorithm)
    if (link !== undefined) linkDigests.set(link, digest)
    return { digest }
  } catch (error) {
    return { code: errnoCode(error) ?? 'EIO', message: describeSystemError(error) }
  }
}

/** The digest of the file's content, read in large chunks; `size` from its stat spares the last empty read. */
function digestOf(fsPath: string | Buffer, size: number, algorithm: HashJob['algorithm']): string {
  const fd = openFile(fsPath)
  try {
    const hash = createHash(algorithm)
    let total = 0
    for (;;) {
      const n = readSync(fd, READ_BUFFER)
      if (n === 0) break
      hash.update(READ_BUFFER.subarray(0, n))
      total += n
      // A short read that reaches the stat's size is the end of the file: no need to ask again.
      if (n < READ_BUFFER.length && total >= size) break
    }
    return hash.digest('hex')
  } finally {
    closeSync(fd)
  }
}

function openFile(fsPath: string | Buffer): number {
  try {
    return openSync(fsPath, OPEN_FLAGS | noatime)
  } catch (error) {
    if (noatime === 0 || errnoCode(error) !== 'EPERM') throw error
    noatime = 0
    return openSync(fsPath, OPEN_FLAGS)
  }
}

/**
 * `path` with every symlink in it resolved inside the root, as if the root were `/`: an
 * image folder's absolute links (`/lib -> /usr/lib`) must not lead out to the host's files.
 * Directories are resolved once and remembered: md5sums list many files per directory.
 */
function resolveInRoot(path: string): string {
  const slash = path.lastIndexOf('/')
  const dir = path.slice(0, slash) || '/'
  let resolvedDir = resolvedDirs.get(dir)
  if (resolvedDir === undefined) {
    resolvedDir = followLinks('/', dir)
    resolvedDirs.set(dir, resolvedDir)
  }
  return followLinks(resolvedDir, path.slice(slash + 1))
}

/** Walks `rest` from the resolved directory `from`, replacing each symlink met by its target. */
function followLinks(from: string, rest: string): string {
  const parts = from === '/' ? [] : from.slice(1).split('/')
  const pending = rest.split('/')
  let links = 0
  while (pending.length > 0) {
    const token = pending.shift() as string
    if (token === '' || token === '.') continue
    if (token === '..') {
      parts.pop()
      continue
    }
    parts.push(token)
    const target = readLink(`/${parts.join('/')}`)
    if (target === undefined) continue
    if (++links > MAX_SYMLINKS)
      throw Object.assign(new Error(`too many symlinks in ${from}/${rest}`), { code: 'ELOOP' })
    parts.pop()
    if (target.startsWith('/')) parts.length = 0
    pending.unshift(...target.split('/'))
  }
  return `/${parts.join('/')}`
}

/** The target of a symlink inside the root; undefined when the path is not one (or not there). */
function readLink(path: string): string | undefined {
  try {
    return readlinkSync(joinRoot(rootDir, path), 'utf8')
  } catch (error) {
    const code = errnoCode(error)
    if (code === 'EINVAL' || code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw error
  }
}
