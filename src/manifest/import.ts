import { LineCounter, parseDocument } from 'yaml'
import { z } from 'zod'
import { formatPath } from '../config/load.js'
import type { Policy } from '../config/policy.js'
import { ANY_ARCH, ANY_VERSION, NOT_INSTALLED } from '../drift/packages.js'
import { DriftwatchError } from '../errors.js'
import { normalizeSysctlKey } from '../probes/sysctl.js'
import { type ConfigEntry, type PackageManager, type PackageRecord, packageSubject } from '../probes/types.js'
import { compareCodeUnits } from '../util/compare.js'
import { jsonErrorPlace } from './io.js'
import { type FileEntry, type FileType, MANIFEST_SCHEMA, type Manifest } from './schema.js'

/*
 * Declared manifests: a description written by hand (a Goss file, a CycloneDX SBOM) turned
 * into manifest entries. Pure: text in, entries out. What the description does not state is
 * left out of the entries, and a declared manifest leaves unchecked what its entries leave out
 * (see isDeclared in scan/run.ts). What it states but a manifest cannot check (a file owner
 * by name, whether a service runs) is counted in `unchecked`, so the import can say so.
 */

/** What a description declares, ready to become a manifest's entries. */
export interface DeclaredContent {
  files: FileEntry[]
  packages: PackageRecord[]
  config: ConfigEntry[]
  /** Paths that must not exist (Goss `exists: false`): on a host, each is drift. */
  absent: string[]
  /** Stated attributes a manifest cannot check, counted by `<resource>.<attribute>`. */
  unchecked: Record<string, number>
  /** Entries of the description left out, counted by reason (a CycloneDX npm package, …). */
  skipped: Record<string, number>
}

export type DeclaredFormat = 'goss' | 'cyclonedx'

// ---------------------------------------------------------------------------------------------
// Goss
// ---------------------------------------------------------------------------------------------

/** The Goss resource types that describe what an image holds, in the order the README lists them. */
export const GOSS_RESOURCES = ['package', 'file', 'service', 'user', 'group', 'kernel-param'] as const
type GossResource = (typeof GOSS_RESOURCES)[number]

/** How a value reads in a message; a mapping where a value belongs is a Goss matcher. */
function shown(input: unknown): string {
  if (input === undefined || input === null) return 'nothing'
  if (Array.isArray(input)) return `a list ${JSON.stringify(input)}`
  if (typeof input === 'object') return `a Goss matcher ${JSON.stringify(input)}`
  return JSON.stringify(input)
}

/** A scalar attribute, checked and normalized by `parse` (undefined: not acceptable). */
function scalar<T>(what: string, parse: (input: unknown) => T | undefined) {
  return z.unknown().transform((input, ctx) => {
    const value = parse(input)
    if (value !== undefined) return value
    ctx.issues.push({ code: 'custom', input, message: `expected ${what}, got ${shown(input)}` })
    return z.NEVER
  })
}

const bool = z.boolean({
  error: (issue) =>
    issue.input === undefined
      ? 'required: true or false'
      : `expected true or false, got ${shown(issue.input)}`,
})
const text = (what: string) => scalar(what, (v) => (typeof v === 'string' && v !== '' ? v : undefined))
/** Goss reads ids written as strings too ("1000"), with a deprecation warning. */
const id = scalar('a number like 1000', (v) => {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined
})
/** `goss add` writes "0644"; by hand it is often 644 or "755". */
const mode = scalar('a mode like "0644"', (v) => {
  const digits = typeof v === 'number' && Number.isInteger(v) ? String(v) : v
  return typeof digits === 'string' && /^[0-7]{3,4}$/.test(digits) ? digits.padStart(4, '0') : undefined
})
/** What only Goss can check: accepted, counted as unchecked. */
const any = z.unknown()
const common = { title: any.optional(), meta: any.optional(), skip: bool.optional() }

const GOSS_FILETYPES: Record<string, FileType> = {
  file: 'file',
  directory: 'dir',
  symlink: 'symlink',
  socket: 'socket',
  pipe: 'fifo',
  'character-device': 'char',
  'block-device': 'block',
}

