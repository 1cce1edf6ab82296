import picomatch from 'picomatch'
import { SSHD_VALUE_KINDS, sshdSeconds } from '../drift/config-values.js'
import { DriftwatchError } from '../errors.js'
import { compareCodeUnits } from '../util/compare.js'
import type { SourcedConfigEntry } from './config.js'
import { listRootDir, readRootTextConfined } from './root-fs.js'
import type { Probe } from './types.js'

/*
 * The effective sshd configuration as the files state it: only what they set is recorded; a
 * keyword left out is at OpenSSH's compiled-in default, which comes with the package version
 * (the package probes see that). Keys are `sshd:<keyword>`, keywords lowercased as sshd
 * matches them case-insensitively, and an alias under the name sshd -T prints
 * (`ChallengeResponseAuthentication` is `kbdinteractiveauthentication`: OpenSSH's keyword table
 * maps both to one option, so whichever comes first wins); keywords inside a Match block are
 * `sshd:match[<criteria>].<keyword>`, criteria names lowercased, patterns as written. Values are
 * recorded as written (`1m`, `YES`); the scan compares them as sshd -T prints them.
 *
 * A configuration sshd itself refuses (an unknown keyword, a value it does not accept, a keyword
 * not allowed in a Match block, a second definition of a subsystem) is recorded as the key
 * `sshd:invalid`, the list of what sshd would say: sshd does not start with it, and a running one
 * will not restart, so an image never has it and any host that does is told.
 */

/** Where sshd reads its configuration. */
export const SSHD_CONFIG = '/etc/ssh/sshd_config'

/** sshd_config(5), Include: "Files without absolute paths are assumed to be in /etc/ssh". */
const SSH_DIR = '/etc/ssh'

// servconf.c refuses Include nested deeper than this (SERVCONF_MAX_DEPTH).
const MAX_INCLUDE_DEPTH = 16

/**
 * Keywords whose every directive adds to a list instead of the first one winning (servconf.c
 * appends for these): each argument is one element.
 */
const ACCUMULATE_ARGUMENTS = new Set([
  'acceptenv',
  'allowgroups',
  'allowusers',
  'denygroups',
  'denyusers',
  'hostcertificate',
  'hostkey',
  'port',
])

/**
 * Keywords that accumulate a whole directive per element: `ListenAddress 10.0.0.1 rdomain 2`,
 * `Subsystem sftp /usr/lib/openssh/sftp-server -l INFO` (the first definition of a subsystem
 * name wins).
 */
const ACCUMULATE_DIRECTIVES = new Set(['listenaddress', 'subsystem'])

/** Match criteria that take no pattern (sshd_config(5), Match). */
const BARE_CRITERIA = new Set(['all', 'invalid-user'])

/** Match criteria sshd 9.2 knows (servconf.c, match_cfg_line). */
const MATCH_CRITERIA = new Set([
  'all',
  'user',
  'group',
  'host',
  'address',
  'localaddress',
  'localport',
  'rdomain',
])

/** The key of the configuration problems sshd would refuse to start with. */
export const SSHD_INVALID_KEY = 'sshd:invalid'

/**
 * OpenSSH 9.2's keyword table (servconf.c `keywords[]`, as Debian 12 builds it: with PAM,
 * Kerberos and GSSAPI, plus Debian's GSSAPI key exchange and DebianBanner patches). `canonical`
 * is the name sshd -T prints for an alias (the first keyword of the same option); `global`
 * keywords are refused inside a Match block; `ignored` ones (deprecated, unsupported) are
 * accepted with a warning and do nothing.
 */
