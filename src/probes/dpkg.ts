import { existsSync, readdirSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { errnoCode } from '../errors.js'
import { type PackageRecord, packageSubject } from '../manifest/schema.js'
import { compareCodeUnits } from '../util/compare.js'
import type { DpkgHashDone, DpkgHashInit, DpkgHashJob, DpkgHashResult } from './dpkg-verify-worker.js'
import { joinRoot } from './files/root-path.js'
import { listRootDir, readRootText } from './root-fs.js'
import type { PackageFile, Probe, ProbeContext } from './types.js'

// dpkg's own database, read as files (never by running dpkg): this works on an image folder
// as on a live host, and needs no dpkg on the machine that scans.
const ADMIN_DIR = '/var/lib/dpkg'
const STATUS_FILE = `${ADMIN_DIR}/status`
// Distroless images have no status file: one stanza per package in status.d/<name> (the
// package's control fields, with no Status: line), its md5sums beside it in <name>.md5sums.
const STATUS_DIR = `${ADMIN_DIR}/status.d`
const DIVERSIONS_FILE = `${ADMIN_DIR}/diversions`
const INFO_DIR = `${ADMIN_DIR}/info`
const MD5_HEX = /^[0-9a-f]{32}$/

// ---------------------------------------------------------------------------------------------
// Pure parsers
// ---------------------------------------------------------------------------------------------

/**
 * One stanza of a deb822 file (dpkg's status, a control file): field names lower-cased, as
 * dpkg reads them case-insensitively; a multi-line value keeps its lines, joined by `\n`,
 * each without the one space that marks it as a continuation.
 */
export type DpkgStanza = Map<string, string>

/** Splits deb822 text into stanzas: `Field: value` lines, blank lines between stanzas. */
export function parseDpkgStanzas(text: string): DpkgStanza[] {
  const stanzas: DpkgStanza[] = []
  let stanza: DpkgStanza | undefined
  let field: string | undefined
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      stanza = undefined
      field = undefined
    } else if (line[0] === ' ' || line[0] === '\t') {
      if (stanza && field !== undefined) stanza.set(field, `${stanza.get(field)}\n${line.slice(1)}`)
    } else {
      const colon = line.indexOf(':')
      // Not a field: dpkg would refuse the whole file; one bad line should not hide the rest.
      if (colon <= 0) continue
      if (!stanza) {
        stanza = new Map()
        stanzas.push(stanza)
      }
      field = line.slice(0, colon).toLowerCase()
      stanza.set(field, line.slice(colon + 1).trim())
    }
  }
  return stanzas
}

/** A conffile as the `Conffiles:` field of a status stanza records it. */
export interface DpkgConffile {
  path: string
  /** MD5 of the conffile as the package shipped it (`newconffile` until it is first configured). */
  md5: string
  /** No longer shipped by the package, but kept because the admin changed it. */
  obsolete: boolean
  /** To be removed on the next upgrade (dpkg >= 1.20.6); debsums does not treat it as a conffile. */
  removeOnUpgrade: boolean
}

/**
 * Reads a `Conffiles:` field: one ` /etc/x <md5>` line per conffile, possibly followed by
 * ` obsolete` or ` remove-on-upgrade`. Parsed from the end, so a path may hold spaces.
 */
export function parseConffileEntries(text: string): DpkgConffile[] {
  const conffiles: DpkgConffile[] = []
  for (const raw of text.split('\n')) {
    let line = raw.trim()
    const flags = { obsolete: false, removeOnUpgrade: false }
    for (;;) {
      if (line.endsWith(' obsolete')) flags.obsolete = true
      else if (line.endsWith(' remove-on-upgrade')) flags.removeOnUpgrade = true
      else break
      line = line.slice(0, line.lastIndexOf(' ')).trimEnd()
    }
    const space = line.lastIndexOf(' ')
    if (space <= 0 || line[0] !== '/') continue
    conffiles.push({ path: line.slice(0, space).trimEnd(), md5: line.slice(space + 1), ...flags })
  }
  return conffiles
}

/** The `Conffiles:` field as path -> MD5 of the shipped version. */
export function parseConffiles(text: string): Map<string, string> {
  return new Map(parseConffileEntries(text).map((c) => [c.path, c.md5]))
}

/** A package's file list (`info/<pkg>.list`): every path it installed, directories too. */
export function parseDpkgList(text: string): string[] {
  // `/.` stands for the root directory itself: every package lists it, none owns it.
  return text.split('\n').filter((line) => line !== '' && line !== '/.')
}

/**
 * A package's `info/<pkg>.md5sums`: `<md5>  <path without leading slash>` per line, read as
 * debsums reads it (an optional `./` prefix, lines without a valid MD5 skipped).
 * Keys are absolute paths.
 */
