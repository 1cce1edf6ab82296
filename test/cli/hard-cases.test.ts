import { execFileSync, spawn } from 'node:child_process'
import {
  chmodSync,
  closeSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { inspectFile } from '../../src/probes/files/inspect.js'
import { WANT } from '../../src/probes/files/protocol.js'
import { StatCache } from '../../src/probes/files/stat-cache.js'
import { runCli, tempDir } from '../helpers/cli.js'
import { hasTool } from '../helpers/tools.js'

const isRoot = process.getuid?.() === 0
/** The native addon serves (the js-binding project of vitest.config.ts runs this file without it). */
const native = process.env.DRIFTWATCH_NATIVE !== '0'
let dir: { path: string; cleanup: () => void }
beforeAll(() => {
  dir = tempDir()
  chmodSync(dir.path, 0o755) // the unprivileged run below must be able to reach it
})
afterAll(() => dir.cleanup())

/** A fresh root with /usr/bin in it, and helpers to capture and scan it. */
function fixture(name: string) {
  const root = join(dir.path, name)
  mkdirSync(join(root, 'usr/bin'), { recursive: true })
  writeFileSync(join(root, 'usr/bin/tool'), 'tool\n')
  const manifest = join(dir.path, `${name}.json`)
  return {
    root,
    manifest,
    captureArgs: (...extra: string[]) => [
      'manifest',
      'capture',
      '--image',
      `${name}@1`,
      '--root',
      root,
      '--out',
      manifest,
      '--format',
      'json',
      ...extra,
    ],
    capture: (...extra: string[]) =>
      runCli([
        'manifest',
        'capture',
        '--image',
        `${name}@1`,
        '--root',
        root,
        '--out',
        manifest,
        '--format',
        'json',
        ...extra,
      ]),
    scan: (...extra: string[]) =>
      runCli(['scan', '--manifest', manifest, '--root', root, '--format', 'json', ...extra]),
    files: () => JSON.parse(readFileSync(manifest, 'utf8')).files as { path: string; [k: string]: unknown }[],
  }
}

describe('special files are recorded, never opened', () => {
  test('FIFO, socket and device node: capture and scan finish, types recorded', async () => {
    const f = fixture('special')
    execFileSync('mkfifo', [join(f.root, 'usr/bin/fifo')])
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(join(f.root, 'usr/bin/sock'), resolve))
    let device = false
    if (isRoot) {
      execFileSync('mknod', [join(f.root, 'usr/bin/null'), 'c', '1', '3'])
      device = true
    }
    try {
      // A FIFO opened for reading blocks until a writer comes: a hang here fails the test by timeout.
      const capture = await f.capture()
      expect(capture.code).toBe(0)
      const types = Object.fromEntries(f.files().map((e) => [e.path, e.type]))
      expect(types['/usr/bin/fifo']).toBe('fifo')
      expect(types['/usr/bin/sock']).toBe('socket')
      if (device) expect(types['/usr/bin/null']).toBe('char')
      expect(f.files().find((e) => e.path === '/usr/bin/fifo')).not.toHaveProperty('sha256')
      expect((await f.scan()).code).toBe(0)
    } finally {
      server.close()
    }
  })
})

describe('symlinks are recorded, never followed', () => {
  test('a symlink loop and a link to a directory outside the root', async () => {
    const f = fixture('loops')
    symlinkSync('b', join(f.root, 'usr/bin/a'))
    symlinkSync('a', join(f.root, 'usr/bin/b'))
    symlinkSync('/etc', join(f.root, 'usr/bin/etc-outside'))
    symlinkSync('.', join(f.root, 'usr/bin/self'))
    expect((await f.capture()).code).toBe(0)
    const paths = f.files().map((e) => e.path)
    expect(paths).toContain('/usr/bin/a')
    expect(paths).toContain('/usr/bin/self')
    expect(paths.some((p) => p.startsWith('/usr/bin/etc-outside/'))).toBe(false)
    expect(paths.some((p) => p.startsWith('/usr/bin/self/'))).toBe(false)
    expect((await f.scan()).code).toBe(0)
  })
})

