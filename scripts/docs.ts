/**
 * Generates the reference pages in docs/ from the zod schemas, so the documentation cannot
 * drift from what the code accepts: `npm run docs` writes them, test/docs/docs.test.ts fails
 * when a committed page differs from what this would write.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { STATUS } from '../src/collector/app.js'
import { CONTENT_SECURITY_POLICY } from '../src/collector/page/routes.js'
import { AgentConfigSchema } from '../src/config/agent.js'
import { CollectorConfigSchema } from '../src/config/collector.js'
import { PolicySchema } from '../src/config/policy.js'
import type { ErrorCode } from '../src/errors.js'
import { FileEntrySchema, ManifestSchema } from '../src/manifest/schema.js'
import { HostFactsSchema } from '../src/protocol/facts.js'
import { LabelsSchema, MAX_LABELS } from '../src/protocol/labels.js'
import { DriftItemSchema, ReportSchema, SummarySchema } from '../src/protocol/report.js'
import { ApiErrorSchema, ROUTES, type RouteAuth, type RouteSpec } from '../src/protocol/routes.js'

/** Every configuration file, each from its schema. A new file's schema is added here. */
export const CONFIG_FILES: { file: string; schema: z.ZodType; intro: string }[] = [
  {
    file: 'collector.yaml',
    schema: CollectorConfigSchema,
    intro:
      'Read by `driftwatch collector --config FILE`; `config/collector.yaml` is a commented example. ' +
      // biome-ignore lint/suspicious/noTemplateCurlyInString: collector.yaml's own syntax for an environment reference
      '`${NAME}` anywhere in a value is replaced from the environment (a missing variable stops the start), ' +
      'so secrets stay out of the file. An unknown key is an error that names the file and the key (exit 2). ' +
      'Durations are written as `90s`, `15m`, `2h`, `7d` or `1h30m`.',
  },
  {
    file: 'agent.yaml',
    schema: AgentConfigSchema,
    intro:
      'Read by `driftwatch agent --config FILE`; `config/agent.yaml` is a commented example. ' +
      // biome-ignore lint/suspicious/noTemplateCurlyInString: agent.yaml's own syntax for an environment reference
      '`${NAME}` anywhere in a value is replaced from the environment (a missing variable stops the start), ' +
      'so secrets stay out of the file. An unknown key is an error that names the file and the key. ' +
      'SIGHUP reloads the file. Durations are written as `90s`, `15m`, `2h`, `7d` or `1h30m`.',
  },
  {
    file: 'policy.yaml',
    schema: PolicySchema,
    intro:
      'Read by `driftwatch manifest capture --policy FILE` (and `manifest import`); `config/policy.yaml` is ' +
      'the default, with comments. The manifest keeps the policy it was captured with, so every host ' +
      'made from the image checks exactly that. Globs are picomatch syntax over absolute paths inside the root.',
  },
]

interface JsonSchema {
  type?: string | string[]
  properties?: Record<string, JsonSchema>
  required?: string[]
  items?: JsonSchema
  enum?: unknown[]
  const?: unknown
  anyOf?: JsonSchema[]
  oneOf?: JsonSchema[]
  additionalProperties?: JsonSchema | boolean
  propertyNames?: JsonSchema
  default?: unknown
  description?: string
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  maxProperties?: number
  pattern?: string
  format?: string
  /** A schema another page documents: a link to it. */
  'x-see'?: string
}

/**
 * Schemas JSON Schema cannot show, documented as what they accept: labels are checked by a
 * transform (so that `__proto__` is a key like any other), and a manifest's files by a
 * hand-written check that is faster than the schema on a hundred thousand entries.
 */
const DOCUMENTED_AS = new Map<z.ZodType, z.ZodType>([
  [LabelsSchema, z.record(z.string(), z.string()).meta({ maxProperties: MAX_LABELS })],
  [ManifestSchema.shape.files, z.array(FileEntrySchema)],
])

/** Schemas another page documents in full: where a page shows one, it links there instead. */
type SeeAlso = Map<z.ZodType, string>

/** The link for a schema or for one `.describe()` made from it (zod keeps the original as parent). */
function seeAlsoOf(schema: z.ZodType, seeAlso: SeeAlso): string | undefined {
  for (let s: z.ZodType | undefined = schema; s; s = s._zod.parent as z.ZodType | undefined) {
    const see = seeAlso.get(s)
    if (see) return see
  }
  return undefined
}

