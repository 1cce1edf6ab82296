import { type BigIntStats, type Dirent, lstatSync, readdirSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { PathMatcher } from '../../config/path-matcher.js'
import { describeSystemError, errnoCode } from '../../errors.js'
import type { FileEntry } from '../../manifest/schema.js'
import { decodeName } from '../../util/pathname.js'
import { inspectFile } from './inspect.js'
import type { FromWorker, ProbeError, ToWorker, WalkJob, WorkerInit } from './protocol.js'
import { WANT } from './protocol.js'
import { directoryEntry } from './record.js'
import { joinRoot } from './root-path.js'
import { type CacheRecord, encodeRecords, StatCache } from './stat-cache.js'

// A walk worker: lists directories and inspects and hashes files. Synchronous I/O is right
// here: this thread does nothing else, and one runs per core. What a job records goes back
// with its answer; the stat cache records stay here until the walk is over.

/** Kernel and runtime file systems: their contents are not the image's, never walked. */
const PSEUDO_DIRS = new Set(['/proc', '/sys', '/dev', '/run'])
/** Files of one directory inspected in the same job; the rest go back to be shared out. */
const FILES_PER_JOB = 64
/**
 * A job goes on depth first into the directories below it for this long, then hands what is
 * left back to be shared: long enough that round trips to the main thread are rare, short
 * enough that no worker sits idle while another holds all the work.
 */
const JOB_BUDGET_MS = 5

const init = workerData as WorkerInit
const port = parentPort
if (!port) throw new Error('walk-worker must run as a worker thread')

const matcher = new PathMatcher(init.files)
const oneFileSystem = init.files.oneFileSystem
const { cache, status } = StatCache.load(init.cacheFile)
let entries: FileEntry[] = []
let errors: ProbeError[] = []
const digests: CacheRecord[] = []

const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer)
send({ type: 'ready', cache: status })

port.on('message', (message: ToWorker) => {
  if (message.type === 'finish') {
    const cache = encodeRecords(digests)
    send({ type: 'result', digests: cache }, [cache.buffer as ArrayBuffer])
    return
  }
  const jobs: WalkJob[] = []
  const job = message.job
  let bytes = 0
  if (job.kind === 'files') {
    bytes = inspectAll(job.paths)
  } else {
    const started = performance.now()
    const local: { path: string; dev: string }[] = [job]
    while (local.length > 0 && performance.now() - started < JOB_BUDGET_MS) {
      const dir = local.pop() as { path: string; dev: string }
      bytes += listDirectory(dir.path, BigInt(dir.dev), local, jobs)
    }
    for (const dir of local) jobs.push({ kind: 'dir', ...dir })
  }
  // JSON crosses to the main thread about twice as fast as a structured clone of the objects.
  send({ type: 'done', jobs, entries: JSON.stringify(entries), errors, files: entries.length, bytesHashed: bytes })
  entries = []
  errors = []
})

function listDirectory(
  dir: string,
  dev: bigint,
  subdirs: { path: string; dev: string }[],
  jobs: WalkJob[],
): number {
  let dirents: Dirent<Buffer>[]
  try {
    dirents = readdirSync(joinRoot(init.rootDir, dir), { withFileTypes: true, encoding: 'buffer' })
  } catch (error) {
    const code = errnoCode(error)
    if (code !== 'ENOENT' && code !== 'ENOTDIR')
      errors.push({ subject: dir, message: describeSystemError(error) })
    return 0
  }
  const prefix = dir === '/' ? '/' : `${dir}/`
  const files: string[] = []
  for (const dirent of dirents) {
    const path = prefix + decodeName(dirent.name)
    if (matcher.isExcluded(path)) continue
    // File systems that do not report a type in the listing (DT_UNKNOWN) are asked with lstat.
    const typeKnown =
      dirent.isFile() ||
      dirent.isDirectory() ||
      dirent.isSymbolicLink() ||
      dirent.isFIFO() ||
      dirent.isSocket() ||
      dirent.isCharacterDevice() ||
      dirent.isBlockDevice()
    if (typeKnown && !dirent.isDirectory()) {
      if (matcher.records(path)) files.push(path)
      continue
    }
    const st = lstatOrNull(path)
    if (!st) continue
    if (!st.isDirectory()) {
      if (matcher.records(path)) files.push(path)
      continue
    }
    if (matcher.records(path)) entries.push(directoryEntry(path, st, matcher.attributesOf(path).has('mtime')))
    const crossesMount = oneFileSystem && st.dev !== dev
    if (!crossesMount && !PSEUDO_DIRS.has(path) && matcher.mayContain(path)) {
      subdirs.push({ path, dev: String(st.dev) })
    }
  }
  for (let i = FILES_PER_JOB; i < files.length; i += FILES_PER_JOB) {
    jobs.push({ kind: 'files', paths: files.slice(i, i + FILES_PER_JOB) })
  }
  return inspectAll(files.length > FILES_PER_JOB ? files.slice(0, FILES_PER_JOB) : files)
}

function inspectAll(paths: string[]): number {
  let bytes = 0
  for (const path of paths) {
    const want = wantFor(path)
    const r = inspectFile(init.rootDir, { path, want }, cache)
    bytes += r.bytesHashed
    if (!r.entry) continue
    entries.push(r.entry)
    if (r.error) errors.push({ subject: path, message: r.error })
    if (r.stat && r.entry.sha256) {
      digests.push({ ...r.stat, sha256: r.entry.sha256, ...(r.entry.caps ? { caps: r.entry.caps } : {}) })
    }
  }
  return bytes
}

function wantFor(path: string): number {
  const attributes = matcher.attributesOf(path)
  let want = 0
  if (attributes.has('sha256')) want |= WANT.sha256
  if (attributes.has('caps')) want |= WANT.caps
  if (attributes.has('xattrs')) want |= WANT.xattrs
  if (attributes.has('mtime')) want |= WANT.mtime
  return want
}

function lstatOrNull(path: string): BigIntStats | null {
  try {
    return lstatSync(joinRoot(init.rootDir, path), { bigint: true })
  } catch (error) {
    const code = errnoCode(error)
    if (code !== 'ENOENT' && code !== 'ENOTDIR')
      errors.push({ subject: path, message: describeSystemError(error) })
    return null
  }
}
