/**
 * Decodes the security.capability extended attribute (struct vfs_cap_data, linux/capability.h)
 * into getcap's notation, so a report says "cap_net_raw=ep" rather than a hex blob.
 */
const CAP_NAMES = [
  'chown',
  'dac_override',
  'dac_read_search',
  'fowner',
  'fsetid',
  'kill',
  'setgid',
  'setuid',
  'setpcap',
  'linux_immutable',
  'net_bind_service',
  'net_broadcast',
  'net_admin',
  'net_raw',
  'ipc_lock',
  'ipc_owner',
  'sys_module',
  'sys_rawio',
  'sys_chroot',
  'sys_ptrace',
  'sys_pacct',
  'sys_admin',
  'sys_boot',
  'sys_nice',
  'sys_resource',
  'sys_time',
  'sys_tty_config',
  'mknod',
  'lease',
  'audit_write',
  'audit_control',
  'setfcap',
  'mac_override',
  'mac_admin',
  'syslog',
  'wake_alarm',
  'block_suspend',
  'audit_read',
  'perfmon',
  'bpf',
  'checkpoint_restore',
]

const VFS_CAP_REVISION_MASK = 0xff000000
const VFS_CAP_FLAGS_EFFECTIVE = 0x000001

export function decodeCapabilities(raw: Buffer): string {
  if (raw.length < 4) return `raw:${raw.toString('hex')}`
  const magic = raw.readUInt32LE(0)
  const revision = (magic & VFS_CAP_REVISION_MASK) >>> 24
  const words = revision === 1 ? 1 : 2
  if ((revision !== 1 && revision !== 2 && revision !== 3) || raw.length < 4 + words * 8) {
    return `raw:${raw.toString('hex')}`
  }
  const effective = (magic & VFS_CAP_FLAGS_EFFECTIVE) !== 0
  const permitted: number[] = []
  const inheritable: number[] = []
  for (let w = 0; w < words; w++) {
    const p = raw.readUInt32LE(4 + w * 8)
    const i = raw.readUInt32LE(8 + w * 8)
    for (let bit = 0; bit < 32; bit++) {
      if (p & (1 << bit)) permitted.push(w * 32 + bit)
      if (i & (1 << bit)) inheritable.push(w * 32 + bit)
    }
  }
  // Group capabilities by their flag set, as getcap does: "cap_a,cap_b=ep cap_c=i".
  const groups = new Map<string, string[]>()
  for (const cap of new Set([...permitted, ...inheritable].sort((a, b) => a - b))) {
    const flags = `${effective ? 'e' : ''}${inheritable.includes(cap) ? 'i' : ''}${permitted.includes(cap) ? 'p' : ''}`
    const list = groups.get(flags) ?? []
    list.push(`cap_${CAP_NAMES[cap] ?? String(cap)}`)
    groups.set(flags, list)
  }
  const text = [...groups].map(([flags, caps]) => `${caps.join(',')}=${flags}`).join(' ')
  const rootid = revision === 3 && raw.length >= 24 ? raw.readUInt32LE(20) : 0
  return rootid ? `${text} [rootid=${rootid}]` : text
}