/**
 * The schema as JSON Schema: as a file or body is written (`input`: transforms shown by what
 * they accept), or as an answer is sent (`output`).
 */
function jsonSchemaOf(
  schema: z.ZodType,
  io: 'input' | 'output' = 'input',
  seeAlso: SeeAlso = new Map(),
): JsonSchema {
  return z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema }) => {
      // zod hands its core type; the schemas these maps hold are the same objects.
      const node = zodSchema as unknown as z.ZodType
      const shown = DOCUMENTED_AS.get(node)
      if (shown) Object.assign(jsonSchema, { ...jsonSchemaOf(shown, io), $schema: undefined })
      const see = seeAlsoOf(node, seeAlso)
      if (see) {
        for (const key of ['type', 'properties', 'required', 'additionalProperties']) delete jsonSchema[key]
        Object.assign(jsonSchema, { 'x-see': see })
      }
    },
  }) as JsonSchema
}

const code = (value: unknown) => `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``

/** An object's members that a union holds, each with what tells it from the others. */
interface Form {
  node: JsonSchema
  /** `type: webhook` for a discriminated union, else the keys only this form has: `{ key, oneOf }`. */
  name: string
}

/** The key every object of a union has as a distinct constant (`type`), if there is one. */
function discriminatorOf(objects: JsonSchema[]): string | undefined {
  const first = objects[0]?.properties ?? {}
  return Object.keys(first).find((key) => {
    const values = objects.map((o) => o.properties?.[key]?.const)
    return values.every((v) => v !== undefined) && new Set(values).size === values.length
  })
}

function formsOf(union: JsonSchema[]): Form[] {
  const objects = union.filter((member) => member.properties)
  const discriminator = discriminatorOf(objects)
  return objects.map((node) => ({
    node,
    name: discriminator
      ? `${discriminator}: ${node.properties?.[discriminator]?.const}`
      : `{ ${Object.keys(node.properties ?? {}).join(', ')} }`,
  }))
}

function typeOf(node: JsonSchema): string {
  if (node['x-see']) return node['x-see']
  if (node.const !== undefined) return code(node.const)
  if (node.enum) return `one of ${node.enum.map(code).join(', ')}`
  const union = node.anyOf ?? node.oneOf
  if (union) {
    const forms = new Map(formsOf(union).map((form) => [form.node, form.name]))
    return union
      .map((member) => (forms.has(member) ? `\`${forms.get(member)}\`` : typeOf(member)))
      .join(' or ')
  }
  if (node.type === 'array') return `list of ${node.items ? typeOf(node.items) : 'any JSON value'}`
  if (node.type === 'object' && !node.properties) {
    const keys = node.propertyNames?.enum ? `(${typeOf(node.propertyNames)})` : 'string'
    const values =
      typeof node.additionalProperties === 'object' ? typeOf(node.additionalProperties) : 'any JSON value'
    return `record of ${keys} → ${values}`
  }
  if (Array.isArray(node.type)) return node.type.join(' or ')
  return node.type ?? 'any JSON value'
}

/** Formats JSON Schema names for what they are; others (`starts_with`) are shown by their pattern. */
const NAMED_FORMATS = new Set(['uuid', 'date-time', 'uri', 'email'])