export function parseMd5sums(text: string): Map<string, string> {
  const sums = new Map<string, string>()
  for (const raw of text.split('\n')) {
    // A host holds some 100 000 of these lines: the usual `<md5>  <path>` is cut without a regex.
    const usual = raw.charCodeAt(32) === 32 && raw.charCodeAt(33) === 32 && raw.charCodeAt(34) > 32
    const line = usual ? raw : raw.trimStart().replace(/\s+/, '  ')
    const md5 = line.slice(0, 32)
    const path = line.slice(34)
    if (path === '' || !MD5_HEX.test(md5)) continue
    sums.set(path.startsWith('./') ? path.slice(1) : `/${path}`, md5)
  }
  return sums
}

/** Where dpkg installs a packaged file instead of its own path, and who asked for it. */
export interface DpkgDiversion {
  to: string
  /** The diverting package, or `local` for `dpkg-divert --local`. */
  by: string
}

/** dpkg's `diversions` file: three lines per diversion (from, to, package; `:` for local). */
export function parseDpkgDiversions(text: string): Map<string, DpkgDiversion> {
  const diversions = new Map<string, DpkgDiversion>()
  const lines = text.split('\n')
  for (let i = 0; i + 2 < lines.length; i += 3) {
    const [from, to, by] = [lines[i] as string, lines[i + 1] as string, lines[i + 2] as string]
    if (from === '' || to === '') continue
    diversions.set(from, { to, by: by === ':' || by === '' ? 'local' : by })
  }
  return diversions
}

/** An installed or half-there package with what verify needs of its stanza. */
export interface DpkgEntry extends PackageRecord {
  /** The third word of `Status:` (installed, config-files, half-installed, …). */
  state: string
  conffiles: DpkgConffile[]
}

/** Every package of the status file that left something on disk (all but `not-installed`). */
export function parseDpkgEntries(text: string, options: { installedUnlessSaid?: boolean } = {}): DpkgEntry[] {
  const entries: DpkgEntry[] = []
  for (const stanza of parseDpkgStanzas(text)) {
    const name = stanza.get('package')
    // Status is "<selection> <flag> <state>": the selection (install, hold, deinstall, purge)
    // is what the admin asked for next; only the state says what is on disk. A distroless
    // status.d stanza has none: it is there because the package was unpacked into the image.
    const status = stanza.get('status') ?? (options.installedUnlessSaid ? 'install ok installed' : undefined)
    const state = status?.split(/\s+/)[2]
    if (!name || !state || state === 'not-installed') continue
    entries.push({
      manager: 'deb',
      name,
      arch: stanza.get('architecture') ?? '',
      version: stanza.get('version') ?? '',
      state,
      conffiles: parseConffileEntries(stanza.get('conffiles') ?? ''),
    })
  }
  return entries
}

/**
 * Reads /var/lib/dpkg/status. A package whose state is `installed` is installed, whatever the
 * selection (`install`, `hold`, even `deinstall` until it is actually removed); one that is
 * half there (half-installed, unpacked, half-configured, triggers-awaited, triggers-pending,
 * config-files) is returned in `problems` with that state, itself worth a finding.
 * `not-installed` stanzas (purged packages dpkg still remembers) are left out.
 */
export function parseDpkgStatus(text: string): { packages: PackageRecord[]; problems: PackageRecord[] } {
  const packages: PackageRecord[] = []
  const problems: PackageRecord[] = []
  for (const { manager, name, arch, version, state } of parseDpkgEntries(text)) {
    if (state === 'installed') packages.push({ manager, name, arch, version })
    else problems.push({ manager, name, arch, version, state })
  }
  return { packages, problems }
}

/** A `path-exclude=` or `path-include=` rule from dpkg's configuration. */
export interface DpkgPathFilter {
  exclude: boolean
  pattern: RegExp
}

/**
 * The path filters in dpkg configuration text (dpkg.cfg, dpkg.cfg.d/*), parsed as
 * Dpkg::Conf does: `name=value` or `name value`, `#` comments, quotes around the value.
 * Minimal images use them to leave out documentation and locales.
 */
export function parseDpkgPathFilters(text: string): DpkgPathFilter[] {
  const filters: DpkgPathFilter[] = []
  for (const raw of text.split('\n')) {
    let line = raw.trim().replace(/\s+=\s+/, '=')
    if (!line.includes('=')) line = line.replace(/\s+/, '=')
    const match = /^(?:--)?path-(exclude|include)=(.+)$/.exec(line)
    if (!match) continue
    const value = (match[2] as string).replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1')
    filters.push({ exclude: match[1] === 'exclude', pattern: fnmatchPattern(value) })
  }
  return filters
}

