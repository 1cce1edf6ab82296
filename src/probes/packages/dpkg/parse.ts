import type { PackageRecord } from '../../../manifest/schema.js'

// The pure parsers of dpkg's database files: text in, records out, no I/O.

/** An MD5 as dpkg's md5sums and Conffiles fields write it. */
export const MD5_HEX = /^[0-9a-f]{32}$/

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
