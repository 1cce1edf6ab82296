import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import {
  globInRoot,
  type IncludeLoader,
  matchPrefix,
  parseSshdConfig,
  splitSshdArguments,
  splitSshdLine,
  sshdProbe,
} from '../../src/probes/sshd.js'
import { tempDir } from '../helpers/cli.js'

const fixtureRoot = fileURLToPath(new URL('../fixtures/roots/sshd', import.meta.url))

function valuesOf(entries: { key: string; value: unknown }[]): Record<string, unknown> {
  return Object.fromEntries(entries.map((e) => [e.key, e.value]))
}

/** An include loader over in-memory files; patterns are matched literally or by a trailing `*`. */
function memoryFiles(files: Record<string, string>): IncludeLoader {
  return (pattern) =>
    Object.keys(files)
      .filter((path) => (pattern.endsWith('*') ? path.startsWith(pattern.slice(0, -1)) : path === pattern))
      .sort()
      .map((path) => ({ path, text: files[path] as string }))
}

describe('argument splitting (OpenSSH argv_split)', () => {
  test.each([
    { text: 'a b', args: ['a', 'b'] },
    { text: 'a\tb   c', args: ['a', 'b', 'c'] },
    { text: '"/etc/issue net"', args: ['/etc/issue net'] },
    { text: "'single quoted' x", args: ['single quoted', 'x'] },
    { text: 'a"b c"d', args: ['ab cd'] },
    { text: '"a\'b"', args: ["a'b"] },
    { text: 'a\\ b', args: ['a b'] },
    { text: '"a\\ b"', args: ['a\\ b'] },
    { text: 'a\\"b', args: ['a"b'] },
    { text: 'x\\ny', args: ['x\\ny'] },
    { text: 'a #comment', args: ['a'] },
    { text: 'a#b', args: ['a#b'] },
    { text: '"a #b"', args: ['a #b'] },
    { text: 'a "" b', args: ['a', '', 'b'] },
    { text: '"unterminated', args: undefined },
  ])('$text', ({ text, args }) => {
    expect(splitSshdArguments(text)).toEqual(args)
  })
})

describe('configuration lines', () => {
  test.each([
    { line: 'PermitRootLogin no', parsed: { keyword: 'permitrootlogin', args: ['no'] } },
    { line: '  Port=2222', parsed: { keyword: 'port', args: ['2222'] } },
    { line: 'Port = 2222', parsed: { keyword: 'port', args: ['2222'] } },
    {
      line: 'Subsystem\tsftp\t/usr/lib/openssh/sftp-server',
      parsed: { keyword: 'subsystem', args: ['sftp', '/usr/lib/openssh/sftp-server'] },
    },
    {
      line: 'Banner /etc/issue.net # the login banner',
      parsed: { keyword: 'banner', args: ['/etc/issue.net'] },
    },
    { line: 'UsePAM yes\r', parsed: { keyword: 'usepam', args: ['yes'] } },
    { line: '#PermitRootLogin prohibit-password', parsed: undefined },
    { line: '   # indented comment', parsed: undefined },
    { line: '', parsed: undefined },
    { line: 'PermitRootLogin', parsed: undefined },
    { line: 'Banner "/etc/issue', parsed: undefined },
  ])('$line', ({ line, parsed }) => {
    expect(splitSshdLine(line)).toEqual(parsed)
  })

  test.each([
    { args: ['User', 'anoncvs'], prefix: 'match[user anoncvs]' },
    {
      args: ['Group', 'sftponly,staff', 'Address', '10.0.0.0/8'],
      prefix: 'match[group sftponly,staff address 10.0.0.0/8]',
    },
    { args: ['All'], prefix: 'match[all]' },
    { args: ['Invalid-User', 'LocalPort', '2222'], prefix: 'match[invalid-user localport 2222]' },
  ])('Match $args', ({ args, prefix }) => {
    expect(matchPrefix(args)).toBe(prefix)
  })
})

