import { createHash } from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs'
import { lstat, open, readFile, readlink } from 'node:fs/promises'
import Database from 'better-sqlite3'
import { DriftwatchError, describeSystemError, errnoCode } from '../errors.js'
import { type PackageRecord, packageSubject } from '../manifest/schema.js'
import { compareCodeUnits } from '../util/compare.js'
import { decodeName } from '../util/pathname.js'
import { joinRoot } from './files/root-path.js'
import { resolveInRoot } from './root-fs.js'
import type { PackageFile, Probe, ProbeContext } from './types.js'

/*
 * The rpm database read directly, never through the rpm command. Every backend keeps the
 * same thing per installed package: its header blob, rpm's own serialisation (lib/header.c,
 * "header structure" in the RPM file format docs):
 *
 *   il: uint32 BE   number of index entries
 *   dl: uint32 BE   length of the data store
 *   il × { tag, type, offset, count: uint32 BE }   offset is into the data store
 *   dl bytes of data store
 *
 * Headers installed by rpm start with a region entry (tag 63) and may carry "dribble" entries
 * after it that were added later (install time, file states); a dribble entry replaces the
 * region's entry of the same tag, so the last entry of a tag wins.
 */

const TAG = {
  name: 1000,
  version: 1001,
  release: 1002,
  epoch: 1003,
  arch: 1022,
  oldFilenames: 1027,
  fileStates: 1029,
  fileModes: 1030,
  fileDigests: 1035,
  fileLinkTos: 1036,
  fileFlags: 1037,
  dirIndexes: 1116,
  baseNames: 1117,
  dirNames: 1118,
  fileDigestAlgo: 5011,
} as const

const TYPE = { char: 1, int8: 2, int16: 3, int32: 4, string: 6, stringArray: 8, i18nString: 9 } as const

// lib/header.c: hdrchkTags / hdrchkData, what rpm itself accepts.
const MAX_TAGS = 0xffff
const MAX_DATA = 0x0fffffff
// A header read from a package file or `rpmdb --exportdb` output is prefixed by this magic.
const HEADER_MAGIC = 0x8eade801

/** rpm's RPMFILE_* attributes (lib/rpmfiles.h). */
export const RPMFILE = { config: 1, doc: 2, missingOk: 8, noReplace: 16, ghost: 64 } as const
/** rpm's RPMFILE_STATE_* (lib/rpmfiles.h), kept per file in FILESTATES. */
export const RPMFILE_STATE = { normal: 0, replaced: 1, notInstalled: 2, netShared: 3, wrongColor: 4 } as const

// PGPHASHALGO_* (rpmio/rpmpgp.h). Older packages have no FILEDIGESTALGO: their digests are MD5.
const DIGEST_ALGORITHMS: Record<number, 'md5' | 'sha1' | 'sha256'> = { 1: 'md5', 2: 'sha1', 8: 'sha256' }

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000

/** A file of an rpm package, with what verification needs beyond the shared record. */
export interface RpmPackageFile extends PackageFile {
  /** RPMFILE_* attributes: %config, %doc, %ghost, %missingok, … */
  flags: number
  /** RPMFILE_STATE_*: a file excluded at install (--excludedocs, another arch's colour) is not on disk. */
  state: number
  /** st_mode as packaged (file type and permissions); 0 when the header has none. */
  mode: number
  /** The target of a packaged symbolic link. */
  linkTarget?: string
}

/** One package's header, parsed. */
export interface RpmHeader {
  pkg: PackageRecord
  files: RpmPackageFile[]
}

interface IndexEntry {
  type: number
  offset: number
  count: number
}

function headerError(message: string): DriftwatchError {
  return new DriftwatchError('INPUT_INVALID', `rpm header: ${message}`, {
    hint: 'the rpm database may be damaged; on the host, `rpmdb --verifydb` and `rpmdb --rebuilddb` check and rebuild it',
  })
}

/** Reads the typed values of one header's index entries; every read is bounds-checked. */
class HeaderReader {
  private readonly entries = new Map<number, IndexEntry>()
  private readonly data: Buffer

