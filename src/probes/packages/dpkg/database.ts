import { existsSync } from 'node:fs'
import type { PackageRecord } from '../../../manifest/schema.js'
import { joinRoot } from '../../files/root-path.js'
import { listRootDir, readRootText } from '../../root-fs.js'
import type { PackageFile, ProbeContext } from '../../types.js'
import {
  type DpkgDiversion,
  type DpkgEntry,
  MD5_HEX,
  parseDpkgDiversions,
  parseDpkgEntries,
  parseDpkgList,
  parseMd5sums,
} from './parse.js'

// dpkg's own database, read as files (never by running dpkg): this works on an image folder
// as on a live host, and needs no dpkg on the machine that scans.
const ADMIN_DIR = '/var/lib/dpkg'
const STATUS_FILE = `${ADMIN_DIR}/status`
// Distroless images have no status file: one stanza per package in status.d/<name> (the
// package's control fields, with no Status: line), its md5sums beside it in <name>.md5sums.
const STATUS_DIR = `${ADMIN_DIR}/status.d`
const DIVERSIONS_FILE = `${ADMIN_DIR}/diversions`
const INFO_DIR = `${ADMIN_DIR}/info`

/** What the admin directory of a root says, read once for many packages. */
export interface DpkgDatabase {
  entries: DpkgEntry[]
  diversions: Map<string, DpkgDiversion>
}

/** Reads dpkg's status and diversions in the root; undefined when it is not a dpkg system. */
export function readDpkgDatabase(rootDir: string): DpkgDatabase | undefined {
  const entries = readDpkgEntries(rootDir)
  if (entries === undefined) return undefined
  return { entries, diversions: parseDpkgDiversions(readRootText(rootDir, DIVERSIONS_FILE) ?? '') }
}

/**
 * The packages of the status file and of a distroless image's status.d/ files (either or
 * both); undefined when the root has neither.
 */
export function readDpkgEntries(rootDir: string): DpkgEntry[] | undefined {
  const status = readRootText(rootDir, STATUS_FILE)
  const perPackage = listRootDir(rootDir, STATUS_DIR).filter(
    (entry) => entry.type === 'file' && !entry.name.endsWith('.md5sums') && !entry.name.startsWith('.'),
  )
  if (status === undefined && perPackage.length === 0) return undefined
  const entries = status === undefined ? [] : parseDpkgEntries(status)
  for (const { name } of perPackage) {
    const text = readRootText(rootDir, `${STATUS_DIR}/${name}`)
    if (text !== undefined) entries.push(...parseDpkgEntries(text, { installedUnlessSaid: true }))
  }
  return entries
}

/**
 * The path inside the root of a package's file list, or undefined when it has none. dpkg
 * names the info files of `Multi-Arch: same` packages `<name>:<arch>.list` (several
 * architectures may be installed side by side) and the others' `<name>.list`; both are tried.
 */
export function dpkgFileListPath(name: string, arch: string, rootDir: string): string | undefined {
  const candidates = arch === '' ? [name] : [`${name}:${arch}`, name]
  for (const base of candidates) {
    const path = `${INFO_DIR}/${base}.list`
    if (existsSync(joinRoot(rootDir, path))) return path
  }
  return undefined
}

/** The md5sums file beside a package's file list. */
export function md5sumsPathOf(listPath: string): string {
  return `${listPath.slice(0, -'.list'.length)}.md5sums`
}

/** Where the packaged file `path` of package `entry` really is: moved by another's diversion. */
export function divertedPath(
  path: string,
  entry: Pick<PackageRecord, 'name' | 'arch'>,
  diversions: Map<string, DpkgDiversion>,
): string {
  const diversion = diversions.get(path)
  // A package's own diversion does not apply to its own file (dpkg-divert --package).
  if (!diversion || diversion.by === entry.name || diversion.by === `${entry.name}:${entry.arch}`) return path
  return diversion.to
}

/**
 * The files a package installed (its info/*.list, directories included), each with the MD5
 * from its md5sums and conffiles marked, at the path where they really are (diversions
 * applied). Pass `database` when collecting many packages, so the status is read once.
 */
export function collectDpkgFiles(
  context: ProbeContext,
  pkg: Pick<PackageRecord, 'name' | 'arch'>,
  database: DpkgDatabase | undefined = readDpkgDatabase(context.rootDir),
): PackageFile[] {
  const listPath = dpkgFileListPath(pkg.name, pkg.arch, context.rootDir)
  if (!database || listPath === undefined) return []
  const sums = parseMd5sums(readRootText(context.rootDir, md5sumsPathOf(listPath)) ?? '')
  const entry = database.entries.find((e) => e.name === pkg.name && e.arch === pkg.arch)
  const conffiles = new Map((entry?.conffiles ?? []).map((c) => [c.path, c.md5]))
  return parseDpkgList(readRootText(context.rootDir, listPath) ?? '').map((path) => {
    const file: PackageFile = { path: divertedPath(path, pkg, database.diversions) }
    const conffileMd5 = conffiles.get(path)
    const md5 = sums.get(path) ?? (conffileMd5 && MD5_HEX.test(conffileMd5) ? conffileMd5 : undefined)
    if (md5 !== undefined) file.digest = { algorithm: 'md5', value: md5 }
    if (conffileMd5 !== undefined) file.conffile = true
    return file
  })
}