describe('effective configuration', () => {
  test.each([
    {
      name: 'first value wins',
      text: 'PermitRootLogin no\nPermitRootLogin yes\n',
      values: { 'sshd:permitrootlogin': 'no' },
    },
    {
      name: 'keywords are case-insensitive',
      text: 'passwordauthentication no\nPasswordAuthentication yes\n',
      values: { 'sshd:passwordauthentication': 'no' },
    },
    {
      name: 'list keywords accumulate every argument',
      text: 'AcceptEnv LANG LC_*\nAcceptEnv TZ\nAllowUsers a b\nAllowUsers c\nPort 22\nPort 2222\n',
      values: {
        'sshd:acceptenv': ['LANG', 'LC_*', 'TZ'],
        'sshd:allowusers': ['a', 'b', 'c'],
        'sshd:port': ['22', '2222'],
      },
    },
    {
      // sshd 9.2 refuses the second definition of a subsystem ("already defined"): so is it recorded.
      name: 'ListenAddress and Subsystem accumulate whole directives, a subsystem name once',
      text: 'ListenAddress 10.0.0.1 rdomain 2\nListenAddress [::]:22\nSubsystem sftp internal-sftp -l INFO\nSubsystem sftp /usr/lib/openssh/sftp-server\nSubsystem backup /usr/local/bin/backup\n',
      values: {
        'sshd:listenaddress': ['10.0.0.1 rdomain 2', '[::]:22'],
        'sshd:subsystem': ['sftp internal-sftp -l INFO', 'backup /usr/local/bin/backup'],
        'sshd:invalid': ["/etc/ssh/sshd_config: Subsystem 'sftp' already defined."],
      },
    },
    {
      name: 'multi-argument first-wins keywords keep their whole first line',
      text: 'AuthorizedKeysFile .ssh/authorized_keys .ssh/authorized_keys2\nAuthorizedKeysFile /etc/ssh/keys/%u\n',
      values: { 'sshd:authorizedkeysfile': '.ssh/authorized_keys .ssh/authorized_keys2' },
    },
    {
      name: 'Match blocks are kept apart, each first-wins',
      text: 'X11Forwarding yes\nMatch User anoncvs\n\tX11Forwarding no\n\tX11Forwarding yes\nMatch all\nPermitTTY no\n',
      values: {
        'sshd:x11forwarding': 'yes',
        'sshd:match[user anoncvs].x11forwarding': 'no',
        'sshd:match[all].permittty': 'no',
      },
    },
    {
      name: 'blocks with the same criteria merge',
      text: 'Match User a\nBanner /a\nMatch User b\nBanner /b\nMatch User a\nBanner /aa\nPermitTTY no\n',
      values: {
        'sshd:match[user a].banner': '/a',
        'sshd:match[user b].banner': '/b',
        'sshd:match[user a].permittty': 'no',
      },
    },
    {
      // servconf.c maps an alias to its keyword's option: whichever comes first wins.
      name: 'aliases are their keyword, under the name sshd -T prints',
      text: 'ChallengeResponseAuthentication yes\nKbdInteractiveAuthentication no\nPubkeyAcceptedKeyTypes ssh-ed25519\nKeepAlive no\nMatch User a\nSkeyAuthentication no\n',
      values: {
        'sshd:kbdinteractiveauthentication': 'yes',
        'sshd:pubkeyacceptedalgorithms': 'ssh-ed25519',
        'sshd:tcpkeepalive': 'no',
        'sshd:match[user a].kbdinteractiveauthentication': 'no',
      },
    },
    {
      name: 'deprecated and unsupported keywords are accepted and do nothing',
      text: 'RSAAuthentication yes\nProtocol 2\nUsePrivilegeSeparation sandbox\n',
      values: {},
    },
    {
      name: 'what sshd refuses is listed under sshd:invalid; the rest is still read',
      text: 'Foo bar\nPermitRootLogin bogus\nPermitRootLogin no\nMatch User x\n  Port 22\n  X11Forwarding no\n',
      values: {
        'sshd:permitrootlogin': 'no',
        'sshd:match[user x].x11forwarding': 'no',
        'sshd:invalid': [
          '/etc/ssh/sshd_config: Bad configuration option: Foo',
          '/etc/ssh/sshd_config: unsupported option "bogus".',
          "/etc/ssh/sshd_config: Directive 'Port' is not allowed within a Match block",
        ],
      },
    },
  ])('$name', ({ text, values }) => {
    expect(valuesOf(parseSshdConfig(text))).toEqual(values)
  })

  test('Include is processed in place, relative to /etc/ssh, in sorted order', () => {
    const load = memoryFiles({
      '/etc/ssh/sshd_config.d/50-cloud-init.conf': 'PasswordAuthentication no\n',
      '/etc/ssh/sshd_config.d/10-first.conf': 'PasswordAuthentication yes\nPort 2222\n',
      '/etc/ssh/extra.conf': 'Port 22\n',
    })
    const text =
      'Include sshd_config.d/*\nPasswordAuthentication no\nInclude /etc/ssh/extra.conf /etc/ssh/missing.conf\n'
    expect(valuesOf(parseSshdConfig(text, load))).toEqual({
      'sshd:passwordauthentication': 'yes',
      'sshd:port': ['2222', '22'],
    })
  })

  test('an Include inside a Match applies within it, and the block resumes after it', () => {
    // Mirrors OpenSSH's regress/servcfginclude.sh: included files' Match state does not leak out.
    const load = memoryFiles({
      '/etc/ssh/i.1': 'Match host a\nBanner /aaa\nMatch all\nBanner /xxxx\n',
      '/etc/ssh/i.2': 'Banner /inner\n',
    })
    const text = [
      'Include /etc/ssh/i.1',
      'Banner /global',
      'Match host b',
      '\tInclude /etc/ssh/i.2 /etc/ssh/i.1',
      '\tPermitTTY no',
    ].join('\n')
    expect(valuesOf(parseSshdConfig(text, load))).toEqual({
      'sshd:match[host a].banner': '/aaa',
      'sshd:match[all].banner': '/xxxx',
      'sshd:banner': '/global',
      'sshd:match[host b].banner': '/inner',
      'sshd:match[host b].match[host a].banner': '/aaa',
      'sshd:match[host b].match[all].banner': '/xxxx',
      'sshd:match[host b].permittty': 'no',
    })
  })

  test('an Include loop is refused, as sshd refuses it', () => {
    const load = memoryFiles({ '/etc/ssh/loop.conf': 'Include /etc/ssh/loop.conf\n' })
    expect(() => parseSshdConfig('Include loop.conf\n', load)).toThrow(/nested deeper than 16/)
  })
})

