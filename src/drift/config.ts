import picomatch from 'picomatch'
import type { Policy } from '../config/policy.js'
import { type ConfigEntry, isConfigChoice, type ManifestConfigEntry } from '../manifest/schema.js'
import type { DriftItem } from '../protocol/report.js'
import { sameValue } from './compare.js'
import { normalizeConfigValue } from './config-values.js'

/** For observed configuration keys, the files inside the root that set them (probes/config.ts collects them). */
export type ConfigSources = ReadonlyMap<string, readonly string[]>

/**
 * Compares configuration keys. Pure. Only namespaces the policy fingerprints are compared; a
 * key the manifest lacks is "added" only in namespaces the image states in full (a live host
 * has running values an image folder cannot know), and in any namespace for a key that a file
 * sets (`sources`): the image's files state those in full. Ignored keys are never compared. In a
 * declared manifest (not `complete`) an object value is compared on the fields it states
 * only, and a null value means the key must be absent.
 */
export function compareConfig(
  expected: readonly ManifestConfigEntry[],
  observed: readonly ConfigEntry[],
  policy: Policy['config'],
  options: { complete: boolean; sources?: ConfigSources },
): DriftItem[] {
  const sources = options.sources ?? new Map<string, readonly string[]>()
  // The file that sets an observed value, when one file does: said with the item.
  const withSource = (item: DriftItem): DriftItem => {
    const files = sources.get(item.subject)
    return item.change !== 'removed' && files?.length === 1 ? { ...item, source: files[0] as string } : item
  }
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
        items.push(
          withSource({ kind: 'config', change: 'modified', subject: key, expected: value, actual, severity }),
        )
    }
    observedByKey.delete(key)
  }
  if (!options.complete) return items
  const complete = new Set<string>(policy.complete)
  for (const [key, actual] of observedByKey) {
    const severity = severityOf(key)
    if (!severity || ignored(key)) continue
    // A key a file sets is stated in full by the image's files, even in a namespace whose
    // running values the image cannot know (a kernel parameter from a new /etc/sysctl.d file).
    if (!complete.has(key.slice(0, key.indexOf(':'))) && !sources.has(key)) continue
    items.push(withSource({ kind: 'config', change: 'added', subject: key, actual, severity }))
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

/** Files whose change a change of a `user:` or `group:` item explains: the account databases, their `-` backups, subordinate ids. */
const ACCOUNT_FILES: Record<'user' | 'group', readonly string[]> = {
  user: ['/etc/passwd', '/etc/shadow', '/etc/subuid', '/etc/subgid'].flatMap((f) => [f, `${f}-`]),
  group: ['/etc/group', '/etc/gshadow'].flatMap((f) => [f, `${f}-`]),
}

/** The files sshd reads by default: the main file and Debian's drop-in directory. */
const SSHD_FILES = /^\/etc\/ssh\/(sshd_config|sshd_config\.d\/[^/]+)$/

/** A unit file or a link naming it, in a unit directory or one of its .wants/, .requires/, .upholds/. */
const UNIT_FILE =
  /^\/(?:etc|run|usr\/local\/lib|usr\/lib|lib)\/systemd\/system\/(?:[^/]+\.(?:wants|requires|upholds)\/)?([^/]+)$/

/**
 * Marks each file change that a configuration change of the same report explains with that
 * item's subject (`explainedBy`), as `package` marks the files of a package change: the account
 * files under the user or group change, sshd_config and its includes under the sshd keys, a unit
 * file and its links under the unit, a sysctl.d file under the keys it sets. A file goes under
 * the first item (in report order) whose own files name it, else the first item of its kind.
 * Pure but for setting the field on the items given.
 */
export function explainFileChanges(items: DriftItem[], sources: ConfigSources): void {
  const config = items.filter((item) => item.kind === 'config')
  if (config.length === 0) return
  const ownFiles = (item: DriftItem) => sources.get(item.subject) ?? []
  const sshdFiles = new Set(config.filter((i) => i.subject.startsWith('sshd:')).flatMap(ownFiles))
  for (const file of items) {
    if (file.kind !== 'file' || file.explainedBy !== undefined) continue
    const path = file.subject
    const cause =
      config.find((item) => ownFiles(item).includes(path)) ??
      accountCause(config, path) ??
      (SSHD_FILES.test(path) || sshdFiles.has(path)
        ? config.find((item) => item.subject.startsWith('sshd:'))
        : undefined) ??
      unitCause(config, path)
    if (cause !== undefined) file.explainedBy = cause.subject
  }
  // A directory made to hold an explained file (a new sshd_config.d, a new .wants/) is part of that change.
  const explained = items.filter((item) => item.kind === 'file' && item.explainedBy !== undefined)
  for (const item of items) {
    if (item.kind !== 'file' || item.explainedBy !== undefined || item.change !== 'added') continue
    if ((item.actual as { type?: string } | undefined)?.type !== 'dir') continue
    const inside = explained.find((file) => file.subject.startsWith(`${item.subject}/`))
    if (inside !== undefined) item.explainedBy = inside.explainedBy as string
  }
}

function accountCause(config: DriftItem[], path: string): DriftItem | undefined {
  const namespaces = ACCOUNT_FILES.user.includes(path)
    ? ['user:', 'group:']
    : ACCOUNT_FILES.group.includes(path)
      ? ['group:', 'user:']
      : []
  for (const namespace of namespaces) {
    const item = config.find((i) => i.subject.startsWith(namespace))
    if (item !== undefined) return item
  }
  return undefined
}

function unitCause(config: DriftItem[], path: string): DriftItem | undefined {
  const unit = UNIT_FILE.exec(path)?.[1]
  if (unit === undefined) return undefined
  // `systemd:<unit>` or one of its `systemd:<unit>/wanted-by`, … keys.
  return config.find((i) => i.subject === `systemd:${unit}` || i.subject.startsWith(`systemd:${unit}/`))
}
