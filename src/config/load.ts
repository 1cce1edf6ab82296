import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import type { z } from 'zod'
import { DriftwatchError, errnoCode } from '../errors.js'
import { type Policy, PolicySchema } from './policy.js'

/** Formats the first zod issue as `file: a.b[2].c: message`, the way every config error reads. */
export function describeZodError(source: string, error: z.ZodError): string {
  const issue = error.issues[0]
  if (!issue) return `${source}: invalid`
  const where = issue.path.length ? formatPath(issue.path) : '(top level)'
  return `${source}: ${where}: ${zodIssueMessage(issue)}`
}

/** What one zod issue says, with unknown keys named. */
export function zodIssueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`
  return issue.message
}

export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = ''
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`
    else out += out ? `.${String(part)}` : String(part)
  }
  return out
}

/** Replaces `${NAME}` in a text with the environment's value; a missing variable is an error that names it. */
export function interpolateEnv(text: string, source: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const value = env[name]
    if (value === undefined) {
      throw new DriftwatchError('CONFIG_INVALID', `${source}: \${${name}} is not set in the environment`, {
        hint: `export ${name}=… before starting, or write the value into the file`,
      })
    }
    return value
  })
}

/** Reads a YAML (or JSON) file and validates it against a schema, with errors that name file and key. */
export function loadYamlFile<T extends z.ZodType>(
  file: string,
  schema: T,
  options: { interpolate?: boolean; hint?: string } = {},
): z.output<T> {
  const text = readTextFile(file)
  return parseYamlText(text, file, schema, options.hint, { interpolate: options.interpolate === true })
}

const WHOLE_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/

/**
 * Replaces `${NAME}` in the document's values, never in its comments (comments are not
 * configuration: a header that explains `${NAME}` must not need it set) nor in its keys. A
 * plain scalar that is one reference takes the type of what it is replaced with (`bodyLimit:
 * ${LIMIT}` is a number); quoted, or within other text, it stays text. The value is inserted
 * as a value, so a secret holding `#` or `: ` cannot change the YAML around it.
 */
function interpolateDocument(
  doc: import('yaml').Document,
  lines: import('yaml').LineCounter,
  source: string,
  env: NodeJS.ProcessEnv,
): void {
  const YAML = yaml()
  YAML.visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return
      const at = node.range ? lines.linePos(node.range[0]) : undefined
      const where = at ? `${source}: line ${at.line}` : source
      const replaced = interpolateEnv(node.value, where, env)
      if (node.type === 'PLAIN' && WHOLE_REFERENCE.test(node.value)) {
        const typed: unknown = YAML.parse(replaced)
        if (typeof typed === 'number' || typeof typed === 'boolean') {
          node.value = typed
          return
        }
      }
      node.value = replaced
    },
  })
}

/** Reads a text file a user named; a missing or unreadable one is an error that says which. */
export function readTextFile(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    const code = errnoCode(error)
    throw new DriftwatchError(
      code === 'ENOENT' ? 'NOT_FOUND' : 'IO',
      `${file}: cannot read (${code ?? String(error)})`,
      {
        hint: 'check the path and its permissions',
      },
    )
  }
}

/**
 * The YAML parser, loaded on first use: a scan takes its policy from the manifest's JSON and
 * should not pay for loading it.
 */
const yaml = (): typeof import('yaml') => createRequire(import.meta.url)('yaml')

export function parseYamlText<T extends z.ZodType>(
  text: string,
  source: string,
  schema: T,
  hint = 'see config/policy.yaml and the README for the accepted keys',
  options: { interpolate?: boolean; env?: NodeJS.ProcessEnv } = {},
): z.output<T> {
  const YAML = yaml()
  const lines = new YAML.LineCounter()
  const doc = YAML.parseDocument(text, { lineCounter: lines })
  const first = doc.errors[0]
  if (first) {
    const pos = first.linePos?.[0]
    const where = pos ? `line ${pos.line} column ${pos.col}` : 'syntax'
    throw new DriftwatchError(
      'CONFIG_INVALID',
      `${source}: ${where}: ${first.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '')}`,
      {
        hint: 'fix the YAML syntax there',
      },
    )
  }
  if (options.interpolate) interpolateDocument(doc, lines, source, options.env ?? process.env)
  const result = schema.safeParse(doc.toJS())
  if (!result.success) {
    throw new DriftwatchError('CONFIG_INVALID', describeZodError(source, result.error), { hint })
  }
  return result.data
}

export const DEFAULT_POLICY_FILE = fileURLToPath(new URL('../../config/policy.yaml', import.meta.url))

/** Loads a policy file (YAML or JSON), or the default policy shipped in config/. */
export function loadPolicy(file: string = DEFAULT_POLICY_FILE): Policy {
  return loadYamlFile(file, PolicySchema)
}