const GossSchemas = {
  package: z.strictObject({
    ...common,
    name: text('a package name').optional(),
    installed: bool,
    versions: z
      .array(text('a version string (quote it: "2.10")'), {
        error: (issue) => `expected a list of versions, got ${shown(issue.input)}`,
      })
      .optional(),
  }),
  file: z.strictObject({
    ...common,
    path: text('an absolute path').optional(),
    exists: bool,
    mode: mode.optional(),
    size: id.optional(),
    owner: any.optional(),
    group: any.optional(),
    uid: id.optional(),
    gid: id.optional(),
    filetype: scalar(Object.keys(GOSS_FILETYPES).join(', '), (v) =>
      typeof v === 'string' ? GOSS_FILETYPES[v] : undefined,
    ).optional(),
    'linked-to': text('a link target').optional(),
    sha256: scalar('64 hex digits', (v) =>
      typeof v === 'string' && /^[0-9a-fA-F]{64}$/.test(v) ? v.toLowerCase() : undefined,
    ).optional(),
    md5: any.optional(),
    sha512: any.optional(),
    contents: any.optional(),
    contains: any.optional(),
  }),
  service: z.strictObject({
    ...common,
    name: text('a unit name').optional(),
    enabled: bool.optional(),
    running: any.optional(),
    runlevels: any.optional(),
  }),
  user: z.strictObject({
    ...common,
    username: text('a user name').optional(),
    exists: bool,
    uid: id.optional(),
    gid: id.optional(),
    home: text('a path').optional(),
    shell: text('a path').optional(),
    groups: any.optional(),
  }),
  group: z.strictObject({
    ...common,
    groupname: text('a group name').optional(),
    exists: bool,
    gid: id.optional(),
  }),
  'kernel-param': z.strictObject({
    ...common,
    name: text('a parameter name').optional(),
    value: scalar('a value like "1"', (v) =>
      typeof v === 'string' || typeof v === 'number' ? String(v).trim().split(/\s+/).join(' ') : undefined,
    ),
  }),
} satisfies Record<GossResource, z.ZodType>

/** Attributes only Goss can check, per resource type; each use is counted in `unchecked`. */
const GOSS_UNCHECKED: Record<GossResource, readonly string[]> = {
  package: [],
  file: ['md5', 'sha512', 'contents', 'contains'],
  service: ['running', 'runlevels'],
  user: ['groups'],
  group: [],
  'kernel-param': [],
}

const UNIT_SUFFIX = /\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/

/**
 * Reads a Goss file (YAML or JSON, as `goss add` writes it, templates already rendered) into
 * declared content. `manager` names the package manager Goss's `package` entries are for
 * (Goss's own `--package` flag); their arch is ANY_ARCH unless the name says it (`libc6:amd64`).
 */