const SSHD_KEYWORDS: Record<string, { scope?: 'all' | 'global'; canonical?: string; ignored?: true }> = {
  usepam: { scope: 'global' },
  pamauthenticationviakbdint: { ignored: true },
  port: { scope: 'global' },
  hostkey: { scope: 'global' },
  hostdsakey: { scope: 'global', canonical: 'hostkey' },
  hostkeyagent: { scope: 'global' },
  pidfile: { scope: 'global' },
  modulifile: { scope: 'global' },
  serverkeybits: { ignored: true },
  logingracetime: { scope: 'global' },
  keyregenerationinterval: { ignored: true },
  permitrootlogin: { scope: 'all' },
  syslogfacility: { scope: 'global' },
  loglevel: { scope: 'all' },
  logverbose: { scope: 'all' },
  rhostsauthentication: { ignored: true },
  rhostsrsaauthentication: { ignored: true },
  hostbasedauthentication: { scope: 'all' },
  hostbasedusesnamefrompacketonly: { scope: 'all' },
  hostbasedacceptedalgorithms: { scope: 'all' },
  hostbasedacceptedkeytypes: { scope: 'all', canonical: 'hostbasedacceptedalgorithms' },
  hostkeyalgorithms: { scope: 'global' },
  rsaauthentication: { ignored: true },
  pubkeyauthentication: { scope: 'all' },
  pubkeyacceptedalgorithms: { scope: 'all' },
  pubkeyacceptedkeytypes: { scope: 'all', canonical: 'pubkeyacceptedalgorithms' },
  pubkeyauthoptions: { scope: 'all' },
  dsaauthentication: { scope: 'global', canonical: 'pubkeyauthentication' },
  kerberosauthentication: { scope: 'all' },
  kerberosorlocalpasswd: { scope: 'global' },
  kerberosticketcleanup: { scope: 'global' },
  kerberosgetafstoken: { ignored: true },
  kerberostgtpassing: { ignored: true },
  afstokenpassing: { ignored: true },
  gssapiauthentication: { scope: 'all' },
  gssapicleanupcredentials: { scope: 'global' },
  gssapistrictacceptorcheck: { scope: 'global' },
  passwordauthentication: { scope: 'all' },
  kbdinteractiveauthentication: { scope: 'all' },
  challengeresponseauthentication: { scope: 'all', canonical: 'kbdinteractiveauthentication' },
  skeyauthentication: { scope: 'all', canonical: 'kbdinteractiveauthentication' },
  checkmail: { ignored: true },
  listenaddress: { scope: 'global' },
  addressfamily: { scope: 'global' },
  printmotd: { scope: 'global' },
  printlastlog: { scope: 'global' },
  ignorerhosts: { scope: 'all' },
  ignoreuserknownhosts: { scope: 'global' },
  x11forwarding: { scope: 'all' },
  x11displayoffset: { scope: 'all' },
  x11uselocalhost: { scope: 'all' },
  xauthlocation: { scope: 'global' },
  strictmodes: { scope: 'global' },
  permitemptypasswords: { scope: 'all' },
  permituserenvironment: { scope: 'global' },
  uselogin: { ignored: true },
  compression: { scope: 'global' },
  rekeylimit: { scope: 'all' },
  tcpkeepalive: { scope: 'global' },
  keepalive: { scope: 'global', canonical: 'tcpkeepalive' },
  allowtcpforwarding: { scope: 'all' },
  allowagentforwarding: { scope: 'all' },
  allowusers: { scope: 'all' },
  denyusers: { scope: 'all' },
  allowgroups: { scope: 'all' },
  denygroups: { scope: 'all' },
  ciphers: { scope: 'global' },
  macs: { scope: 'global' },
  protocol: { ignored: true },
  gatewayports: { scope: 'all' },
  subsystem: { scope: 'global' },
  maxstartups: { scope: 'global' },
  persourcemaxstartups: { scope: 'global' },
  persourcenetblocksize: { scope: 'global' },
  maxauthtries: { scope: 'all' },
  maxsessions: { scope: 'all' },
  banner: { scope: 'all' },
  usedns: { scope: 'global' },
  verifyreversemapping: { ignored: true },
  reversemappingcheck: { ignored: true },
  clientaliveinterval: { scope: 'all' },
  clientalivecountmax: { scope: 'all' },
  authorizedkeysfile: { scope: 'all' },
  authorizedkeysfile2: { ignored: true },
  useprivilegeseparation: { ignored: true },
  acceptenv: { scope: 'all' },
  setenv: { scope: 'all' },
  permittunnel: { scope: 'all' },
  permittty: { scope: 'all' },
  permituserrc: { scope: 'all' },
  match: { scope: 'all' },
  permitopen: { scope: 'all' },
  permitlisten: { scope: 'all' },
  forcecommand: { scope: 'all' },
  chrootdirectory: { scope: 'all' },
  hostcertificate: { scope: 'global' },
  revokedkeys: { scope: 'all' },
  trustedusercakeys: { scope: 'all' },
  authorizedprincipalsfile: { scope: 'all' },
  kexalgorithms: { scope: 'global' },
  include: { scope: 'all' },
  ipqos: { scope: 'all' },
  authorizedkeyscommand: { scope: 'all' },
  authorizedkeyscommanduser: { scope: 'all' },
  authorizedprincipalscommand: { scope: 'all' },
  authorizedprincipalscommanduser: { scope: 'all' },
  versionaddendum: { scope: 'global' },
  authenticationmethods: { scope: 'all' },
  streamlocalbindmask: { scope: 'all' },
  streamlocalbindunlink: { scope: 'all' },
  allowstreamlocalforwarding: { scope: 'all' },
  fingerprinthash: { scope: 'global' },
  disableforwarding: { scope: 'all' },
  exposeauthinfo: { scope: 'all' },
  rdomain: { scope: 'all' },
  casignaturealgorithms: { scope: 'all' },
  securitykeyprovider: { scope: 'global' },
  requiredrsasize: { scope: 'all' },
  channeltimeout: { scope: 'all' },
  unusedconnectiontimeout: { scope: 'all' },
  gssapikeyexchange: { scope: 'global' },
  gssapistorecredentialsonrekey: { scope: 'global' },
  gssapikexalgorithms: { scope: 'global' },
  debianbanner: { scope: 'global' },
}

