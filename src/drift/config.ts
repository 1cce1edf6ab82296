import picomatch from 'picomatch'
import type { Policy } from '../config/policy.js'
import type { ConfigEntry } from '../probes/types.js'
import type { DriftItem } from '../protocol/report.js'
import { sameValue } from './compare.js'

/**
 * Compares configuration keys. Pure. Only namespaces the policy fingerprints are compared; a
 * key the manifest lacks is "added" only in namespaces the image states in full (a live host
 * has running values an image folder cannot know); ignored keys are never compared.
 */
export function compareConfig(
  expected: readonly ConfigEntry[],
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
  for (const { key, value } of expected) {
    const severity = severityOf(key)
    if (!severity || ignored(key)) continue
    if (!observedByKey.has(key)) {
      items.push({ kind: 'config', change: 'removed', subject: key, expected: value, severity })
    } else {
      const actual = observedByKey.get(key)
      if (!sameValue(value, actual))
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