export function fromGoss(
  yamlText: string,
  source: string,
  options: { manager?: PackageManager } = {},
): DeclaredContent {
  const manager = options.manager ?? 'deb'
  // Go templates may read as YAML (a flow mapping), but not as what they will render to.
  const template = /\{\{.*?\}\}/.exec(yamlText)
  if (template) {
    const line = yamlText.slice(0, template.index).split('\n').length
    throw invalid(source, `line ${line}`, `a template, ${template[0]}, is not a value`, {
      hint: 'render the templates first: goss render > rendered.yaml, and import that',
    })
  }
  const lines = new LineCounter()
  const doc = parseDocument(yamlText, { prettyErrors: false, lineCounter: lines })
  const syntax = doc.errors[0]
  if (syntax) {
    const pos = lines.linePos(syntax.pos[0])
    throw invalid(source, `line ${pos.line} column ${pos.col}`, syntax.message.split('\n')[0] ?? 'not YAML', {
      hint: 'fix the YAML there',
    })
  }
  const top: unknown = doc.toJS()
  if (!isRecord(top)) {
    throw invalid(source, '(top level)', `expected a mapping of Goss resource types, got ${shown(top)}`, {
      hint: `a Goss file maps resource types (${GOSS_RESOURCES.join(', ')}) to resources`,
    })
  }
  const unsupported = Object.keys(top).filter((type) => !(GOSS_RESOURCES as readonly string[]).includes(type))
  if (unsupported.length > 0) {
    const plural = unsupported.length > 1 ? 's' : ''
    throw invalid(
      source,
      '(top level)',
      `unsupported resource type${plural} ${unsupported.map((t) => `"${t}"`).join(', ')}`,
      {
        hint:
          `driftwatch imports ${GOSS_RESOURCES.join(', ')}: what an image holds. Keep the other tests in a ` +
          'separate gossfile' +
          (unsupported.includes('gossfile') ? '; inline included gossfiles with `goss render`' : ''),
      },
    )
  }

  const content = emptyContent()
  const seen = new Map<string, string>()
  const claim = (what: string, where: string) => {
    const previous = seen.get(what)
    if (previous !== undefined)
      throw invalid(source, where, `states the same ${what} as ${previous}`, {
        hint: 'keep one entry for it',
      })
    seen.set(what, where)
  }
  for (const type of GOSS_RESOURCES) {
    const resources = top[type]
    if (resources === undefined || resources === null) continue
    if (!isRecord(resources))
      throw invalid(source, type, `expected a mapping of names to attributes, got ${shown(resources)}`, {
        hint: `write it as ${type}:\\n  <name>:\\n    <attribute>: <value>`,
      })
    for (const [key, attributes] of Object.entries(resources)) {
      const where = `${type}[${JSON.stringify(key)}]`
      const result = GossSchemas[type].safeParse(attributes ?? {})
      if (!result.success) throw gossIssue(source, type, where, result.error)
      const stated = result.data as Record<string, unknown>
      if (stated.skip === true) {
        count(content.skipped, `${type} with skip: true`)
        continue
      }
      for (const attribute of GOSS_UNCHECKED[type])
        if (stated[attribute] !== undefined && !isEmptyList(stated[attribute]))
          count(content.unchecked, `${type}.${attribute}`)
      addGossResource(content, type, key, stated, { source, where, manager, claim })
    }
  }
  return sortContent(content)
}