/**
 * Why sshd would refuse one directive, or undefined when it accepts it; `keyword` is already
 * canonical. Only the keywords of SSHD_VALUE_KINDS have their values checked.
 */
function refusal(keyword: string, args: string[], inMatch: boolean, written: string): string | undefined {
  const known = SSHD_KEYWORDS[keyword]
  if (known === undefined) return `Bad configuration option: ${written}`
  if (known.ignored) return undefined
  if (inMatch && known.scope === 'global') return `Directive '${written}' is not allowed within a Match block`
  const kind = SSHD_VALUE_KINDS[known.canonical ?? keyword]
  if (kind === undefined) return undefined
  if (kind === 'port') {
    return args.every((arg) => /^\d+$/.test(arg) && Number(arg) >= 1 && Number(arg) <= 65535)
      ? undefined
      : 'Badly formatted port number.'
  }
  if (args.length > 1) return `keyword ${written} extra arguments at end of line`
  const value = args[0] as string
  if (kind === 'int') return /^-?\d+$/.test(value) ? undefined : `${written} integer value invalid.`
  if (kind === 'time') return sshdSeconds(value) === undefined ? 'invalid time value.' : undefined
  return kind.includes(value.toLowerCase()) ? undefined : `unsupported option "${value}".`
}

/** A value as recorded: a string for first-wins keywords, a list for accumulating ones. */
export type SshdValue = string | string[]

/** Reads the files an Include pattern names (absolute, glob(7) wildcards), sorted by path. */
export type IncludeLoader = (pattern: string) => { path: string; text: string }[]

/**
 * The arguments of a configuration line split as OpenSSH's argv_split() does: space and tab
 * separate; `"` and `'` quote (and may open mid-word); a backslash escapes a quote, a
 * backslash, or outside quotes a space, and is kept before anything else; `#` at the start of a
 * word ends the line. Undefined for an unterminated quote, which sshd refuses.
 */
