import { readlinkSync } from 'node:fs'
import { posix } from 'node:path'
import type { ConfigEntry } from '../manifest/schema.js'
import { compareCodeUnits } from '../util/compare.js'
import { joinRoot } from './files/root-path.js'
import { DEV_NULL, listRootDir, readRootTextConfined, resolveInRoot } from './root-fs.js'
import type { Probe } from './types.js'

/*
 * Unit enablement read from files, as `systemctl is-enabled` would answer it, so it works on an
 * image folder as well as on a host. Keys:
 *   systemd:<unit>                 enabled | enabled-runtime | disabled | static | indirect |
 *                                  masked | masked-runtime | alias | linked | linked-runtime | bad
 *                                  (systemctl is-enabled's words; bad: a dangling link)
 *   systemd:<unit>/wanted-by       targets whose .wants/ links the unit   (also required-by,
 *   systemd:<unit>/required-by     upheld-by for .requires/ and .upholds/)
 *   systemd:<unit>/alias-of        the unit an alias name resolves to
 * A unit name never holds `/`, so the suffixed keys cannot collide with a unit.
 */

/** Unit directories, highest precedence first (systemd.unit(5), "System Unit Search Path"). */
export const UNIT_DIRS = [
  '/etc/systemd/system',
  '/run/systemd/system',
  '/usr/local/lib/systemd/system',
  '/usr/lib/systemd/system',
  '/lib/systemd/system',
] as const

/** Where `systemctl enable` puts its links; /run holds the `--runtime` ones. */
const ENABLEMENT_DIRS = [
  { dir: '/etc/systemd/system', runtime: false },
  { dir: '/run/systemd/system', runtime: true },
] as const

/** Dependency directories an [Install] section creates (systemd.unit(5): WantedBy=, RequiredBy=, UpheldBy=). */
const DEPENDENCY_DIRS = [
  { suffix: '.wants', dependency: 'wanted-by' },
  { suffix: '.requires', dependency: 'required-by' },
  { suffix: '.upholds', dependency: 'upheld-by' },
] as const
type Dependency = (typeof DEPENDENCY_DIRS)[number]['dependency']

const UNIT_SUFFIX = /\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/

export type UnitState =
  | 'enabled'
  | 'enabled-runtime'
  | 'disabled'
  | 'static'
  | 'indirect'
  | 'masked'
  | 'masked-runtime'
  | 'alias'
  | 'linked'
  | 'linked-runtime'
  | 'bad'

/** The [Install] section of a unit file: what `systemctl enable` would link. */
export interface InstallSection {
  wantedBy: string[]
  requiredBy: string[]
  upheldBy: string[]
  alias: string[]
  also: string[]
  /** DefaultInstance= of a template: the instance `systemctl enable` links. */
  defaultInstance?: string
}

/**
 * The [Install] section of a unit file (systemd.syntax(7): `#`/`;` comments, a trailing `\`
 * continues a line, an empty assignment resets a list). Drop-ins are not read: systemctl
 * takes install information from the unit file alone.
 */
export function parseInstallSection(text: string): InstallSection {
  const install: InstallSection = { wantedBy: [], requiredBy: [], upheldBy: [], alias: [], also: [] }
  const fields: Record<string, 'wantedBy' | 'requiredBy' | 'upheldBy' | 'alias' | 'also'> = {
    WantedBy: 'wantedBy',
    RequiredBy: 'requiredBy',
    UpheldBy: 'upheldBy',
    Alias: 'alias',
    Also: 'also',
  }
  let inInstall = false
  for (const line of joinContinuations(text)) {
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    if (line.startsWith('[')) {
      inInstall = line === '[Install]'
      continue
    }
    if (!inInstall) continue
    const eq = line.indexOf('=')
    if (eq === -1) continue
    if (line.slice(0, eq).trim() === 'DefaultInstance') {
      const instance = line.slice(eq + 1).trim()
      if (instance === '') delete install.defaultInstance
      else install.defaultInstance = instance
      continue
    }
    const field = fields[line.slice(0, eq).trim()]
    if (field === undefined) continue
    const words = line
      .slice(eq + 1)
      .trim()
      .split(/\s+/)
      .filter((w) => w !== '')
    install[field] = words.length === 0 ? [] : [...install[field], ...words]
  }
  return install
}

