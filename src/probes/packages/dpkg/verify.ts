import { readdirSync } from 'node:fs'
import { errnoCode } from '../../../errors.js'
import { packageSubject } from '../../../manifest/schema.js'
import { compareCodeUnits } from '../../../util/compare.js'
import { joinRoot } from '../../files/root-path.js'
import { readRootText } from '../../root-fs.js'
import type { ProbeContext } from '../../types.js'
import { HashPool, type HashResult } from '../hashing.js'
import type { PackageFileError, PackageFileFinding } from '../types.js'
import {
  type DpkgDatabase,
  divertedPath,
  dpkgFileListPath,
  md5sumsPathOf,
  readDpkgDatabase,
} from './database.js'
import {
  isExcludedByDpkg,
  isLocalepurgeFile,
  parseDpkgPathFilters,
  parseLocaleNopurge,
} from './exclusions.js'
import { type DpkgEntry, parseDpkgList, parseMd5sums } from './parse.js'

// Verification, as `debsums -s` does it.

/**
 * A package-owned file that is not as its package installed it, at its path after diversions.
 * modified: other content, or no longer a regular file; missing: not there (also when a
 * directory on its path became a file, which debsums reports as "can't open").
 */
export type DpkgFileChange = PackageFileFinding

/** A file that could not be checked (permission denied, I/O error); debsums fails on these too. */
export type DpkgVerifyError = PackageFileError

/** How to verify: what `debsums -s` does unless told otherwise. */
export interface DpkgVerifyOptions {
  /** Check conffiles too (`debsums -a`); they are expected to be edited, so left out by default. */
  conffiles?: boolean
  /** Worker threads that hash; one per core by default. */
  concurrency?: number
  /** Called for each file that could not be checked; verification goes on with the others. */
  onError?: (error: DpkgVerifyError) => void
}

/** Packages whose files debsums checks: installed, or configured halfway (the files are there). */
const VERIFIED_STATES = new Set(['installed', 'half-configured'])

interface Expectation {
  subject: string
  md5: string
  conffile: boolean
}

/**
 * Checks every file of every installed package against the MD5 in its md5sums and reports
 * what `debsums -s` reports: changed files, missing files (unless dpkg's path-exclude or
 * localepurge left them out on purpose), files that are no longer regular files. Conffiles
 * are left out unless `conffiles` is set. Like debsums, a changed file is reported only when
 * its package is its sole owner by dpkg's file lists, and not when a diversion involves it:
 * a file another package took over (or replaced) is not this package's drift.
 * Files are hashed once each, by the hash pool's worker threads.
 */
export async function verifyDpkgPackages(
  context: ProbeContext,
  options: DpkgVerifyOptions = {},
): Promise<DpkgFileChange[]> {
  const { rootDir } = context
  const database = readDpkgDatabase(rootDir)
  if (!database) return []
  // Started first: the workers load while this thread reads the md5sums.
  const pool = new HashPool(rootDir, options.concurrency)
  let expected: Map<string, Expectation[]>
  let paths: string[]
  let results: HashResult[]
  try {
    expected = expectedDigests(rootDir, database, options.conffiles === true)
    paths = [...expected.keys()]
    results = await pool.hash(paths.map((path) => ({ path, algorithm: 'md5' })))
  } finally {
    await pool.close()
  }
  const leftOut = missingOnPurpose(rootDir)

  const changes: DpkgFileChange[] = []
  const changed: { path: string; expectation: Expectation }[] = []
  paths.forEach((path, i) => {
    const result = results[i] as HashResult
    for (const expectation of expected.get(path) as Expectation[]) {
      const { subject, conffile } = expectation
      if ('digest' in result) {
        if (result.digest !== expectation.md5) changed.push({ path, expectation })
      } else if ('notRegular' in result) {
        changes.push({ subject, path, kind: 'modified', conffile })
      } else if (leftOut(path)) {
        // dpkg was told not to install it, or localepurge deleted it: not drift.
      } else if (result.code === 'ENOENT' || result.code === 'ENOTDIR') {
        changes.push({ subject, path, kind: 'missing', conffile })
      } else {
        options.onError?.({ subject, path, message: result.message })
      }
    }
  })

  if (changed.length > 0) {
    const owners = fileOwners(rootDir, database, new Set(changed.map((c) => c.path)))
    const diverted = new Set([...database.diversions].flatMap(([from, { to }]) => [from, to]))
    for (const { path, expectation } of changed) {
      const pathOwners = owners.get(path)
      if (diverted.has(path) || pathOwners?.size !== 1 || !pathOwners.has(expectation.subject)) continue
      changes.push({ subject: expectation.subject, path, kind: 'modified', conffile: expectation.conffile })
    }
  }
  return changes.sort((a, b) => compareCodeUnits(a.path, b.path) || compareCodeUnits(a.subject, b.subject))
}

