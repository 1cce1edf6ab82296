import { lstatSync, readlinkSync } from 'node:fs'
import { describeSystemError, errnoCode } from '../../../errors.js'
import { packageSubject } from '../../../manifest/schema.js'
import { compareCodeUnits } from '../../../util/compare.js'
import { decodeName } from '../../../util/pathname.js'
import { joinRoot } from '../../files/root-path.js'
import { resolveInRoot } from '../../root-fs.js'
import type { ProbeContext } from '../../types.js'
import { HashPool } from '../hashing.js'
import { locateRpmDatabase, readRpmHeaders } from './database.js'
import { RPMFILE, RPMFILE_STATE, type RpmPackageFile } from './header.js'

// Verification: every package file against rpm's own record of it, like `rpm -V`.

const S_IFMT = 0o170000
const S_IFREG = 0o100000
const S_IFLNK = 0o120000

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
  /** Worker threads that hash; one per core by default. */
  concurrency?: number
}

type Digest = NonNullable<RpmPackageFile['digest']>

/** What a file's lstat and link tell before its content is read: a finding, or what to hash. */
type Inspection = { kind: RpmVerifyFinding['kind']; error?: string } | { hash: string; digest: Digest }

/**
 * Checks every file of every installed rpm package against the database's digests, types and
 * link targets, as `rpm -V` does: %ghost files are never checked, %missingok ones may be
 * missing, files rpm did not install (excluded docs, network-shared) are skipped, and files
 * replaced by another package are only checked for presence. Contents are hashed by the hash
 * pool's worker threads.
 */
export async function verifyRpmPackages(
  ctx: ProbeContext,
  options: RpmVerifyOptions = {},
): Promise<RpmVerifyFinding[]> {
  if (locateRpmDatabase(ctx) === undefined) return []
  // Started first: the workers load while this thread reads the headers and lstats the files.
  const pool = new HashPool(ctx.rootDir, options.concurrency)
  try {
    const files = filesToVerify(ctx, options.includeConfig === true)
    const found: (RpmVerifyFinding | undefined)[] = new Array(files.length)
    const toHash: { index: number; path: string; digest: Digest }[] = []
    const dirs = new Map<string, string | undefined>()
    files.forEach(({ subject, file }, index) => {
      const inspection = inspectFile(ctx.rootDir, file, dirs)
      if (inspection === undefined) return
      if ('hash' in inspection) toHash.push({ index, path: inspection.hash, digest: inspection.digest })
      else found[index] = finding(subject, file, inspection)
    })
    const results = await pool.hash(toHash.map(({ path, digest }) => ({ path, algorithm: digest.algorithm })))
    toHash.forEach(({ index, digest }, i) => {
      const result = results[i]
      const { subject, file } = files[index] as { subject: string; file: RpmPackageFile }
      if (result === undefined || ('digest' in result && result.digest === digest.value)) return
      if ('code' in result)
        found[index] = finding(subject, file, { kind: 'unreadable', error: result.message })
      else found[index] = finding(subject, file, { kind: 'modified' })
    })
    return found
      .filter((f): f is RpmVerifyFinding => f !== undefined)
      .sort((a, b) => compareCodeUnits(a.subject, b.subject) || compareCodeUnits(a.path, b.path))
  } finally {
    await pool.close()
  }
}

/** The files `rpm -V` checks, in database order, with their package's subject. */
function filesToVerify(
  ctx: ProbeContext,
  includeConfig: boolean,
): { subject: string; file: RpmPackageFile }[] {
  const files: { subject: string; file: RpmPackageFile }[] = []
  for (const { pkg, files: owned } of readRpmHeaders(ctx)) {
    const subject = packageSubject(pkg)
    for (const file of owned) {
      if ((file.flags & RPMFILE.ghost) !== 0) continue
      if (file.conffile && !includeConfig) continue
      if (file.state === RPMFILE_STATE.notInstalled || file.state === RPMFILE_STATE.netShared) continue
      files.push({ subject, file })
    }
  }
  return files
}

function finding(
  subject: string,
  file: RpmPackageFile,
  { kind, error }: { kind: RpmVerifyFinding['kind']; error?: string },
): RpmVerifyFinding {
  const out: RpmVerifyFinding = { subject, path: file.path, kind, conffile: file.conffile === true }
  if (error !== undefined) out.error = error
  return out
}

/**
 * Checks what can be checked without reading the file: presence, type and link target. A
 * regular file with a digest is returned to be hashed, at its path with links resolved inside
 * the root; undefined when there is nothing to report.
 */
function inspectFile(
  rootDir: string,
  file: RpmPackageFile,
  dirs: Map<string, string | undefined>,
): Inspection | undefined {
  const slash = file.path.lastIndexOf('/')
  const dir = file.path.slice(0, slash) || '/'
  const base = file.path.slice(slash + 1)
  const missingOk = (file.flags & RPMFILE.missingOk) !== 0
  try {
    // Parent directories resolve inside the root (an image's absolute links point into it).
    if (!dirs.has(dir)) dirs.set(dir, resolveInRoot(rootDir, dir))
    const resolved = dirs.get(dir)
    if (resolved === undefined) return missingOk ? undefined : { kind: 'missing' }
    const path = resolved === '/' ? `/${base}` : `${resolved}/${base}`
    const real = joinRoot(rootDir, path)
    let st: ReturnType<typeof lstatSync>
    try {
      st = lstatSync(real)
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
      const target = decodeName(readlinkSync(real, { encoding: 'buffer' }))
      return target === file.linkTarget ? undefined : { kind: 'modified' }
    }
    if (file.digest !== undefined && (packagedType === S_IFREG || packagedType === 0)) {
      return st.isFile() ? { hash: path, digest: file.digest } : { kind: 'modified' }
    }
    return undefined
  } catch (error) {
    if (errnoCode(error) === undefined) throw error
    return { kind: 'unreadable', error: describeSystemError(error) }
  }
}
