import picomatch from 'picomatch'
import type { Policy } from '../config/policy.js'
import { type ConfigEntry, isConfigChoice, type ManifestConfigEntry } from '../manifest/schema.js'
import type { DriftItem } from '../protocol/report.js'
import { sameValue } from './compare.js'
import { normalizeConfigValue } from './config-values.js'

/**
 * Compares configuration keys. Pure. Only namespaces the policy fingerprints are compared; a
 * key the manifest lacks is "added" only in namespaces the image states in full (a live host
 * has running values an image folder cannot know); ignored keys are never compared. In a
 * declared manifest (not `complete`) an object value is compared on the fields it states
 * only, and a null value means the key must be absent.
 */
export function compareConfig(
  expected: readonly ManifestConfigEntry[],
  observed: readonly ConfigEntry[],
  policy: Policy['config'],
  options: { complete: boolean },
): DriftItem[] {
  const ignored = policy.ignore.length ? picomatch(policy.ignore, { dot: true }) : () => false
  const severityOf = (key: string) => {
    const namespace = key.slice(0, key.indexOf(':')) as keyof Policy['config']['namespaces']
    return policy.namespaces[namespace]
  }
  const items: DriftItem[] = []
  const observedByKey = new Map(observed.map((entry) => [entry.key, entry.value]))
  for (const entry of expected) {
    const { key } = entry
    const severity = severityOf(key)
    if (!severity || ignored(key)) continue
    if (isConfigChoice(entry)) {
      const item = compareChoice(entry.oneOf, key, observedByKey, options.complete)
      if (item) items.push({ ...item, severity })
      observedByKey.delete(key)
      continue
    }
    const { value } = entry
    if (value === null && !options.complete) {
      // Declared absent (a Goss user with `exists: false`): only its presence is drift.
      if (observedByKey.has(key))
        items.push({
          kind: 'config',
          change: 'added',
          subject: key,
          actual: observedByKey.get(key),
          severity,
        })
    } else if (!observedByKey.has(key)) {
      items.push({ kind: 'config', change: 'removed', subject: key, expected: value, severity })
    } else {
      // A declared value may state some fields of an entry (a user's shell, not its gecos).
      const actual = options.complete ? observedByKey.get(key) : statedFields(value, observedByKey.get(key))
      // Two spellings of one setting (`1m` and `60`) are not drift: compare them as the tool reads them.
      if (!sameValue(normalizeConfigValue(key, value), normalizeConfigValue(key, actual)))
        items.push({ kind: 'config', change: 'modified', subject: key, expected: value, actual, severity })
    }
    observedByKey.delete(key)
  }
  if (!options.complete) return items
  const complete = new Set<string>(policy.complete)
  for (const [key, actual] of observedByKey) {
    const severity = severityOf(key)
    if (!severity || ignored(key) || !complete.has(key.slice(0, key.indexOf(':')))) continue
    items.push({ kind: 'config', change: 'added', subject: key, actual, severity })
  }
  return items
}

/**
 * A key that may take any of several values (a null among them: or be absent), compared as a
 * set: drift only when the observed value is none of them.
 */
function compareChoice(
  oneOf: readonly unknown[],
  key: string,
  observedByKey: ReadonlyMap<string, unknown>,
  complete: boolean,
): Omit<DriftItem, 'severity'> | undefined {
  const expected = { oneOf }
  if (!observedByKey.has(key))
    return oneOf.includes(null) ? undefined : { kind: 'config', change: 'removed', subject: key, expected }
  const observed = observedByKey.get(key)
  const accepted = oneOf.some(
    (value) => value !== null && sameValue(value, complete ? observed : statedFields(value, observed)),
  )
  if (accepted) return undefined
  return { kind: 'config', change: 'modified', subject: key, expected, actual: observed }
}

/** The fields of an observed object value that the expected object states; anything else as it is. */
function statedFields(expected: unknown, actual: unknown): unknown {
  if (!isRecord(expected) || !isRecord(actual)) return actual
  const out: Record<string, unknown> = {}
  for (const field of Object.keys(expected)) if (field in actual) out[field] = actual[field]
  return out
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