  constructor(blob: Buffer) {
    let start = 0
    if (blob.length >= 8 && blob.readUInt32BE(0) === HEADER_MAGIC) start = 8
    if (blob.length < start + 8) {
      throw headerError(`truncated: ${blob.length} bytes, the index and data counts alone need ${start + 8}`)
    }
    const il = blob.readUInt32BE(start)
    const dl = blob.readUInt32BE(start + 4)
    if (il === 0 || il > MAX_TAGS) throw headerError(`${il} index entries (rpm accepts 1 to ${MAX_TAGS})`)
    if (dl > MAX_DATA) throw headerError(`data store of ${dl} bytes (rpm accepts up to ${MAX_DATA})`)
    const dataStart = start + 8 + il * 16
    const size = dataStart + dl
    if (blob.length < size) {
      throw headerError(
        `truncated: ${blob.length} bytes, its ${il} index entries and ${dl} data bytes need ${size}`,
      )
    }
    if (blob.length > size) {
      throw headerError(`${blob.length - size} bytes after its ${il} index entries and ${dl} data bytes`)
    }
    this.data = blob.subarray(dataStart, size)
    for (let i = 0; i < il; i++) {
      const at = start + 8 + i * 16
      const tag = blob.readUInt32BE(at)
      const type = blob.readUInt32BE(at + 4)
      const offset = blob.readUInt32BE(at + 8)
      const count = blob.readUInt32BE(at + 12)
      if (type > 9) throw headerError(`tag ${tag}: unknown type ${type}`)
      if (offset > dl) throw headerError(`tag ${tag}: offset ${offset} is beyond the ${dl} data bytes`)
      this.entries.set(tag, { type, offset, count })
    }
  }

  /** The raw bytes of each string of a STRING, I18NSTRING or STRING_ARRAY tag. */
  rawStrings(tag: number): Buffer[] | undefined {
    const entry = this.entries.get(tag)
    if (entry === undefined) return undefined
    if (entry.type !== TYPE.string && entry.type !== TYPE.stringArray && entry.type !== TYPE.i18nString) {
      throw headerError(`tag ${tag}: type ${entry.type} where strings were expected`)
    }
    if (entry.type === TYPE.string && entry.count !== 1) {
      throw headerError(`tag ${tag}: a STRING with count ${entry.count}`)
    }
    const out: Buffer[] = []
    let at = entry.offset
    for (let i = 0; i < entry.count; i++) {
      const end = this.data.indexOf(0, at)
      if (end < 0) throw headerError(`tag ${tag}: string ${i + 1} of ${entry.count} is not terminated`)
      out.push(this.data.subarray(at, end))
      at = end + 1
    }
    return out
  }

  strings(tag: number): string[] | undefined {
    return this.rawStrings(tag)?.map((raw) => raw.toString('utf8'))
  }

  /** The first string of a tag (an I18NSTRING's first is its untranslated "C" text). */
  string(tag: number): string | undefined {
    return this.strings(tag)?.[0]
  }

  /** The values of an integer tag; CHAR and INT8 as signed bytes (FILESTATES uses -1). */
  ints(tag: number): number[] | undefined {
    const entry = this.entries.get(tag)
    if (entry === undefined) return undefined
    const width =
      entry.type === TYPE.char || entry.type === TYPE.int8
        ? 1
        : entry.type === TYPE.int16
          ? 2
          : entry.type === TYPE.int32
            ? 4
            : 0
    if (width === 0) throw headerError(`tag ${tag}: type ${entry.type} where integers were expected`)
    if (entry.offset + entry.count * width > this.data.length) {
      throw headerError(`tag ${tag}: ${entry.count} values at offset ${entry.offset} overrun the data store`)
    }
    const out = new Array<number>(entry.count)
    for (let i = 0; i < entry.count; i++) {
      const at = entry.offset + i * width
      out[i] =
        width === 1
          ? this.data.readInt8(at)
          : width === 2
            ? this.data.readUInt16BE(at)
            : this.data.readUInt32BE(at)
    }
    return out
  }

  int(tag: number): number | undefined {
    return this.ints(tag)?.[0]
  }
}

function required(value: string | undefined, tag: number, what: string): string {
  if (value === undefined || value === '') throw headerError(`no ${what} (tag ${tag})`)
  return value
}

function perFile<T>(values: T[] | undefined, files: number, tag: number, fallback: T): T[] {
  if (values === undefined) return new Array<T>(files).fill(fallback)
  if (values.length !== files) throw headerError(`tag ${tag}: ${values.length} values for ${files} files`)
  return values
}

