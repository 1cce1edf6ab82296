import { parentPort, workerData } from 'node:worker_threads'
import { PathMatcher } from '../../config/path-matcher.js'
import { describeSystemError, errnoCode } from '../../errors.js'
import type { FileEntry } from '../../manifest/schema.js'
import { fsprobe, ST, STAT_FIELDS } from '../../native/fsprobe.js'
import { decodeName } from '../../util/pathname.js'
import { describeErrno, inspectEntry } from './inspect.js'
import type { FromWorker, ProbeError, ToWorker, WalkJob, WorkerInit } from './protocol.js'
import { WANT } from './protocol.js'
import { deviceOf, entryFromStat, isDirectoryMode } from './record.js'
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
const ENOENT = 2
const ENOTDIR = 20

const init = workerData as WorkerInit
const port = parentPort
if (!port) throw new Error('walk-worker must run as a worker thread')

const matcher = new PathMatcher(init.files)
const oneFileSystem = init.files.oneFileSystem
const cache = StatCache.fromShared(init.cache)
let entries: FileEntry[] = []
let errors: ProbeError[] = []
const digests: CacheRecord[] = []
let fresh = 0

const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer)

port.on('message', (message: ToWorker) => {
  if (message.type === 'finish') {
    const encoded = encodeRecords(digests)
    send({ type: 'result', digests: encoded, fresh }, [encoded.buffer as ArrayBuffer])
    return
  }
  const jobs: WalkJob[] = []
  const job = message.job
  let bytes = 0
  if (job.kind === 'files') {
    for (let i = 0; i < job.paths.length; i++)
      bytes += inspect(job.paths[i] as string, job.stats, i * STAT_FIELDS)
  } else {
    const started = performance.now()
    const local: { path: string; dev: number }[] = [job]
    while (local.length > 0 && performance.now() - started < JOB_BUDGET_MS) {
      const dir = local.pop() as { path: string; dev: number }
      bytes += listDirectory(dir.path, dir.dev, local, jobs)
    }
    for (const dir of local) jobs.push({ kind: 'dir', ...dir })
  }
  // JSON crosses to the main thread about twice as fast as a structured clone of the objects.
  send({
    type: 'done',
    jobs,
    entries: JSON.stringify(entries),
    errors,
    files: entries.length,
    bytesHashed: bytes,
  })
  entries = []
  errors = []
})

/** Lists one directory (one native call lists and lstats it all) and records what it holds. */
function listDirectory(
  dir: string,
  dev: number,
  subdirs: { path: string; dev: number }[],
  jobs: WalkJob[],
): number {
  let names: Buffer
  let stats: Float64Array
  try {
    ;[names, stats] = fsprobe.scanDir(joinRoot(init.rootDir, dir))
  } catch (error) {
    const code = errnoCode(error)
    if (code !== 'ENOENT' && code !== 'ENOTDIR')
      errors.push({ subject: dir, message: describeSystemError(error) })
    return 0
  }
  const prefix = dir === '/' ? '/' : `${dir}/`
  const files: { path: string; o: number }[] = []
  let start = 0
  for (let o = 0; o < stats.length; o += STAT_FIELDS) {
    const end = names.indexOf(0, start)
    const path = prefix + decodeName(names.subarray(start, end))
    start = end + 1
    if (matcher.isExcluded(path)) continue
    const errno = stats[o + ST.errno] as number
    if (errno !== 0) {
      // Gone between the listing and its lstat: not there.
      if (errno !== ENOENT && errno !== ENOTDIR) errors.push({ subject: path, message: describeErrno(errno) })
      continue
    }
    if (!isDirectoryMode(stats[o + ST.mode] as number)) {
      if (matcher.records(path)) files.push({ path, o })
      continue
    }
    if (matcher.records(path))
      entries.push(entryFromStat(path, stats, o, matcher.attributesOf(path).has('mtime')))
    const subdirDev = deviceOf(stats, o)
    const crossesMount = oneFileSystem && subdirDev !== dev
    if (!crossesMount && !PSEUDO_DIRS.has(path) && matcher.mayContain(path))
      subdirs.push({ path, dev: subdirDev })
  }
  // A large directory is split: its first files here, the rest shared out as jobs.
  for (let i = FILES_PER_JOB; i < files.length; i += FILES_PER_JOB) {
    const part = files.slice(i, i + FILES_PER_JOB)
    const partStats = new Float64Array(part.length * STAT_FIELDS)
    for (const [k, f] of part.entries())
      partStats.set(stats.subarray(f.o, f.o + STAT_FIELDS), k * STAT_FIELDS)
    jobs.push({ kind: 'files', paths: part.map((f) => f.path), stats: partStats })
  }
  let bytes = 0
  for (const f of files.slice(0, FILES_PER_JOB)) bytes += inspect(f.path, stats, f.o)
  return bytes
}

function inspect(path: string, stats: Float64Array, o: number): number {
  const r = inspectEntry(init.rootDir, path, stats, o, wantFor(path), cache)
  if (!r.entry) return r.bytesHashed
  entries.push(r.entry)
  if (r.error) errors.push({ subject: path, message: r.error })
  if (r.stat && r.entry.sha256 && !r.cached) fresh++
  if (r.stat && r.entry.sha256)
    digests.push({ stat: r.stat, sha256: r.entry.sha256, ...(r.entry.caps ? { caps: r.entry.caps } : {}) })
  return r.bytesHashed
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