describe('files that vanish or change during the walk', () => {
  test('a file gone between the listing and its stat is simply not there', () => {
    const r = inspectFile(dir.path, '/does/not/exist', WANT.sha256, StatCache.empty)
    expect(r.entry).toBeUndefined()
  })

  test('a file that keeps changing while it is read is reported, not given a wrong digest', async () => {
    const file = join(dir.path, 'growing')
    writeFileSync(file, Buffer.alloc(64 << 20, 1))
    // Another process rewrites the first bytes in a tight loop while we hash.
    const writer = spawn(process.execPath, [
      '-e',
      `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(file)},'r+');let i=0;setInterval(()=>{for(let k=0;k<50;k++)fs.writeSync(fd,Buffer.from([i++&255]),0,1,0)},1)`,
    ])
    // Until the writer has started (a loaded machine may take seconds to start a process).
    const written = statSync(file).mtimeMs
    for (let waited = 0; statSync(file).mtimeMs === written && waited < 60_000; waited += 50)
      await new Promise((resolve) => setTimeout(resolve, 50))
    try {
      const r = inspectFile(dir.path, '/growing', WANT.sha256, StatCache.empty)
      expect(r.error).toMatch(/changed while being read/)
      expect(r.entry?.sha256).toBeUndefined()
    } finally {
      writer.kill()
    }
  })
})

