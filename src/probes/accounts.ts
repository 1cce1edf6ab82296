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
 * passwd(5) entries, in file order. Lines that are not seven fields with numeric ids are
 * skipped, as are NIS compat lines (`+`, `-`), which name no account. A repeated name keeps
 * its first entry: that is the one getpwnam(3) returns.
 */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = []
  for (const fields of records(text, 7)) {
    const [name, password, uid, gid, gecos, home, shell] = fields as [string, ...string[]]
    if (!isId(uid) || !isId(gid)) continue
    entries.push({
      name,
      password: password ?? '',
      uid: Number(uid),
      gid: Number(gid),
      gecos: gecos ?? '',
      home: home ?? '',
      shell: shell ?? '',
    })
  }
  return firstByName(entries)
}

/** group(5) entries: `name:password:gid:member,member`; the password field is not kept. */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = []
  for (const fields of records(text, 4)) {
    const [name, , gid, members] = fields as [string, ...string[]]
    if (!isId(gid)) continue
    entries.push({ name, gid: Number(gid), members: memberList(members ?? '') })
  }
  return firstByName(entries)
}

/** shadow(5) (9 fields) or gshadow(5) (4 fields) lines by name. */
export function parseShadow(text: string): Map<string, ShadowLine> {
  const lines = new Map<string, ShadowLine>()
  for (const line of text.split('\n')) {
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

function* records(text: string, fieldCount: number): Generator<string[]> {
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue
    const fields = line.split(':')
    const name = fields[0]
    if (fields.length !== fieldCount || name === undefined || name === '' || isCompat(name)) continue
    yield fields
  }
}

/** NIS compat entries (`+name`, `-@netgroup`, `+`) pull accounts from elsewhere; they are not accounts. */
function isCompat(name: string): boolean {
  return name.startsWith('+') || name.startsWith('-')
}

function isId(field: string | undefined): boolean {
  return field !== undefined && /^\d+$/.test(field)
}

function memberList(field: string): string[] {
  return [...new Set(field.split(',').filter((m) => m !== ''))].sort(compareCodeUnits)
}

function firstByName<T extends { name: string }>(entries: T[]): T[] {
  const seen = new Set<string>()
  return entries.filter((entry) => !seen.has(entry.name) && seen.add(entry.name))
}