function addGossResource(
  content: DeclaredContent,
  type: GossResource,
  key: string,
  stated: Record<string, unknown>,
  context: {
    source: string
    where: string
    manager: PackageManager
    claim: (what: string, where: string) => void
  },
): void {
  const { source, where, claim } = context
  switch (type) {
    case 'package': {
      const p = stated as z.output<(typeof GossSchemas)['package']>
      let name = p.name ?? key
      let arch = ANY_ARCH
      // dpkg-query, which Goss asks, takes `name:arch`; rpm and apk names have no such form.
      const colon = name.indexOf(':')
      if (context.manager === 'deb' && colon > 0) {
        arch = name.slice(colon + 1)
        name = name.slice(0, colon)
      }
      claim(`package ${packageSubject({ manager: context.manager, name, arch })}`, where)
      const base = { manager: context.manager, name, arch }
      if (!p.installed) content.packages.push({ ...base, version: '', state: NOT_INSTALLED })
      else if (!p.versions?.length) content.packages.push({ ...base, version: ANY_VERSION })
      else for (const version of new Set(p.versions)) content.packages.push({ ...base, version })
      return
    }
    case 'file': {
      const f = stated as z.output<(typeof GossSchemas)['file']>
      const path = f.path ?? key
      if (!path.startsWith('/'))
        throw invalid(source, where, `expected an absolute path, got ${JSON.stringify(path)}`, {
          hint: 'driftwatch checks paths inside the root: write them from / (Goss would resolve ~ and . here)',
        })
      claim(`path ${path}`, where)
      if (!f.exists) {
        content.absent.push(path)
        return
      }
      const entry: FileEntry = { path }
      if (f.filetype !== undefined) entry.type = f.filetype
      if (f.mode !== undefined) entry.mode = f.mode
      // Goss states owners by name; a manifest records ids, and a name's id is the host's own
      // business. A number in their place is an id.
      const uid = f.uid ?? (typeof f.owner === 'number' ? f.owner : undefined)
      const gid = f.gid ?? (typeof f.group === 'number' ? f.group : undefined)
      if (uid !== undefined) entry.uid = uid
      else if (f.owner !== undefined) count(content.unchecked, 'file.owner')
      if (gid !== undefined) entry.gid = gid
      else if (f.group !== undefined) count(content.unchecked, 'file.group')
      // Only a regular file's size is recorded (a directory's says nothing of the image).
      if (f.size !== undefined && (f.filetype === undefined || f.filetype === 'file')) entry.size = f.size
      else if (f.size !== undefined) count(content.unchecked, 'file.size')
      if (f.sha256 !== undefined) entry.sha256 = f.sha256
      if (f['linked-to'] !== undefined) entry.target = f['linked-to']
      content.files.push(entry)
      return
    }
    case 'service': {
      const s = stated as z.output<(typeof GossSchemas)['service']>
      if (s.enabled === undefined) return
      const name = s.name ?? key
      const unit = UNIT_SUFFIX.test(name) ? name : `${name}.service`
      claim(`unit ${unit}`, where)
      content.config.push({ key: `systemd:${unit}`, value: s.enabled ? 'enabled' : 'disabled' })
      return
    }
    case 'user': {
      const u = stated as z.output<(typeof GossSchemas)['user']>
      const name = u.username ?? key
      claim(`user ${name}`, where)
      const value = u.exists
        ? {
            ...(u.uid !== undefined ? { uid: u.uid } : {}),
            ...(u.gid !== undefined ? { gid: u.gid } : {}),
            ...(u.home !== undefined ? { home: u.home } : {}),
            ...(u.shell !== undefined ? { shell: u.shell } : {}),
          }
        : null
      content.config.push({ key: `user:${name}`, value })
      return
    }
    case 'group': {
      const g = stated as z.output<(typeof GossSchemas)['group']>
      const name = g.groupname ?? key
      claim(`group ${name}`, where)
      content.config.push({
        key: `group:${name}`,
        value: g.exists ? (g.gid !== undefined ? { gid: g.gid } : {}) : null,
      })
      return
    }
    case 'kernel-param': {
      const k = stated as z.output<(typeof GossSchemas)['kernel-param']>
      const name = normalizeSysctlKey(k.name ?? key)
      claim(`kernel parameter ${name}`, where)
      content.config.push({ key: `sysctl:${name}`, value: k.value })
      return
    }
  }
}

function gossIssue(source: string, type: GossResource, where: string, error: z.ZodError): DriftwatchError {
  const issue = error.issues[0]
  const at = issue?.path.length ? `${where}.${formatPath(issue.path)}` : where
  if (issue?.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${k}"`).join(', ')
    const known = Object.keys(GossSchemas[type].shape).join(', ')
    return invalid(source, at, `unknown attribute${issue.keys.length > 1 ? 's' : ''} ${keys}`, {
      hint: `a Goss ${type} has ${known}`,
    })
  }
  return invalid(source, at, issue?.message ?? 'invalid', {
    hint: 'driftwatch reads the values `goss add` writes; Goss matchers (mappings like {lt: 5}) cannot be imported',
  })
}

// ---------------------------------------------------------------------------------------------
// CycloneDX
// ---------------------------------------------------------------------------------------------

/** The CycloneDX versions read: their JSON states components, types and purls alike. */
export const CYCLONEDX_VERSIONS = ['1.4', '1.5', '1.6'] as const

interface Component {
  type: string
  name: string
  purl?: string | undefined
  components?: Component[] | undefined
}
const ComponentSchema: z.ZodType<Component> = z.looseObject({
  type: z.string(),
  name: z.string(),
  purl: z.string().optional(),
  get components() {
    return z.array(ComponentSchema).optional()
  },
})
const BomSchema = z.looseObject({
  bomFormat: z.literal('CycloneDX', { error: 'expected "CycloneDX"' }),
  specVersion: z.enum(CYCLONEDX_VERSIONS, {
    error: (issue) => `expected one of ${CYCLONEDX_VERSIONS.join(', ')}, got ${shown(issue.input)}`,
  }),
  components: z.array(ComponentSchema).default([]),
})

/** Component types that are packages; the rest (operating-system, file, container, …) are not. */
const PACKAGE_COMPONENTS = new Set(['library', 'application'])
const PURL_MANAGERS: Record<string, PackageManager> = { deb: 'deb', rpm: 'rpm', apk: 'apk' }

