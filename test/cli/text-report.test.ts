import { rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, test } from 'vitest'
import { runCli, tempDir } from '../helpers/cli.js'
import { buildImageRoot } from '../helpers/tree.js'

let dir: { path: string; cleanup: () => void }
let root: string
let manifest: string

beforeEach(async () => {
  dir = tempDir()
  root = join(dir.path, 'root')
  manifest = join(dir.path, 'manifest.json')
  buildImageRoot(root)
  const capture = await runCli([
    'manifest',
    'capture',
    '--image',
    'web-base@1',
    '--root',
    root,
    '--out',
    manifest,
  ])
  expect(capture.code).toBe(0)
})
afterEach(() => dir.cleanup())

test('a scan of an image folder says it scanned that folder, not "unknown (unknown:host)"', async () => {
  const named = await runCli(['scan', '--manifest', manifest, '--root', root])
  expect(named.code).toBe(0)
  expect(named.stdout.split('\n')[0]).toBe(
    `web-base@1 on image folder ${root} (image-build, 00000000000000000000000000000001), full scan`,
  )
  // An image folder as a bake leaves it: no machine id, no hostname (both excluded by the policy).
  rmSync(join(root, 'etc/machine-id'))
  rmSync(join(root, 'etc/hostname'))
  const anonymous = await runCli(['scan', '--manifest', manifest, '--root', root])
  expect(anonymous.code).toBe(0)
  expect(anonymous.stdout.split('\n')[0]).toBe(`web-base@1 on image folder ${root}, full scan`)
  expect(anonymous.stdout).not.toContain('unknown')
})

test('the text report shows where an added symlink points, as the JSON does', async () => {
  symlinkSync('/tmp/evil/payload', join(root, 'usr/bin/helper'))
  writeFileSync(join(root, 'etc/hostname'), 'web-7\n')
  const text = await runCli(['scan', '--manifest', manifest, '--root', root])
  expect(text.code).toBe(1)
  expect(text.stdout).toMatch(/added\s+\/usr\/bin\/helper {2}\(symlink 0777\) -> \/tmp\/evil\/payload/)
  const json = await runCli(['scan', '--manifest', manifest, '--root', root, '--format', 'json'])
  const item = (JSON.parse(json.stdout).drift as { subject: string; actual?: { target?: string } }[]).find(
    (entry) => entry.subject === '/usr/bin/helper',
  )
  expect(item?.actual?.target).toBe('/tmp/evil/payload')
})