/**
 * The state of a unit that is not masked, not an alias and not enabled, from its [Install]
 * section (systemctl's rules): something to link is `disabled`, only `Also=` is `indirect`,
 * nothing is `static`.
 */
export function installState(install: InstallSection): 'disabled' | 'indirect' | 'static' {
  const links =
    install.wantedBy.length + install.requiredBy.length + install.upheldBy.length + install.alias.length
  if (links > 0) return 'disabled'
  return install.also.length > 0 ? 'indirect' : 'static'
}

/** `getty@tty1.service` -> `getty@.service`; undefined for a name that is not an instance. */
export function templateOf(unit: string): string | undefined {
  const match = /^([^@]+)@([^@]+)(\.[a-z]+)$/.exec(unit)
  return match === null ? undefined : `${match[1]}@${match[3]}`
}

/** A unit file as the search path finds it (first directory that has the name wins). */
export interface UnitFile {
  dir: string
  /** The file the name resolves to inside the root; DEV_NULL when masked. */
  resolved: string | undefined
  /** True when the name is a symbolic link in its directory. */
  link: boolean
  /** The link's own target, as readlink gives it (install.c compares its basename). */
  target?: string
  /** File content; undefined for a dangling link or a masked unit. */
  text: string | undefined
}

/** A link in a `<target>.wants/` (or .requires/, .upholds/) directory. */
export interface DependencyLink {
  unit: string
  target: string
  dependency: Dependency
  runtime: boolean
  /** The unit directory the `.wants/` is in; /etc/systemd/system or /run/systemd/system by `runtime` when left out. */
  dir?: string
}

/** Everything the enablement states are computed from; collected by the probe, built by hand in tests. */
export interface UnitTree {
  /** Every unit name in the search path, with the file that wins it. */
  units: Map<string, UnitFile>
  links: DependencyLink[]
}

/**
 * The enablement entries of every unit in a tree, as `systemctl is-enabled` decides them
 * (src/shared/install.c, unit_file_lookup_state and find_symlinks_in_scope). Pure. A name known
 * only from a dependency link whose unit does not exist has no state (systemctl: "No such file
 * or directory"); its dependency keys are kept.
 */
export function unitEntries(tree: UnitTree): ConfigEntry[] {
  const entries: ConfigEntry[] = []
  const dependencies = new Map<string, Map<Dependency, Set<string>>>()
  for (const link of enablementLinks(tree)) {
    const byKind = dependencies.get(link.unit) ?? new Map<Dependency, Set<string>>()
    byKind.set(link.dependency, (byKind.get(link.dependency) ?? new Set()).add(link.target))
    dependencies.set(link.unit, byKind)
  }
  const names = new Set([...tree.units.keys(), ...enablementLinks(tree).map((l) => l.unit)])
  for (const name of [...names].sort(compareCodeUnits)) {
    const state = unitFileState(tree, name)
    if (state !== undefined) {
      entries.push({ key: `systemd:${name}`, value: state.state })
      if (state.state === 'alias') entries.push({ key: `systemd:${name}/alias-of`, value: state.aliasOf })
    }
    for (const [dependency, targets] of dependencies.get(name) ?? []) {
      entries.push({ key: `systemd:${name}/${dependency}`, value: [...targets].sort(compareCodeUnits) })
    }
  }
  return entries.sort((a, b) => compareCodeUnits(a.key, b.key))
}

