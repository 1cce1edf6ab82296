import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { DriftwatchError, errnoCode } from '../errors.js'

/** One undelivered report in the spool: its file, in the order it was written. */
export interface SpoolEntry {
  /** Order of writing; the oldest is sent first. */
  seq: number
  reportId: string
  /** Reports dropped before this one was written, whose count it carries to the collector. */
  carried: number
  file: string
  bytes: number
}

export interface SpoolLimits {
  maxReports: number
  maxBytes: number
}

/** What the spool tells its owner (the daemon logs and counts it). */
export interface SpoolObserver {
  dropped?(entry: SpoolEntry, reason: string): void
  discarded?(file: string, reason: string): void
}

/** `<seq>-<reportId>-<carried>.json.gz`: the order, the id and the carried count, readable without opening it. */
const ENTRY_NAME = /^(\d{12})-([0-9a-f-]{36})-(\d+)\.json\.gz$/
const DROPPED_FILE = 'dropped'
const REJECTED_DIR = 'rejected'
/** Reports the collector refused for good, kept for an operator to look at. */
const MAX_REJECTED = 20

/**
 * Undelivered reports, durable in the state directory: each written to a temporary file,
 * fsynced and renamed (then the directory fsynced), so that a crash leaves either the whole
 * report or none of it. Removed only once the collector acknowledged it; sent oldest first.
 * Bounded: past its limits the oldest are dropped, and how many is carried by the next report.
 */
export class Spool {
  readonly dir: string
  #limits: SpoolLimits
  #observer: SpoolObserver
  #entries: SpoolEntry[] = []
  #nextSeq = 1
  #dropped = 0

  private constructor(dir: string, limits: SpoolLimits, observer: SpoolObserver) {
    this.dir = dir
    this.#limits = limits
    this.#observer = observer
  }