/** The file paths of a header: DIRNAMES[DIRINDEXES[i]] + BASENAMES[i], or pre-4.0 OLDFILENAMES. */
function filePaths(h: HeaderReader): string[] {
  const baseNames = h.rawStrings(TAG.baseNames)
  if (baseNames === undefined) return (h.rawStrings(TAG.oldFilenames) ?? []).map(decodeName)
  const dirNames = h.rawStrings(TAG.dirNames)?.map(decodeName)
  const dirIndexes = h.ints(TAG.dirIndexes)
  if (dirNames === undefined || dirIndexes === undefined) {
    throw headerError(`BASENAMES (tag ${TAG.baseNames}) without DIRNAMES or DIRINDEXES`)
  }
  if (dirIndexes.length !== baseNames.length) {
    throw headerError(`${dirIndexes.length} DIRINDEXES for ${baseNames.length} BASENAMES`)
  }
  return baseNames.map((base, i) => {
    const dir = dirNames[dirIndexes[i] as number]
    if (dir === undefined) {
      throw headerError(`file ${i}: directory index ${dirIndexes[i]} of ${dirNames.length}`)
    }
    return dir + decodeName(base)
  })
}

/**
 * An installed package's header blob as the rpm database keeps it: the package record
 * (version `[epoch:]version-release`, as rpm's %{EVR}) and the files it owns with rpm's digests.
 */
export function parseRpmHeader(blob: Buffer): RpmHeader {
  const h = new HeaderReader(blob)
  const name = required(h.string(TAG.name), TAG.name, 'NAME')
  const version = required(h.string(TAG.version), TAG.version, 'VERSION')
  const release = required(h.string(TAG.release), TAG.release, 'RELEASE')
  const epoch = h.int(TAG.epoch)
  const pkg: PackageRecord = {
    manager: 'rpm',
    name,
    // gpg-pubkey pseudo-packages (imported signing keys) have no ARCH; rpm prints "(none)".
    arch: h.string(TAG.arch) || '(none)',
    version: `${epoch === undefined ? '' : `${epoch}:`}${version}-${release}`,
  }

  const paths = filePaths(h)
  const n = paths.length
  const algoId = h.int(TAG.fileDigestAlgo) ?? 1
  // sha224/384/512 have no name in the shared record: those files are checked for presence only.
  const algorithm = DIGEST_ALGORITHMS[algoId]
  const digests = perFile(h.strings(TAG.fileDigests), n, TAG.fileDigests, '')
  const flags = perFile(h.ints(TAG.fileFlags), n, TAG.fileFlags, 0)
  const states = perFile(h.ints(TAG.fileStates), n, TAG.fileStates, RPMFILE_STATE.normal)
  const modes = perFile(h.ints(TAG.fileModes), n, TAG.fileModes, 0)
  const links = perFile(h.strings(TAG.fileLinkTos), n, TAG.fileLinkTos, '')
  const files = paths.map((path, i): RpmPackageFile => {
    const file: RpmPackageFile = {
      path,
      flags: flags[i] as number,
      state: states[i] as number,
      mode: modes[i] as number,
    }
    const digest = digests[i]
    if (digest && algorithm !== undefined) file.digest = { algorithm, value: digest.toLowerCase() }
    if ((file.flags & RPMFILE.config) !== 0) file.conffile = true
    const link = links[i]
    if (link) file.linkTarget = link
    return file
  })
  return { pkg, files }
}

/** Where an rpm database was found: the directory inside the root and its backend. */
export interface RpmDatabaseLocation {
  /** The database directory, absolute inside the root (links resolved inside it). */
  dir: string
  backend: 'sqlite' | 'bdb' | 'ndb'
  /** The database file on the host's file system (under the root). */
  file: string
}

// rpm >= 4.17 distributions (Fedora 36+, openSUSE) moved the database under /usr and left
// /var/lib/rpm as a link to it; everyone else keeps /var/lib/rpm.
const DB_DIRS = ['/usr/lib/sysimage/rpm', '/var/lib/rpm']
const DB_FILES = [
  { name: 'rpmdb.sqlite', backend: 'sqlite' },
  { name: 'Packages', backend: 'bdb' },
  { name: 'Packages.db', backend: 'ndb' },
] as const

/** The root's rpm database, or undefined when the root has none (not an rpm system). */
export function locateRpmDatabase(ctx: ProbeContext): RpmDatabaseLocation | undefined {
  for (const dir of DB_DIRS) {
    const resolved = resolveInRoot(ctx.rootDir, dir)
    if (resolved === undefined) continue
    for (const { name, backend } of DB_FILES) {
      const path = resolved === '/' ? `/${name}` : `${resolved}/${name}`
      const file = joinRoot(ctx.rootDir, path)
      if (typeof file === 'string' && existsSync(file)) return { dir: resolved, backend, file }
    }
  }
  return undefined
}

