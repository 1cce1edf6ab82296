import type { ManifestSource } from '../manifest/io.js'
import type { FileEntry } from '../manifest/schema.js'
import { parseGroup, parsePasswd } from '../probes/accounts.js'
import { readRootTextConfined } from '../probes/root-fs.js'
import type { DriftItem } from '../protocol/report.js'

/** Names of the scanned root's users and groups, as getpwnam(3) and getgrnam(3) resolve them there. */
export interface RootAccounts {
  users: ReadonlyMap<string, number>
  groups: ReadonlyMap<string, number>
}

/** The root's /etc/passwd and /etc/group, by name. */
export function readRootAccounts(rootDir: string): RootAccounts {
  const passwd = parsePasswd(readRootTextConfined(rootDir, '/etc/passwd') ?? '')
  const group = parseGroup(readRootTextConfined(rootDir, '/etc/group') ?? '')
  return {
    users: new Map(passwd.map((u) => [u.name, u.uid])),
    groups: new Map(group.map((g) => [g.name, g.gid])),
  }
}

/**
 * File entries with their owner and group names (a declared manifest's, from Goss) turned into
 * the ids the scanned root gives those names, as Goss asks the host itself. A name the root
 * does not know cannot own anything there: its entries keep no id for it, and it is returned
 * in `unknown`, to be reported as drift of its own.
 */
export function resolveOwnerNames(
  files: readonly FileEntry[],
  accounts: RootAccounts,
): { files: FileEntry[]; unknown: { users: Set<string>; groups: Set<string> } } {
  const unknown = { users: new Set<string>(), groups: new Set<string>() }
  const resolved = files.map((entry) => {
    if (entry.owner === undefined && entry.group === undefined) return entry
    const { owner, group, ...rest } = entry
    const out: FileEntry = rest
    if (owner !== undefined && out.uid === undefined) {
      const uid = accounts.users.get(owner)
      if (uid === undefined) unknown.users.add(owner)
      else out.uid = uid
    }
    if (group !== undefined && out.gid === undefined) {
      const gid = accounts.groups.get(group)
      if (gid === undefined) unknown.groups.add(group)
      else out.gid = gid
    }
    return out
  })
  return { files: resolved, unknown }
}

/**
 * The manifest's files with owner names resolved against the root, when it has any (only a
 * declared manifest does): a source of its own, without the entry index, whose fast match
 * knows only ids, nor entries parsed alone (they would keep the names). Also the drift that names no one on the root: the user or group is missing.
 */
export function withOwnersResolved(
  source: ManifestSource,
  rootDir: string,
): { source: ManifestSource; drift: DriftItem[] } {
  const severity = source.head.policy.config.namespaces
  if (source.head.image.source?.declared !== true) return { source, drift: [] }
  const files = source.files()
  if (!files.some((f) => f.owner !== undefined || f.group !== undefined)) return { source, drift: [] }
  const { files: resolved, unknown } = resolveOwnerNames(files, readRootAccounts(rootDir))
  const drift: DriftItem[] = []
  for (const [namespace, names] of [
    ['user', unknown.users],
    ['group', unknown.groups],
  ] as const) {
    const level = severity[namespace]
    if (!level) continue
    for (const name of [...names].sort())
      drift.push({
        kind: 'config',
        change: 'removed',
        subject: `${namespace}:${name}`,
        expected: {
          owns: files.filter((f) => (namespace === 'user' ? f.owner : f.group) === name).map((f) => f.path),
        },
        severity: level,
      })
  }
  const { entryIndex: _entryIndex, filesAt: _filesAt, ...rest } = source
  return {
    source: { ...rest, files: () => resolved, loadFiles: async () => resolved },
    drift,
  }
}
