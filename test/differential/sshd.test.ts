import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { normalizeConfigValue, sshdKeyword } from '../../src/drift/config-values.js'
import { SSHD_INVALID_KEY, sshdProbe } from '../../src/probes/sshd.js'
import { hasTool } from '../helpers/tools.js'
import { makeRoot, runTool, type TestRoot } from './root.js'

/*
 * OpenSSH is the truth for sshd: `sshd -T -f FILE` prints the effective configuration (every
 * keyword lowercased, values in sshd's own form), `-C user=,host=,addr=` with the Match blocks
 * that connection meets applied, and `sshd -t` refuses what sshd would not start with. Each case
 * is a root the probe reads (/etc/ssh/sshd_config and its includes) and the same files for sshd,
 * with a throwaway host key and the Include paths pointing into the root. The probe's values are
 * compared in the form the scan compares them (normalizeConfigValue), key by key.
 */

const SSHD = '/usr/sbin/sshd'
/** sshd -T checks that its privilege separation directory exists: made here, which needs root. */
function privilegeSeparationDir(): boolean {
  try {
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
    return true
  } catch (error) {
    if (process.env.DRIFTWATCH_REQUIRE_INTEGRATION === '1') throw error
    return false
  }
}
const available =
  hasTool(SSHD, 'openssh-server') && hasTool('ssh-keygen', 'openssh-client') && privilegeSeparationDir()

/** Keywords the probe records that sshd -T does not print (Debian's patch has no dump for it). */
const NOT_PRINTED = new Set(['debianbanner'])

interface Case {
  name: string
  files: Record<string, string>
  /** Connections to test with -C, and the Match blocks (probe key prefixes) each meets, in file order. */
  connections?: { spec: string; blocks: string[] }[]
}

/** Debian 12's own sshd_config, as the fixture root holds it, with cloud-init's drop-in. */
const debian = (path: string) =>
  readFileSync(fileURLToPath(new URL(`../fixtures/roots/sshd${path}`, import.meta.url)), 'utf8')

const cases: Case[] = [
  {
    name: "Debian 12's sshd_config with cloud-init's drop-in",
    files: {
      '/etc/ssh/sshd_config': debian('/etc/ssh/sshd_config'),
      '/etc/ssh/sshd_config.d/50-cloud-init.conf': debian('/etc/ssh/sshd_config.d/50-cloud-init.conf'),
    },
  },
  {
    name: "aliases: a drop-in's ChallengeResponseAuthentication is KbdInteractiveAuthentication, first wins",
    files: {
      '/etc/ssh/sshd_config':
        'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nPubkeyAcceptedAlgorithms ssh-rsa\nTCPKeepAlive yes\nUsePAM yes\n',
      '/etc/ssh/sshd_config.d/50-legacy.conf':
        'ChallengeResponseAuthentication yes\nPubkeyAcceptedKeyTypes ssh-ed25519,rsa-sha2-512\nKeepAlive no\nHostbasedAcceptedKeyTypes ssh-ed25519\nSkeyAuthentication no\n',
    },
  },
  {
    name: 'spellings: sshd -T prints seconds, lowercase flags, its own names',
    files: {
      '/etc/ssh/sshd_config': [
        'PermitRootLogin Prohibit-Password',
        'LoginGraceTime 1m30s',
        'ClientAliveInterval 5M',
        'X11Forwarding YES',
        'PasswordAuthentication No',
        'LogLevel verbose',
        'SyslogFacility authpriv',
        'Compression delayed',
        'MaxAuthTries 03',
        'AllowTcpForwarding all',
        'FingerprintHash sha256',
        'IgnoreRhosts Shosts-Only',
        'Ciphers aes256-gcm@openssh.com,chacha20-poly1305@openssh.com',
        'AuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2',
        'Banner none',
        // Deprecated and ignored: sshd accepts them and does nothing.
        'RSAAuthentication yes',
        'Protocol 2',
        'DebianBanner no',
      ].join('\n'),
    },
  },
  {
    name: 'lists accumulate; a Match block replaces them for the connections it meets',
    files: {
      '/etc/ssh/sshd_config': [
        'Port 22',
        'Port 2222',
        'AllowUsers alice bob',
        'AllowUsers carol',
        'AcceptEnv LANG LC_*',
        'Subsystem sftp /usr/lib/openssh/sftp-server -l INFO',
        'PermitRootLogin no',
        'X11Forwarding yes',
        'Match User alice',
        '  PermitRootLogin yes',
        '  Include /etc/ssh/sshd_config.d/*.conf',
        '  X11Forwarding no',
        'Match Address 10.0.0.0/8',
        '  PermitRootLogin forced-commands-only',
        '  AllowUsers dave',
        '  ClientAliveInterval 1h',
        'Match all',
        '  AllowUsers erin',
      ].join('\n'),
      '/etc/ssh/sshd_config.d/alice.conf': 'PasswordAuthentication no\nAllowUsers alice\n',
    },
    connections: [
      { spec: 'user=alice,host=a.example,addr=192.0.2.1', blocks: ['match[user alice]', 'match[all]'] },
      {
        spec: 'user=alice,host=a.example,addr=10.1.2.3',
        blocks: ['match[user alice]', 'match[address 10.0.0.0/8]', 'match[all]'],
      },
      { spec: 'user=bob,host=b.example,addr=10.1.2.3', blocks: ['match[address 10.0.0.0/8]', 'match[all]'] },
    ],
  },
]

