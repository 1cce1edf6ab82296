import { posix } from 'node:path'
import type { ConfigEntry } from '../manifest/schema.js'
import { compareCodeUnits } from '../util/compare.js'
import { DEV_NULL, listRootDir, readRootTextConfined, resolveInRoot } from './root-fs.js'
import type { Probe } from './types.js'

/*
 * Unit enablement read from files, as `systemctl is-enabled` would answer it, so it works on an
 * image folder as well as on a host. Keys:
 *   systemd:<unit>                 enabled | enabled-runtime | disabled | static | indirect |
 *                                  masked | masked-runtime | alias | linked | bad
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
  | 'bad'

/** The [Install] section of a unit file: what `systemctl enable` would link. */
export interface InstallSection {
  wantedBy: string[]
  requiredBy: string[]
  upheldBy: string[]
  alias: string[]
  also: string[]
}

/**
 * The [Install] section of a unit file (systemd.syntax(7): `#`/`;` comments, a trailing `\`
 * continues a line, an empty assignment resets a list). Drop-ins are not read: systemctl
 * takes install information from the unit file alone.
 */
export function parseInstallSection(text: string): InstallSection {
  const install: InstallSection = { wantedBy: [], requiredBy: [], upheldBy: [], alias: [], also: [] }
  const fields: Record<string, keyof InstallSection> = {
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
  /** File content; undefined for a dangling link or a masked unit. */
  text: string | undefined
}

/** A link in a `<target>.wants/` (or .requires/, .upholds/) directory. */
export interface DependencyLink {
  unit: string
  target: string
  dependency: Dependency
  runtime: boolean
}

/** Everything the enablement states are computed from; collected by the probe, built by hand in tests. */
export interface UnitTree {
  /** Every unit name in the search path, with the file that wins it. */
  units: Map<string, UnitFile>
  links: DependencyLink[]
}

/** The enablement entries of every unit in a tree. Pure. */
export function unitEntries(tree: UnitTree): ConfigEntry[] {
  const entries: ConfigEntry[] = []
  const dependencies = new Map<string, Map<Dependency, Set<string>>>()
  const enabledBy = new Map<string, { runtime: boolean }[]>()
  const noteEnabled = (unit: string, runtime: boolean) => {
    enabledBy.set(unit, [...(enabledBy.get(unit) ?? []), { runtime }])
  }
  for (const link of tree.links) {
    const byKind = dependencies.get(link.unit) ?? new Map<Dependency, Set<string>>()
    byKind.set(link.dependency, (byKind.get(link.dependency) ?? new Set()).add(link.target))
    dependencies.set(link.unit, byKind)
    noteEnabled(link.unit, link.runtime)
    const template = templateOf(link.unit)
    if (template !== undefined) noteEnabled(template, link.runtime)
  }
  // Alias= links count as enablement of the unit that lists them (systemctl enable made them).
  for (const [name, file] of tree.units) {
    const aliasOf = aliasTarget(name, file)
    if (aliasOf === undefined || !(file.dir.startsWith('/etc/') || file.dir.startsWith('/run/'))) continue
    const target = tree.units.get(aliasOf)
    if (target?.text !== undefined && parseInstallSection(target.text).alias.includes(name)) {
      noteEnabled(aliasOf, file.dir.startsWith('/run/'))
    }
  }

  const names = new Set([...tree.units.keys(), ...tree.links.map((l) => l.unit)])
  for (const name of [...names].sort(compareCodeUnits)) {
    // An instance (getty@tty1.service) has no file of its own: its template's file stands for it.
    const fileName = tree.units.has(name) ? name : templateOf(name)
    const file = fileName === undefined ? undefined : tree.units.get(fileName)
    const aliasOf = file === undefined || fileName === undefined ? undefined : aliasTarget(fileName, file)
    const state = unitState(file, aliasOf, enabledBy.get(name))
    entries.push({ key: `systemd:${name}`, value: state })
    if (state === 'alias') entries.push({ key: `systemd:${name}/alias-of`, value: aliasOf })
    for (const [dependency, targets] of dependencies.get(name) ?? []) {
      entries.push({ key: `systemd:${name}/${dependency}`, value: [...targets].sort(compareCodeUnits) })
    }
  }
  return entries.sort((a, b) => compareCodeUnits(a.key, b.key))
}

function unitState(
  file: UnitFile | undefined,
  aliasOf: string | undefined,
  enabled: { runtime: boolean }[] | undefined,
): UnitState {
  // systemd.unit(5): a unit file that is empty (size 0) or linked to /dev/null is masked.
  if (file !== undefined && (file.resolved === DEV_NULL || file.text === '')) {
    return file.dir.startsWith('/run/') ? 'masked-runtime' : 'masked'
  }
  if (aliasOf !== undefined) return 'alias'
  if (enabled !== undefined && enabled.length > 0) {
    return enabled.some((e) => !e.runtime) ? 'enabled' : 'enabled-runtime'
  }
  // A dangling link: the unit cannot be loaded.
  if (file === undefined || file.text === undefined) return 'bad'
  if (file.link && file.dir.startsWith('/etc/')) return 'linked'
  return installState(parseInstallSection(file.text))
}

/** The unit an alias name stands for: a link whose resolved file has another name. */
function aliasTarget(name: string, file: UnitFile): string | undefined {
  if (!file.link || file.resolved === undefined || file.resolved === DEV_NULL) return undefined
  const target = posix.basename(file.resolved)
  return target === name ? undefined : target
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
      units.set(entry.name, { dir, resolved, link: entry.type === 'symlink', text })
    }
  }

  const links: DependencyLink[] = []
  for (const { dir, runtime } of ENABLEMENT_DIRS) {
    for (const entry of listRootDir(rootDir, dir)) {
      if (entry.type !== 'dir' && entry.type !== 'symlink') continue
      const kind = DEPENDENCY_DIRS.find(({ suffix }) => entry.name.endsWith(suffix))
      if (kind === undefined) continue
      const target = entry.name.slice(0, -kind.suffix.length)
      for (const link of listRootDir(rootDir, `${dir}/${entry.name}`)) {
        if (!UNIT_SUFFIX.test(link.name)) continue
        // A dependency linked to /dev/null pulls nothing in.
        if (resolveInRoot(rootDir, `${dir}/${entry.name}/${link.name}`) === DEV_NULL) continue
        links.push({ unit: link.name, target, dependency: kind.dependency, runtime })
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