describe('permission denied', () => {
  test('is recorded as a probe error and the scan goes on', async () => {
    const f = fixture('denied')
    mkdirSync(join(f.root, 'usr/bin/private'))
    writeFileSync(join(f.root, 'usr/bin/private/secret'), 'secret')
    writeFileSync(join(f.root, 'usr/bin/unreadable'), 'unreadable')
    chmodSync(join(f.root, 'usr/bin/unreadable'), 0o000)
    chmodSync(join(f.root, 'usr/bin/private'), 0o000)
    chmodSync(f.root, 0o755)
    // As root nothing is denied: run the CLI as nobody, who owns nothing here.
    const asUser = isRoot ? { uid: 65534, gid: 65534 } : {}
    const out = join(dir.path, 'denied-manifest.json')
    const capture = await runCli(
      ['manifest', 'capture', '--image', 'denied@1', '--root', f.root, '--format', 'json'],
      asUser,
    )
    expect(capture.code).toBe(0)
    writeFileSync(out, capture.stdout)
    const files = JSON.parse(capture.stdout).files as { path: string; sha256?: string }[]
    expect(files.find((e) => e.path === '/usr/bin/tool')?.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(files.find((e) => e.path === '/usr/bin/unreadable')).toMatchObject({ type: 'file', mode: '0000' })
    const scan = await runCli(['scan', '--manifest', out, '--root', f.root, '--format', 'json'], asUser)
    expect(scan.code).toBe(0)
    const report = JSON.parse(scan.stdout)
    const probe = report.scan.probes.find((p: { name: string }) => p.name === 'files')
    expect(probe.errors).toEqual(
      expect.arrayContaining([
        { subject: '/usr/bin/private', message: 'permission denied' },
        { subject: '/usr/bin/unreadable', message: 'permission denied' },
      ]),
    )
    expect(report.summary.total).toBe(0)
  })
})

describe('file names that are not valid UTF-8', () => {
  test('round-trip losslessly through capture and scan, and drift names them', async () => {
    const f = fixture('latin1')
    const name = Buffer.concat([Buffer.from(join(f.root, 'usr/bin/caf')), Buffer.from([0xe9])])
    const fd = openSync(name, 'w')
    writeSync(fd, 'original')
    closeSync(fd)
    expect((await f.capture()).code).toBe(0)
    const raw = readFileSync(f.manifest, 'utf8')
    expect(raw).toContain('"/usr/bin/caf\\udce9"')
    expect((await f.scan()).code).toBe(0)
    writeFileSync(name, 'changed')
    const scan = await f.scan()
    expect(scan.code).toBe(1)
    const report = JSON.parse(scan.stdout)
    expect(report.drift[0].subject).toBe('/usr/bin/caf\udce9')
    const text = await runCli(['scan', '--manifest', f.manifest, '--root', f.root])
    expect(text.stdout).toContain('/usr/bin/caf\\xE9')
  })
})

describe('hard links', () => {
  test('every name is recorded; a change through one name shows on both', async () => {
    const f = fixture('hardlinks')
    linkSync(join(f.root, 'usr/bin/tool'), join(f.root, 'usr/bin/tool-alias'))
    expect((await f.capture()).code).toBe(0)
    const [a, b] = ['/usr/bin/tool', '/usr/bin/tool-alias'].map((p) => f.files().find((e) => e.path === p))
    expect(a?.sha256).toBe(b?.sha256)
    writeFileSync(join(f.root, 'usr/bin/tool'), 'trojan\n')
    const report = JSON.parse((await f.scan()).stdout)
    expect(report.drift.map((d: { subject: string }) => d.subject).sort()).toEqual([
      '/usr/bin/tool',
      '/usr/bin/tool-alias',
    ])
  })
})

describe('files larger than memory', () => {
  test('are streamed: hashing a 1 GiB file keeps the process far smaller than the file', async () => {
    const f = fixture('large')
    const big = join(f.root, 'usr/bin/big')
    const fd = openSync(big, 'w')
    writeSync(fd, 'end', 2 ** 30) // sparse: 1 GiB of zeros and three bytes
    closeSync(fd)
    // Measure the capturing process itself: run it under a small Node script that reports maxRSS.
    const script = `
      import { captureManifest } from ${JSON.stringify(new URL('../../dist/scan/run.js', import.meta.url).href)}
      import { loadPolicy } from ${JSON.stringify(new URL('../../dist/config/load.js', import.meta.url).href)}
      const r = await captureManifest({ rootDir: ${JSON.stringify(f.root)}, policy: loadPolicy(), image: { id: 'large', version: '1' } })
      const big = r.manifest.files.find((e) => e.path === '/usr/bin/big')
      console.log(JSON.stringify({ sha256: big.sha256, size: big.size, maxRssKb: process.resourceUsage().maxRSS }))`
    const scriptFile = join(dir.path, 'measure-capture.mjs')
    writeFileSync(scriptFile, script)
    const out = execFileSync(process.execPath, [scriptFile], { encoding: 'utf8' })
    const result = JSON.parse(out)
    expect(result.size).toBe(2 ** 30 + 3)
    const expected = execFileSync('sha256sum', [big], { encoding: 'utf8' }).split(' ')[0]
    expect(result.sha256).toBe(expected)
    expect(result.maxRssKb).toBeLessThan(300 * 1024)
  }, 300_000)
})

describe('bad input', () => {
  test('a root that does not exist: exit 2 and one line that says so', async () => {
    const result = await runCli(['manifest', 'capture', '--image', 'x@1', '--root', join(dir.path, 'nope')])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/--root .*nope: no such directory/)
    expect(result.stdout).toBe('')
  })

  test('a truncated manifest: exit 2, says where it ends', async () => {
    const f = fixture('truncated')
    await f.capture()
    const text = readFileSync(f.manifest, 'utf8')
    writeFileSync(f.manifest, text.slice(0, Math.floor(text.length / 2)))
    const result = await f.scan()
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/truncated\.json: not valid JSON.*line 1 column \d+/)
  })

  test('a corrupt gzip manifest: exit 2', async () => {
    const f = fixture('gz')
    const gz = `${f.manifest}.gz`
    await runCli(['manifest', 'capture', '--image', 'gz@1', '--root', f.root, '--out', gz])
    const data = readFileSync(gz)
    writeFileSync(gz, data.subarray(0, data.length - 20))
    const result = await runCli(['scan', '--manifest', gz, '--root', f.root])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/gzip data is corrupt or truncated/)
  })

  test('a manifest with a wrong field: exit 2 naming the field', async () => {
    const f = fixture('badfield')
    await f.capture()
    const m = JSON.parse(readFileSync(f.manifest, 'utf8'))
    m.files[1].mode = 'rwxr-xr-x'
    m.digest = undefined
    writeFileSync(f.manifest, JSON.stringify(m))
    const result = await f.scan()
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/files\[1\]\.mode: expected four octal digits/)
  })

  test('a manifest edited after capture: exit 3', async () => {
    const f = fixture('tampered')
    await f.capture()
    const m = JSON.parse(readFileSync(f.manifest, 'utf8'))
    m.files.find((e: { path: string }) => e.path === '/usr/bin/tool').sha256 = 'f'.repeat(64)
    writeFileSync(f.manifest, JSON.stringify(m))
    const result = await f.scan()
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/does not match the recorded sha256:/)
  })

  test.each([
    {
      name: 'an unknown key',
      yaml: 'schema: driftwatch.policy/v1\nfiles:\n  include: ["/usr/**"]\n  exlcude: ["/tmp"]\n',
      message: /policy\.yaml: files: unknown key "exlcude"/,
    },
    {
      name: 'a relative glob',
      yaml: 'schema: driftwatch.policy/v1\nfiles:\n  include: ["usr/**"]\n',
      message: /policy\.yaml: files\.include\[0\]: a path glob must be absolute/,
    },
    {
      name: 'broken YAML',
      yaml: 'schema: driftwatch.policy/v1\nfiles:\n  include: ["/usr/**"\n',
      message: /policy\.yaml: line \d+ column \d+:/,
    },
    {
      name: 'a bad severity',
      yaml: 'schema: driftwatch.policy/v1\nfiles:\n  include: ["/usr/**"]\n  rules:\n    - { match: ["/usr/bin/**"], severity: urgent }\n',
      message: /policy\.yaml: files\.rules\[0\]\.severity:/,
    },
  ])('a policy with $name: exit 2, naming the file and the key', async ({ yaml, message }) => {
    const f = fixture(`policy-${Math.random().toString(36).slice(2)}`)
    const policy = join(dir.path, 'policy.yaml')
    writeFileSync(policy, yaml)
    const result = await f.capture('--policy', policy)
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(message)
    // The error and its hint (and, served by the JavaScript binding, its notice).
    const lines = result.stderr
      .split('\n')
      .filter((line) => line && !/addon .* files are listed and hashed in JavaScript/.test(line))
    expect(lines.length).toBeLessThanOrEqual(2)
  })

  test('unknown flags and a bad --mode: exit 2', async () => {
    expect((await runCli(['scan', '--manifest', 'x', '--bogus'])).code).toBe(2)
    expect((await runCli(['scan', '--manifest', 'x', '--mode', 'fast'])).code).toBe(2)
    expect((await runCli(['manifest', 'capture', '--image', 'no-version'])).stderr).toMatch(
      /expected ID@VERSION/,
    )
  })
})