/**
 * Reads a CycloneDX JSON SBOM (1.4 to 1.6, as `syft -o cyclonedx-json` or Trivy write it) into
 * declared packages: every library or application component with a deb, rpm or apk purl, at
 * the purl's version and arch (ANY_ARCH when the purl has none). Other components are skipped
 * and counted by reason.
 */
export function fromCycloneDx(jsonText: string, source: string): DeclaredContent {
  let parsed: unknown
  try {
    parsed = JSON.parse(jsonText)
  } catch (error) {
    throw new DriftwatchError('INPUT_INVALID', `${source}: ${jsonErrorPlace(jsonText, error)}`, {
      hint: jsonText.trimStart().startsWith('<')
        ? 'this looks like CycloneDX XML: export JSON instead (syft -o cyclonedx-json)'
        : 'export the SBOM as CycloneDX JSON (syft -o cyclonedx-json)',
    })
  }
  const result = BomSchema.safeParse(parsed)
  if (!result.success) {
    const issue = result.error.issues[0]
    throw invalid(
      source,
      issue?.path.length ? formatPath(issue.path) : '(top level)',
      issue?.message ?? 'invalid',
      {
        hint: 'expected a CycloneDX JSON SBOM with a components list (syft -o cyclonedx-json)',
      },
    )
  }
  const content = emptyContent()
  const added = new Set<string>()
  const visit = (components: readonly Component[]) => {
    for (const component of components) {
      if (component.components) visit(component.components)
      const record = packageOfComponent(component)
      if (typeof record === 'string') {
        count(content.skipped, record)
        continue
      }
      const identity = `${packageSubject(record)} ${record.version}`
      // Several catalogers may find one package; it is one package.
      if (added.has(identity)) continue
      added.add(identity)
      content.packages.push(record)
    }
  }
  visit(result.data.components)
  return sortContent(content)
}

/** The package a component is, or why it is skipped. */
function packageOfComponent(component: Component): PackageRecord | string {
  if (!PACKAGE_COMPONENTS.has(component.type)) return `type ${component.type}`
  if (component.purl === undefined) return 'no purl'
  const purl = parsePurl(component.purl)
  if (!purl) return 'not a package URL'
  const manager = PURL_MANAGERS[purl.type]
  return manager ? packageFromPurl(manager, purl) : `pkg:${purl.type}`
}

/** A package URL (https://github.com/package-url/purl-spec), its parts percent-decoded. */
export interface Purl {
  type: string
  namespace?: string
  name: string
  version?: string
  qualifiers: Record<string, string>
  subpath?: string
}

/**
 * Parses a package URL as the purl specification's "how to parse" says: subpath after `#`,
 * qualifiers after `?`, the `pkg:` scheme, the type, the version after the last `@`, the name
 * as the last path segment. Undefined for a string that is not a package URL.
 */
export function parsePurl(text: string): Purl | undefined {
  let rest = text
  let subpath: string | undefined
  const hash = rest.indexOf('#')
  if (hash !== -1) {
    subpath = rest.slice(hash + 1).replace(/^\/+|\/+$/g, '')
    rest = rest.slice(0, hash)
  }
  const qualifiers: Record<string, string> = {}
  const question = rest.indexOf('?')
  if (question !== -1) {
    for (const pair of rest.slice(question + 1).split('&')) {
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const value = decode(pair.slice(eq + 1))
      if (value === undefined) return undefined
      if (value !== '') qualifiers[pair.slice(0, eq).toLowerCase()] = value
    }
    rest = rest.slice(0, question)
  }
  const colon = rest.indexOf(':')
  if (colon === -1 || rest.slice(0, colon).toLowerCase() !== 'pkg') return undefined
  rest = rest.slice(colon + 1).replace(/^\/+/, '')
  const slash = rest.indexOf('/')
  if (slash <= 0) return undefined
  const type = rest.slice(0, slash).toLowerCase()
  rest = rest.slice(slash + 1).replace(/\/+$/, '')
  let version: string | undefined
  const at = rest.lastIndexOf('@')
  if (at !== -1) {
    version = decode(rest.slice(at + 1))
    if (version === undefined) return undefined
    rest = rest.slice(0, at)
  }
  const lastSlash = rest.lastIndexOf('/')
  const name = decode(rest.slice(lastSlash + 1))
  const namespace = lastSlash === -1 ? undefined : decode(rest.slice(0, lastSlash))
  if (!name) return undefined
  return {
    type,
    ...(namespace ? { namespace } : {}),
    name,
    ...(version ? { version } : {}),
    qualifiers,
    ...(subpath ? { subpath } : {}),
  }
}

