import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { RunningCollector } from '../../src/collector/server.js'
import { runCli, tempDir } from '../helpers/cli.js'
import { ADMIN_TOKEN, makeImage, runCollector } from './harness.js'

describe('driftwatch fleet image register / fleet images', () => {
  const dir = tempDir('driftwatch-images-')
  let image: Awaited<ReturnType<typeof makeImage>>
  let collector: RunningCollector
  const env = () => ({ DRIFTWATCH_ADMIN_TOKEN: ADMIN_TOKEN, DRIFTWATCH_COLLECTOR: collector.url })

  beforeAll(async () => {
    image = await makeImage(dir.path)
    collector = await runCollector(dir.path)
  })
  afterAll(async () => {
    await collector.stop()
    dir.cleanup()
  })

  test('the bake registers its signed manifest; fleet images lists it with its signer', async () => {
    const registered = await runCli(
      ['fleet', 'image', 'register', image.manifest, '--key', image.publicKey],
      {
        env: env(),
      },
    )
    expect(registered.code, registered.stderr).toBe(0)
    expect(registered.stdout).toMatch(
      /^registered web-base@2026\.12\.01-1\n {2}digest {2}sha256:[0-9a-f]{64}\n {2}signed by key [0-9a-f]{16}\n$/,
    )
    const listed = await runCli(['fleet', 'images', '--format', 'json'], { env: env() })
    expect(listed.code, listed.stderr).toBe(0)
    const { images } = JSON.parse(listed.stdout) as {
      images: { id: string; version: string; signedBy: string | null }[]
    }
    expect(images).toEqual([
      expect.objectContaining({ id: 'web-base', version: '2026.12.01-1', signedBy: expect.any(String) }),
    ])
    const text = await runCli(['fleet', 'images'], { env: env() })
    expect(text.stdout).toMatch(
      /^IMAGE +DIGEST +SIGNED BY +REGISTERED\nweb-base@2026\.12\.01-1 +sha256:[0-9a-f]{12} /,
    )
  })

  test('a key that did not sign the manifest: exit 3 and nothing sent', async () => {
    const other = `${dir.path}/other`
    expect((await runCli(['keygen', '--out', other])).code).toBe(0)
    const result = await runCli(['fleet', 'image', 'register', image.manifest, '--key', `${other}.pub`], {
      env: { ...env(), DRIFTWATCH_COLLECTOR: 'http://127.0.0.1:1' },
    })
    expect(result.code).toBe(3)
    expect(result.stderr).toMatch(/manifest\.json\.sig/)
  })

  test('without an admin token: exit 2 naming the variable', async () => {
    const result = await runCli(['fleet', 'images'], {
      env: { DRIFTWATCH_ADMIN_TOKEN: '', DRIFTWATCH_COLLECTOR: collector.url },
    })
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/DRIFTWATCH_ADMIN_TOKEN/)
  })
})
