/**
 * A zod schema as a Markdown table, one row per key: its type in words (a record of string →
 * string, one of `a`, `b`, the forms of a union), whether it is required, its default, and what
 * it is, from `.describe()`. scripts/docs.ts builds the pages in docs/ from these tables.
 */
import { z } from 'zod'
import { FileEntrySchema, ManifestSchema } from '../src/manifest/schema.js'
import { LabelsSchema, MAX_LABELS } from '../src/protocol/labels.js'

export interface JsonSchema {
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
export type SeeAlso = Map<z.ZodType, string>

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
export function jsonSchemaOf(
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

export function cell(text: string): string {
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

export function table(schema: JsonSchema): string {
  return [
    '| key | type | required | default | what |',
    '| --- | --- | --- | --- | --- |',
    ...rows(schema),
  ].join('\n')
}
