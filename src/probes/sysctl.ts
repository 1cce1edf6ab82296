import { statSync } from 'node:fs'
import { compareCodeUnits } from '../util/compare.js'
import type { SourcedConfigEntry } from './config.js'
import { joinRoot } from './files/root-path.js'
import { DEV_NULL, listRootDir, readRootText, readRootTextConfined, resolveInRoot } from './root-fs.js'
import type { Probe, ProbeContext } from './types.js'

/*
 * One key per kernel parameter, `sysctl:<name>`, whose value is the effective one: on a live
 * root the running value from /proc/sys, elsewhere (an image folder) the value the files
 * declare. A manifest captured from an image folder thus compares with a live host directly:
 * a parameter changed with `sysctl -w`, or a file that no longer loads, reads as
 * "expected <declared>, actual <running>". A declared parameter the running kernel does not
 * have (a module not loaded yet, a write-only file) keeps its declared value; a security
 * parameter nothing declares is recorded only on a live root.
 */

/**
 * Where sysctl.d files live, highest precedence first (sysctl.d(5); /lib as procps's
 * `sysctl --system` also reads it): a file overrides a same-named file in any later directory.
 */
export const SYSCTL_DIRS = [
  '/etc/sysctl.d',
  '/run/sysctl.d',
  '/usr/local/lib/sysctl.d',
  '/usr/lib/sysctl.d',
  '/lib/sysctl.d',
] as const

/**
 * procps's `sysctl --system` reads it last, after every sysctl.d file. systemd-sysctl never reads
 * it by name: Debian ships `/etc/sysctl.d/99-sysctl.conf -> ../sysctl.conf`, so it is read in that
 * file's slot (and a `99-zzz-local.conf` is read after it).
 */
export const SYSCTL_CONF = '/etc/sysctl.conf'

/** Where a root keeps systemd-sysctl; a root that has none loads its parameters with procps. */
const SYSTEMD_SYSCTL = ['/usr/lib/systemd/systemd-sysctl', '/lib/systemd/systemd-sysctl'] as const

/** Parameters worth watching on every live host, declared or not: hardening a drifted host tends to lose. */
export const SECURITY_SYSCTL_KEYS = [
  'kernel.randomize_va_space',
  'kernel.kptr_restrict',
  'kernel.dmesg_restrict',
  'kernel.yama.ptrace_scope',
  'kernel.unprivileged_bpf_disabled',
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.rp_filter',
  'net.ipv4.conf.all.accept_redirects',
  'net.ipv4.conf.all.send_redirects',
  'net.ipv4.tcp_syncookies',
  'fs.protected_symlinks',
  'fs.protected_hardlinks',
  'fs.suid_dumpable',
] as const

/** One `key = value` line of a sysctl.d file. */
export interface SysctlAssignment {
  /** Normalized to the dotted form (see normalizeSysctlKey); may be a glob(7) pattern. */
  key: string
  /** Whitespace collapsed to single spaces. */
  value: string
  /** The line had a `-` prefix: a failure to set it is not an error. */
  ignoreErrors: boolean
}

/**
 * The dotted name of a sysctl key. sysctl.d(5): "If the first separator is a slash, remaining
 * slashes and dots are left intact. If the first separator is a dot, dots and slashes are
 * interchanged": `net/ipv4/conf/enp3s0.200/forwarding` is `net.ipv4.conf.enp3s0/200.forwarding`.
 */
export function normalizeSysctlKey(key: string): string {
  const firstSeparator = key.search(/[./]/)
  if (firstSeparator === -1 || key[firstSeparator] === '.') return key
  return swapSeparators(key)
}

/** The file under /proc/sys that holds a key given in dotted form. */
export function sysctlProcPath(key: string): string {
  return `/proc/sys/${swapSeparators(key)}`
}

/**
 * The assignments of one sysctl.d or sysctl.conf file, in order. Lines starting with `#` or
 * `;` are comments (sysctl.d(5)); a line without `=` is either a `-key` that excludes a key
 * from a glob, which declares no value, or malformed, which systemd-sysctl skips too.
 */