type BlobVisitor = (hnum: number, blob: Buffer) => void

/** Hands every header blob of the database with its instance number to `visit`, one at a time. */
function readHeaderBlobs(location: RpmDatabaseLocation, visit: BlobVisitor): void {
  switch (location.backend) {
    case 'sqlite':
      readSqliteBlobs(location.file, visit)
      return
    case 'bdb':
      readBdbBlobs(location.file, visit)
      return
    case 'ndb':
      throw new DriftwatchError(
        'INPUT_INVALID',
        `${location.file}: rpm ndb databases are not supported yet`,
        {
          hint: 'on the host, `rpmdb --rebuilddb --define "_db_backend sqlite"` converts it to sqlite',
        },
      )
  }
}

/** The parsed headers of the root's rpm database; [] when the root has none. */
export function readRpmHeaders(ctx: ProbeContext): RpmHeader[] {
  const location = locateRpmDatabase(ctx)
  if (location === undefined) return []
  const headers: { hnum: number; header: RpmHeader }[] = []
  readHeaderBlobs(location, (hnum, blob) => {
    try {
      headers.push({ hnum, header: parseRpmHeader(blob) })
    } catch (error) {
      if (!(error instanceof DriftwatchError)) throw error
      throw new DriftwatchError('INPUT_INVALID', `${location.file}: package #${hnum}: ${error.message}`, {
        hint: error.hint,
        cause: error,
      })
    }
  })
  return headers.sort((a, b) => a.hnum - b.hnum).map(({ header }) => header)
}

/** Name, then arch, then version: a stable order whatever order packages were installed in. */
function comparePackages(a: PackageRecord, b: PackageRecord): number {
  return (
    compareCodeUnits(a.name, b.name) ||
    compareCodeUnits(a.arch, b.arch) ||
    compareCodeUnits(a.version, b.version)
  )
}

/**
 * The packages of the root's rpm database and the files each owns, keyed by package subject
 * (`rpm:<name>:<arch>`; packages installed in several versions, like kernels, share one list).
 */
export function readRpmDatabase(ctx: ProbeContext): {
  packages: PackageRecord[]
  files: Map<string, PackageFile[]>
} {
  const packages: PackageRecord[] = []
  const files = new Map<string, PackageFile[]>()
  const headers = readRpmHeaders(ctx).sort((a, b) => comparePackages(a.pkg, b.pkg))
  for (const { pkg, files: owned } of headers) {
    packages.push(pkg)
    const subject = packageSubject(pkg)
    const list = files.get(subject)
    const shared = owned.map(toPackageFile)
    if (list === undefined) files.set(subject, shared)
    else list.push(...shared)
  }
  return { packages, files }
}

function toPackageFile(file: RpmPackageFile): PackageFile {
  const out: PackageFile = { path: file.path }
  if (file.digest !== undefined) out.digest = file.digest
  if (file.conffile) out.conffile = true
  return out
}

/** The installed rpm packages of the root; [] when the root has no rpm database. */
export const rpmProbe: Probe<PackageRecord[]> = {
  name: 'rpm',
  async collect(ctx) {
    return readRpmDatabase(ctx).packages
  },
}

// ---------------------------------------------------------------------------------------------
// sqlite backend (rpm >= 4.16: Fedora 33+, RHEL 9, Amazon Linux 2023, Debian's rpm)

const SQLITE_MAGIC = 'SQLite format 3\0'

