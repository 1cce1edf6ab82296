/**
 * Generates the reference pages in docs/ from the zod schemas, so the documentation cannot
 * drift from what the code accepts: `npm run docs` writes them, test/docs/docs.test.ts fails
 * when a committed page differs from what this would write.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { AgentConfigSchema } from '../src/config/agent.js'
import { CollectorConfigSchema } from '../src/config/collector.js'
import { ManifestSchema } from '../src/manifest/schema.js'
import { ReportSchema } from '../src/protocol/report.js'

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
  pattern?: string
  format?: string
}

/** The schema as JSON Schema, as the file is written (input), transforms shown by their input type. */
function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema
}

function typeOf(node: JsonSchema): string {
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``
  if (node.enum) return node.enum.map((value) => `\`${String(value)}\``).join(', ')
  const union = node.anyOf ?? node.oneOf
  if (union) return union.map(typeOf).join(' or ')
  if (node.type === 'array') return `list of ${node.items ? typeOf(node.items) : 'any'}`
  if (node.type === 'object' && !node.properties) {
    const keys = node.propertyNames?.enum ? ` (keys ${typeOf(node.propertyNames)})` : ''
    const values =
      typeof node.additionalProperties === 'object' ? ` of ${typeOf(node.additionalProperties)}` : ''
    return `map${keys}${values}`
  }
  if (Array.isArray(node.type)) return node.type.join(' or ')
  return node.type ?? 'any'
}

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
  // A named format (uuid, date-time) says more than the pattern zod writes for it.
  if (node.format) parts.push(node.format)
  else if (node.pattern) parts.push(`matches \`${node.pattern}\``)
  return parts.join(', ')
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

/** One row per key, nested objects flattened to dotted paths (`snowflake.counts`). */
function rows(node: JsonSchema, prefix = ''): string[] {
  const out: string[] = []
  const required = new Set(node.required ?? [])
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key
    const target = child.items?.properties ? child.items : child
    const limits = limitsOf(child)
    const described = [child.description ?? target.description ?? '', limits ? `(${limits})` : '']
      .filter(Boolean)
      .join(' ')
    const fallback = child.default !== undefined ? `\`${JSON.stringify(child.default)}\`` : ''
    out.push(
      `| \`${path}${child.items?.properties ? '[]' : ''}\` | ${cell(typeOf(child))} | ${required.has(key) ? 'yes' : ''} | ${cell(fallback)} | ${cell(described)} |`,
    )
    if (target.properties) out.push(...rows(target, `${path}${child.items?.properties ? '[]' : ''}`))
  }
  return out
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

/** Every generated page: path under docs/ and its content. */
export function generatedDocs(): Map<string, string> {
  return new Map([
    ['configuration.md', configurationPage()],
    ['report.md', reportPage()],
    ['manifest.md', manifestPage()],
  ])
}

export const DOCS_DIR = fileURLToPath(new URL('../docs/', import.meta.url))

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const [name, content] of generatedDocs()) {
    writeFileSync(join(DOCS_DIR, name), content)
    process.stdout.write(`wrote docs/${name}\n`)
  }
}
