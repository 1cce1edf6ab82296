import { z } from 'zod'

/*
 * Host labels: Kubernetes' label syntax. A key is `[prefix/]name`: the name 1 to 63 letters,
 * digits, `-`, `_` or `.`, beginning and ending with a letter or digit; the prefix a DNS
 * subdomain in lower case of at most 253 characters. A value is empty or has a name's form.
 * At most MAX_LABELS labels. `__proto__`, spaces, control characters, lone surrogates: all
 * off-grammar, all refused.
 */

const LABEL_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/
const LABEL_PREFIX = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/

/** Labels a host carries at most. */
export const MAX_LABELS = 64

/** Why a label key is not one, or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/')
  const [prefix, name] = slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)]
  if (prefix !== undefined && (prefix.length > 253 || !LABEL_PREFIX.test(prefix)))
    return 'the prefix before "/" must be a DNS subdomain in lower case, at most 253 characters'
  if (!LABEL_NAME.test(name))
    return 'a label name is 1 to 63 letters, digits, "-", "_" or ".", beginning and ending with a letter or digit'
  return undefined
}

/** Why a label value is not one, or undefined when it is. */
export function labelValueProblem(value: string): string | undefined {
  if (value === '' || LABEL_NAME.test(value)) return undefined
  return 'a label value is empty, or 1 to 63 letters, digits, "-", "_" or ".", beginning and ending with a letter or digit'
}

/**
 * A host's labels, checked on the object as JSON.parse made it: its own keys, `__proto__`
 * among them (zod's record would drop that one silently). The result has no prototype, so a
 * key is only ever a key.
 */
export const LabelsSchema = z.unknown().transform((raw, ctx): Record<string, string> => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    ctx.addIssue({ code: 'custom', message: 'expected an object of label keys and values' })
    return z.NEVER
  }
  const keys = Object.keys(raw)
  if (keys.length > MAX_LABELS) {
    ctx.addIssue({ code: 'custom', message: `${keys.length} labels; at most ${MAX_LABELS} are allowed` })
    return z.NEVER
  }
  const labels = Object.create(null) as Record<string, string>
  for (const key of keys) {
    const value: unknown = Object.getOwnPropertyDescriptor(raw, key)?.value
    const problem =
      labelKeyProblem(key) ??
      (typeof value === 'string' ? labelValueProblem(value) : 'a label value is a string')
    if (problem) {
      ctx.addIssue({ code: 'custom', path: [key], message: problem })
      return z.NEVER
    }
    labels[key] = value as string
  }
  return labels
})