/**
 * The package a deb, rpm or apk purl names, its version as the package manager's database
 * spells it: Trivy puts a deb or rpm epoch in a qualifier, syft in the version itself.
 */
export function packageFromPurl(manager: PackageManager, purl: Purl): PackageRecord {
  let version = purl.version ?? ANY_VERSION
  const epoch = purl.qualifiers.epoch
  if (epoch !== undefined && manager !== 'apk' && purl.version !== undefined && !version.includes(':'))
    version = `${epoch}:${version}`
  return { manager, name: purl.name, arch: purl.qualifiers.arch ?? ANY_ARCH, version }
}

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part)
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------------------------
// The manifest
// ---------------------------------------------------------------------------------------------

/**
 * The policy of a declared manifest: the given one, watching exactly the declared paths (and
 * those that must be absent), none excluded. A scan then reads only those files: every other
 * file would read as "added", and a path the user names is one they want checked.
 */
export function declaredPolicy(policy: Policy, content: Pick<DeclaredContent, 'files' | 'absent'>): Policy {
  const paths = [...new Set([...content.files.map((f) => f.path), ...content.absent])].sort()
  return {
    ...policy,
    files: {
      ...policy.files,
      // A policy must include something: with no paths stated, everything, all of it excluded.
      include: paths.length ? paths.map(literalGlob) : ['/**'],
      exclude: paths.length ? [] : ['/**'],
    },
  }
}

/**
 * A glob that matches exactly one path. A segment with glob characters is escaped inside an
 * `@( )` group: still a glob, so the walk starts at the static part before it rather than at
 * a path with backslashes in it.
 */
export function literalGlob(path: string): string {
  return path
    .split('/')
    .map((segment) =>
      /[\\*?[\]{}()!+@|]/.test(segment) ? `@(${segment.replace(/[\\*?[\]{}()!+@|,]/g, '\\$&')})` : segment,
    )
    .join('/')
}

/** A declared manifest: the image, the policy narrowed to the declared paths, the entries. */
export function declaredManifest(
  content: DeclaredContent,
  options: {
    image: { id: string; version: string }
    policy: Policy
    source: { from: DeclaredFormat; file: string }
    now: Date
  },
): Manifest {
  return {
    schema: MANIFEST_SCHEMA,
    image: {
      ...options.image,
      capturedAt: options.now.toISOString(),
      source: { declared: true, ...options.source },
    },
    policy: declaredPolicy(options.policy, content),
    files: content.files,
    packages: content.packages,
    config: content.config,
  }
}

// ---------------------------------------------------------------------------------------------

function emptyContent(): DeclaredContent {
  return { files: [], packages: [], config: [], absent: [], unchecked: {}, skipped: {} }
}

function sortContent(content: DeclaredContent): DeclaredContent {
  content.files.sort((a, b) => compareCodeUnits(a.path, b.path))
  content.packages.sort(
    (a, b) =>
      compareCodeUnits(packageSubject(a), packageSubject(b)) || compareCodeUnits(a.version, b.version),
  )
  content.config.sort((a, b) => compareCodeUnits(a.key, b.key))
  content.absent.sort(compareCodeUnits)
  return content
}

function invalid(source: string, where: string, what: string, options: { hint: string }): DriftwatchError {
  return new DriftwatchError('INPUT_INVALID', `${source}: ${where}: ${what}`, options)
}

function count(counts: Record<string, number>, what: string): void {
  counts[what] = (counts[what] ?? 0) + 1
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isEmptyList(value: unknown): boolean {
  return Array.isArray(value) && value.length === 0
}
