import picomatch from 'picomatch'
import { DriftwatchError } from '../errors.js'
import type { ConfigEntry } from '../manifest/schema.js'
import { compareCodeUnits } from '../util/compare.js'
import { listRootDir, readRootTextConfined } from './root-fs.js'
import type { Probe } from './types.js'

/*
 * The effective sshd configuration as the files state it: only what they set is recorded; a
 * keyword left out is at OpenSSH's compiled-in default, which comes with the package version
 * (the package probes see that). Keys are `sshd:<keyword>`, keywords lowercased as sshd
 * matches them case-insensitively; keywords inside a Match block are
 * `sshd:match[<criteria>].<keyword>`, criteria names lowercased, patterns as written.
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
  const match = /^[ \t]*([^ \t=#"]+)[ \t]*(?:=[ \t]*)?(.*)$/.exec(line.replace(/[ \t\r\f]+$/, ''))
  if (match === null) return undefined
  const args = splitSshdArguments(match[2] as string)
  if (args === undefined || args.length === 0) return undefined
  return { keyword: (match[1] as string).toLowerCase(), args }
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
 * (sshd_config(5)), except keywords that accumulate; Match blocks are kept apart, each with its
 * own first-wins values. An Include is processed in place, in the Match block it appears in;
 * a Match inside an included file applies within that block (`match[a].match[b].<keyword>`),
 * and the including file's block resumes after it (servconf.c: "Don't let included files
 * clobber the containing file's Match state"). Pure but for `load`.
 */
export function parseSshdConfig(text: string, load: IncludeLoader = () => []): ConfigEntry[] {
  const values = new Map<string, SshdValue>()
  const subsystems = new Set<string>()

  const set = (prefix: string, keyword: string, args: string[]) => {
    const key = prefix === '' ? keyword : `${prefix}.${keyword}`
    const current = values.get(key)
    if (ACCUMULATE_ARGUMENTS.has(keyword)) {
      values.set(key, [...((current as string[] | undefined) ?? []), ...args])
    } else if (ACCUMULATE_DIRECTIVES.has(keyword)) {
      if (keyword === 'subsystem') {
        const name = `${key}\0${args[0]}`
        if (subsystems.has(name)) return
        subsystems.add(name)
      }
      values.set(key, [...((current as string[] | undefined) ?? []), args.join(' ')])
    } else if (current === undefined) {
      values.set(key, args.join(' '))
    }
  }

  const processFile = (fileText: string, base: string, depth: number) => {
    let prefix = base
    for (const line of fileText.split('\n')) {
      const directive = splitSshdLine(line)
      if (directive === undefined) continue
      const { keyword, args } = directive
      if (keyword === 'match') {
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
          for (const included of load(pattern)) processFile(included.text, prefix, depth + 1)
        }
      } else {
        set(prefix, keyword, args)
      }
    }
  }

  processFile(text, '', 0)
  return [...values.entries()]
    .sort(([a], [b]) => compareCodeUnits(a, b))
    .map(([key, value]) => ({ key: `sshd:${key}`, value }))
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
export const sshdProbe: Probe<ConfigEntry[]> = {
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