  /**
   * Opens (and makes) the spool in `dir`, checking that it can be written: a spool that cannot
   * keep a report is an error now, not a silent loss later. Leftover temporary files (a write
   * that a crash cut short) are removed; they were never acknowledged as spooled.
   */
  static open(dir: string, limits: SpoolLimits, observer: SpoolObserver = {}): Spool {
    const spool = new Spool(dir, limits, observer)
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      const probe = join(dir, `.write-check.${process.pid}.tmp`)
      closeSync(openSync(probe, 'w', 0o600))
      unlinkSync(probe)
    } catch (error) {
      throw spoolError(dir, 'cannot write to the spool', error)
    }
    for (const name of readdirSync(dir)) {
      if (name.endsWith('.tmp')) {
        tryUnlink(join(dir, name))
        observer.discarded?.(name, 'a write cut short (the agent stopped while writing it)')
        continue
      }
      const match = ENTRY_NAME.exec(name)
      if (!match) continue
      const file = join(dir, name)
      let bytes = 0
      try {
        bytes = statSync(file).size
      } catch {
        continue
      }
      spool.#entries.push({
        seq: Number(match[1]),
        reportId: match[2] ?? '',
        carried: Number(match[3]),
        file,
        bytes,
      })
    }
    spool.#entries.sort((a, b) => a.seq - b.seq)
    spool.#nextSeq = (spool.#entries.at(-1)?.seq ?? 0) + 1
    spool.#dropped = readCount(join(dir, DROPPED_FILE))
    return spool
  }

  set limits(limits: SpoolLimits) {
    this.#limits = limits
  }

  /** The undelivered reports, oldest first. */
  entries(): readonly SpoolEntry[] {
    return this.#entries
  }

  get bytes(): number {
    let total = 0
    for (const entry of this.#entries) total += entry.bytes
    return total
  }

  /** Reports dropped and not yet told to the collector: the next report added carries the count. */
  get dropped(): number {
    return this.#dropped
  }

  /**
   * Writes a report durably (`body`: what is sent, gzipped JSON) and only then returns. The
   * report carries `carried` dropped reports (the count it holds); the spool's own count goes
   * down by as much. Then the oldest entries go until the spool is within its limits again.
   */
  add(reportId: string, body: Buffer, carried: number): SpoolEntry {
    const seq = this.#nextSeq++
    const name = `${String(seq).padStart(12, '0')}-${reportId}-${carried}.json.gz`
    const file = join(this.dir, name)
    writeDurably(this.dir, file, body)
    const entry: SpoolEntry = { seq, reportId, carried, file, bytes: body.length }
    this.#entries.push(entry)
    if (carried > 0) this.#setDropped(Math.max(0, this.#dropped - carried))
    this.#enforceLimits(entry)
    return entry
  }

  /**
   * Drops the oldest entries until one more report fits under maxReports: called before a
   * report is made, so that it carries the count of the drops its own arrival caused.
   */
  makeRoom(): void {
    while (this.#entries.length >= this.#limits.maxReports) {
      const oldest = this.#entries.shift()
      if (!oldest) break
      this.#drop(oldest, 'maxReports')
    }
  }

  read(entry: SpoolEntry): Buffer {
    return readFileSync(entry.file)
  }

  /** The collector acknowledged it: gone for good. */
  remove(entry: SpoolEntry): void {
    tryUnlink(entry.file)
    this.#entries = this.#entries.filter((e) => e !== entry)
  }

  /**
   * The collector refused it for good (it will never accept these bytes): moved aside, so it
   * neither blocks the reports behind it nor is lost without a trace.
   */
  reject(entry: SpoolEntry): string {
    const dir = join(this.dir, REJECTED_DIR)
    const target = join(dir, `${entry.reportId}.json.gz`)
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 })
      renameSync(entry.file, target)
      const kept = readdirSync(dir).sort((a, b) => mtime(join(dir, a)) - mtime(join(dir, b)))
      for (const old of kept.slice(0, Math.max(0, kept.length - MAX_REJECTED))) tryUnlink(join(dir, old))
    } catch {
      tryUnlink(entry.file)
    }
    this.#entries = this.#entries.filter((e) => e !== entry)
    return target
  }

  #enforceLimits(newest: SpoolEntry): void {
    const { maxReports, maxBytes } = this.#limits
    let bytes = this.bytes
    while (this.#entries.length > 0) {
      const oldest = this.#entries[0]
      // The report just written always stays: it is the freshest word about the host.
      if (!oldest || oldest === newest) break
      const over =
        this.#entries.length > maxReports ? 'maxReports' : bytes > maxBytes ? 'maxBytes' : undefined
      if (!over) break
      this.#entries.shift()
      bytes -= oldest.bytes
      this.#drop(oldest, over)
    }
  }

  #drop(entry: SpoolEntry, limit: string): void {
    tryUnlink(entry.file)
    this.#setDropped(this.#dropped + 1 + entry.carried)
    this.#observer.dropped?.(entry, `the spool is at spool.${limit}`)
  }

  #setDropped(count: number): void {
    this.#dropped = count
    writeDurably(this.dir, join(this.dir, DROPPED_FILE), Buffer.from(`${count}\n`))
  }
}

/** Temporary file, write, fsync, rename, fsync of the directory: whole or absent after any crash. */
function writeDurably(dir: string, file: string, data: Buffer): void {
  const tmp = `${file}.${process.pid}.tmp`
  let fd: number | undefined
  try {
    fd = openSync(tmp, 'wx', 0o600)
    writeSync(fd, data)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    renameSync(tmp, file)
    const dirFd = openSync(dir, 'r')
    try {
      fsyncSync(dirFd)
    } finally {
      closeSync(dirFd)
    }
  } catch (error) {
    if (fd !== undefined) closeSync(fd)
    tryUnlink(tmp)
    throw spoolError(dir, `cannot write ${file}`, error)
  }
}

function spoolError(dir: string, what: string, error: unknown): DriftwatchError {
  const code = errnoCode(error)
  const why =
    code === 'ENOSPC'
      ? 'the disk is full'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EROFS'
          ? 'the file system is read-only'
          : (code ?? String(error))
  return new DriftwatchError('IO', `spool ${dir}: ${what}: ${why}`, {
    hint:
      code === 'ENOSPC'
        ? 'free space on that file system, or lower spool.maxBytes in agent.yaml'
        : 'stateDir in agent.yaml must be a directory the agent can write (systemd: StateDirectory=driftwatch)',
    cause: error,
  })
}

function readCount(file: string): number {
  try {
    const value = Number(readFileSync(file, 'utf8').trim())
    return Number.isSafeInteger(value) && value > 0 ? value : 0
  } catch {
    return 0
  }
}

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs
  } catch {
    return 0
  }
}

function tryUnlink(file: string): void {
  try {
    unlinkSync(file)
  } catch {}
}
