import { cpSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import type { DriftItem } from '../../src/protocol/report.js'
import { runCli, tempDir } from '../helpers/cli.js'
import { buildImageRoot } from '../helpers/tree.js'

describe('manifest diff compares what scan compares', () => {
  const dir = tempDir()
  afterAll(() => dir.cleanup())

  test('two images differing by a uid-0 user, an sshd option and a kernel parameter: diff reports all three', async () => {
    const old = join(dir.path, 'old')
    buildImageRoot(old)
    mkdirSync(join(old, 'etc/sysctl.d'), { recursive: true })
    writeFileSync(join(old, 'etc/sysctl.d/99-hardening.conf'), 'net.ipv4.ip_forward = 0\n')
    const next = join(dir.path, 'new')
    cpSync(old, next, { recursive: true, verbatimSymlinks: true })
    writeFileSync(join(next, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\ntoor:x:0:0::/root:/bin/sh\n')
    writeFileSync(join(next, 'etc/ssh/sshd_config'), 'PermitRootLogin yes\n')
    writeFileSync(join(next, 'etc/sysctl.d/99-hardening.conf'), 'net.ipv4.ip_forward = 1\n')

    const manifests = [join(dir.path, 'old.json'), join(dir.path, 'new.json')]
    for (const [root, out] of [
      [old, manifests[0]],
      [next, manifests[1]],
    ] as const) {
      const captured = await runCli([
        'manifest',
        'capture',
        '--image',
        'web@1',
        '--root',
        root,
        '--out',
        out as string,
      ])
      expect(captured.code, captured.stderr).toBe(0)
    }
    const json = await runCli(['manifest', 'diff', ...(manifests as string[]), '--format', 'json'])
    expect(json.code).toBe(1)
    const drift = (JSON.parse(json.stdout) as { drift: DriftItem[] }).drift
    const config = drift.filter((d) => d.kind === 'config').map((d) => d.subject)
    expect(config).toEqual(
      expect.arrayContaining(['user:toor', 'sshd:permitrootlogin', 'sysctl:net.ipv4.ip_forward']),
    )

    // And a scan of the new image against the old manifest sees the same configuration drift.
    const scan = await runCli([
      'scan',
      '--manifest',
      manifests[0] as string,
      '--root',
      next,
      '--format',
      'json',
    ])
    const scanned = (JSON.parse(scan.stdout) as { drift: DriftItem[] }).drift
    expect(
      scanned
        .filter((d) => d.kind === 'config')
        .map((d) => d.subject)
        .sort(),
    ).toEqual([...config].sort())

    const text = await runCli(['manifest', 'diff', ...(manifests as string[])])
    expect(text.stdout).toContain('Configuration')
    expect(text.stdout).toContain('user:toor')
  })
})
