import { isUtf8 } from 'node:buffer'
import { parentPort } from 'node:worker_threads'
import { PathMatcher } from '../../config/path-matcher.js'
import { describeSystemError, errnoCode } from '../../errors.js'
import { fileEntryJson } from '../../manifest/canonical.js'
import { EntryMatcher } from '../../manifest/entry-index.js'
import type { FileEntry } from '../../manifest/schema.js'
import { LAZY_FILES_MAX } from '../../native/constants.js'
import { fsprobe, NOT_STATED, ST, STAT_FIELDS } from '../../native/fsprobe.js'
import { decodeName } from '../../util/pathname.js'
import { type DirectoryFile, describeErrno, inspectEntry, inspectFiles } from './inspect.js'
import type {
  DirToList,
  FileResult,
  FromWorker,
  ProbeError,
  ToWorker,
  WalkJob,
  WorkerInit,
} from './protocol.js'
import { WANT } from './protocol.js'
import { ByteRateLimit } from './rate-limit.js'
import { deviceOf, entryFromStat, isDirectoryMode } from './record.js'
import { joinRoot } from './root-path.js'
import { CACHE_RECORD_BYTES, encodeRecord, recordContent, StatCache } from './stat-cache.js'

// A walk worker: lists directories and inspects and hashes files. Synchronous I/O is right
// here: this thread does nothing else, and one runs per core. What a job records goes back
// with its answer, except the entries known to be as the manifest has them, by a scan cache
// verdict or by the manifest's entry index: those are only marked, and (unless the scan cache
// wants their stats) nothing of them crosses to the main thread.

/** Kernel and runtime file systems: their contents are not the image's, never walked. */
const PSEUDO_DIRS = new Set(['/proc', '/sys', '/dev', '/run'])
/**
 * Files of one directory inspected in the same job, at most so many or so many bytes (but at
 * least one file); the rest go back to be shared out. Bounded by bytes so that no worker sits
 * on a long queue of large files while another has nothing left.
 */
const FILES_PER_JOB = LAZY_FILES_MAX
const BYTES_PER_JOB = 8 << 20
/**
 * A job goes on depth first into the directories below it for this long, then hands what is
 * left back to be shared: long enough that round trips to the main thread are rare, short
 * enough that no worker sits idle while another holds all the work.
 */
const JOB_BUDGET_MS = 5
/** Directories per job when a job's unlisted directories are handed back. */
const DIRS_PER_JOB = 32
const ENOENT = 2
const ENOTDIR = 20

const port = parentPort
if (!port) throw new Error('walk-worker must run as a worker thread')

// Set by the first message: a worker boots (loads its modules) before the walk is known.
let init: WorkerInit
let matcher: PathMatcher
let oneFileSystem: boolean
let cache = StatCache.empty
let marks: Uint8Array | undefined
let hits: Uint8Array | undefined
let entryMatcher: EntryMatcher | undefined
let hashLimit: ByteRateLimit | undefined
/** Milliseconds this job waited for the hash limit. */
let waitedMs = 0
let entries: FileEntry[] = []
/** The stat each entry was recorded with (array and offset), or undefined when it could not be read. */
let statOf: (Float64Array | number | undefined)[] = []
let errors: ProbeError[] = []
/** Entries recorded in this job, sent or only marked. */
let recorded = 0
/** Scan cache records of this job's entries that matched the manifest (see learn). */
let records: Buffer | undefined
let recordCount = 0
let recordCaps: [number, string][] = []
const hashScratch = new Uint32Array(2)

const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer)

