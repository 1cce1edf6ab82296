import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CLI, runCli, tempDir } from '../helpers/cli.js'
import { buildImageRoot } from '../helpers/tree.js'

let dir: { path: string; cleanup: () => void }
let root: string
beforeAll(() => {
  dir = tempDir()
  root = join(dir.path, 'root')
  buildImageRoot(root)
})
afterAll(() => dir.cleanup())

/** Runs the CLI on a pseudo-terminal (util-linux `script`), as a person at a terminal would. */
function onTerminal(args: string[]): string {
  const command = [process.execPath, CLI, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
  try {
    return execFileSync('script', ['-qec', command, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '' },
    })
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? '')
  }
}

describe('progress and colour', () => {
  test('on a terminal: progress (files, bytes, rate) on stderr and a coloured report', () => {
    const out = onTerminal([
      'manifest',
      'capture',
      '--image',
      'p@1',
      '--root',
      root,
      '--out',
      join(dir.path, 'm.json'),
    ])
    expect(out).toMatch(/\d+ files\s+[\d.]+ (B|KB|MB) hashed\s+[\d.]+ (B|KB|MB|GB)\/s/)
    const scan = onTerminal(['scan', '--manifest', join(dir.path, 'm.json'), '--root', root])
    expect(scan).toContain('\u001b[')
  })

  test('piped or in JSON mode: neither progress nor colour', async () => {
    await runCli([
      'manifest',
      'capture',
      '--image',
      'p@1',
      '--root',
      root,
      '--out',
      join(dir.path, 'm2.json'),
    ])
    const piped = await runCli(['scan', '--manifest', join(dir.path, 'm2.json'), '--root', root], {
      env: { NO_COLOR: '' },
    })
    expect(piped.stderr).toBe('')
    expect(piped.stdout).not.toContain('\u001b[')
    const json = onTerminal([
      'scan',
      '--manifest',
      join(dir.path, 'm2.json'),
      '--root',
      root,
      '--format',
      'json',
    ])
    expect(json).not.toMatch(/hashed\s+[\d.]+ (B|KB|MB)\/s/)
    expect(json).not.toContain('\u001b[')
  })
})
