import { copyFileSync, mkdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { accountsProbe } from '../../src/probes/accounts.js'
import { hasTool } from '../helpers/tools.js'
import { makeRoot, runTool, type TestRoot } from './root.js'

/*
 * glibc is the truth for accounts: a tiny C helper (nss-lookup.c, compiled here with gcc) calls
 * getpwnam(3) and getgrnam(3) in a chroot of the test root, with the libraries it links copied in,
 * so glibc's nss_files reads the root's /etc/passwd and /etc/group exactly as it would on a host.
 * chroot needs root: CI runs as root; elsewhere the suite skips (and fails under
 * DRIFTWATCH_REQUIRE_INTEGRATION=1).
 */

const HELPER_SOURCE = fileURLToPath(new URL('./nss-lookup.c', import.meta.url))
const isRoot = process.getuid?.() === 0
if (!isRoot && process.env.DRIFTWATCH_REQUIRE_INTEGRATION === '1') {
  throw new Error('the glibc differential test needs root for chroot (DRIFTWATCH_REQUIRE_INTEGRATION=1)')
}
const available = isRoot && hasTool('gcc', 'gcc') && hasTool('chroot', 'coreutils')

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  // The backdoor of the issue: six fields, glibc resolves a uid-0 user with an empty shell.
  'evil:x:0:0::/root',
  'four:x:7:7',
  'three:x:8',
  'nogid:x:8:',
  '  spaced:x:5:5:g:/h:/bin/sh',
  '\ttabbed:x:17:17::/:',
  '\v\fvt:x:18:18::/:/bin/sh',
  'extra:x:16:16:g:/h:/bin/sh:more:fields',
  'lead:x: 12:\t3::/:/bin/sh',
  'trail:x:12 :1::/:/bin/sh',
  'negative:x:-1:1::/:/bin/sh',
  'minuszero:x:-0:+0::/:/bin/sh',
  'plus:x:+14:015::/:/bin/sh',
  'max:x:4294967295:4294967294::/:/bin/sh',
  'wide:x:4294967296:1::/:/bin/sh',
  'hex:x:0x10:1::/:/bin/sh',
  'emptyuid:x::1::/:/bin/sh',
  'a name:x:20:20::/:/bin/sh',
  'crlf:x:21:21::/:/bin/sh\r',
  '#comment:x:22:22::/:/bin/sh',
  '   #indented:x:23:23::/:/bin/sh',
  '+compat:x:24:24::/:/bin/sh',
  '-minus:x:25:25::/:/bin/sh',
  '+',
  'root:x:99:99:second root:/:/bin/sh',
  '',
  'nopw::26:26::/:/bin/sh',
].join('\n')

const GROUP = [
  'root:x:0:',
  'sudo:x:27:deploy,admin',
  'three:x:30',
  'two:x',
  'members:x:31:a, b,,c ,a',
  'spaces:x:32: a,\tb, ,c',
  'colon:x:33:a:b',
  '  indented:x:34:',
  'nopw::35:x',
  'octal:x:036:',
  'bad:x:3a:',
  '+compat:x:36:',
  'root:x:98:dup',
].join('\n')

/** Every name a line could be said to hold, found or not: the candidates both sides are asked about. */
function candidateNames(text: string): string[] {
  const names = new Set<string>()
  for (const line of text.split('\n')) {
    const name = line.replace(/^[ \t\v\f\r]+/, '').split(':')[0] ?? ''
    if (name !== '') names.add(name)
  }
  return [...names, 'nobody-at-all']
}

/** Undoes the helper's \xHH escapes. */
function unescapeField(field: string): string {
  return field.replace(/\\x([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
}

describe.skipIf(!available)('accounts probe against glibc (getpwnam, getgrnam in a chroot)', () => {
  let root: TestRoot

  beforeAll(() => {
    root = makeRoot()
    const helper = join(root.path, 'usr/bin/nss-lookup')
    mkdirSync(dirname(helper), { recursive: true })
    const compiled = runTool('gcc', ['-O2', '-Wall', '-Werror', '-o', helper, HELPER_SOURCE])
    expect(compiled.stderr).toBe('')
    // The dynamic loader and every library ldd names, at the same paths inside the root.
    for (const match of runTool('ldd', [helper]).stdout.matchAll(/(\/\S+)/g)) {
      const library = match[1] as string
      mkdirSync(join(root.path, dirname(library)), { recursive: true })
      copyFileSync(library, join(root.path, library))
    }
    root.file('/etc/nsswitch.conf', 'passwd: files\ngroup: files\n')
    root.file('/etc/passwd', `${PASSWD}\n`)
    root.file('/etc/group', `${GROUP}\n`)
  })

  afterAll(() => root?.cleanup())

  function lookup(database: 'passwd' | 'group', names: string[]): Map<string, string[]> {
    const result = runTool('chroot', [root.path, '/usr/bin/nss-lookup', database, ...names])
    expect(result.status).toBe(0)
    const lines = result.stdout.split('\n').slice(0, names.length)
    expect(lines).toHaveLength(names.length)
    const found = new Map<string, string[]>()
    lines.forEach((line, i) => {
      const [status, ...fields] = line.split('\t')
      if (status === 'found') found.set(names[i] as string, fields.map(unescapeField))
    })
    return found
  }

  test('passwd: glibc finds exactly the users the probe records, with the same fields', async () => {
    const entries = await accountsProbe.collect({ rootDir: root.path, live: false })
    const probe = new Map(
      entries.filter((e) => e.key.startsWith('user:')).map((e) => [e.key.slice(5), e.value]),
    )
    const names = [...new Set([...candidateNames(PASSWD), ...probe.keys()])]
    const glibc = lookup('passwd', names)
    const fromGlibc: Record<string, unknown> = {}
    for (const [name, [uid, gid, , , gecos, home, shell]] of glibc as Map<string, string[]>) {
      fromGlibc[name] = { uid: Number(uid), gid: Number(gid), gecos, home, shell }
    }
    const fromProbe: Record<string, unknown> = {}
    for (const [name, value] of probe) {
      const { uid, gid, gecos, home, shell } = value as Record<string, unknown>
      fromProbe[name] = { uid, gid, gecos, home, shell }
    }
    expect(fromProbe).toEqual(fromGlibc)
    expect(fromGlibc.evil).toEqual({ uid: 0, gid: 0, gecos: '', home: '/root', shell: '' })
  })

  test('group: glibc finds exactly the groups the probe records, with the same gid and members', async () => {
    const entries = await accountsProbe.collect({ rootDir: root.path, live: false })
    const probe = new Map(
      entries.filter((e) => e.key.startsWith('group:')).map((e) => [e.key.slice(6), e.value]),
    )
    const names = [...new Set([...candidateNames(GROUP), ...probe.keys()])]
    const fromGlibc: Record<string, unknown> = {}
    for (const [name, [gid, , , ...members]] of lookup('group', names) as Map<string, string[]>) {
      // The probe records members as a set, sorted: glibc's list, normalised.
      fromGlibc[name] = { gid: Number(gid), members: [...new Set(members)].sort() }
    }
    const fromProbe: Record<string, unknown> = {}
    for (const [name, value] of probe) {
      const { gid, members } = value as Record<string, unknown>
      fromProbe[name] = { gid, members }
    }
    expect(fromProbe).toEqual(fromGlibc)
    expect(fromGlibc.three).toEqual({ gid: 30, members: [] })
  })
})
