import { createHash } from 'node:crypto'
import type { ConfigEntry } from '../manifest/schema.js'
import { compareCodeUnits } from '../util/compare.js'
import { readRootTextConfined } from './root-fs.js'
import type { Probe } from './types.js'

/*
 * Secrets never enter a manifest (DESIGN.md). /etc/shadow and /etc/gshadow are recorded as one
 * digest per entry: `sha256:<hex>` of the whole line (name, password field, ageing fields), so
 * a changed password, a lock or a new expiry date is seen, but the hash itself never leaves
 * the host. The digest is deliberately unsalted and unkeyed: it must be the same on every
 * instance of one image, or a fresh instance would not match its manifest. It is not a way
 * back to the password: a sha256 cannot be inverted, and guessing its input means guessing a
 * crypt(3) hash with its own random salt inside (96 bits for sha512crypt, 128 for yescrypt).
 * What a guess can confirm is a line with no hash in it ("*", "!", empty), which
 * `password` states openly anyway.
 */

/** How an account's password field lets it log in; derived from the field, never the field. */
export type PasswordStatus = 'set' | 'locked' | 'disabled' | 'empty'

/** `user:<name>`: one /etc/passwd entry, with its shadow entry as a digest. */
export interface UserValue {
  uid: number
  gid: number
  home: string
  shell: string
  gecos: string
  /** From shadow (or passwd when it holds the field itself); absent when unknown. */
  password?: PasswordStatus
  /** `sha256:<hex>` of the whole /etc/shadow line; absent when there is none. */
  shadow?: string
}

/** `group:<name>`: one /etc/group entry, with its gshadow entry as a digest. */
export interface GroupValue {
  gid: number
  /** Supplementary members, sorted. */
  members: string[]
  /** `sha256:<hex>` of the whole /etc/gshadow line; absent when there is none. */
  gshadow?: string
}

export interface PasswdEntry {
  name: string
  /** The password field (`x`: see shadow); read only to derive a PasswordStatus, never recorded. */
  password: string
  uid: number
  gid: number
  gecos: string
  home: string
  shell: string
}

export interface GroupEntry {
  name: string
  gid: number
  members: string[]
}

/** One shadow or gshadow line; never recorded, only digested and read for its PasswordStatus. */
export interface ShadowLine {
  name: string
  password: string
  line: string
}

/**
 * passwd(5) entries as glibc's nss_files reads them for getpwnam(3) (pwd/fgetpwent_r.c's line
 * parser): leading whitespace is skipped, `#` then starts a comment; the name and password run
 * to the next `:`; uid and gid must be numbers (see `parseNssId`); gecos and home run to the next
 * `:` and the shell is the rest of the line, colons and all. A line may stop after the gid: the
 * fields left out are empty (`evil:x:0:0` is a uid-0 user with an empty shell). NIS compat lines
 * (`+`, `-`) name no account for getpwnam. A repeated name keeps its first entry, the one
 * getpwnam returns.
 */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = []
  for (const line of nssLines(text)) {
    const fields = new NssFields(line)
    const name = fields.string()
    const password = fields.string()
    const uid = fields.id()
    const gid = uid === undefined ? undefined : fields.id()
    if (uid === undefined || gid === undefined || name === '' || isCompat(name)) continue
    const gecos = fields.string()
    const home = fields.string()
    entries.push({ name, password, uid, gid, gecos, home, shell: fields.rest() })
  }
  return firstByName(entries)
}

/**
 * group(5) entries as glibc reads them for getgrnam(3) (grp/fgetgrent_r.c): name, password and
 * a numeric gid, then members separated by `,` to the end of the line, each with its leading
 * whitespace dropped, empty ones skipped. A line may stop after the gid (no members). The
 * password field is not kept; members are recorded sorted and once each.
 */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = []
  for (const line of nssLines(text)) {
    const fields = new NssFields(line)
    const name = fields.string()
    fields.string()
    const gid = fields.id()
    if (gid === undefined || name === '' || isCompat(name)) continue
    entries.push({ name, gid, members: memberList(fields.rest()) })
  }
  return firstByName(entries)
}

/**
 * A uid or gid as glibc's INT_FIELD reads it: strtoul(3) in base 10 (leading whitespace and a
 * sign allowed, a negative number taken modulo 2^64), ending at `:` or the end of the line, and
 * refused when it does not fit 32 bits (so `-1` is refused and `-0` is 0). Undefined when refused.
 */
export function parseNssId(field: string): number | undefined {
  const match = /^[ \t\n\v\f\r]*([+-]?)(\d+)$/.exec(field)
  if (match === null) return undefined
  const max64 = (1n << 64n) - 1n
  let value = BigInt(match[2] as string)
  if (value > max64) return undefined // ERANGE: strtoul returns ULONG_MAX
  if (match[1] === '-') value = (max64 + 1n - value) % (max64 + 1n)
  return value > 0xffffffffn ? undefined : Number(value)
}

/** The lines nss_files parses: leading whitespace (C isspace) skipped, blank and `#` lines left out. */
function* nssLines(text: string): Generator<string> {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^[ \t\v\f\r]+/, '')
    if (line === '' || line.startsWith('#')) continue
    yield line
  }
}

