import { accountsProbe } from './accounts.js'
import { osProbe } from './os.js'
import { sshdProbe } from './sshd.js'
import { sysctlProbe } from './sysctl.js'
import { systemdProbe } from './systemd.js'
import type { ConfigEntry, Probe } from './types.js'

export { accountsProbe, osProbe, sshdProbe, sysctlProbe, systemdProbe }

/**
 * The configuration probes, one per namespace file (accounts covers `user` and `group`), in the
 * order a capture or scan runs them. Each returns `<namespace>:<name>` keys sorted by key.
 */
export const configProbes: Probe<ConfigEntry[]>[] = [
  sysctlProbe,
  systemdProbe,
  accountsProbe,
  sshdProbe,
  osProbe,
]