/** The links `systemctl enable` makes, in /etc and /run: the ones recorded as `/wanted-by` keys. */
function enablementLinks(tree: UnitTree): DependencyLink[] {
  return tree.links.filter((link) => ENABLEMENT_DIRS.some(({ dir }) => dir === linkDir(link)))
}

function linkDir(link: DependencyLink): string {
  return link.dir ?? (link.runtime ? '/run/systemd/system' : '/etc/systemd/system')
}

/** What install.c knows of the unit being looked up. */
interface LookupInfo {
  name: string
  /** The file the name resolves to, links followed. */
  path: string
  install: InstallSection
}

/** unit_file_lookup_state: the state of one name, or undefined when no unit file has it. */
function unitFileState(tree: UnitTree, name: string): { state: UnitState; aliasOf?: string } | undefined {
  const instance = templateOf(name) !== undefined
  // An instance (getty@tty1.service) has no file of its own: its template's file stands for it.
  const file = tree.units.get(name) ?? (instance ? tree.units.get(templateOf(name) as string) : undefined)
  if (file === undefined) return undefined
  // systemd.unit(5): a unit file that is empty (size 0) or linked to /dev/null is masked.
  if (file.resolved === DEV_NULL || file.text === '') {
    return { state: file.dir.startsWith('/run/') ? 'masked-runtime' : 'masked' }
  }
  // A dangling link: the unit cannot be loaded.
  if (file.resolved === undefined || file.text === undefined) return { state: 'bad' }
  const target = posix.basename(file.resolved)
  if (!instance && target !== name) return { state: 'alias', aliasOf: target }
  const info: LookupInfo = { name, path: file.resolved, install: parseInstallSection(file.text) }
  const found = findSymlinksInScope(tree, info, true)
  if (found !== undefined) return { state: found }
  if (findSymlinksInScope(tree, info, false) !== undefined) return { state: 'indirect' }
  return { state: installState(info.install) }
}

/**
 * find_symlinks_in_scope: where links to the unit are, directory by directory of the search
 * path. With `matchName`, only links with a name `systemctl enable` would make count (the unit's
 * own name, an Alias=, a template's DefaultInstance); without, any link to the unit does.
 */
function findSymlinksInScope(tree: UnitTree, info: LookupInfo, matchName: boolean): UnitState | undefined {
  let enabledInRuntime = false
  let enabledAtAll = false
  let sameNameConfig = false
  let sameNameRuntime = false
  let ignoreSameName = false
  for (const dir of UNIT_DIRS) {
    const found = findSymlinks(tree, info, dir, matchName, ignoreSameName)
    if (found === 'found') {
      if (dir === '/etc/systemd/system') return 'enabled'
      if (dir.startsWith('/run/')) enabledInRuntime = true
      else enabledAtAll = true
    } else if (found === 'same-name') {
      if (dir === '/etc/systemd/system') sameNameConfig = true
      else if (dir.startsWith('/run/')) sameNameRuntime = true
    }
    // Links in directories below the unit file's own are shadowed by it.
    if (!ignoreSameName && info.path.startsWith(`${dir}/`)) ignoreSameName = true
  }
  if (enabledInRuntime) return 'enabled-runtime'
  // An instance linked from a vendor directory is "statically enabled".
  if (enabledAtAll && templateOf(info.name) !== undefined) return 'static'
  if (sameNameConfig) return 'linked'
  if (sameNameRuntime) return 'linked-runtime'
  return undefined
}

/**
 * find_symlinks for one directory: the links in its .wants/, .requires/ and .upholds/ (judged by
 * their names only: the unit's name, or an instance of it when it is a template), then the links
 * at its top (judged by the base name of what they point to; one with the unit's own name that
 * points to a file of that name is a "same name" link: `linked`).
 */