describe('sshd probe on the fixture root', () => {
  test("Debian's sshd_config with the image's drop-ins", async () => {
    const entries = await sshdProbe.collect({ rootDir: fixtureRoot, live: false })
    expect(valuesOf(entries)).toEqual({
      // 50-cloud-init.conf sorts first: its value wins over 60-hardening.conf's.
      'sshd:passwordauthentication': 'no',
      'sshd:permitrootlogin': 'no',
      'sshd:maxauthtries': '3',
      'sshd:allowusers': ['admin', 'deploy@10.0.0.0/8', 'backup'],
      'sshd:allowgroups': ['sftponly'],
      'sshd:hostkey': ['/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_rsa_key'],
      'sshd:port': ['22', '2222'],
      'sshd:listenaddress': ['0.0.0.0', '[::]:2222'],
      'sshd:banner': '/etc/issue.net',
      'sshd:acceptenv': ['TZ', 'LANG', 'LC_*'],
      'sshd:match[group sftponly].chrootdirectory': '/srv/sftp/%u',
      'sshd:match[group sftponly].forcecommand': 'internal-sftp -d /upload dir',
      'sshd:match[group sftponly].x11forwarding': 'no',
      'sshd:match[group sftponly].allowtcpforwarding': 'no',
      'sshd:match[address 10.0.0.0/8 user deploy].passwordauthentication': 'no',
      'sshd:match[address 10.0.0.0/8 user deploy].permittty': 'no',
      // The rest of sshd_config, after the Include, is global again.
      'sshd:kbdinteractiveauthentication': 'no',
      'sshd:usepam': 'yes',
      'sshd:x11forwarding': 'yes',
      'sshd:printmotd': 'no',
      'sshd:subsystem': ['sftp /usr/lib/openssh/sftp-server'],
    })
    expect(entries.map((e) => e.key)).toEqual([...entries.map((e) => e.key)].sort())
  })

  test('no sshd_config, no keys', async () => {
    const dir = tempDir()
    try {
      expect(await sshdProbe.collect({ rootDir: dir.path, live: false })).toEqual([])
    } finally {
      dir.cleanup()
    }
  })

  test('Include globs expand inside the root, and links resolve inside it', async () => {
    const dir = tempDir()
    try {
      const ssh = join(dir.path, 'etc/ssh')
      mkdirSync(join(ssh, 'sshd_config.d/sub.conf'), { recursive: true })
      mkdirSync(join(dir.path, 'opt/ssh'), { recursive: true })
      writeFileSync(join(ssh, 'sshd_config'), 'Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\n')
      writeFileSync(join(dir.path, 'opt/ssh/site.conf'), 'PermitRootLogin no\n')
      writeFileSync(join(ssh, 'sshd_config.d/.hidden.conf'), 'MaxAuthTries 1\n')
      symlinkSync('/opt/ssh/site.conf', join(ssh, 'sshd_config.d/20-site.conf'))
      expect(globInRoot(dir.path, '/etc/ssh/sshd_config.d/*.conf')).toEqual([
        '/etc/ssh/sshd_config.d/20-site.conf',
        '/etc/ssh/sshd_config.d/sub.conf',
      ])
      const entries = await sshdProbe.collect({ rootDir: dir.path, live: false })
      expect(entries).toEqual([
        { key: 'sshd:permitrootlogin', value: 'no', files: ['/etc/ssh/sshd_config.d/20-site.conf'] },
      ])
    } finally {
      dir.cleanup()
    }
  })
})

describe('sshd probe on this machine', () => {
  test('reads / without failing; keys are lowercased', async () => {
    const entries = await sshdProbe.collect({ rootDir: '/', live: true })
    for (const entry of entries)
      expect(entry.key).toBe(entry.key.replace(/^sshd:([^[]*)/, (k) => k.toLowerCase()))
  })
})
