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

/** Replaces `${NAME}` with the environment's value; a missing variable is an error that names it. */
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
  return parseYamlText(options.interpolate ? interpolateEnv(text, file) : text, file, schema, options.hint)
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
): z.output<T> {
  const doc = yaml().parseDocument(text)
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