/** Path -> what each package that lists it expects there, from md5sums (and conffiles if asked). */
function expectedDigests(
  rootDir: string,
  database: DpkgDatabase,
  conffiles: boolean,
): Map<string, Expectation[]> {
  const expected = new Map<string, Expectation[]>()
  const add = (entry: DpkgEntry, path: string, md5: string, conffile: boolean) => {
    const at = divertedPath(path, entry, database.diversions)
    const list = expected.get(at)
    const expectation = { subject: packageSubject(entry), md5, conffile }
    if (list) list.push(expectation)
    else expected.set(at, [expectation])
  }
  for (const entry of database.entries) {
    if (!VERIFIED_STATES.has(entry.state) || entry.version === '') continue
    const listPath = dpkgFileListPath(entry.name, entry.arch, rootDir)
    if (listPath === undefined) continue
    // A remove-on-upgrade conffile is checked as an ordinary file, as debsums does.
    const packageConffiles = new Map(
      entry.conffiles.filter((c) => !c.removeOnUpgrade).map((c) => [c.path, c.md5]),
    )
    const sums = readRootText(rootDir, md5sumsPathOf(listPath))
    for (const [path, md5] of parseMd5sums(sums ?? '')) {
      if (!packageConffiles.has(path)) add(entry, path, md5, false)
    }
    if (conffiles) for (const [path, md5] of packageConffiles) add(entry, path, md5, true)
  }
  return expected
}

/** Who lists each of `paths` in its file list, as `dpkg-query -S` would answer (subjects). */
function fileOwners(rootDir: string, database: DpkgDatabase, paths: Set<string>): Map<string, Set<string>> {
  const owners = new Map<string, Set<string>>()
  for (const entry of database.entries) {
    const listPath = dpkgFileListPath(entry.name, entry.arch, rootDir)
    if (listPath === undefined) continue
    for (const path of parseDpkgList(readRootText(rootDir, listPath) ?? '')) {
      if (!paths.has(path)) continue
      const set = owners.get(path)
      if (set) set.add(packageSubject(entry))
      else owners.set(path, new Set([packageSubject(entry)]))
    }
  }
  return owners
}

/**
 * Missing files that are not drift: excluded by dpkg's path filters (read from the root's
 * dpkg.cfg.d with debsums's glob, then dpkg.cfg), or deleted by localepurge.
 */
function missingOnPurpose(rootDir: string): (path: string) => boolean {
  const configDir = '/etc/dpkg/dpkg.cfg.d'
  let names: string[] = []
  try {
    names = readdirSync(joinRoot(rootDir, configDir), { withFileTypes: true, encoding: 'utf8' })
      .filter((dirent) => !dirent.isDirectory() && /^[0-9a-zA-Z_-]/.test(dirent.name))
      .map((dirent) => dirent.name)
      .sort()
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT' && errnoCode(error) !== 'ENOTDIR') throw error
  }
  const texts = [...names.map((name) => `${configDir}/${name}`), '/etc/dpkg/dpkg.cfg'].map(
    (path) => readRootText(rootDir, path) ?? '',
  )
  const filters = texts.flatMap(parseDpkgPathFilters)
  const nopurge = readRootText(rootDir, '/etc/locale.nopurge')
  const keep = nopurge === undefined ? undefined : parseLocaleNopurge(nopurge)
  return (path) => isExcludedByDpkg(path, filters) || (keep !== undefined && isLocalepurgeFile(path, keep))
}
