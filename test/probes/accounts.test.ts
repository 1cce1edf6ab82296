import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, test } from 'vitest'
import {
  accountEntries,
  accountsProbe,
  parseGroup,
  parsePasswd,
  parseShadow,
  passwordStatus,
} from '../../src/probes/accounts.js'
import { readRootText } from '../../src/probes/root-fs.js'

const fixtureRoot = fileURLToPath(new URL('../fixtures/roots/accounts', import.meta.url))
const isRoot = process.getuid?.() === 0

function valuesOf(entries: { key: string; value: unknown }[]): Record<string, unknown> {
  return Object.fromEntries(entries.map((e) => [e.key, e.value]))
}

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`
}

/** Every password field of a shadow file that holds a hash: none may appear in any output. */
function secretsOf(shadow: string): string[] {
  return shadow
    .split('\n')
    .map((line) => line.split(':')[1] ?? '')
    .filter((field) => field.replace(/^!+/, '').length > 2)
}

describe('passwd and group lines', () => {
  test.each([
    {
      line: 'www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin',
      entry: {
        name: 'www-data',
        password: 'x',
        uid: 33,
        gid: 33,
        gecos: 'www-data',
        home: '/var/www',
        shell: '/usr/sbin/nologin',
      },
    },
    {
      line: '_apt:x:42:65534::/nonexistent:/usr/sbin/nologin',
      entry: {
        name: '_apt',
        password: 'x',
        uid: 42,
        gid: 65534,
        gecos: '',
        home: '/nonexistent',
        shell: '/usr/sbin/nologin',
      },
    },
    {
      line: 'postgres:x:102:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash',
      entry: {
        name: 'postgres',
        password: 'x',
        uid: 102,
        gid: 104,
        gecos: 'PostgreSQL administrator,,,',
        home: '/var/lib/postgresql',
        shell: '/bin/bash',
      },
    },
    {
      line: 'kiosk:x:1002:1002::/home/kiosk:',
      entry: {
        name: 'kiosk',
        password: 'x',
        uid: 1002,
        gid: 1002,
        gecos: '',
        home: '/home/kiosk',
        shell: '',
      },
    },
    { line: '+@admins::::::', entry: undefined },
    { line: '-baduser:x:::::', entry: undefined },
    // glibc's line parser (checked against getpwnam in test/differential/accounts.test.ts):
    // fields left out after the gid are empty, the shell takes the rest of the line.
    {
      line: 'broken:x:12:12:short',
      entry: { name: 'broken', password: 'x', uid: 12, gid: 12, gecos: 'short', home: '', shell: '' },
    },
    {
      line: 'evil:x:0:0::/root',
      entry: { name: 'evil', password: 'x', uid: 0, gid: 0, gecos: '', home: '/root', shell: '' },
    },
    {
      line: 'four:x:7:7',
      entry: { name: 'four', password: 'x', uid: 7, gid: 7, gecos: '', home: '', shell: '' },
    },
    {
      line: '  \tspaced:x:5:5:g:/h:/bin/sh',
      entry: { name: 'spaced', password: 'x', uid: 5, gid: 5, gecos: 'g', home: '/h', shell: '/bin/sh' },
    },
    {
      line: 'extra:x:16:16:g:/h:/bin/sh:more',
      entry: {
        name: 'extra',
        password: 'x',
        uid: 16,
        gid: 16,
        gecos: 'g',
        home: '/h',
        shell: '/bin/sh:more',
      },
    },
    {
      line: 'lead:x: 12:-0::/:/bin/sh',
      entry: { name: 'lead', password: 'x', uid: 12, gid: 0, gecos: '', home: '/', shell: '/bin/sh' },
    },
    { line: 'three:x:8', entry: undefined },
    { line: 'nogid:x:8:', entry: undefined },
    { line: 'trail:x:12 :1::/:/bin/sh', entry: undefined },
    { line: 'negative:x:-1:1::/:/bin/sh', entry: undefined },
    { line: 'wide:x:4294967296:1::/:/bin/sh', entry: undefined },
    { line: '   # indented comment:x:1:1::/:/bin/sh', entry: undefined },
    { line: 'nonnumeric:x:abc:1::/:/bin/sh', entry: undefined },
    { line: '# comment', entry: undefined },
  ])('passwd $line', ({ line, entry }) => {
    expect(parsePasswd(`${line}\n`)).toEqual(entry === undefined ? [] : [entry])
  })

  test('a repeated name keeps its first entry, like getpwnam', () => {
    expect(
      parsePasswd('root:x:0:0::/root:/bin/bash\nroot:x:0:0::/root:/bin/sh\n').map((e) => e.shell),
    ).toEqual(['/bin/bash'])
  })

  test.each([
    { line: 'sudo:x:27:deploy,admin', entry: { name: 'sudo', gid: 27, members: ['admin', 'deploy'] } },
    { line: 'root:x:0:', entry: { name: 'root', gid: 0, members: [] } },
    { line: 'odd:x:5:b,,a,b', entry: { name: 'odd', gid: 5, members: ['a', 'b'] } },
    { line: 'short:x:5', entry: { name: 'short', gid: 5, members: [] } },
    { line: '  gn:x:31: a,\tb, ,c ', entry: { name: 'gn', gid: 31, members: ['a', 'b', 'c '] } },
    { line: 'gx:x:32:a:b', entry: { name: 'gx', gid: 32, members: ['a:b'] } },
    { line: 'two:x', entry: undefined },
  ])('group $line', ({ line, entry }) => {
    expect(parseGroup(`${line}\n`)).toEqual(entry === undefined ? [] : [entry])
  })
})

describe('password status', () => {
  test.each([
    { field: '$6$Qv3x9LrT2mYp0sKd$mtY0Wr6VGkf5', status: 'set' },
    { field: '$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o', status: 'set' },
    { field: 'abJnggxhB/yWI', status: 'set' }, // DES crypt(3)
    { field: '!$6$Qv3x9LrT2mYp0sKd$mtY0Wr6VGkf5', status: 'locked' },
    { field: '!', status: 'locked' },
    { field: '!*', status: 'locked' },
    { field: '*', status: 'disabled' },
    { field: 'x', status: 'disabled' },
    { field: '', status: 'empty' },
  ])('"$field" is $status', ({ field, status }) => {
    expect(passwordStatus(field)).toBe(status)
  })
})

describe('accounts from text', () => {
  test('shadow and gshadow become digests of their lines, never the field', () => {
    const line = 'admin:$6$salt$hash:19725:0:99999:7:::'
    const entries = accountEntries({
      passwd:
        'admin:x:1000:1000:Image Admin,,,:/home/admin:/bin/bash\nlegacy:abJnggxhB/yWI:1001:1001::/:/bin/sh\n',
      shadow: `${line}\nghost:$6$x$y:1::::::\n`,
      group: 'admin:x:1000:\n',
      gshadow: 'admin:!::\n',
    })
    expect(valuesOf(entries)).toEqual({
      'user:admin': {
        uid: 1000,
        gid: 1000,
        home: '/home/admin',
        shell: '/bin/bash',
        gecos: 'Image Admin,,,',
        password: 'set',
        shadow: sha256(line),
      },
      // A hash kept in passwd itself is judged, never recorded.
      'user:legacy': { uid: 1001, gid: 1001, home: '/', shell: '/bin/sh', gecos: '', password: 'set' },
      'group:admin': { gid: 1000, members: [], gshadow: sha256('admin:!::') },
    })
    expect(JSON.stringify(entries)).not.toContain('$6$')
    expect(JSON.stringify(entries)).not.toContain('abJnggxhB')
  })

  test('a changed password, or only its ageing, changes the digest', () => {
    const digest = (shadow: string) =>
      (valuesOf(accountEntries({ passwd: 'a:x:1:1::/:/bin/sh\n', shadow }))['user:a'] as { shadow: string })
        .shadow
    const before = digest('a:$6$s1$h1:19725:0:99999:7:::\n')
    expect(digest('a:$6$s1$h1:19725:0:99999:7:::\n')).toBe(before)
    expect(digest('a:$6$s2$h2:19730:0:99999:7:::\n')).not.toBe(before)
    expect(digest('a:$6$s1$h1:19725:0:99999:7::20000:\n')).not.toBe(before)
  })

  test('without shadow entries a user has no digest and, behind `x`, no status', () => {
    expect(valuesOf(accountEntries({ passwd: 'a:x:1:1::/:/bin/sh\n' }))).toEqual({
      'user:a': { uid: 1, gid: 1, home: '/', shell: '/bin/sh', gecos: '' },
    })
  })

  test('shadow lines by name', () => {
    expect([...parseShadow('root:*:19723:0:99999:7:::\n+::::::::\nroot:!:1::::::\n\n').keys()]).toEqual([
      'root',
    ])
  })
})

describe('accounts probe on the fixture root', () => {
  test('users and groups, with digests', async () => {
    const entries = await accountsProbe.collect({ rootDir: fixtureRoot, live: false })
    const values = valuesOf(entries)
    const shadow = readFileSync(`${fixtureRoot}/etc/shadow`, 'utf8')
    const adminLine = shadow.split('\n').find((l) => l.startsWith('admin:')) as string
    expect(values['user:admin']).toEqual({
      uid: 1000,
      gid: 1000,
      home: '/home/admin',
      shell: '/bin/bash',
      gecos: 'Image Admin,,,',
      password: 'set',
      shadow: sha256(adminLine),
    })
    expect(values['user:deploy']).toMatchObject({ uid: 1001, password: 'locked' })
    expect(values['user:root']).toMatchObject({
      uid: 0,
      gid: 0,
      home: '/root',
      shell: '/bin/bash',
      password: 'disabled',
    })
    expect(values['group:sudo']).toEqual({
      gid: 27,
      members: ['admin', 'deploy'],
      gshadow: sha256('sudo:*::deploy,admin'),
    })
    expect(values['group:ssl-cert']).toMatchObject({ gid: 103, members: ['postgres'] })
    expect(entries.filter((e) => e.key.startsWith('user:'))).toHaveLength(14)
    expect(entries.filter((e) => e.key.startsWith('group:'))).toHaveLength(21)
    expect(entries.map((e) => e.key)).toEqual([...entries.map((e) => e.key)].sort())
    for (const secret of secretsOf(shadow)) expect(JSON.stringify(entries)).not.toContain(secret)
  })
})

describe('accounts probe on this machine', () => {
  test.skipIf(!isRoot)('root is uid 0 and no shadow field leaves the host', async () => {
    const entries = await accountsProbe.collect({ rootDir: '/', live: true })
    const values = valuesOf(entries)
    expect(values['user:root']).toMatchObject({ uid: 0, gid: 0 })
    expect((values['user:root'] as { shadow: string }).shadow).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(values['group:root']).toMatchObject({ gid: 0 })
    const text = JSON.stringify(entries)
    for (const file of ['/etc/shadow', '/etc/gshadow']) {
      for (const secret of secretsOf(readRootText('/', file) ?? '')) expect(text).not.toContain(secret)
    }
  })
})