function readSqliteBlobs(file: string, visit: BlobVisitor): void {
  const head = Buffer.alloc(100)
  const fd = openSync(file, 'r')
  try {
    readSync(fd, head, 0, 100, 0)
  } finally {
    closeSync(fd)
  }
  if (head.toString('latin1', 0, 16) !== SQLITE_MAGIC) {
    throw new DriftwatchError('INPUT_INVALID', `${file}: not an sqlite database`, {
      hint: 'the rpm database may be damaged; on the host, `rpmdb --rebuilddb` rebuilds it',
    })
  }
  // rpm keeps its database in WAL mode. Opening a WAL database, even read-only, creates its
  // -shm and -wal files when they are missing: a write to the root, and impossible on a
  // read-only mount. sqlite removes the -shm only when the last connection closes, after
  // checkpointing, so without one the main file alone is the whole database: read a private
  // copy of it instead, switched to rollback mode so that sqlite needs no -shm.
  const wal = head[18] === 2
  if (wal && !existsSync(`${file}-shm`)) {
    querySqlite(file, sqliteCopy(file), visit)
    return
  }
  let db: Database.Database | undefined
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
    // The first statement is where a -shm that cannot be used shows.
    db.prepare('SELECT 1 FROM sqlite_master').get()
  } catch (error) {
    db?.close()
    // A read-only mount whose -shm sqlite cannot map: the copy reads all that was checkpointed.
    if (!wal || !(isSqliteError(error, 'SQLITE_CANTOPEN') || isSqliteError(error, 'SQLITE_READONLY'))) {
      throw error
    }
    db = sqliteCopy(file)
  }
  querySqlite(file, db, visit)
}

function sqliteCopy(file: string): Database.Database {
  const bytes = readFileSync(file)
  bytes[18] = 1
  bytes[19] = 1
  return new Database(bytes, { readonly: true })
}

/** True for better-sqlite3's error of that primary code or any of its extended codes. */
function isSqliteError(error: unknown, code: string): boolean {
  return errnoCode(error)?.startsWith(code) === true
}

function querySqlite(file: string, db: Database.Database, visit: BlobVisitor): void {
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'Packages'").get()
    if (table === undefined) {
      throw new DriftwatchError('INPUT_INVALID', `${file}: no Packages table, not an rpm database`, {
        hint: 'the rpm database may be damaged; on the host, `rpmdb --rebuilddb` rebuilds it',
      })
    }
    const rows = db.prepare('SELECT hnum, blob FROM Packages ORDER BY hnum').iterate() as IterableIterator<{
      hnum: number
      blob: unknown
    }>
    for (const { hnum, blob } of rows) {
      if (!Buffer.isBuffer(blob)) {
        throw new DriftwatchError('INPUT_INVALID', `${file}: package #${hnum}: its header is not a blob`, {
          hint: 'the rpm database may be damaged; on the host, `rpmdb --rebuilddb` rebuilds it',
        })
      }
      visit(hnum, blob)
    }
  } finally {
    db.close()
  }
}

// ---------------------------------------------------------------------------------------------
// Berkeley DB backend (rpm < 4.16: RHEL/CentOS 7 and 8, Amazon Linux 2, SLES 12/15 SP2).
// `Packages` is a BDB hash database: key = header instance (uint32, the writer's byte order),
// value = header blob. Layout from libdb's dbinc/db_page.h; only what rpm writes is read.

const BDB_HASH_MAGIC = 0x061561
const BDB_PAGE_HEADER = 26
const P_HASH_UNSORTED = 2
const P_OVERFLOW = 7
const P_HASHMETA = 8
const P_HASH = 13
const H_KEYDATA = 1
const H_OFFPAGE = 3

function bdbError(file: string, message: string): DriftwatchError {
  return new DriftwatchError('INPUT_INVALID', `${file}: ${message}`, {
    hint: 'the rpm database may be damaged; on the host, `rpmdb --rebuilddb` rebuilds it',
  })
}

