import type { Policy } from '../config/policy.js'
import type { ConfigEntry } from '../manifest/schema.js'
import type { ProbeRun } from '../protocol/report.js'
import { accountsProbe } from './accounts.js'
import { osProbe } from './os.js'
import { runProbe } from './run-probe.js'
import { sshdProbe } from './sshd.js'
import { sysctlProbe } from './sysctl.js'
import { systemdProbe } from './systemd.js'
import type { Probe, ProbeContext } from './types.js'

/**
 * A configuration entry as a probe observes it, with the files inside the root that set it: a
 * change of one of those files is explained by a change of the entry. The files are never
 * written to a manifest.
 */
export interface SourcedConfigEntry extends ConfigEntry {
  files?: string[]
}

export { accountsProbe, osProbe, sshdProbe, sysctlProbe, systemdProbe }

/**
 * The configuration probes, one per namespace file (accounts covers `user` and `group`), in the
 * order a capture or scan runs them. Each returns `<namespace>:<name>` keys sorted by key.
 */
export const configProbes: Probe<SourcedConfigEntry[]>[] = [
  sysctlProbe,
  systemdProbe,
  accountsProbe,
  sshdProbe,
  osProbe,
]

/** The namespaces each configuration probe yields. */
const PROBE_NAMESPACES: Record<string, readonly string[]> = {
  sysctl: ['sysctl'],
  systemd: ['systemd'],
  accounts: ['user', 'group'],
  sshd: ['sshd'],
  os: ['os'],
}

/**
 * Runs the configuration probes for the namespaces the policy fingerprints and returns their
 * keys sorted, and for the keys that files set, those files (`sources`). A probe that fails is
 * reported in its run and yields nothing; the rest go on.
 */
export async function collectConfig(
  context: ProbeContext,
  policy: Policy['config'],
): Promise<{ entries: ConfigEntry[]; runs: ProbeRun[]; sources: Map<string, string[]> }> {
  const wanted = new Set(Object.keys(policy.namespaces))
  const entries: ConfigEntry[] = []
  const sources = new Map<string, string[]>()
  const runs: ProbeRun[] = []
  for (const probe of configProbes) {
    const namespaces = PROBE_NAMESPACES[probe.name] ?? [probe.name]
    if (!namespaces.some((n) => wanted.has(n))) continue
    runs.push(
      await runProbe(probe, context, (found) => {
        for (const { files, ...entry } of found) {
          if (!wanted.has(entry.key.slice(0, entry.key.indexOf(':')))) continue
          entries.push(entry)
          if (files !== undefined && files.length > 0) sources.set(entry.key, files)
        }
      }),
    )
  }
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  return { entries, runs, sources }
}