export function splitSshdArguments(text: string): string[] | undefined {
  const args: string[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i]
    if (c === ' ' || c === '\t') {
      i += 1
      continue
    }
    if (c === '#') break
    let arg = ''
    let quote: string | undefined
    for (; i < text.length; i += 1) {
      const ch = text[i] as string
      if (ch === '\\') {
        const next = text[i + 1]
        if (next === '"' || next === "'" || next === '\\' || (quote === undefined && next === ' ')) {
          arg += next
          i += 1
        } else {
          arg += ch
        }
      } else if (quote === undefined && (ch === ' ' || ch === '\t')) {
        break
      } else if (quote === undefined && (ch === '"' || ch === "'")) {
        quote = ch
      } else if (ch === quote) {
        quote = undefined
      } else {
        arg += ch
      }
    }
    if (quote !== undefined) return undefined
    args.push(arg)
  }
  return args
}

/**
 * One line's keyword (lowercased) and arguments. The keyword ends at whitespace or at one `=`
 * (sshd_config(5): "Port 22", "Port=22" and "Port = 22" are the same). Undefined for blank and
 * comment lines, and for lines sshd would refuse.
 */
export function splitSshdLine(line: string): { keyword: string; args: string[] } | undefined {
  const directive = readSshdLine(line)
  return directive === undefined || directive.args === undefined || directive.args.length === 0
    ? undefined
    : { keyword: directive.keyword, args: directive.args }
}