function readBdbBlobs(file: string, visit: BlobVisitor): void {
  const fd = openSync(file, 'r')
  try {
    const meta = Buffer.alloc(512)
    if (readSync(fd, meta, 0, 512, 0) < 512) throw bdbError(file, 'too short for a Berkeley DB file')
    const le = meta.readUInt32LE(12) === BDB_HASH_MAGIC
    if (!le && meta.readUInt32BE(12) !== BDB_HASH_MAGIC) {
      throw bdbError(file, 'not a Berkeley DB hash database')
    }
    const u32 = (b: Buffer, at: number) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at))
    const u16 = (b: Buffer, at: number) => (le ? b.readUInt16LE(at) : b.readUInt16BE(at))
    const pageSize = u32(meta, 20)
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
      throw bdbError(file, `page size ${pageSize}`)
    }
    if (meta[24] !== 0) throw bdbError(file, 'encrypted Berkeley DB databases are not supported')
    if (meta[25] !== P_HASHMETA) throw bdbError(file, `page 0 is of type ${meta[25]}, not hash metadata`)
    // DBMETA_CHKSUM: checksummed pages have a longer header; rpm never asks for them.
    if (((meta[26] as number) & 1) !== 0) {
      throw bdbError(file, 'checksummed Berkeley DB pages are not supported')
    }
    const lastPage = u32(meta, 32)

    const page = Buffer.alloc(pageSize)
    const readPage = (pgno: number, into: Buffer) => {
      if (pgno > lastPage) throw bdbError(file, `reference to page ${pgno} beyond the last page ${lastPage}`)
      if (readSync(fd, into, 0, pageSize, pgno * pageSize) < pageSize) {
        throw bdbError(file, `page ${pgno} is truncated`)
      }
    }
    const overflow = Buffer.alloc(pageSize)
    const readOverflow = (first: number, length: number): Buffer => {
      const out = Buffer.alloc(length)
      let filled = 0
      let pgno = first
      for (let hops = 0; pgno !== 0 && filled < length; hops++) {
        if (hops > lastPage) throw bdbError(file, `overflow chain from page ${first} loops`)
        readPage(pgno, overflow)
        if (overflow[25] !== P_OVERFLOW) {
          throw bdbError(file, `page ${pgno} in an overflow chain is of type ${overflow[25]}`)
        }
        // On an overflow page the "high free offset" field holds the bytes of data it carries.
        const used = Math.min(u16(overflow, 22), pageSize - BDB_PAGE_HEADER, length - filled)
        overflow.copy(out, filled, BDB_PAGE_HEADER, BDB_PAGE_HEADER + used)
        filled += used
        pgno = u32(overflow, 16)
      }
      if (filled !== length) {
        throw bdbError(file, `overflow chain from page ${first} holds ${filled} of ${length} bytes`)
      }
      return out
    }
    // An item's bytes run from its offset to the previous item's offset (items grow down from the page end).
    const item = (p: Buffer, entries: number[], i: number): Buffer => {
      const start = entries[i] as number
      const end = i === 0 ? pageSize : (entries[i - 1] as number)
      if (start < BDB_PAGE_HEADER || end > pageSize || start >= end) {
        throw bdbError(file, 'hash page item out of bounds')
      }
      return p.subarray(start, end)
    }

    for (let pgno = 1; pgno <= lastPage; pgno++) {
      readPage(pgno, page)
      if (page[25] !== P_HASH && page[25] !== P_HASH_UNSORTED) continue
      const count = u16(page, 20)
      if (count % 2 !== 0) throw bdbError(file, `hash page ${pgno} has an odd number of items`)
      if (BDB_PAGE_HEADER + count * 2 > pageSize) throw bdbError(file, `hash page ${pgno} has ${count} items`)
      const entries = Array.from({ length: count }, (_, i) => u16(page, BDB_PAGE_HEADER + i * 2))
      for (let i = 0; i < count; i += 2) {
        const key = item(page, entries, i)
        const value = item(page, entries, i + 1)
        if (key[0] !== H_KEYDATA || key.length !== 5) {
          throw bdbError(file, `hash page ${pgno}: a key that is not an rpm instance`)
        }
        const hnum = u32(key, 1)
        // Instance 0 is rpm's counter of the highest instance in use, not a package.
        if (hnum === 0) continue
        if (value[0] === H_KEYDATA) {
          visit(hnum, value.subarray(1))
        } else if (value[0] === H_OFFPAGE && value.length >= 12) {
          visit(hnum, readOverflow(u32(value, 4), u32(value, 8)))
        } else {
          throw bdbError(file, `hash page ${pgno}: package #${hnum} is stored as item type ${value[0]}`)
        }
      }
    }
  } finally {
    closeSync(fd)
  }
}

// ---------------------------------------------------------------------------------------------
// Verification: every package file against rpm's own record of it, like `rpm -V`.

/** A package-owned file that is no longer what its package installed. */
export interface RpmVerifyFinding {
  /** The owning package, `rpm:<name>:<arch>`. */
  subject: string
  path: string
  /**
   * modified: content (digest), file type or link target differ; missing: gone;
   * unreadable: it could not be checked (permission denied, I/O error), see `error`.
   */
  kind: 'modified' | 'missing' | 'unreadable'
  conffile: boolean
  error?: string
}

export interface RpmVerifyOptions {
  /** Check %config files too (reported with conffile: true); by default they are expected to be edited. */
  includeConfig?: boolean
  /** Files hashed at once. */
  concurrency?: number
}