export function parseSysctlConf(text: string): SysctlAssignment[] {
  const assignments: SysctlAssignment[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const eq = line.indexOf('=')
    if (eq === -1) continue
    let key = line.slice(0, eq).trim()
    const ignoreErrors = key.startsWith('-')
    if (ignoreErrors) key = key.slice(1).trim()
    if (key === '') continue
    assignments.push({ key: normalizeSysctlKey(key), value: collapse(line.slice(eq + 1)), ignoreErrors })
  }
  return assignments
}

/** One sysctl.d file as found: its name and the directory that won it. */
export interface SysctlFile {
  name: string
  dir: string
}

/**
 * The files systemd-sysctl reads, in the order it applies them (sysctl.d(5)): `*.conf` from
 * every directory, a name in a higher-precedence directory shadowing the same name below it,
 * all sorted by file name regardless of directory. `listings` are in SYSCTL_DIRS order and hold
 * only names that count (see `sysctlFiles`: a dangling link or a directory does not).
 */
export function orderSysctlFiles(listings: { dir: string; names: string[] }[]): SysctlFile[] {
  const winner = new Map<string, string>()
  for (const { dir, names } of listings) {
    for (const name of names) {
      if (name.endsWith('.conf') && !winner.has(name)) winner.set(name, dir)
    }
  }
  return [...winner.entries()]
    .sort(([a], [b]) => compareCodeUnits(a, b))
    .map(([name, dir]) => ({ name, dir }))
}

/** The declared value of every key: later files, and later lines, win. */
export function mergeSysctl(files: string[]): Map<string, string> {
  const declared = new Map<string, string>()
  for (const [key, { value }] of declareSysctl(files.map((text) => ({ path: '', text })))) {
    declared.set(key, value)
  }
  return declared
}

/** A declared value and the file whose line won. */
export interface SysctlDeclaration {
  value: string
  file: string
}

/** The declared value of every key with the file that sets it: later files, and later lines, win. */
export function declareSysctl(files: { path: string; text: string }[]): Map<string, SysctlDeclaration> {
  const declared = new Map<string, SysctlDeclaration>()
  for (const { path, text } of files) {
    for (const { key, value } of parseSysctlConf(text)) declared.set(key, { value, file: path })
  }
  return declared
}

/** Which program loads the root's kernel parameters at boot, and so which files it reads. */
export type SysctlLoader = 'systemd-sysctl' | 'procps'

/**
 * The files the root's loader reads, in order, as absolute paths inside the root.
 * systemd-sysctl (conf-files.c with CONF_FILES_REGULAR | CONF_FILES_FILTER_MASKED): a name that
 * does not resolve to a regular file (a dangling link, a directory) is passed over and shadows
 * nothing; an empty file or a link to /dev/null masks the name and is not read. procps's
 * `sysctl --system` reads the same directories, then /etc/sysctl.conf last.
 */
export function sysctlFiles(rootDir: string, loader = sysctlLoader(rootDir)): string[] {
  const masked = new Set<string>()
  const listings = SYSCTL_DIRS.map((dir) => ({
    dir,
    names: listRootDir(rootDir, dir)
      .filter((entry) => entry.name.endsWith('.conf') && (entry.type === 'file' || entry.type === 'symlink'))
      .map((entry) => entry.name)
      .filter((name) => {
        const kind = confFileKind(rootDir, `${dir}/${name}`)
        if (kind === 'masked') masked.add(`${dir}/${name}`)
        return kind !== 'skipped'
      }),
  }))
  const files = orderSysctlFiles(listings)
    .map(({ dir, name }) => `${dir}/${name}`)
    .filter((path) => !masked.has(path))
  if (loader === 'procps' && readRootTextConfined(rootDir, SYSCTL_CONF) !== undefined) files.push(SYSCTL_CONF)
  return files
}