port.on('message', (message: ToWorker) => {
  if (message.type === 'init') {
    init = message.init
    matcher = new PathMatcher(init.files)
    oneFileSystem = init.files.oneFileSystem
    cache = StatCache.fromShared(init.cache)
    marks = init.marks ? new Uint8Array(init.marks) : undefined
    hits = init.hits ? new Uint8Array(init.hits) : undefined
    hashLimit = init.hashLimit ? new ByteRateLimit(init.hashLimit) : undefined
    return
  }
  if (message.type === 'index') {
    marks ??= new Uint8Array(message.marks)
    entryMatcher = new EntryMatcher(message.entryIndex, marks)
    return
  }
  if (message.type === 'finish') {
    send({ type: 'result' })
    return
  }
  const jobs: WalkJob[] = []
  const job = message.job
  let bytes = 0
  if (job.kind === 'files') {
    if (job.dir !== undefined && job.names) {
      const files: ListedFile[] = []
      for (let i = 0, start = 0; i < job.paths.length; i++) {
        files.push({ path: job.paths[i] as string, o: i * STAT_FIELDS, nameStart: start })
        start = job.names.indexOf(0, start) + 1
      }
      bytes += inspectListed(job.dir, job.names, files, job.stats)
    } else {
      for (let i = 0; i < job.paths.length; i++)
        bytes += inspect(job.paths[i] as string, job.stats, i * STAT_FIELDS)
    }
  } else {
    const started = performance.now()
    const local = job.dirs.slice()
    while (local.length > 0 && performance.now() - started < JOB_BUDGET_MS) {
      const dir = local.pop() as DirToList
      bytes += listDirectory(dir.path, dir.dev, local, jobs)
    }
    // What is left goes back in a few jobs, not one per directory: a deep tree leaves
    // thousands of small ones, and each job costs a round trip.
    for (let i = 0; i < local.length; i += DIRS_PER_JOB)
      jobs.push({ kind: 'dirs', dirs: local.slice(i, i + DIRS_PER_JOB) })
  }
  answer(jobs, bytes)
})

/** Sends what this job recorded, with the work split off it, and starts the next job afresh. */
function answer(jobs: WalkJob[], bytes: number): void {
  // JSON crosses to the main thread about twice as fast as a structured clone of the objects.
  // Each entry goes as its canonical JSON, the text the entry index matches.
  let json: string
  let sent: number[] | undefined
  if (entryMatcher && entries.length > 0) {
    // An entry exactly as the manifest has it is marked, not sent: what the scan cache
    // should know of it goes as a record. One that could not be read is never matched.
    const texts = entries.map(fileEntryJson)
    const matched = entryMatcher.match(texts.map((text, k) => (statOf[2 * k] ? text : '')))
    sent = []
    for (let k = 0; k < entries.length; k++) {
      const verdict = matched[k] as number
      if (verdict < 0) sent.push(k)
      else if (init.withStats) learn(k, verdict)
    }
    json = `[${sent.map((k) => texts[k]).join(',')}]`
  } else {
    // Canonical, as the matched ones are: the same entry reads the same in every report.
    json = `[${entries.map(fileEntryJson).join(',')}]`
  }
  const stats = init.withStats ? packStats(sent) : undefined
  const learned = records
    ? records.buffer.slice(records.byteOffset, records.byteOffset + recordCount * CACHE_RECORD_BYTES)
    : undefined
  const transfer = [stats?.buffer, learned].filter((b) => b !== undefined) as ArrayBuffer[]
  send(
    {
      type: 'done',
      jobs,
      entries: json,
      ...(sent ? { checked: true as const } : {}),
      ...(learned ? { records: learned as ArrayBuffer, recordCaps } : {}),
      ...(stats ? { stats } : {}),
      errors,
      files: recorded,
      bytesHashed: bytes,
      waitedMs,
    },
    transfer,
  )
  waitedMs = 0
  entries = []
  statOf = []
  errors = []
  recorded = 0
  records = undefined
  recordCount = 0
  recordCaps = []
}

/**
 * Adds to this job's records what the scan cache should know of entry k, found to be
 * exactly manifest entry `verdict`.
 */