/**
 * Checks every file of every installed rpm package against the database's digests, types and
 * link targets, as `rpm -V` does: %ghost files are never checked, %missingok ones may be
 * missing, files rpm did not install (excluded docs, network-shared) are skipped, and files
 * replaced by another package are only checked for presence.
 */
export async function verifyRpmPackages(
  ctx: ProbeContext,
  options: RpmVerifyOptions = {},
): Promise<RpmVerifyFinding[]> {
  const jobs: { subject: string; file: RpmPackageFile }[] = []
  for (const { pkg, files } of readRpmHeaders(ctx)) {
    const subject = packageSubject(pkg)
    for (const file of files) {
      if ((file.flags & RPMFILE.ghost) !== 0) continue
      if (file.conffile && !options.includeConfig) continue
      if (file.state === RPMFILE_STATE.notInstalled || file.state === RPMFILE_STATE.netShared) continue
      jobs.push({ subject, file })
    }
  }
  const dirs = new Map<string, string | undefined>()
  const results = await mapLimit(jobs, options.concurrency ?? 16, async ({ subject, file }) => {
    const kind = await verifyFile(ctx.rootDir, file, dirs)
    if (kind === undefined) return undefined
    const finding: RpmVerifyFinding = {
      subject,
      path: file.path,
      kind: kind.kind,
      conffile: file.conffile === true,
    }
    if (kind.error !== undefined) finding.error = kind.error
    return finding
  })
  return results
    .filter((f): f is RpmVerifyFinding => f !== undefined)
    .sort((a, b) => compareCodeUnits(a.subject, b.subject) || compareCodeUnits(a.path, b.path))
}

async function verifyFile(
  rootDir: string,
  file: RpmPackageFile,
  dirs: Map<string, string | undefined>,
): Promise<{ kind: RpmVerifyFinding['kind']; error?: string } | undefined> {
  const slash = file.path.lastIndexOf('/')
  const dir = file.path.slice(0, slash) || '/'
  const base = file.path.slice(slash + 1)
  const missingOk = (file.flags & RPMFILE.missingOk) !== 0
  try {
    // Parent directories resolve inside the root (an image's absolute links point into it).
    if (!dirs.has(dir)) dirs.set(dir, resolveInRoot(rootDir, dir))
    const resolved = dirs.get(dir)
    if (resolved === undefined) return missingOk ? undefined : { kind: 'missing' }
    const real = joinRoot(rootDir, resolved === '/' ? `/${base}` : `${resolved}/${base}`)
    let st: Awaited<ReturnType<typeof lstat>>
    try {
      st = await lstat(real)
    } catch (error) {
      const code = errnoCode(error)
      if (code === 'ENOENT' || code === 'ENOTDIR') return missingOk ? undefined : { kind: 'missing' }
      throw error
    }
    // Replaced by another package's copy, or another arch's colour: only presence is rpm's to check.
    if (file.state === RPMFILE_STATE.replaced || file.state === RPMFILE_STATE.wrongColor) return undefined
    const packagedType = file.mode & S_IFMT
    if (packagedType !== 0 && (st.mode & S_IFMT) !== packagedType) return { kind: 'modified' }
    if (packagedType === S_IFLNK && file.linkTarget !== undefined) {
      const target = decodeName(await readlink(real, { encoding: 'buffer' }))
      return target === file.linkTarget ? undefined : { kind: 'modified' }
    }
    if (file.digest !== undefined && (packagedType === S_IFREG || packagedType === 0)) {
      if (!st.isFile()) return { kind: 'modified' }
      const actual = await hashFile(real, file.digest.algorithm)
      return actual === file.digest.value ? undefined : { kind: 'modified' }
    }
    return undefined
  } catch (error) {
    if (errnoCode(error) === undefined) throw error
    return { kind: 'unreadable', error: describeSystemError(error) }
  }
}

// Whole small files in one read; large ones streamed so a kernel image does not sit in memory.
const WHOLE_FILE_MAX = 1 << 20

async function hashFile(path: string | Buffer, algorithm: string): Promise<string> {
  const hash = createHash(algorithm)
  const handle = await open(path, 'r')
  try {
    const size = (await handle.stat()).size
    if (size <= WHOLE_FILE_MAX) {
      hash.update(await readFile(handle))
    } else {
      for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
        hash.update(chunk as Buffer)
      }
    }
  } finally {
    await handle.close()
  }
  return hash.digest('hex')
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
  return out
}
