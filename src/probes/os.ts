import { endianness } from 'node:os'
import type { ConfigEntry } from '../manifest/schema.js'
import { compareCodeUnits } from '../util/compare.js'
import { readRootText, readRootTextConfined } from './root-fs.js'
import type { Probe } from './types.js'

/*
 * `os:<FIELD>` for every os-release(5) field (ID, ID_LIKE, VERSION_ID, VERSION_CODENAME,
 * PRETTY_NAME, and also BUILD_ID, IMAGE_ID, IMAGE_VERSION… which are an image's own identity).
 * On a live root also the kernel's view: os:kernel.release, os:kernel.cmdline,
 * os:kernel.modules and os:listening. These are read from /proc, not through the
 * systeminformation package: it answers listening sockets by running `ss`/`netstat`, and a
 * probe runs no commands and must be testable against a fixture root.
 */

/** os-release(5): /etc/os-release wins; /usr/lib/os-release is read only when it does not exist. */
export const OS_RELEASE_FILES = ['/etc/os-release', '/usr/lib/os-release'] as const

/** The socket tables of /proc/net, as their file names, which are also the protocol prefixes. */
export const SOCKET_TABLES = ['tcp', 'tcp6', 'udp', 'udp6'] as const
export type SocketTable = (typeof SOCKET_TABLES)[number]

// include/net/tcp_states.h: TCP_ESTABLISHED 01, TCP_CLOSE 07, TCP_LISTEN 0A.
const TCP_LISTEN = '0A'
const UDP_UNCONNECTED = '07'

/**
 * The fields of an os-release file. os-release(5): `KEY=value` lines, values in shell quoting
 * (double quotes with `\` escaping `$ " \ \``, single quotes literal, or bare words); `#`
 * comment lines. Assignments that are not variable names are skipped.
 */
export function parseOsRelease(text: string): Map<string, string> {
  const fields = new Map<string, string>()
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line)
    if (match === null) continue
    fields.set(match[1] as string, unquoteShell(match[2] as string))
  }
  return fields
}

/** One shell word: quotes removed, escapes resolved; stops at unquoted whitespace (a comment may follow). */
export function unquoteShell(text: string): string {
  let out = ''
  let quote: '"' | "'" | undefined
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i] as string
    if (quote === "'") {
      if (c === "'") quote = undefined
      else out += c
    } else if (quote === '"') {
      if (c === '"') quote = undefined
      else if (c === '\\' && i + 1 < text.length && '$"\\`'.includes(text[i + 1] as string)) {
        out += text[i + 1]
        i += 1
      } else out += c
    } else if (c === '"' || c === "'") {
      quote = c
    } else if (c === '\\' && i + 1 < text.length) {
      out += text[i + 1]
      i += 1
    } else if (c === ' ' || c === '\t') {
      break
    } else {
      out += c
    }
  }
  return out
}

/** Loaded module names from /proc/modules (first field of each line), sorted. */
export function parseProcModules(text: string): string[] {
  const names = text
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name !== '')
  return [...new Set(names)].sort(compareCodeUnits)
}

/**
 * Listening sockets of one /proc/net table as `<table>:<address>:<port>` (`tcp:0.0.0.0:22`,
 * `tcp6:[::1]:6379`): TCP sockets in LISTEN, UDP sockets that are not connected to a peer.
 * The kernel prints each address word in host byte order, so the byte order is a parameter.
 * An unconnected UDP socket on an ephemeral port (a resolver's query socket) is listed too.
 */
export function parseProcNetSockets(text: string, table: SocketTable, littleEndian: boolean): string[] {
  const tcp = table.startsWith('tcp')
  const found = new Set<string>()
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/)
    const local = fields[1]
    const remote = fields[2]
    const state = fields[3]
    if (local === undefined || remote === undefined || state === undefined) continue
    if (tcp ? state !== TCP_LISTEN : state !== UDP_UNCONNECTED || !remote.endsWith(':0000')) continue
    const [addressHex, portHex] = local.split(':')
    if (addressHex === undefined || portHex === undefined) continue
    const address = decodeAddress(addressHex, littleEndian)
    if (address === undefined) continue
    found.add(`${table}:${address}:${Number.parseInt(portHex, 16)}`)
  }
  return [...found].sort(compareCodeUnits)
}

/** An address from /proc/net: 8 hex digits for IPv4 (dotted), 32 for IPv6 (`[…]`, RFC 5952). */
export function decodeAddress(hex: string, littleEndian: boolean): string | undefined {
  if (!/^[0-9A-Fa-f]+$/.test(hex) || (hex.length !== 8 && hex.length !== 32)) return undefined
  const bytes: number[] = []
  for (let word = 0; word < hex.length; word += 8) {
    const wordBytes = [0, 2, 4, 6].map((i) => Number.parseInt(hex.slice(word + i, word + i + 2), 16))
    bytes.push(...(littleEndian ? wordBytes.reverse() : wordBytes))
  }
  if (bytes.length === 4) return bytes.join('.')
  return `[${formatIpv6(bytes)}]`
}

/** RFC 5952 text of 16 address bytes: lowercase, longest run of two or more zero groups as `::`. */
function formatIpv6(bytes: number[]): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number))
  // RFC 5952 5: an IPv4-mapped address keeps its IPv4 part dotted.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.slice(12).join('.')}`
  }
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j += 1
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hexGroups = groups.map((g) => g.toString(16))
  if (bestStart === -1) return hexGroups.join(':')
  return `${hexGroups.slice(0, bestStart).join(':')}::${hexGroups.slice(bestStart + bestLength).join(':')}`
}

/** The entries of an os-release file's fields. Pure. */
export function osReleaseEntries(fields: ReadonlyMap<string, string>): ConfigEntry[] {
  return [...fields.entries()]
    .sort(([a], [b]) => compareCodeUnits(a, b))
    .map(([name, value]) => ({ key: `os:${name}`, value }))
}

/** os-release fields and, on a live root, kernel release, command line, modules and listening sockets. */
export const osProbe: Probe<ConfigEntry[]> = {
  name: 'os',
  async collect(context) {
    const { rootDir } = context
    let release: string | undefined
    for (const path of OS_RELEASE_FILES) {
      release = readRootTextConfined(rootDir, path)
      if (release !== undefined) break
    }
    const entries = osReleaseEntries(parseOsRelease(release ?? ''))
    if (!context.live) return entries

    const kernelRelease = readRootText(rootDir, '/proc/sys/kernel/osrelease')
    if (kernelRelease !== undefined) entries.push({ key: 'os:kernel.release', value: kernelRelease.trim() })
    const cmdline = readRootText(rootDir, '/proc/cmdline')
    if (cmdline !== undefined) entries.push({ key: 'os:kernel.cmdline', value: cmdline.trim() })
    // A kernel built without module support has no /proc/modules: no key rather than a claim.
    const modules = readRootText(rootDir, '/proc/modules')
    if (modules !== undefined) entries.push({ key: 'os:kernel.modules', value: parseProcModules(modules) })
    // /proc/net is the network namespace of this process: the host's when the agent runs there.
    const littleEndian = endianness() === 'LE'
    const listening = SOCKET_TABLES.flatMap((table) => {
      const text = readRootText(rootDir, `/proc/net/${table}`)
      return text === undefined ? [] : parseProcNetSockets(text, table, littleEndian)
    })
    entries.push({ key: 'os:listening', value: listening.sort(compareCodeUnits) })
    return entries.sort((a, b) => compareCodeUnits(a.key, b.key))
  },
}