describe('file capabilities', () => {
  const haveSetcap = hasTool('setcap', 'libcap2-bin')

  test.runIf(haveSetcap && isRoot && native)(
    'are recorded as getcap writes them, and gaining one is critical',
    async () => {
      const f = fixture('caps')
      writeFileSync(join(f.root, 'usr/bin/ping'), 'ping')
      execFileSync('setcap', ['cap_net_raw=ep', join(f.root, 'usr/bin/ping')])
      expect((await f.capture()).code).toBe(0)
      expect(f.files().find((e) => e.path === '/usr/bin/ping')).toMatchObject({ caps: 'cap_net_raw=ep' })
      expect((await f.scan()).code).toBe(0)
      execFileSync('setcap', ['cap_sys_admin,cap_net_raw=ep', join(f.root, 'usr/bin/tool')])
      const report = JSON.parse((await f.scan()).stdout)
      expect(report.drift).toEqual([
        expect.objectContaining({
          subject: '/usr/bin/tool',
          attributes: ['caps'],
          expected: { caps: null },
          actual: { caps: 'cap_net_raw,cap_sys_admin=ep' },
          severity: 'critical',
        }),
      ])
    },
  )

  test.runIf(haveSetcap && isRoot && !native)(
    'are left unchecked by the JavaScript binding, never reported as removed, and it says so once',
    async () => {
      const f = fixture('caps-js')
      writeFileSync(join(f.root, 'usr/bin/ping'), 'ping')
      execFileSync('setcap', ['cap_net_raw=ep', join(f.root, 'usr/bin/ping')])
      // Captured where the addon reads capabilities, scanned where it does not.
      expect((await runCli(f.captureArgs(), { env: { DRIFTWATCH_NATIVE: '1' } })).code).toBe(0)
      expect(f.files().find((e) => e.path === '/usr/bin/ping')).toMatchObject({ caps: 'cap_net_raw=ep' })
      const scan = await f.scan()
      expect(scan.code).toBe(0)
      expect(JSON.parse(scan.stdout).drift).toEqual([])
      expect(scan.stderr.match(/capabilities and extended attributes are not checked/g)).toHaveLength(1)
    },
  )
})

