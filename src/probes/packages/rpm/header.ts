import { DriftwatchError } from '../../../errors.js'
import type { PackageRecord } from '../../../manifest/schema.js'
import { decodeName } from '../../../util/pathname.js'
import type { PackageFile } from '../../types.js'

/*
 * Every backend of the rpm database keeps the same thing per installed package: its header
 * blob, rpm's own serialisation (lib/header.c, "header structure" in the RPM file format docs):
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

/** Called with each header blob of an rpm database and its instance number, one at a time. */
export type BlobVisitor = (hnum: number, blob: Buffer) => void

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