/** files-parse.c's field readers over one line: a missing field is empty, an id must be there. */
class NssFields {
  private at = 0
  constructor(private readonly line: string) {}

  /** STRING_FIELD: to the next `:` (or the end), which is consumed. */
  string(): string {
    const colon = this.line.indexOf(':', this.at)
    const end = colon === -1 ? this.line.length : colon
    const value = this.line.slice(this.at, end)
    this.at = colon === -1 ? end : colon + 1
    return value
  }

  /** INT_FIELD: a number up to the next `:` or the end; undefined (the line is refused) otherwise. */
  id(): number | undefined {
    if (this.at >= this.line.length) return undefined
    return parseNssId(this.string())
  }

  /** What is left of the line. */
  rest(): string {
    return this.line.slice(this.at)
  }
}

/** shadow(5) (9 fields) or gshadow(5) (4 fields) lines by name. */
export function parseShadow(text: string): Map<string, ShadowLine> {
  const lines = new Map<string, ShadowLine>()
  for (const line of nssLines(text)) {
    const fields = line.split(':')
    const name = fields[0]
    if (name === undefined || name === '' || fields.length < 2 || isCompat(name) || lines.has(name)) continue
    lines.set(name, { name, password: fields[1] ?? '', line })
  }
  return lines
}

/** The digest recorded for a shadow or gshadow line. */
export function shadowDigest(line: string): string {
  return `sha256:${createHash('sha256').update(line, 'utf8').digest('hex')}`
}

/**
 * What a password field allows, by the conventions of shadow(5) and passwd(1): empty lets in
 * without a password, a leading `!` is a locked password, `*` and other strings that no crypt(3)
 * hash can equal let no password in, anything else is a hash.
 */
export function passwordStatus(field: string): PasswordStatus {
  if (field === '') return 'empty'
  if (field.startsWith('!')) return 'locked'
  if (field.startsWith('$') || /^[./0-9A-Za-z]{13}$/.test(field)) return 'set'
  return 'disabled'
}

/** The `user:` and `group:` entries of parsed account files. Pure. */
export function accountEntries(files: {
  passwd?: string
  group?: string
  shadow?: string
  gshadow?: string
}): ConfigEntry[] {
  const shadow = parseShadow(files.shadow ?? '')
  const gshadow = parseShadow(files.gshadow ?? '')
  const entries: ConfigEntry[] = []
  for (const user of parsePasswd(files.passwd ?? '')) {
    const value: UserValue = {
      uid: user.uid,
      gid: user.gid,
      home: user.home,
      shell: user.shell,
      gecos: user.gecos,
    }
    const line = shadow.get(user.name)
    // `x` sends the reader to shadow; any other field is the password itself, kept in passwd.
    const field = user.password === 'x' ? line?.password : user.password
    if (field !== undefined) value.password = passwordStatus(field)
    if (line !== undefined) value.shadow = shadowDigest(line.line)
    entries.push({ key: `user:${user.name}`, value })
  }
  for (const group of parseGroup(files.group ?? '')) {
    const value: GroupValue = { gid: group.gid, members: group.members }
    const line = gshadow.get(group.name)
    if (line !== undefined) value.gshadow = shadowDigest(line.line)
    entries.push({ key: `group:${group.name}`, value })
  }
  return entries.sort((a, b) => compareCodeUnits(a.key, b.key))
}

/**
 * Accounts: `user:<name>` from /etc/passwd and `group:<name>` from /etc/group, with /etc/shadow
 * and /etc/gshadow as digests only. Reading shadow needs root: an EACCES fails the probe rather
 * than record users without their digests, which would read as drift on every account.
 */
export const accountsProbe: Probe<ConfigEntry[]> = {
  name: 'accounts',
  async collect(context) {
    const read = (path: string) => readRootTextConfined(context.rootDir, path)
    const files: Parameters<typeof accountEntries>[0] = {}
    const passwd = read('/etc/passwd')
    const group = read('/etc/group')
    const shadow = read('/etc/shadow')
    const gshadow = read('/etc/gshadow')
    if (passwd !== undefined) files.passwd = passwd
    if (group !== undefined) files.group = group
    if (shadow !== undefined) files.shadow = shadow
    if (gshadow !== undefined) files.gshadow = gshadow
    return accountEntries(files)
  },
}

/** NIS compat entries (`+name`, `-@netgroup`, `+`) pull accounts from elsewhere; they are not accounts. */
function isCompat(name: string): boolean {
  return name.startsWith('+') || name.startsWith('-')
}

function memberList(field: string): string[] {
  const members = field.split(',').map((m) => m.replace(/^[ \t\n\v\f\r]+/, ''))
  return [...new Set(members.filter((m) => m !== ''))].sort(compareCodeUnits)
}

function firstByName<T extends { name: string }>(entries: T[]): T[] {
  const seen = new Set<string>()
  return entries.filter((entry) => !seen.has(entry.name) && seen.add(entry.name))
}