/** True when the last filter matching `path` excludes it: dpkg did not install it. */
export function isExcludedByDpkg(path: string, filters: DpkgPathFilter[]): boolean {
  let excluded = false
  for (const filter of filters) if (filter.pattern.test(path)) excluded = filter.exclude
  return excluded
}

/**
 * fnmatch(3) without flags, as debsums calls it: `*` and `?` match `/` too, `[…]` is a
 * bracket expression (`!` or `^` negates), a backslash quotes the next character.
 */
function fnmatchPattern(glob: string): RegExp {
  let source = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*') source += '.*'
    else if (c === '?') source += '.'
    else if (c === '\\' && i + 1 < glob.length) source += escapeRegExp(glob[++i] as string)
    else if (c === '[') {
      let j = i + 1
      if (glob[j] === '!' || glob[j] === '^') j++
      if (glob[j] === ']') j++
      const close = glob.indexOf(']', j)
      if (close === -1) {
        source += '\\['
        continue
      }
      let body = glob.slice(i + 1, close)
      const negated = body[0] === '!' || body[0] === '^'
      if (negated) body = body.slice(1)
      source += `[${negated ? '^' : ''}${body.replace(/[\\\][^]/g, '\\$&')}]`
      i = close
    } else source += escapeRegExp(c)
  }
  return new RegExp(`^${source}$`, 's')
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

/*
 * localepurge deletes the translations of locales a host does not keep (/etc/locale.nopurge).
 * debsums leaves the files it deleted out of its missing files; these are the places it knows,
 * each with the path part that names the locale.
 */
