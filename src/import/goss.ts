import { LineCounter, parseDocument } from 'yaml'
import { z } from 'zod'
import { formatPath } from '../config/load.js'
import { ANY_ARCH, ANY_VERSION, NOT_INSTALLED } from '../drift/packages.js'
import type { DriftwatchError } from '../errors.js'
import { type FileEntry, type FileType, type PackageManager, packageSubject } from '../manifest/schema.js'
import { normalizeSysctlKey } from '../probes/sysctl.js'
import {
  count,
  type DeclaredContent,
  emptyContent,
  invalid,
  isEmptyList,
  isRecord,
  shown,
  sortContent,
} from './declared.js'

/** The Goss resource types that describe what an image holds, in the order the README lists them. */
export const GOSS_RESOURCES = ['package', 'file', 'service', 'user', 'group', 'kernel-param'] as const
type GossResource = (typeof GOSS_RESOURCES)[number]

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
/** An owner or group: a name (resolved when a root is scanned), or a number, which is an id. */
const owner = (what: string) =>
  scalar(`${what} or id`, (v) =>
    typeof v === 'string' && v !== ''
      ? v
      : typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
        ? v
        : undefined,
  )
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
    owner: owner('a user name').optional(),
    group: owner('a group name').optional(),
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

/**
 * Goss's `enabled` is whether `systemctl is-enabled` exits 0; systemctl(1)'s table of its
 * states says which do. A unit that is not installed (null: its key absent) is not enabled.
 */
export const IS_ENABLED = [
  'alias',
  'enabled',
  'enabled-runtime',
  'generated',
  'indirect',
  'static',
  'transient',
]
export const IS_NOT_ENABLED = [
  'bad',
  'disabled',
  'linked',
  'linked-runtime',
  'masked',
  'masked-runtime',
  null,
]

/** Goss's other resource types: they test what runs on a host, not what an image holds. */
const GOSS_OTHER_RESOURCES = [
  'addr',
  'command',
  'dns',
  'gossfile',
  'http',
  'interface',
  'matching',
  'mount',
  'port',
  'process',
] as const

/** The attributes without which a resource says nothing driftwatch can check. */
const REQUIRED: Record<GossResource, readonly string[]> = {
  package: ['installed', 'name'],
  file: ['exists', 'path'],
  service: ['name'],
  user: ['exists', 'username'],
  group: ['exists', 'groupname'],
  'kernel-param': ['value', 'name'],
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
  // Goss reads YAML with go-yaml, which merges `<<: *anchor` keys (YAML 1.1's merge type).
  const doc = parseDocument(yamlText, { prettyErrors: false, lineCounter: lines, merge: true })
  const syntax = doc.errors[0]
  if (syntax) {
    const pos = lines.linePos(syntax.pos[0])
    throw invalid(source, `line ${pos.line} column ${pos.col}`, syntax.message.split('\n')[0] ?? 'not YAML', {
      hint: 'fix the YAML there',
    })
  }
  let top: unknown
  try {
    // An alias to an anchor not (yet) set, or a billion-laughs of aliases, is refused here.
    top = doc.toJS({ maxAliasCount: 1000 })
  } catch (error) {
    throw invalid(source, '(aliases)', error instanceof Error ? error.message : String(error), {
      hint: 'set each &anchor before the *alias that refers to it',
    })
  }
  if (!isRecord(top)) {
    throw invalid(source, '(top level)', `expected a mapping of Goss resource types, got ${shown(top)}`, {
      hint: `a Goss file maps resource types (${GOSS_RESOURCES.join(', ')}) to resources`,
    })
  }
  if (top.bomFormat === 'CycloneDX')
    throw invalid(source, '(top level)', 'this is a CycloneDX SBOM, not a Goss file', {
      hint: 'import it with --from cyclonedx',
    })
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
  for (const [type, resources] of Object.entries(top)) {
    if (!(GOSS_RESOURCES as readonly string[]).includes(type)) {
      // What driftwatch cannot check is skipped and counted, as CycloneDX components are: a
      // Goss file mixes what an image holds with tests of what runs on it.
      if ((GOSS_OTHER_RESOURCES as readonly string[]).includes(type)) {
        const n = isRecord(resources) ? Object.keys(resources).length : 1
        content.skipped[`${type} resource`] = (content.skipped[`${type} resource`] ?? 0) + n
      } else count(content.skipped, `${type} (not a Goss resource type)`)
      continue
    }
    addGossResources(content, type as GossResource, resources, { source, manager, claim })
  }
  return sortContent(content)
}