function learn(k: number, verdict: number): void {
  const entry = entries[k] as FileEntry
  const content = recordContent(
    entry,
    verdict,
    entry.type === 'file' && matcher.attributesOf(entry.path).has('caps'),
  )
  if (!content) return
  // Room for every entry of the job, made with the first record.
  records ??= Buffer.alloc(entries.length * CACHE_RECORD_BYTES)
  const record = records.subarray(recordCount * CACHE_RECORD_BYTES, (recordCount + 1) * CACHE_RECORD_BYTES)
  const s = statOf[2 * k] as Float64Array
  encodeRecord(
    joinRoot(init.rootDir, entry.path),
    s,
    statOf[2 * k + 1] as number,
    content,
    record,
    hashScratch,
  )
  if (content.caps) recordCaps.push([recordCount, content.caps])
  recordCount++
}

/** The stats of the entries to send (all, or those numbered in `sent`), STAT_FIELDS doubles each (errno -1: none). */
function packStats(sent?: number[]): Float64Array {
  const count = sent ? sent.length : entries.length
  const out = new Float64Array(count * STAT_FIELDS)
  for (let j = 0; j < count; j++) {
    const k = sent ? (sent[j] as number) : j
    const s = statOf[2 * k] as Float64Array | undefined
    if (s)
      out.set(
        s.subarray(statOf[2 * k + 1] as number, (statOf[2 * k + 1] as number) + STAT_FIELDS),
        j * STAT_FIELDS,
      )
    else out[j * STAT_FIELDS + ST.errno] = NOT_STATED
  }
  return out
}

/** Records an entry to send with the stat it was recorded with. */
function push(entry: FileEntry, s: Float64Array | undefined, o: number): void {
  entries.push(entry)
  statOf.push(s, o)
}

/** Lists one directory (one native call lists and lstats it all) and records what it holds. */
function listDirectory(dir: string, dev: number, subdirs: DirToList[], jobs: WalkJob[]): number {
  let names: Buffer
  let stats: Float64Array
  // Given the scan cache, the same call marks the entries its verdicts say are unchanged.
  let marked: Uint8Array | undefined
  try {
    const fsPath = joinRoot(init.rootDir, dir)
    // Without a cache, a small directory's regular files are not lstat'ed: their stat comes
    // when they are opened to be read (inspectFiles).
    ;[names, stats, marked] =
      marks && hits ? fsprobe.scanDir(fsPath, cache.records, marks, hits) : fsprobe.scanDir(fsPath, true)
  } catch (error) {
    const code = errnoCode(error)
    if (code !== 'ENOENT' && code !== 'ENOTDIR')
      errors.push({ subject: dir, message: describeSystemError(error) })
    return 0
  }
  const prefix = dir === '/' ? '/' : `${dir}/`
  // One decoding for the whole listing when it is UTF-8, as nearly every one is.
  const text = isUtf8(names) ? names.toString('utf8') : undefined
  // Where each name starts, in the text (to slice it) and in the bytes (to hand it back to
  // the file system); the same unless a name holds non-ASCII characters.
  const ascii = text !== undefined && text.length === names.length
  const files: ListedFile[] = []
  let start = 0
  let byteStart = 0
  for (let o = 0, k = 0; o < stats.length; o += STAT_FIELDS, k++) {
    const end = text !== undefined ? text.indexOf('\0', start) : names.indexOf(0, start)
    const nameStart = start
    start = end + 1
    const nameByteStart = ascii ? nameStart : byteStart
    if (!ascii) byteStart = names.indexOf(0, byteStart) + 1
    const errno = stats[o + ST.errno] as number
    // NOT_STATED: a regular file listed by type only, its stat to come (see inspectFiles).
    const stated = errno !== NOT_STATED
    const isDir = errno === 0 && isDirectoryMode(stats[o + ST.mode] as number)
    // A marked entry was recorded by this very policy at the last scan: the policy's answers
    // for its path are known, and only a directory needs its path, to be listed in turn.
    if (marked?.[k]) {
      recorded++
      if (isDir) descend(prefix + nameOf(text, names, nameStart, end), stats, o, dev, subdirs)
      continue
    }
    const path = prefix + nameOf(text, names, nameStart, end)
    if (matcher.isExcluded(path)) continue
    if (errno !== 0 && stated) {
      // Gone between the listing and its lstat: not there.
      if (errno !== ENOENT && errno !== ENOTDIR) errors.push({ subject: path, message: describeErrno(errno) })
      continue
    }
    if (!isDir) {
      if (matcher.records(path)) files.push({ path, o, nameStart: nameByteStart })
      continue
    }
    if (matcher.records(path)) {
      recorded++
      push(entryFromStat(path, stats, o, matcher.attributesOf(path).has('mtime')), stats, o)
    }
    descend(path, stats, o, dev, subdirs)
  }
  // A large directory is split: its first files here, the rest shared out as jobs.
  const parts: ListedFile[][] = []
  let part: ListedFile[] = []
  let partBytes = 0
  for (const f of files) {
    const size = stats[f.o + ST.size] as number
    if (part.length > 0 && (part.length >= FILES_PER_JOB || partBytes + size > BYTES_PER_JOB)) {
      parts.push(part)
      part = []
      partBytes = 0
    }
    part.push(f)
    partBytes += size
  }
  if (part.length > 0) parts.push(part)
  for (let i = 1; i < parts.length; i++) {
    const shared = parts[i] as ListedFile[]
    const partStats = new Float64Array(shared.length * STAT_FIELDS)
    const partNames: Buffer[] = []
    for (const [k, f] of shared.entries()) {
      partStats.set(stats.subarray(f.o, f.o + STAT_FIELDS), k * STAT_FIELDS)
      partNames.push(names.subarray(f.nameStart, names.indexOf(0, f.nameStart) + 1))
    }
    jobs.push({
      kind: 'files',
      paths: shared.map((f) => f.path),
      stats: partStats,
      dir,
      names: Buffer.concat(partNames),
    })
  }
  return parts[0] ? inspectListed(dir, names, parts[0], stats) : 0
}