/** Bounds and formats, in words. */
function limitsOf(node: JsonSchema): string {
  const parts: string[] = []
  const MAX_SAFE = Number.MAX_SAFE_INTEGER
  if (node.minimum !== undefined) parts.push(`≥ ${node.minimum}`)
  if (node.exclusiveMinimum !== undefined) parts.push(`> ${node.exclusiveMinimum}`)
  if (node.maximum !== undefined && node.maximum < MAX_SAFE) parts.push(`≤ ${node.maximum}`)
  if (node.minLength !== undefined && node.minLength > 1) parts.push(`at least ${node.minLength} characters`)
  if (node.maxLength !== undefined) parts.push(`at most ${node.maxLength} characters`)
  if (node.minItems !== undefined && node.minItems > 0) parts.push(`at least ${node.minItems}`)
  if (node.maxItems !== undefined) parts.push(`at most ${node.maxItems} items`)
  if (node.maxProperties !== undefined) parts.push(`at most ${node.maxProperties} keys`)
  // A named format (uuid, date-time) says more than the pattern zod writes for it.
  if (node.format && NAMED_FORMATS.has(node.format)) parts.push(node.format)
  else if (node.pattern) parts.push(`matches \`${node.pattern}\``)
  return parts.join(', ')
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

/** One property: its row, then its members' rows (an object's keys, a union's forms). */
function propertyRows(path: string, node: JsonSchema, required: boolean, form?: string): string[] {
  const list = node.type === 'array' && node.items ? node.items : undefined
  const target = list ?? node
  const union = target.anyOf ?? target.oneOf
  const forms = union ? formsOf(union) : []
  // A list of objects (or of forms) is written `path[]`, and its members `path[].key`.
  const shown = list && (target.properties || forms.length) ? `${path}[]` : path
  const limits = limitsOf(node)
  const described = [
    form ? `With \`${form}\`:` : '',
    node.description ?? target.description ?? '',
    limits ? `(${limits})` : '',
  ]
    .filter(Boolean)
    .join(' ')
  const fallback = node.default !== undefined ? code(node.default) : ''
  const row = `| \`${shown}\` | ${cell(typeOf(node))} | ${required ? 'yes' : ''} | ${cell(fallback)} | ${cell(described)} |`
  if (target.properties) return [row, ...rows(target, shown)]
  return [row, ...formRows(forms, shown)]
}

/** One row per key, nested objects flattened to dotted paths (`snowflake.counts`). */
function rows(node: JsonSchema, prefix = ''): string[] {
  const required = new Set(node.required ?? [])
  return Object.entries(node.properties ?? {}).flatMap(([key, child]) =>
    propertyRows(prefix ? `${prefix}.${key}` : key, child, required.has(key)),
  )
}

/**
 * The keys of a union's forms: a key every form has alike gets one row, the discriminator one
 * row listing its values, any other key a row per form that has it, saying which.
 */
function formRows(forms: Form[], prefix: string): string[] {
  const keys = [...new Set(forms.flatMap(({ node }) => Object.keys(node.properties ?? {})))]
  const discriminator = forms.length > 1 ? discriminatorOf(forms.map((f) => f.node)) : undefined
  const requiredIn = (form: Form, key: string) => form.node.required?.includes(key) ?? false
  return keys.flatMap((key) => {
    const path = `${prefix}.${key}`
    const having = forms.filter(({ node }) => node.properties?.[key])
    const schemas = having.map(({ node }) => node.properties?.[key] as JsonSchema)
    const everywhere = having.length === forms.length
    if (key === discriminator) {
      const merged: JsonSchema = {
        enum: schemas.map((s) => s.const),
        description: schemas.map((s) => s.description ?? '').join(' '),
      }
      return propertyRows(path, merged, true)
    }
    const alike = schemas.every((s) => JSON.stringify(s) === JSON.stringify(schemas[0]))
    if (everywhere && alike) {
      return propertyRows(
        path,
        schemas[0] as JsonSchema,
        forms.every((f) => requiredIn(f, key)),
      )
    }
    return having.flatMap((form) =>
      propertyRows(path, form.node.properties?.[key] as JsonSchema, requiredIn(form, key), form.name),
    )
  })
}

function table(schema: JsonSchema): string {
  return [
    '| key | type | required | default | what |',
    '| --- | --- | --- | --- | --- |',
    ...rows(schema),
  ].join('\n')
}

const GENERATED = '<!-- Generated by `npm run docs` from the zod schemas (scripts/docs.ts); do not edit. -->'

function configurationPage(): string {
  const sections = CONFIG_FILES.map(
    ({ file, schema, intro }) => `## ${file}\n\n${intro}\n\n${table(jsonSchemaOf(schema))}\n`,
  )
  return `${GENERATED}

# Configuration reference

Every key of every configuration file, its type, whether it is required, its default and what
it does, as the schemas in \`src/config/\` define them.

${sections.join('\n')}`
}

function reportPage(): string {
  return `${GENERATED}

# Drift report v1

What \`driftwatch scan --format json\` prints and the agent sends to the collector
(\`POST /v1/reports\`). The collector refuses a report that does not match this schema with a 400
that names the field; it also refuses one whose \`summary\` does not count its \`drift\` items.

- \`kind\`: \`file\`, \`package\` or \`config\`; \`change\`: \`added\`, \`removed\` or \`modified\`.
- \`subject\`: an absolute path inside the root (bytes that are not UTF-8 escaped as \`\\udcXX\`), a
  package \`deb|rpm|apk:<name>:<arch>\`, or a configuration key \`<namespace>:<name>\` (namespaces
  \`sysctl\`, \`systemd\`, \`user\`, \`group\`, \`sshd\`, \`os\`).
- \`package\` on a file item names the package change that explains it; \`attributes\` on a modified
  item lists what differs (\`type\` when the file became something else).
- A probe that fails is listed in \`scan.probes\` with its error and never voids the rest.

${table(jsonSchemaOf(ReportSchema))}
`
}

function manifestPage(): string {
  return `${GENERATED}

# Manifest v1

What \`driftwatch manifest capture\` writes (JSON, optionally gzipped) and every scan checks a host
against. Its digest, \`sha256:<hex>\`, is taken over the canonical form (keys sorted, no
insignificant whitespace) without the \`digest\` member; a signature (\`FILE.sig\`,
\`driftwatch.signature/v1\`) is ed25519 over that digest. A declared manifest (imported from Goss or
CycloneDX) leaves out what it does not state, and what it leaves out is not checked.

${table(jsonSchemaOf(ManifestSchema))}
`
}

/** How a caller proves who it is, per RouteAuth. */
const AUTH_TEXT: Record<RouteAuth, string> = {
  none: 'none',
  'enrolment secret': 'the enrolment secret, in the body',
  'agent token': 'a host token',
  'admin token': 'an admin token',
  'page session': 'a fleet page session',
}

/** When each refusal is answered, for the errors table. */
const ERROR_WHEN: Record<ErrorCode, string> = {
  USAGE: 'a request the route cannot take as sent',
  CONFIG_INVALID: 'never answered: a configuration error stops the collector at start',
  INPUT_INVALID:
    'malformed JSON, invalid UTF-8, wrong types, unknown fields, NUL characters, nesting deeper than 32, a summary that does not count the drift items, a scan that starts further ahead than `clockSkew`',
  UNAUTHENTICATED: 'no token, or one the collector does not know; a wrong enrolment secret',
  FORBIDDEN:
    "a valid token that may not do this (a host token on an admin route, another host's report); a form from another site",
  NOT_FOUND: 'no such route, host or replacement; a replacement route on a collector without a scheduler',
  CONFLICT:
    'a `reportId` another host already used; a replacement in a state the action does not apply to; a host already replaced',
  PAYLOAD_TOO_LARGE: 'a body over `bodyLimit`, before or after gzip',
  UNSUPPORTED_MEDIA_TYPE: 'a body that is not `application/json`, or an unknown `Content-Encoding`',
  INTEGRITY: 'an image registration whose signature does not verify',
  IO: 'the store does not answer; the collector is shutting down',
}

/** In the API page, the report's parts link to report.md rather than repeat it. */
const API_SEE_ALSO: SeeAlso = new Map<z.ZodType, string>([
  [ReportSchema, 'a drift report v1 ([report.md](report.md))'],
  [DriftItemSchema, 'drift item ([report.md](report.md), `drift[]`)'],
  [SummarySchema, 'summary ([report.md](report.md), `summary`)'],
  [HostFactsSchema, 'host facts ([report.md](report.md), `host.facts`)'],
])

function routeSection(route: RouteSpec): string {
  const answers = Object.entries(route.answers).map(([status, what]) => `${status} ${what}`)
  const refusals = route.errors.map((error) => `${STATUS[error]} \`${error}\``)
  const parts = [
    `### \`${route.method} ${route.path}\``,
    route.what,
    `- who: ${AUTH_TEXT[route.auth]}\n- answers: ${answers.join('; ')}${refusals.length ? `\n- refusals: ${refusals.join(', ')}` : ''}`,
  ]
  const schemas: [string, z.ZodType | undefined, 'input' | 'output'][] = [
    ['Path', route.params, 'input'],
    ['Query', route.query, 'input'],
    ['Body', route.body, 'input'],
    ['Answer', route.response, 'output'],
  ]
  for (const [title, schema, io] of schemas) {
    if (!schema) continue
    const json = jsonSchemaOf(schema, io, API_SEE_ALSO)
    parts.push(json['x-see'] ? `${title}: ${json['x-see']}.` : `${title}:\n\n${table(json)}`)
  }
  return parts.join('\n\n')
}

function apiPage(): string {
  const api = ROUTES.filter((route) => !route.page)
  const page = ROUTES.filter((route) => route.page)
  const index = (routes: RouteSpec[]) =>
    [
      '| route | who | what |',
      '| --- | --- | --- |',
      ...routes.map((r) => `| \`${r.method} ${r.path}\` | ${AUTH_TEXT[r.auth]} | ${cell(r.what)} |`),
    ].join('\n')
  const codes = [
    ...new Set([
      'INPUT_INVALID',
      ...ROUTES.flatMap((r) => r.errors),
      'PAYLOAD_TOO_LARGE',
      'UNSUPPORTED_MEDIA_TYPE',
      'IO',
    ]),
  ] as ErrorCode[]
  const errors = codes
    .sort((a, b) => STATUS[a] - STATUS[b])
    .map((code) => `| ${STATUS[code]} | \`${code}\` | ${ERROR_WHEN[code]} |`)
  return `${GENERATED.replace('the zod schemas', 'the route table in src/protocol/routes.ts')}

# Collector HTTP API (v1)

The collector speaks JSON over HTTP(S) on \`listen\` (see [configuration.md](configuration.md)).
Request bodies are strict: an unknown field is an error, not ignored. Bodies may be gzipped
(\`Content-Encoding: gzip\`); the limit \`bodyLimit\` applies after gzip is undone. Answers may
gain fields in a later version: a client ignores what it does not know.

## Who may call what

| who | how it is sent | what it may do |
| --- | --- | --- |
| the enrolment secret | in the body of \`POST /v1/enroll\` | enrol a host, once per host life (re-enrolment rotates its token) |
| a host token | \`Authorization: Bearer dwh_…\` | report and beat for its own host; read nothing of the fleet |
| an admin token | \`Authorization: Bearer <one of adminTokens>\` | read the fleet, register images, decide replacements; cannot report for a host |
| a fleet page session | the \`dw_session\` cookie (\`__Host-dw_session\` over TLS) | read the fleet page in a browser, after signing in with an admin token |

Host tokens are 256 random bits, returned once and stored only as a sha256 hash. Admin tokens
and the enrolment secret are compared in constant time.

## Routes

${index(api)}

${api.map(routeSection).join('\n\n')}

## Errors

Every refusal and failure has one shape, from one error handler:

\`\`\`json
{ "code": "INPUT_INVALID", "message": "body.host.id: letters, digits and . _ : @ - only", "hint": "…" }
\`\`\`

${table(jsonSchemaOf(ApiErrorSchema, 'output'))}

Any route may answer 400, 413, 415 or 503 besides the refusals listed with it.

| status | code | when |
| --- | --- | --- |
${errors.join('\n')}

## The fleet page

The fleet page is for people: server-rendered HTML, no JavaScript, one stylesheet. Its routes
are not an API (their markup may change); scripts use the routes above. A refusal is a page too.

${index(page)}

How it is protected:

- The session cookie is \`HttpOnly\` and \`SameSite=Strict\`; over TLS it is also \`Secure\`, with the
  \`__Host-\` prefix. Its id is 256 random bits; the collector keeps only its sha256, in memory
  (a restart signs everybody out). A session lasts 8 hours; a new id is issued at sign-in.
- Every form (sign-in, sign-out) carries a CSRF token bound to its session, and is refused
  (403) when the browser says it comes from another site (\`Sec-Fetch-Site\`) or another origin
  (\`Origin\`, including \`null\`).
- Every string a host supplies (hostname, labels, paths, package names, reasons) is escaped by
  one function before it reaches the page.
- Every page is sent with \`Content-Security-Policy: ${CONTENT_SECURITY_POLICY}\` (no script at
  all), \`X-Content-Type-Options: nosniff\`, \`Referrer-Policy: same-origin\`, \`X-Frame-Options: DENY\`
  and \`Cache-Control: no-store\`.
`
}

/** Every generated page: path under docs/ and its content. */
export function generatedDocs(): Map<string, string> {
  return new Map([
    ['configuration.md', configurationPage()],
    ['report.md', reportPage()],
    ['manifest.md', manifestPage()],
    ['api.md', apiPage()],
  ])
}

export const DOCS_DIR = fileURLToPath(new URL('../docs/', import.meta.url))

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [name, content] of generatedDocs()) {
    writeFileSync(join(DOCS_DIR, name), content)
    process.stdout.write(`wrote docs/${name}\n`)
  }
}