function addGossResources(
  content: DeclaredContent,
  type: GossResource,
  resources: unknown,
  context: { source: string; manager: PackageManager; claim: (what: string, where: string) => void },
): void {
  const { source } = context
  if (resources === undefined || resources === null) return
  if (!isRecord(resources))
    throw invalid(source, type, `expected a mapping of names to attributes, got ${shown(resources)}`, {
      hint: `write it as ${type}:\\n  <name>:\\n    <attribute>: <value>`,
    })
  for (const [key, attributes] of Object.entries(resources)) {
    const where = `${type}[${JSON.stringify(key)}]`
    if (isRecord(attributes) && attributes.skip === true) {
      count(content.skipped, `${type} with skip: true`)
      continue
    }
    const { values, matched } = withoutMatchers(type, attributes ?? {})
    if (matched.some((attribute) => REQUIRED[type].includes(attribute))) {
      count(content.skipped, `${type} with a Goss matcher for ${matched.join(', ')}`)
      continue
    }
    for (const attribute of matched) count(content.unchecked, `${type}.${attribute}`)
    const result = GossSchemas[type].safeParse(values)
    if (!result.success) throw gossIssue(source, type, where, result.error)
    const stated = result.data as Record<string, unknown>
    for (const attribute of GOSS_UNCHECKED[type])
      if (stated[attribute] !== undefined && !isEmptyList(stated[attribute]))
        count(content.unchecked, `${type}.${attribute}`)
    addGossResource(content, type, key, stated, { ...context, where })
  }
}

/**
 * A resource's attributes without the Goss matchers (`size: {gt: 1152}`, `versions: {or: …}`)
 * that stand where a value belongs: a manifest states values, so a matcher's attribute is left
 * unchecked rather than refusing the file. Attributes only Goss checks keep whatever they hold.
 */
function withoutMatchers(type: GossResource, attributes: unknown): { values: unknown; matched: string[] } {
  if (!isRecord(attributes)) return { values: attributes, matched: [] }
  const values: Record<string, unknown> = {}
  const matched: string[] = []
  for (const [attribute, value] of Object.entries(attributes)) {
    const onlyGoss = attribute === 'title' || attribute === 'meta' || GOSS_UNCHECKED[type].includes(attribute)
    if (!onlyGoss && isMatcher(value)) matched.push(attribute)
    else values[attribute] = value
  }
  return { values, matched }
}

function isMatcher(value: unknown): boolean {
  return isRecord(value) || (Array.isArray(value) && value.some((v) => isRecord(v) || Array.isArray(v)))
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
      // Goss states owners by name; they are resolved against the scanned root (scan/owners.ts).
      // A number in their place is an id.
      const uid = f.uid ?? (typeof f.owner === 'number' ? f.owner : undefined)
      const gid = f.gid ?? (typeof f.group === 'number' ? f.group : undefined)
      if (uid !== undefined) entry.uid = uid
      else if (typeof f.owner === 'string') entry.owner = f.owner
      if (gid !== undefined) entry.gid = gid
      else if (typeof f.group === 'string') entry.group = f.group
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
      content.config.push({
        key: `systemd:${unit}`,
        oneOf: s.enabled ? [...IS_ENABLED] : [...IS_NOT_ENABLED],
      })
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
