import { readFileSync } from 'node:fs'
import { arch, release } from 'node:os'
import { join } from 'node:path'
import type { HostFacts } from '../protocol/facts.js'

/** What DMI (the firmware's tables, /sys/class/dmi/id) says about the machine. */
export interface DmiFacts {
  vendor?: string
  product?: string
  uuid?: string
  serial?: string
  boardAssetTag?: string
  chassisAssetTag?: string
  biosVersion?: string
}

/**
 * The cloud a machine runs in, and its instance id where DMI holds it, by each provider's
 * documented DMI marks. Nothing for bare metal, a laptop or a container without DMI.
 */
export function cloudFromDmi(dmi: DmiFacts): HostFacts['cloud'] {
  const vendor = dmi.vendor?.trim() ?? ''
  const product = dmi.product?.trim() ?? ''
  const uuid = dmi.uuid?.trim().toLowerCase() ?? ''
  const boardTag = dmi.boardAssetTag?.trim() ?? ''
  const chassisTag = dmi.chassisAssetTag?.trim() ?? ''
  const withId = (provider: string, instanceId: string | undefined) =>
    instanceId ? { provider, instanceId } : { provider }
  // EC2 Nitro puts the instance id in the board asset tag; Xen instances only mark their uuid.
  if (vendor === 'Amazon EC2' || uuid.startsWith('ec2') || /amazon/i.test(dmi.biosVersion ?? '')) {
    return withId('aws', /^i-[0-9a-f]{8,17}$/.test(boardTag) ? boardTag : undefined)
  }
  if (vendor === 'Google' || product === 'Google Compute Engine') return { provider: 'gcp' }
  // Azure's chassis asset tag is fixed; the VM id is the system uuid.
  if (chassisTag === '7783-7084-3265-9085-8269-3286-77') return withId('azure', uuid || undefined)
  if (chassisTag === 'OracleCloud.com') return { provider: 'oracle' }
  if (vendor === 'DigitalOcean') return { provider: 'digitalocean' }
  if (vendor === 'Hetzner') return { provider: 'hetzner' }
  // OpenStack's Nova sets the system uuid to the instance's id.
  if (/^OpenStack (Nova|Compute)$/.test(product)) return withId('openstack', uuid || undefined)
  return undefined
}

/** os-release's fields (freedesktop.org): KEY=value lines, values maybe quoted. */
export function parseOsRelease(text: string): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim())
    if (!match?.[1]) continue
    let value = match[2] ?? ''
    if (/^(["']).*\1$/.test(value)) value = value.slice(1, -1).replace(/\\(["$`\\])/g, '$1')
    fields[match[1]] = value
  }
  return fields
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

/**
 * The host's facts: OS from the root checked (the image's os-release), kernel and
 * architecture from the running system, CPU and memory from systeminformation, the cloud from
 * DMI. Never fails: a fact that cannot be read is left out.
 */
export async function collectHostFacts(rootDir: string, agentVersion: string): Promise<HostFacts> {
  const si = await import('systeminformation')
  const osRelease = parseOsRelease(
    readText(join(rootDir, 'etc/os-release')) ?? readText(join(rootDir, 'usr/lib/os-release')) ?? '',
  )
  const [cpu, mem, system] = await Promise.all([
    si.cpu().catch(() => undefined),
    si.mem().catch(() => undefined),
    si.system().catch(() => undefined),
  ])
  const dmiDir = '/sys/class/dmi/id'
  const dmi: DmiFacts = {
    ...optional('vendor', system?.manufacturer || readText(join(dmiDir, 'sys_vendor'))),
    ...optional('product', system?.model || readText(join(dmiDir, 'product_name'))),
    ...optional('uuid', system?.uuid || readText(join(dmiDir, 'product_uuid'))),
    ...optional('serial', system?.serial || readText(join(dmiDir, 'product_serial'))),
    ...optional('boardAssetTag', readText(join(dmiDir, 'board_asset_tag'))),
    ...optional('chassisAssetTag', readText(join(dmiDir, 'chassis_asset_tag'))),
    ...optional('biosVersion', readText(join(dmiDir, 'bios_version'))),
  }
  const cloud = cloudFromDmi(dmi)
  const model = cpu ? [cpu.manufacturer, cpu.brand].filter(Boolean).join(' ') : ''
  return {
    os: {
      ...optional('id', osRelease.ID),
      ...optional('version', osRelease.VERSION_ID),
      ...optional('name', osRelease.PRETTY_NAME),
    },
    kernel: release(),
    arch: arch(),
    ...(cpu ? { cpu: { ...optional('model', model), cores: cpu.cores } } : {}),
    ...(mem ? { memoryBytes: mem.total } : {}),
    ...(cloud ? { cloud } : {}),
    agentVersion,
  }
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value ? { [key]: value.slice(0, 256) } : {}) as { [P in K]?: string }
}
