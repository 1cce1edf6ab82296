import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { verifySignature } from '../../src/collector/executors/signature.js'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import type { ReplacementQueueView, ReplacementView } from '../../src/protocol/api.js'
import { runCli, tempDir } from '../helpers/cli.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import { postgresSchema, postgresUnreachable } from '../helpers/stores.js'
import { hasAlertmanager, startAlertmanager } from '../notifiers/alertmanager-server.js'
import { receiver } from './receiver.js'

const SECRET = 'executor-secret-0123456789'
const OPERATOR_TOKEN = 'operator-token-0123456789abcdef'
const pgMissing = await postgresUnreachable()
const withAlertmanager = hasAlertmanager()

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/**
 * The whole chain over real HTTP: an agent's report makes a snowflake, the scheduler dispatches
 * it within budget and window to a webhook executor, Alertmanager and Slack hear of it, the host
 * goes silent and the replacement completes, the alert resolves. Operators act through the API
 * and the CLI with a named token.
 */
describe.each([
  { store: 'sqlite', skip: false },
  { store: 'postgres', skip: pgMissing !== undefined },
])('the replacement chain on $store', ({ store: kind, skip }) => {
  let collector: RunningCollector
  let executor: Awaited<ReturnType<typeof receiver>>
  let slack: Awaited<ReturnType<typeof receiver>>
  let am: { url: string; stop: () => Promise<void> } | undefined
  const dir = tempDir()
  const schema = postgresSchema('dw_chain')

  beforeAll(async () => {
    if (skip) return
    executor = await receiver(() => 202)
    slack = await receiver()
    if (withAlertmanager) am = await startAlertmanager()
    const config = CollectorConfigSchema.parse({
      listen: '127.0.0.1:0',
      store: kind === 'sqlite' ? `sqlite://${join(dir.path, 'collector.db')}` : schema.url,
      enrollSecret: ENROLL_SECRET,
      adminTokens: [ADMIN_TOKEN, { name: 'alice', token: OPERATOR_TOKEN }],
      replacement: {
        every: '100ms',
        goneAfter: '1500ms',
        timeout: '1m',
        budget: { maxConcurrent: 1, minHealthyPercent: 0 },
        windows: [{ start: '* * * * *', duration: '2m' }],
        executor: { type: 'webhook', url: executor.url, secret: SECRET, retries: 1 },
      },
      notifiers: [
        { type: 'slack', url: slack.url },
        ...(am ? [{ type: 'alertmanager', url: am.url, resendEvery: '1s' }] : []),
      ],
    })
    collector = await startCollector(config)
  }, 30_000)
  afterAll(async () => {
    if (skip) return
    await collector?.stop()
    await Promise.all([executor?.close(), slack?.close(), am?.stop()])
    dir.cleanup()
    if (kind === 'postgres') await schema.drop()
  })

  const api = async (method: 'GET' | 'POST', path: string, token: string, body?: unknown) => {
    const response = await request(`${collector.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    })
    return { status: response.statusCode, body: (await response.body.json()) as Record<string, unknown> }
  }
  const enroll = async (id: string) => {
    const response = await request(`${collector.url}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        secret: ENROLL_SECRET,
        host: { id, hostname: `${id}.internal`, labels: { group: 'web-prod' } },
      }),
    })
    return ((await response.body.json()) as { token: string }).token
  }
  const amActive = async (host: string) => {
    const response = await request(`${am?.url}/api/v2/alerts?filter=host%3D%22${host}%22`)
    return (
      (await response.body.json()) as { labels: Record<string, string>; status: { state: string } }[]
    ).filter((a) => a.status.state === 'active')
  }

  test.skipIf(skip)(
    'report -> snowflake -> dispatch within budget and window -> alert -> completion',
    async () => {
      const token = await enroll('web-7')
      const posted = await api(
        'POST',
        '/v1/reports',
        token,
        makeReport({ hostId: 'web-7', findings: 2, severity: 'critical' }),
      )
      expect(posted.status).toBe(201)

      const [dispatch] = await until('the executor to be called', async () =>
        executor.received.length > 0 ? executor.received : undefined,
      )
      const document = JSON.parse(dispatch?.body ?? '{}') as {
        host: { id: string; labels: Record<string, string> }
        findings: { critical: number }
        replacementId: string
      }
      expect(document.host).toMatchObject({ id: 'web-7', labels: { group: 'web-prod' } })
      expect(document.findings.critical).toBe(2)
      expect(
        verifySignature(
          SECRET,
          dispatch?.body ?? '',
          String(dispatch?.headers['x-driftwatch-signature']),
          new Date(),
        ),
      ).toBe(true)

      const queue = (await api('GET', '/v1/replacements', ADMIN_TOKEN))
        .body as unknown as ReplacementQueueView
      expect(queue.dryRun).toBe(false)
      expect(queue.replacements[0]).toMatchObject({
        id: document.replacementId,
        hostId: 'web-7',
        state: 'dispatched',
        group: 'web-prod',
      })
      expect(queue.window.open).toBe(true)
      expect(queue.lease?.holder).toMatch(/:\d+:[0-9a-f]{6}$/)
      if (am)
        expect(
          (
            await until('the alert in Alertmanager', async () =>
              (await amActive('web-7')).length > 0 ? amActive('web-7') : undefined,
            )
          )[0]?.labels.alertname,
        ).toBe('DriftwatchSnowflake')

      // The host says nothing more: replaced, and the alert is resolved.
      const done = await until('the replacement to complete', async () => {
        const r = (await api('GET', `/v1/replacements/${document.replacementId}`, ADMIN_TOKEN))
          .body as unknown as ReplacementView
        return r.state === 'completed' ? r : undefined
      })
      expect(done.events?.map((e) => e.to)).toEqual(['pending', 'dispatched', 'dispatched', 'completed'])
      expect((await api('GET', '/v1/hosts/web-7', ADMIN_TOKEN)).body).toMatchObject({
        host: { state: 'replaced' },
      })
      if (am)
        await until('the alert to resolve', async () =>
          (await amActive('web-7')).length === 0 ? true : undefined,
        )
      const texts = await until('Slack to hear of the completion', async () => {
        const kinds = slack.json<{ text: string }>().map((m) => m.text.split(' ')[1])
        return kinds.includes('*replacement-completed*') ? kinds : undefined
      })
      expect(texts).toEqual([
        '*snowflake*',
        '*replacement-scheduled*',
        '*replacement-dispatched*',
        '*replacement-completed*',
      ])
    },
    30_000,
  )

  test.skipIf(skip)(
    'operators: replace, cancel and approve through the API and the CLI, recorded under the token name',
    async () => {
      const token = await enroll('web-8')
      await api('POST', '/v1/reports', token, makeReport({ hostId: 'web-8' }))
      const env = { DRIFTWATCH_COLLECTOR: collector.url, DRIFTWATCH_ADMIN_TOKEN: OPERATOR_TOKEN }
      const replaced = await runCli(['fleet', 'replace', 'web-8', '--format', 'json'], { env })
      expect(replaced.stderr).toBe('')
      expect(replaced.code).toBe(0)
      const made = JSON.parse(replaced.stdout) as ReplacementView
      expect(made).toMatchObject({ hostId: 'web-8', trigger: 'manual', requestedBy: 'alice' })
      // Dispatched (the window is open, the budget free once web-7 is done) or still pending: cancel
      // works on the latter only, and says why not on the former.
      const cancelled = await runCli(['fleet', 'cancel', made.id], { env })
      const after = (await api('GET', `/v1/replacements/${made.id}`, ADMIN_TOKEN))
        .body as unknown as ReplacementView
      if (after.state === 'cancelled') {
        expect(cancelled.code).toBe(0)
        expect(cancelled.stdout).toMatch(/state {6}cancelled/)
        expect(after.events?.at(-1)).toMatchObject({ to: 'cancelled', actor: 'alice' })
      } else {
        expect(cancelled.code).toBe(2)
        expect(cancelled.stderr).toMatch(/cannot be cancelled/)
      }
      const listed = await runCli(['fleet', 'replacements'], { env })
      expect(listed.code).toBe(0)
      expect(listed.stdout).toMatch(/^ID +HOST +GROUP +STATE +SINCE +REASON$/m)
      expect(listed.stdout).toMatch(/holds the lease/)
      const unknown = await runCli(['fleet', 'approve', 'no-such-replacement'], { env })
      expect(unknown.code).toBe(2)
      expect(unknown.stderr).toMatch(/replacement no-such-replacement is not known/)
      // A bare token keeps working, and is recorded under its hash's head.
      await enroll('web-9')
      const bare = await api('POST', '/v1/hosts/web-9/replace', ADMIN_TOKEN)
      expect(bare.status).toBe(201)
      expect(bare.body.requestedBy).toMatch(/^token:[0-9a-f]{8}$/)
      // A host token may do none of this.
      expect((await api('GET', '/v1/replacements', token)).status).toBe(403)
    },
    90_000,
  )
})