/** A file of a directory listing: its path, where its name starts in the listing's names (bytes), and its lstat's offset. */
interface ListedFile {
  path: string
  o: number
  nameStart: number
}

function nameOf(text: string | undefined, names: Buffer, start: number, end: number): string {
  return text !== undefined ? text.slice(start, end) : decodeName(names.subarray(start, end))
}

/** Queues a subdirectory to list, unless it is on another file system or out of the policy's reach. */
function descend(path: string, stats: Float64Array, o: number, dev: number, subdirs: DirToList[]): void {
  const subdirDev = deviceOf(stats, o)
  const crossesMount = oneFileSystem && subdirDev !== dev
  if (!crossesMount && !PSEUDO_DIRS.has(path) && matcher.mayContain(path))
    subdirs.push({ path, dev: subdirDev })
}

/** Records a file that no verdict marked. */
function inspect(path: string, stats: Float64Array, o: number): number {
  return paid(record(path, inspectEntry(init.rootDir, path, stats, o, wantFor(path), cache), stats, o))
}

/** Bytes just read to hash, paid for to the hash limit (waiting when it is spent). */
function paid(bytes: number): number {
  if (hashLimit) waitedMs += hashLimit.pay(bytes)
  return bytes
}

/** Records files of one directory that no verdict marked, their contents read in one native call. */
function inspectListed(dir: string, names: Buffer, files: ListedFile[], stats: Float64Array): number {
  const list: DirectoryFile[] = files.map((f) => ({
    path: f.path,
    o: f.o,
    nameStart: f.nameStart,
    want: wantFor(f.path),
  }))
  const results = inspectFiles(init.rootDir, dir, names, list, stats, cache)
  let bytes = 0
  for (let k = 0; k < list.length; k++) {
    const f = list[k] as DirectoryFile
    bytes += record(f.path, results[k] as FileResult, stats, f.o)
  }
  return paid(bytes)
}

/** Records what inspecting a file found, with the stat it was recorded with (the lstat at `o` unless it was read). */
function record(path: string, r: FileResult, stats: Float64Array, o: number): number {
  if (!r.entry) return r.bytesHashed
  recorded++
  if (r.error) {
    errors.push({ subject: path, message: r.error })
    push(r.entry, undefined, 0)
  } else if (r.stat) push(r.entry, r.stat, r.statOffset ?? 0)
  else push(r.entry, stats, o)
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
