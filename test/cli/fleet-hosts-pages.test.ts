import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { fleetHostsCommand } from '../../src/cli/commands/fleet.js'
import { plainStyle } from '../../src/cli/output.js'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import { DriftwatchError } from '../../src/errors.js'
import type { HostsPageView } from '../../src/protocol/api.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'

/** `fleet hosts` against a real collector over loopback HTTP: one page, --cursor, --all. */
describe('fleet hosts pages through the collector', () => {
  let collector: RunningCollector
  const ids = Array.from({ length: 7 }, (_, i) => `pg-${i}`)

  beforeAll(async () => {
    collector = await startCollector(
      CollectorConfigSchema.parse({
        listen: '127.0.0.1:0',
        store: 'sqlite::memory:',
        enrollSecret: ENROLL_SECRET,
        adminTokens: [ADMIN_TOKEN],
      }),
    )
    for (const id of ids)
      await collector.store.enrollHost({
        hostId: id,
        hostname: id,
        labels: {},
        tokenHash: `h-${id}`,
        at: new Date(),
      })
  })
  afterAll(async () => {
    await collector.stop()
  })

  const hosts = (options: { limit?: string; cursor?: string; all?: boolean }) =>
    fleetHostsCommand({ collector: collector.url, token: ADMIN_TOKEN, ...options })

  test('one page by default; the text says how to go on, and --cursor goes on', async () => {
    const first = await hosts({ limit: '3' })
    const page = first.json as HostsPageView
    expect(page.hosts.map((h) => h.id)).toEqual(ids.slice(0, 3))
    expect(page.next).toEqual(expect.any(String))
    expect(first.text(plainStyle)).toContain(`more hosts match: add --cursor ${page.next} for the next page`)
    const second = (await hosts({ limit: '3', cursor: page.next as string })).json as HostsPageView
    expect(second.hosts.map((h) => h.id)).toEqual(ids.slice(3, 6))
    const last = await hosts({ limit: '3', cursor: second.next as string })
    expect((last.json as HostsPageView).hosts.map((h) => h.id)).toEqual(['pg-6'])
    expect((last.json as HostsPageView).next).toBeUndefined()
    expect(last.text(plainStyle)).not.toContain('more hosts match')
  })

  test('--all follows every next: all the hosts, no next', async () => {
    const all = (await hosts({ limit: '2', all: true })).json as HostsPageView
    expect(all).toEqual({ hosts: expect.any(Array) })
    expect(all.hosts.map((h) => h.id)).toEqual(ids)
  })

  test('a --limit out of range is a usage error; a made-up --cursor is the collector’s 400, said', async () => {
    for (const limit of ['0', '1001', 'many']) {
      const error = await hosts({ limit }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(DriftwatchError)
      expect(error).toMatchObject({ code: 'USAGE', message: expect.stringContaining(`--limit ${limit}`) })
    }
    const error = await hosts({ cursor: 'pg-2' }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DriftwatchError)
    expect((error as DriftwatchError).message).toContain('cursor')
  })
})