/** systemd-sysctl where the root has it (Debian 12 aliases procps.service to it), else procps. */
export function sysctlLoader(rootDir: string): SysctlLoader {
  return SYSTEMD_SYSCTL.some((path) => resolveInRoot(rootDir, path) !== undefined)
    ? 'systemd-sysctl'
    : 'procps'
}

/** A sysctl.d name as conf-files.c sees it: read, masking the name, or passed over. */
function confFileKind(rootDir: string, path: string): 'read' | 'masked' | 'skipped' {
  const resolved = resolveInRoot(rootDir, path)
  if (resolved === undefined) return 'skipped'
  if (resolved === DEV_NULL) return 'masked'
  try {
    const stat = statSync(joinRoot(rootDir, resolved))
    if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'masked'
    if (!stat.isFile()) return 'skipped'
    return stat.size === 0 ? 'masked' : 'read'
  } catch {
    return 'skipped'
  }
}

/**
 * The entries for declared values and, when given, running values: running wins where the
 * kernel has the key, declared fills in where it does not. Glob keys stay declared patterns:
 * expanding them would list every network interface, which differs from host to host. An
 * entry a file declares names that file (`files`), whatever value the kernel runs.
 */
export function sysctlEntries(
  declared: ReadonlyMap<string, string | SysctlDeclaration>,
  running?: ReadonlyMap<string, string>,
): SourcedConfigEntry[] {
  const values = new Map<string, string>()
  const files = new Map<string, string>()
  for (const [key, declaration] of declared) {
    if (typeof declaration === 'string') values.set(key, declaration)
    else {
      values.set(key, declaration.value)
      files.set(key, declaration.file)
    }
  }
  for (const [key, value] of running ?? []) values.set(key, value)
  return [...values.entries()]
    .sort(([a], [b]) => compareCodeUnits(a, b))
    .map(([key, value]) => {
      const file = files.get(key)
      return file === undefined
        ? { key: `sysctl:${key}`, value }
        : { key: `sysctl:${key}`, value, files: [file] }
    })
}

/** Declared kernel parameters (sysctl.d, sysctl.conf) and, on a live root, their running values. */
export const sysctlProbe: Probe<SourcedConfigEntry[]> = {
  name: 'sysctl',
  async collect(context) {
    const declared = readDeclared(context.rootDir)
    const running = context.live
      ? readRunning(context, [...declared.keys(), ...SECURITY_SYSCTL_KEYS])
      : undefined
    return sysctlEntries(declared, running)
  },
}

function readDeclared(rootDir: string): Map<string, SysctlDeclaration> {
  return declareSysctl(
    sysctlFiles(rootDir).map((path) => ({ path, text: readRootTextConfined(rootDir, path) ?? '' })),
  )
}

function readRunning(context: ProbeContext, keys: string[]): Map<string, string> {
  const running = new Map<string, string>()
  for (const key of new Set(keys)) {
    if (/[*?[]/.test(key)) continue
    const value = readProcSys(context.rootDir, key)
    if (value !== undefined) running.set(key, value)
  }
  return running
}

/** A running value, or undefined when the kernel has no such key or will not show it. */
function readProcSys(rootDir: string, key: string): string | undefined {
  const path = sysctlProcPath(key)
  // A declared key is file content: `..` in it must not walk out of /proc/sys.
  if (path.split('/').includes('..')) return undefined
  try {
    const text = readRootText(rootDir, path)
    return text === undefined ? undefined : collapse(text)
  } catch {
    // Write-only keys (vm.drop_caches: EACCES), keys that refuse reads (stable_secret: EIO):
    // the kernel has them but shows nothing, so the declared value stands.
    return undefined
  }
}

function swapSeparators(key: string): string {
  return key.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'))
}

/** Values compare after collapsing whitespace: /proc/sys prints `4096\t131072\t6291456`. */
function collapse(value: string): string {
  return value.trim().split(/\s+/).join(' ')
}
