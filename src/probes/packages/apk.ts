import { type PackageRecord, packageSubject } from '../../manifest/schema.js'
import { readRootText } from '../root-fs.js'
import type { PackageFile } from '../types.js'
import type { PackageManagerProbe } from './types.js'

// apk's installed database, read as a file: the root may be an image folder, not a running Alpine.
// apk-tools 2 keeps it in /lib/apk/db; apk-tools 3 on a merged-/usr system in /usr/lib/apk/db.
const INSTALLED_FILES = ['/lib/apk/db/installed', '/usr/lib/apk/db/installed']

/**
 * Decodes an apk checksum (`Z:` of a file) as apk_blob_pull_csum reads it: `Q` then base64,
 * or `X` then hex, of a SHA-1 (`1`) or SHA-256 (`2`); a bare hex dump is the MD5 of databases
 * written before the prefix existed. For a symlink apk hashes the link target, not a content.
 */
export function decodeApkChecksum(value: string): PackageFile['digest'] | undefined {
  if (/^[0-9a-f]{32}$/i.test(value)) return { algorithm: 'md5', value: value.toLowerCase() }
  const match = /^([QX])([12])(.+)$/.exec(value)
  if (!match) return undefined
  const [, encoding, kind, data = ''] = match
  const bytes = encoding === 'Q' ? Buffer.from(data, 'base64') : Buffer.from(data, 'hex')
  const algorithm = kind === '1' ? 'sha1' : 'sha256'
  if (bytes.length !== (algorithm === 'sha1' ? 20 : 32)) return undefined
  return { algorithm, value: bytes.toString('hex') }
}

/**
 * Reads apk's installed database: one stanza per package (`P:` name, `V:` version, `A:` arch),
 * then its files: `F:` a directory (relative to the root), `R:` a file in the last `F:`
 * directory, `Z:` that file's checksum. Directories are listed too, without a digest.
 * `files` is keyed by package subject (`apk:<name>:<arch>`).
 */
export function parseApkInstalled(text: string): {
  packages: PackageRecord[]
  files: Map<string, PackageFile[]>
} {
  const packages: PackageRecord[] = []
  const files = new Map<string, PackageFile[]>()
  let record: PackageRecord | undefined
  let owned: PackageFile[] = []
  let dir = ''
  let file: PackageFile | undefined

  const flush = () => {
    if (record && record.name !== '') {
      packages.push(record)
      files.set(packageSubject(record), owned)
    }
    record = undefined
    owned = []
    dir = ''
    file = undefined
  }

  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      flush()
      continue
    }
    // Every line is `<one letter>:<value>`.
    if (line[1] !== ':') continue
    const value = line.slice(2)
    record ??= { manager: 'apk', name: '', arch: '', version: '' }
    switch (line[0]) {
      case 'P':
        record.name = value
        break
      case 'V':
        record.version = value
        break
      case 'A':
        record.arch = value
        break
      case 'F':
        dir = value
        file = undefined
        owned.push({ path: `/${dir}` })
        break
      case 'R':
        file = { path: dir === '' ? `/${value}` : `/${dir}/${value}` }
        owned.push(file)
        break
      case 'Z': {
        const digest = file ? decodeApkChecksum(value) : undefined
        if (file && digest) file.digest = digest
        break
      }
    }
  }
  flush()
  return { packages, files }
}

/** Reads and parses the root's apk database; undefined when the root is not an apk system. */
export function readApkInstalled(rootDir: string): ReturnType<typeof parseApkInstalled> | undefined {
  for (const path of INSTALLED_FILES) {
    const text = readRootText(rootDir, path)
    if (text !== undefined) return parseApkInstalled(text)
  }
  return undefined
}

/** apk (Alpine): installed packages; their files are not verified. */
export const apkProbe: PackageManagerProbe = {
  name: 'apk',
  manager: 'apk',
  detect: (rootDir) => readApkInstalled(rootDir) !== undefined,
  async collect(context) {
    return readApkInstalled(context.rootDir)?.packages ?? []
  },
  *owners(context) {
    for (const [subject, files] of readApkInstalled(context.rootDir)?.files ?? [])
      for (const f of files) yield [f.path, subject]
  },
  unverifiable: 'apk keeps checksums for some of its files only',
}