/** One line as written: the keyword (lowercased and as written) and its arguments, undefined args for bad quotes. */
function readSshdLine(
  line: string,
): { keyword: string; written: string; args: string[] | undefined } | undefined {
  const match = /^[ \t]*([^ \t=#"]+)[ \t]*(?:=[ \t]*)?(.*)$/.exec(line.replace(/[ \t\r\f]+$/, ''))
  if (match === null) return undefined
  const written = match[1] as string
  return { keyword: written.toLowerCase(), written, args: splitSshdArguments(match[2] as string) }
}

/** The key prefix of a Match line: `Match User anoncvs Address 10.0.0.0/8` -> `match[user anoncvs address 10.0.0.0/8]`. */
export function matchPrefix(args: string[]): string {
  const criteria: string[] = []
  for (let i = 0; i < args.length; i += 1) {
    const name = (args[i] as string).toLowerCase()
    if (BARE_CRITERIA.has(name) || i + 1 >= args.length) {
      criteria.push(name)
    } else {
      criteria.push(`${name} ${args[i + 1]}`)
      i += 1
    }
  }
  return `match[${criteria.join(' ')}]`
}

/**
 * The effective configuration of an sshd_config text: the first value of each keyword wins
 * (sshd_config(5)), an alias counting as its keyword, except keywords that accumulate; Match
 * blocks are kept apart, each with its own first-wins values. An Include is processed in place,
 * in the Match block it appears in; a Match inside an included file applies within that block
 * (`match[a].match[b].<keyword>`), and the including file's block resumes after it (servconf.c:
 * "Don't let included files clobber the containing file's Match state"). Each entry names the
 * file its value came from; what sshd would refuse is listed under `sshd:invalid`. Pure but for
 * `load`.
 */
export function parseSshdConfig(
  text: string,
  load: IncludeLoader = () => [],
  path: string = SSHD_CONFIG,
): SourcedConfigEntry[] {
  const values = new Map<string, { value: SshdValue; files: Set<string> }>()
  const subsystems = new Set<string>()
  const problems: string[] = []

  const set = (prefix: string, keyword: string, args: string[], file: string) => {
    const key = prefix === '' ? keyword : `${prefix}.${keyword}`
    const current = values.get(key)
    const list = (current?.value as string[] | undefined) ?? []
    let value: SshdValue
    if (ACCUMULATE_ARGUMENTS.has(keyword)) {
      value = [...list, ...args]
    } else if (ACCUMULATE_DIRECTIVES.has(keyword)) {
      if (keyword === 'subsystem') {
        const name = `${key}\0${args[0]}`
        if (subsystems.has(name)) {
          problems.push(`${file}: Subsystem '${args[0]}' already defined.`)
          return
        }
        subsystems.add(name)
      }
      value = [...list, args.join(' ')]
    } else if (current === undefined) {
      value = args.join(' ')
    } else {
      return
    }
    values.set(key, { value, files: (current?.files ?? new Set<string>()).add(file) })
  }

  const processFile = (fileText: string, file: string, base: string, depth: number) => {
    let prefix = base
    for (const line of fileText.split('\n')) {
      const directive = readSshdLine(line)
      if (directive === undefined) continue
      const { written } = directive
      let { keyword } = directive
      if (directive.args === undefined) {
        problems.push(`${file}: ${written}: Invalid quotes`)
        continue
      }
      const args = directive.args
      if (args.length === 0) {
        problems.push(`${file}: no argument after keyword "${written}"`)
        continue
      }
      if (keyword === 'match') {
        const bad = badMatch(args)
        if (bad !== undefined) problems.push(`${file}: Match ${args.join(' ')}: ${bad}`)
        prefix = base === '' ? matchPrefix(args) : `${base}.${matchPrefix(args)}`
      } else if (keyword === 'include') {
        if (depth >= MAX_INCLUDE_DEPTH) {
          throw new DriftwatchError(
            'INPUT_INVALID',
            `sshd_config: Include nested deeper than ${MAX_INCLUDE_DEPTH}`,
            {
              hint: 'look for an included file that includes itself: sshd refuses this configuration too',
            },
          )
        }
        for (const arg of args) {
          const pattern = arg.startsWith('/') ? arg : `${SSH_DIR}/${arg}`
          for (const included of load(pattern)) processFile(included.text, included.path, prefix, depth + 1)
        }
      } else {
        const refused = refusal(keyword, args, prefix !== '', written)
        if (refused !== undefined) {
          problems.push(`${file}: ${refused}`)
          continue
        }
        const known = SSHD_KEYWORDS[keyword]
        if (known?.ignored) continue
        keyword = known?.canonical ?? keyword
        set(prefix, keyword, args, file)
      }
    }
  }

  processFile(text, path, '', 0)
  const entries: SourcedConfigEntry[] = [...values.entries()].map(([key, { value, files }]) => ({
    key: `sshd:${key}`,
    value,
    files: [...files],
  }))
  if (problems.length > 0) entries.push({ key: SSHD_INVALID_KEY, value: problems })
  return entries.sort((a, b) => compareCodeUnits(a.key, b.key))
}

/** Why sshd refuses a Match line's criteria, or undefined. */
function badMatch(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i += 1) {
    const name = (args[i] as string).toLowerCase()
    if (name === 'all')
      return args.length === 1 ? undefined : "'all' cannot be combined with other Match attributes"
    if (!MATCH_CRITERIA.has(name)) return `Unsupported Match attribute ${args[i]}`
    if (i + 1 >= args.length) return `Missing Match criteria for ${args[i]}`
    i += 1
  }
  return undefined
}

/** Expands an absolute glob(7) pattern inside the root, sorted like glob(3); unreadable names are skipped. */
export function globInRoot(rootDir: string, pattern: string): string[] {
  let paths = ['']
  for (const part of pattern.split('/').filter((p) => p !== '')) {
    if (!/[*?[]/.test(part)) {
      paths = paths.map((p) => `${p}/${part}`)
      continue
    }
    // glob(3) does not match a leading dot with a wildcard.
    const isMatch = picomatch(part, { dot: false })
    paths = paths.flatMap((dir) =>
      listRootDir(rootDir, dir === '' ? '/' : dir)
        .filter((entry) => isMatch(entry.name))
        .map((entry) => `${dir}/${entry.name}`),
    )
  }
  return paths.filter((p) => p !== '').sort(compareCodeUnits)
}

/** The effective sshd configuration of /etc/ssh/sshd_config and what it includes. */
export const sshdProbe: Probe<SourcedConfigEntry[]> = {
  name: 'sshd',
  async collect(context) {
    const text = readRootTextConfined(context.rootDir, SSHD_CONFIG)
    if (text === undefined) return []
    return parseSshdConfig(text, (pattern) =>
      globInRoot(context.rootDir, pattern).flatMap((path) => {
        const included = readRootTextConfined(context.rootDir, path)
        return included === undefined ? [] : [{ path, text: included }]
      }),
    )
  },
}