function findSymlinks(
  tree: UnitTree,
  info: LookupInfo,
  dir: string,
  matchName: boolean,
  ignoreSameName: boolean,
): 'found' | 'same-name' | undefined {
  const counts = (linkName: string) => !matchName || isKnownName(info, linkName)
  for (const link of tree.links) {
    if (linkDir(link) !== dir) continue
    const foundPath = link.unit === info.name
    const foundDest = !foundPath && templateOf(link.unit) === info.name
    if ((foundPath || foundDest) && counts(link.unit)) return 'found'
  }
  let sameName = false
  for (const [linkName, file] of tree.units) {
    if (file.dir !== dir || !file.link || file.target === undefined) continue
    const foundDest = posix.basename(file.target) === info.name
    const foundPath = !ignoreSameName && linkName === info.name
    if (foundPath && foundDest) sameName = true
    else if ((foundPath || foundDest) && counts(linkName)) return 'found'
  }
  return sameName ? 'same-name' : undefined
}

/** is_symlink_with_known_name: a link name `systemctl enable` would make for the unit. */
function isKnownName(info: LookupInfo, linkName: string): boolean {
  if (linkName === info.name || info.install.alias.includes(linkName)) return true
  const { defaultInstance } = info.install
  if (defaultInstance === undefined || templateOf(info.name) !== undefined) return false
  const at = info.name.indexOf('@')
  return at !== -1 && linkName === `${info.name.slice(0, at + 1)}${defaultInstance}${info.name.slice(at + 1)}`
}

/** Unit enablement from the unit directories and the links in /etc/systemd/system (and /run). */
export const systemdProbe: Probe<ConfigEntry[]> = {
  name: 'systemd',
  async collect(context) {
    return unitEntries(readUnitTree(context.rootDir))
  },
}

/** Reads the unit search path and the enablement links of a root. */
export function readUnitTree(rootDir: string): UnitTree {
  const units = new Map<string, UnitFile>()
  for (const dir of UNIT_DIRS) {
    for (const entry of listRootDir(rootDir, dir)) {
      if (!UNIT_SUFFIX.test(entry.name) || units.has(entry.name)) continue
      if (entry.type !== 'file' && entry.type !== 'symlink') continue
      const path = `${dir}/${entry.name}`
      const resolved = resolveInRoot(rootDir, path)
      const text =
        resolved === undefined || resolved === DEV_NULL ? undefined : readRootTextConfined(rootDir, path)
      const file: UnitFile = { dir, resolved, link: entry.type === 'symlink', text }
      const realDir = resolveInRoot(rootDir, dir)
      if (file.link && realDir !== undefined)
        file.target = readlinkSync(joinRoot(rootDir, `${realDir}/${entry.name}`), 'utf8')
      units.set(entry.name, file)
    }
  }

  // install.c looks at the dependency links of every unit directory (a vendor one only matters
  // for instances); only those in /etc and /run are `systemctl enable`'s and become keys.
  const links: DependencyLink[] = []
  for (const dir of UNIT_DIRS) {
    const runtime = dir.startsWith('/run/')
    for (const entry of listRootDir(rootDir, dir)) {
      if (entry.type !== 'dir') continue
      const kind = DEPENDENCY_DIRS.find(({ suffix }) => entry.name.endsWith(suffix))
      if (kind === undefined) continue
      const target = entry.name.slice(0, -kind.suffix.length)
      for (const link of listRootDir(rootDir, `${dir}/${entry.name}`)) {
        if (!UNIT_SUFFIX.test(link.name) || link.type !== 'symlink') continue
        links.push({ unit: link.name, target, dependency: kind.dependency, runtime, dir })
      }
    }
  }
  return { units, links }
}

function joinContinuations(text: string): string[] {
  const lines: string[] = []
  let pending = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (pending === '' && (line.startsWith('#') || line.startsWith(';'))) {
      lines.push(line)
      continue
    }
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `
      continue
    }
    lines.push(pending + line)
    pending = ''
  }
  if (pending !== '') lines.push(pending.trim())
  return lines
}