/** `keyword value` lines as a map; a keyword printed on several lines is a list. */
function parseDump(text: string): Map<string, string[]> {
  const dump = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const space = line.indexOf(' ')
    const keyword = space === -1 ? line : line.slice(0, space)
    dump.set(keyword, [...(dump.get(keyword) ?? []), space === -1 ? '' : line.slice(space + 1)])
  }
  return dump
}

describe.skipIf(!available)('sshd probe against sshd -T', () => {
  let keys: TestRoot
  let hostKey: string

  beforeAll(() => {
    keys = makeRoot('driftwatch-sshd-keys-')
    hostKey = join(keys.path, 'ssh_host_ed25519_key')
    expect(runTool('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]).status).toBe(0)
  })
  afterAll(() => keys?.cleanup())

  /** The root for the probe, and the same files for sshd with Include paths pointing into it. */
  function build(files: Record<string, string>): { root: TestRoot; config: string } {
    const root = makeRoot()
    for (const [path, text] of Object.entries(files)) root.file(path, text)
    const main = `HostKey ${hostKey}\n${(files['/etc/ssh/sshd_config'] ?? '').replaceAll('Include /etc/ssh/', `Include ${root.path}/etc/ssh/`)}\n`
    for (const [path, text] of Object.entries(files)) {
      if (path !== '/etc/ssh/sshd_config')
        root.file(path, text.replaceAll('Include /etc/ssh/', `Include ${root.path}/etc/ssh/`))
    }
    root.file('/sshd-T.conf', main)
    return { root, config: join(root.path, 'sshd-T.conf') }
  }

  function dump(config: string, connection?: string): Map<string, string[]> {
    const result = runTool(SSHD, ['-T', '-f', config, ...(connection ? ['-C', connection] : [])])
    expect(result.stderr.replace(/^.*Deprecated option[^\n]*\n/gm, '')).toBe('')
    expect(result.status).toBe(0)
    return parseDump(result.stdout)
  }

  test.each(cases)('$name', async ({ files, connections }) => {
    const { root, config } = build(files)
    try {
      const entries = await sshdProbe.collect({ rootDir: root.path, live: false })
      expect(entries.find((e) => e.key === SSHD_INVALID_KEY)).toBeUndefined()
      const global = new Map(
        entries.filter((e) => !e.key.startsWith('sshd:match[')).map((e) => [e.key, e.value]),
      )
      const blocks = entries.filter((e) => e.key.startsWith('sshd:match['))

      // Each connection: the global keys, overridden by the blocks it meets (first wins, lists join).
      // Without -C, sshd -T still applies `Match all`, which every connection meets.
      const matchAll = blocks.some((e) => e.key.startsWith('sshd:match[all].')) ? ['match[all]'] : []
      for (const { spec, blocks: met } of [{ spec: undefined, blocks: matchAll }, ...(connections ?? [])]) {
        const effective = new Map<string, unknown>(global)
        const fromBlocks = new Map<string, unknown>()
        for (const prefix of met) {
          for (const entry of blocks.filter((e) => e.key.startsWith(`sshd:${prefix}.`))) {
            const key = `sshd:${sshdKeyword(entry.key)}`
            const before = fromBlocks.get(key)
            if (Array.isArray(entry.value))
              fromBlocks.set(key, [...((before as string[]) ?? []), ...entry.value])
            else if (before === undefined) fromBlocks.set(key, entry.value)
          }
        }
        for (const [key, value] of fromBlocks) effective.set(key, value)

        const printed = dump(config, spec)
        const fromProbe: Record<string, unknown> = {}
        const fromSshd: Record<string, unknown> = {}
        for (const [key, value] of effective) {
          const keyword = sshdKeyword(key)
          if (NOT_PRINTED.has(keyword)) continue
          const normalised = normalizeConfigValue(key, value)
          fromProbe[keyword] = Array.isArray(normalised) ? normalised : [normalised]
          fromSshd[keyword] = printed.get(keyword)
        }
        expect({ connection: spec ?? 'none', ...fromProbe }).toEqual({
          connection: spec ?? 'none',
          ...fromSshd,
        })
      }
    } finally {
      root.cleanup()
    }
  })

  test.each([
    { text: 'Foo bar', refused: true },
    { text: 'UseRoaming no', refused: true },
    { text: 'PermitRootLogin bogus', refused: true },
    { text: 'PasswordAuthentication maybe', refused: true },
    { text: 'Subsystem sftp /a\nSubsystem sftp /b', refused: true },
    { text: 'Match User x\n  Port 22', refused: true },
    { text: 'Match User x\n  Subsystem backup /b', refused: true },
    { text: 'Match User x\n  GSSAPIKeyExchange no', refused: true },
    { text: 'Match Foo x', refused: true },
    { text: 'Match User', refused: true },
    { text: 'Match all User x', refused: true },
    { text: 'PermitRootLogin', refused: true },
    { text: 'MaxAuthTries x', refused: true },
    { text: 'LoginGraceTime 1x', refused: true },
    { text: 'X11Forwarding yes extra', refused: true },
    { text: 'Port 0', refused: true },
    { text: 'Port 70000', refused: true },
    { text: 'Banner "/etc/issue', refused: true },
    { text: 'RSAAuthentication yes\nProtocol 2\nUsePrivilegeSeparation sandbox', refused: false },
    {
      text: 'ChallengeResponseAuthentication no\nMatch User x\n  KbdInteractiveAuthentication yes',
      refused: false,
    },
    { text: 'GSSAPIKeyExchange yes\nDebianBanner no\nKerberosAuthentication no', refused: false },
    { text: 'LoginGraceTime 2m\nMatch Address 10.0.0.0/8 User a*\n  PermitRootLogin no', refused: false },
  ])('sshd -t and sshd:invalid agree: $text', async ({ text, refused }) => {
    const { root, config } = build({ '/etc/ssh/sshd_config': `${text}\n` })
    try {
      const tested = runTool(SSHD, ['-t', '-f', config])
      expect(tested.status === 0 ? 'accepted' : 'refused').toBe(refused ? 'refused' : 'accepted')
      const entries = await sshdProbe.collect({ rootDir: root.path, live: false })
      const invalid = entries.find((e) => e.key === SSHD_INVALID_KEY)
      expect(invalid === undefined ? 'accepted' : 'refused').toBe(refused ? 'refused' : 'accepted')
    } finally {
      root.cleanup()
    }
  })
})
