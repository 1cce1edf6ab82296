/*
 * Configuration values as the tool that reads them understands them. A probe records a value as
 * the file writes it (`LoginGraceTime 1m`, `PermitRootLogin Prohibit-Password`); the tool prints
 * one canonical form (`sshd -T`: `logingracetime 60`, `permitrootlogin without-password`). The
 * scan compares canonical forms, so two spellings of one setting are not drift. Pure.
 */

/** How sshd 9.2 parses a keyword's value (servconf.c: parse_flag, the multistate tables, parse_int, parse_time, a2port). */
export const SSHD_VALUE_KINDS: Record<string, readonly string[] | 'int' | 'time' | 'port'> = {
  ...Object.fromEntries(
    [
      'usepam',
      'ignoreuserknownhosts',
      'hostbasedauthentication',
      'hostbasedusesnamefrompacketonly',
      'pubkeyauthentication',
      'kerberosauthentication',
      'kerberosorlocalpasswd',
      'kerberosticketcleanup',
      'gssapiauthentication',
      'gssapicleanupcredentials',
      'gssapistrictacceptorcheck',
      'gssapikeyexchange',
      'gssapistorecredentialsonrekey',
      'passwordauthentication',
      'kbdinteractiveauthentication',
      'printmotd',
      'printlastlog',
      'x11forwarding',
      'x11uselocalhost',
      'permittty',
      'permituserrc',
      'strictmodes',
      'tcpkeepalive',
      'permitemptypasswords',
      'usedns',
      'allowagentforwarding',
      'disableforwarding',
      'streamlocalbindunlink',
      'exposeauthinfo',
      'debianbanner',
    ].map((keyword) => [keyword, ['yes', 'no']]),
  ),
  permitrootlogin: ['without-password', 'prohibit-password', 'forced-commands-only', 'yes', 'no'],
  ignorerhosts: ['yes', 'no', 'shosts-only'],
  addressfamily: ['inet', 'inet6', 'any'],
  compression: ['yes', 'delayed', 'no'],
  gatewayports: ['clientspecified', 'yes', 'no'],
  allowtcpforwarding: ['yes', 'all', 'no', 'remote', 'local'],
  allowstreamlocalforwarding: ['yes', 'all', 'no', 'remote', 'local'],
  permittunnel: ['no', 'point-to-point', 'ethernet', 'yes'],
  fingerprinthash: ['md5', 'sha256'],
  loglevel: ['quiet', 'fatal', 'error', 'info', 'verbose', 'debug', 'debug1', 'debug2', 'debug3'],
  syslogfacility: [
    'daemon',
    'user',
    'auth',
    'authpriv',
    'local0',
    'local1',
    'local2',
    'local3',
    'local4',
    'local5',
    'local6',
    'local7',
  ],
  x11displayoffset: 'int',
  maxauthtries: 'int',
  maxsessions: 'int',
  clientalivecountmax: 'int',
  requiredrsasize: 'int',
  logingracetime: 'time',
  clientaliveinterval: 'time',
  port: 'port',
}

/** Words sshd -T prints in another form than one of their accepted spellings. */
const SSHD_PRINTED: Record<string, Record<string, string>> = {
  permitrootlogin: { 'prohibit-password': 'without-password' },
  compression: { delayed: 'yes' },
  allowtcpforwarding: { all: 'yes' },
  allowstreamlocalforwarding: { all: 'yes' },
  loglevel: { debug: 'debug1' },
}

/** Printed in capitals by sshd -T (log_level_name, log_facility_name, the digest names). */
const SSHD_UPPERCASE = new Set(['loglevel', 'syslogfacility', 'fingerprinthash'])

/**
 * A time as sshd's convtime() reads it: seconds, or numbers each with an optional unit (s, m, h,
 * d, w, either case), summed; undefined when sshd refuses it.
 */
export function sshdSeconds(value: string): number | undefined {
  if (!/^(\d+[smhdwSMHDW]?)+$/.test(value)) return undefined
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }
  let total = 0
  for (const [, digits, unit] of value.matchAll(/(\d+)([smhdwSMHDW]?)/g)) {
    total += Number(digits) * (unit ? (units[unit.toLowerCase()] as number) : 1)
  }
  return Number.isSafeInteger(total) && total <= 2147483647 ? total : undefined
}

/** An sshd value as `sshd -T` prints it; anything it does not know is kept as written. */
export function normalizeSshdValue(keyword: string, value: unknown): unknown {
  if (typeof value !== 'string') return value
  const kind = SSHD_VALUE_KINDS[keyword]
  if (kind === 'time') {
    const seconds = sshdSeconds(value)
    return seconds === undefined ? value : String(seconds)
  }
  if (kind === 'int') return /^\d+$/.test(value) ? String(Number(value)) : value
  if (kind === undefined || kind === 'port' || !kind.includes(value.toLowerCase())) return value
  const word = value.toLowerCase()
  const printed = SSHD_PRINTED[keyword]?.[word] ?? word
  return SSHD_UPPERCASE.has(keyword) ? printed.toUpperCase() : printed
}

/** The keyword of an `sshd:` key: `sshd:match[user a].x11forwarding` -> `x11forwarding`. */
export function sshdKeyword(key: string): string {
  const afterMatch = key.lastIndexOf('].')
  return afterMatch === -1 ? key.slice(key.indexOf(':') + 1) : key.slice(afterMatch + 2)
}

/**
 * A configuration value in the form the scan compares: sshd values as sshd -T prints them,
 * sysctl values with whitespace collapsed as /proc/sys is read. Other namespaces are recorded in
 * one form already.
 */
export function normalizeConfigValue(key: string, value: unknown): unknown {
  if (key.startsWith('sshd:')) {
    const keyword = sshdKeyword(key)
    return Array.isArray(value)
      ? value.map((v) => normalizeSshdValue(keyword, v))
      : normalizeSshdValue(keyword, value)
  }
  if (key.startsWith('sysctl:') && typeof value === 'string') return value.trim().split(/\s+/).join(' ')
  return value
}