describe('what is never walked', () => {
  test('/proc, /sys, /dev and /run inside the root are not descended into', async () => {
    const f = fixture('pseudo')
    const policy = join(dir.path, 'all.yaml')
    writeFileSync(policy, 'schema: driftwatch.policy/v1\nfiles:\n  include: ["/**"]\n')
    for (const d of ['proc/1', 'sys/kernel', 'dev/pts', 'run/user']) {
      mkdirSync(join(f.root, d), { recursive: true })
      writeFileSync(join(f.root, d, 'file'), 'x')
    }
    expect((await f.capture('--policy', policy)).code).toBe(0)
    const paths = f.files().map((e) => e.path)
    expect(paths).toEqual(expect.arrayContaining(['/proc', '/sys', '/dev', '/run', '/usr/bin/tool']))
    expect(paths.filter((p) => /^\/(proc|sys|dev|run)\//.test(p))).toEqual([])
  })

  test.runIf(isRoot)('another file system mounted below the root is not crossed by default', async (ctx) => {
    const f = fixture('mounts')
    const mnt = join(f.root, 'usr/bin/mnt')
    mkdirSync(mnt)
    try {
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mnt], { stdio: 'ignore' })
    } catch {
      ctx.skip() // no mount privilege in this sandbox
    }
    try {
      writeFileSync(join(mnt, 'inside'), 'x')
      expect((await f.capture()).code).toBe(0)
      const paths = f.files().map((e) => e.path)
      expect(paths).toContain('/usr/bin/mnt')
      expect(paths).not.toContain('/usr/bin/mnt/inside')
    } finally {
      execFileSync('umount', [mnt])
    }
  })
})

describe('help and usage', () => {
  test('--help and --version exit 0; no command, or a group without its subcommand, exit 2', async () => {
    expect((await runCli(['--help'])).code).toBe(0)
    expect((await runCli(['scan', '--help'])).stdout).toMatch(/--manifest <file>/)
    expect((await runCli(['--version'])).code).toBe(0)
    expect((await runCli([])).code).toBe(2)
    expect((await runCli(['manifest'])).code).toBe(2)
    expect((await runCli(['scan'])).stderr).toMatch(/required option '--manifest <file>' not specified/)
  })
})

describe('extended attributes', () => {
  const haveSetfattr = hasTool('setfattr', 'attr')

  test.runIf(haveSetfattr && native)(
    'are recorded as digests where a rule asks, and a changed one is drift',
    async () => {
      const f = fixture('xattrs')
      const policy = join(dir.path, 'xattrs.yaml')
      writeFileSync(
        policy,
        'schema: driftwatch.policy/v1\nfiles:\n  include: ["/usr/**"]\n  rules:\n    - { match: ["/usr/bin/**"], severity: high, attributes: [type, mode, sha256, xattrs] }\n',
      )
      const tool = join(f.root, 'usr/bin/tool')
      execFileSync('setfattr', ['-n', 'user.origin', '-v', 'image-bake', tool])
      expect((await f.capture('--policy', policy)).code).toBe(0)
      const recorded = f.files().find((e) => e.path === '/usr/bin/tool') as {
        xattrs?: Record<string, string>
      }
      expect(Object.keys(recorded.xattrs ?? {})).toEqual(['user.origin'])
      expect(recorded.xattrs?.['user.origin']).toMatch(/^[0-9a-f]{64}$/) // a digest, not the value
      expect((await f.scan()).code).toBe(0)
      execFileSync('setfattr', ['-n', 'user.origin', '-v', 'someone-else', tool])
      const report = JSON.parse((await f.scan()).stdout)
      expect(report.drift).toEqual([
        expect.objectContaining({ subject: '/usr/bin/tool', attributes: ['xattrs'], severity: 'high' }),
      ])
    },
  )
})