const LOCALEPURGE_PLACES: { type: RegExp; locale: RegExp; group?: number }[] = [
  {
    type: /^usr\/share\/(?:man|locale|doc\/kde\/HTML)\//,
    locale: /^usr\/share\/(?:man|locale|doc\/kde\/HTML)\/([^/]+)\//,
  },
  { type: /^usr\/share\/gnome\/help\//, locale: /^usr\/share\/gnome\/help\/[^/]+\/([^/]+)\// },
  { type: /^usr\/share\/omf\//, locale: /^usr\/share\/omf\/([^/]+)\/\1-([^/]+)\.omf$/, group: 2 },
  { type: /^usr\/share\/tcltk\//, locale: /^usr\/share\/tcltk\/t[^/]+\/msgs\/([^/]+)\.msg$/ },
  { type: /^usr\/share\/aptitude\//, locale: /^usr\/share\/aptitude\/aptitude-defaults\.(.+)$/ },
  { type: /^usr\/share\/calendar\//, locale: /^usr\/share\/calendar\/(\w{2}_.+)$/ },
  { type: /^usr\/share\/cups\/templates\//, locale: /^usr\/share\/cups\/templates\/([^/]+)\// },
  { type: /^usr\/share\/cups\/locale\//, locale: /^usr\/share\/cups\/locale\/([^/]+)/ },
  { type: /^usr\/share\/cups\/doc-root\//, locale: /^usr\/share\/cups\/doc-root\/([^/]+)\// },
  { type: /^usr\/share\/help\//, locale: /^usr\/share\/help\/([^/]+)$/ },
  {
    type: /^usr\/share\/vim\/vim[^/]+\/lang\//,
    locale: /^usr\/share\/vim\/vim[^/]+\/lang\/([^/]+)\/LC_MESSAGES\/vim\.mo$/,
  },
  { type: /^usr\/share\/X11\/locale\//, locale: /^usr\/share\/X11\/locale\/([^/]+)\// },
]

/** The locales /etc/locale.nopurge keeps: every line that starts with a word character. */
export function parseLocaleNopurge(text: string): Set<string> {
  const keep = new Set<string>()
  for (const line of text.split('\n')) if (/^\w/.test(line)) keep.add(line.trimEnd())
  return keep
}

/** True when localepurge would have deleted `path` (absolute), given the locales kept. */
export function isLocalepurgeFile(path: string, keep: Set<string>): boolean {
  const relative = path.slice(1)
  const place = LOCALEPURGE_PLACES.find((p) => p.type.test(relative))
  const locale = place?.locale.exec(relative)?.[place.group ?? 1]
  return locale !== undefined && locale !== '' && !keep.has(locale)
}

// ---------------------------------------------------------------------------------------------
// Reading the database of a root
// ---------------------------------------------------------------------------------------------

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
function md5sumsPathOf(listPath: string): string {
  return `${listPath.slice(0, -'.list'.length)}.md5sums`
}

/** Where the packaged file `path` of package `entry` really is: moved by another's diversion. */
function divertedPath(
  path: string,
  entry: Pick<PackageRecord, 'name' | 'arch'>,
  diversions: Map<string, DpkgDiversion>,
): string {
  const diversion = diversions.get(path)
  // A package's own diversion does not apply to its own file (dpkg-divert --package).
  if (!diversion || diversion.by === entry.name || diversion.by === `${entry.name}:${entry.arch}`) return path
  return diversion.to
}

/** The dpkg probe: installed packages, and those half there with their `state`. */
export const dpkgProbe: Probe<PackageRecord[]> = {
  name: 'dpkg',
  async collect(context: ProbeContext): Promise<PackageRecord[]> {
    const entries = readDpkgEntries(context.rootDir) ?? []
    const installed = entries.filter((e) => e.state === 'installed')
    const problems = entries.filter((e) => e.state !== 'installed')
    return [...installed, ...problems].map(({ manager, name, arch, version, state }) =>
      state === 'installed' ? { manager, name, arch, version } : { manager, name, arch, version, state },
    )
  },
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

// ---------------------------------------------------------------------------------------------
// Verification, as `debsums -s` does it
// ---------------------------------------------------------------------------------------------

/** A package-owned file that is not as its package installed it. */
export interface DpkgFileChange {
  /** The owning package: `deb:<name>:<arch>`. */
  subject: string
  /** Where the file is (after diversions). */
  path: string
  /**
   * modified: other content, or no longer a regular file; missing: not there (also when a
   * directory on its path became a file, which debsums reports as "can't open").
   */
  kind: 'modified' | 'missing'
  conffile: boolean
}

/** A file that could not be checked (permission denied, I/O error); debsums fails on these too. */
export interface DpkgVerifyError {
  subject: string
  path: string
  message: string
}

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
/** Files per job sent to a worker: small enough to share the work out evenly at the end. */
const PATHS_PER_JOB = 64
/** Jobs queued per worker, so none waits on the round trip to this thread. */
const JOBS_IN_FLIGHT_PER_WORKER = 2

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
 * Files are hashed once each, by worker threads, one per core.
 */
export async function verifyDpkgPackages(
  context: ProbeContext,
  options: DpkgVerifyOptions = {},
): Promise<DpkgFileChange[]> {
  const { rootDir } = context
  const database = readDpkgDatabase(rootDir)
  if (!database) return []
  // Started first: the workers load while this thread reads the md5sums.
  const init: DpkgHashInit = { rootDir }
  const size = Math.max(1, options.concurrency ?? availableParallelism())
  const workers = Array.from({ length: size }, () => new Worker(workerUrl(), { workerData: init }))
  let expected: Map<string, Expectation[]>
  let paths: string[]
  let results: DpkgHashResult[]
  try {
    expected = expectedDigests(rootDir, database, options.conffiles === true)
    paths = [...expected.keys()]
    results = await hashInWorkers(workers, paths)
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()))
  }
  const leftOut = missingOnPurpose(rootDir)

  const changes: DpkgFileChange[] = []
  const changed: { path: string; expectation: Expectation }[] = []
  paths.forEach((path, i) => {
    const result = results[i] as DpkgHashResult
    for (const expectation of expected.get(path) as Expectation[]) {
      const { subject, conffile } = expectation
      if ('md5' in result) {
        if (result.md5 !== expectation.md5) changed.push({ path, expectation })
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

/** Hashes `paths` with the workers, a few jobs queued on each; the results are in the same order. */
function hashInWorkers(workers: Worker[], paths: string[]): Promise<DpkgHashResult[]> {
  const results: DpkgHashResult[] = new Array(paths.length)
  return new Promise((resolve, reject) => {
    let next = 0
    let inFlight = 0
    const send = (worker: Worker) => {
      if (next >= paths.length) return
      const job: DpkgHashJob = { start: next, paths: paths.slice(next, next + PATHS_PER_JOB) }
      next += job.paths.length
      inFlight++
      worker.postMessage(job)
    }
    for (const worker of workers) {
      worker.on('message', (done: DpkgHashDone) => {
        done.results.forEach((result, k) => {
          results[done.start + k] = result
        })
        inFlight--
        send(worker)
        if (inFlight === 0 && next >= paths.length) resolve(results)
      })
      worker.on('error', reject)
      worker.on('exit', (code) => {
        if (inFlight > 0 || next < paths.length)
          reject(new Error(`dpkg verify worker exited with code ${code}`))
      })
      for (let i = 0; i < JOBS_IN_FLIGHT_PER_WORKER; i++) send(worker)
    }
    if (paths.length === 0) resolve(results)
  })
}

/** The compiled worker next to this module; under vitest (sources in src/) the build in dist/. */
function workerUrl(): URL {
  const here = import.meta.url
  if (here.endsWith('.ts')) return new URL('../../dist/probes/dpkg-verify-worker.js', here)
  return new URL('./dpkg-verify-worker.js', here)
}
