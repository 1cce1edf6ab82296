import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { verifySignature } from '../../src/collector/executors/signature.js'
import { WebhookExecutor } from '../../src/collector/executors/webhook.js'
import { AlertmanagerNotifier } from '../../src/collector/notifiers/alertmanager.js'
import { SlackNotifier } from '../../src/collector/notifiers/slack.js'
import { WebhookNotifier } from '../../src/collector/notifiers/webhook.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { host, scheduler } from '../replacement/harness.js'
import { receiver } from '../replacement/receiver.js'
import { hasAlertmanager, startAlertmanager } from './alertmanager-server.js'

const SECRET = 'notifier-secret-0123456789'

interface AmAlert {
  labels: Record<string, string>
  annotations: Record<string, string>
  endsAt: string
  status: { state: string }
}

async function amAlerts(url: string): Promise<AmAlert[]> {
  const response = await request(`${url}/api/v2/alerts`)
  return (await response.body.json()) as AmAlert[]
}

describe.skipIf(!hasAlertmanager())(
  'notifiers against a real Alertmanager, Slack and webhook receivers',
  () => {
    let am: { url: string; stop: () => Promise<void> }
    let store: Store
    let slack: Awaited<ReturnType<typeof receiver>>
    let hook: Awaited<ReturnType<typeof receiver>>
    let executorHook: Awaited<ReturnType<typeof receiver>>
    beforeAll(async () => {
      am = await startAlertmanager()
    }, 30_000)
    afterAll(async () => {
      await am?.stop()
    })
    beforeEach(async () => {
      store = await openStore('sqlite::memory:')
      slack = await receiver()
      hook = await receiver()
      executorHook = await receiver()
    })
    afterEach(async () => {
      await store.close()
      await Promise.all([slack.close(), hook.close(), executorHook.close()])
    })

    test('a snowflake fires in Alertmanager, is re-sent while firing, and is resolved once replaced; Slack and the webhook hear each event once', async () => {
      const clock = { now: () => new Date() }
      await host(store, 'web-7', clock.now(), { group: 'web-prod', critical: 2 })
      const notifiers = [
        new AlertmanagerNotifier('alertmanager', { url: am.url, resendEveryMs: 200, timeoutMs: 5000 }),
        new SlackNotifier('slack', {
          url: slack.url,
          timeoutMs: 5000,
          link: (id) => `http://collector.test/v1/hosts/${id}`,
        }),
        new WebhookNotifier('webhook', { url: hook.url, secret: SECRET, timeoutMs: 5000 }),
      ]
      const { scheduler: s, notifications } = scheduler(
        store,
        clock,
        { budget: { minHealthyPercent: 0 }, goneAfter: '1s' },
        {
          notifiers,
          executor: new WebhookExecutor({
            url: executorHook.url,
            secret: SECRET,
            timeoutMs: 5000,
            retries: 0,
          }),
        },
      )
      await s.tick()
      await notifications?.deliver(new Date())
      const firing = (await amAlerts(am.url)).filter((a) => a.labels.host === 'web-7')
      expect(firing).toHaveLength(1)
      expect(firing[0]?.labels).toEqual({
        alertname: 'DriftwatchSnowflake',
        host: 'web-7',
        hostname: 'web-7.internal',
        image: 'web-base@2026.11.27-1',
        group: 'web-prod',
        severity: 'critical',
      })
      expect(firing[0]?.annotations.link).toBe('http://collector.test/v1/hosts/web-7')
      expect(firing[0]?.annotations.summary).toMatch(
        /^web-7.internal is a snowflake \(replacing\): 2 critical findings/,
      )
      expect(firing[0]?.status.state).toBe('active')

      // Re-sent while firing: a delivery after resendEvery posts it again.
      const store2 = (await store.replacements.listAlerts('alertmanager'))[0]?.lastSentAt
      await sleep(250)
      await s.tick()
      await notifications?.deliver(new Date())
      const resent = (await store.replacements.listAlerts('alertmanager'))[0]?.lastSentAt
      expect(resent?.getTime()).toBeGreaterThan(store2?.getTime() ?? Number.POSITIVE_INFINITY)

      // The host goes silent: replaced, and the alert is resolved in Alertmanager.
      await sleep(1100)
      expect((await s.tick()).completed).toBe(1)
      await notifications?.deliver(new Date())
      const [resolved] = await store.replacements.listAlerts('alertmanager')
      expect(resolved?.resolvedAt).not.toBeNull()
      await sleep(50)
      const after = (await amAlerts(am.url)).filter(
        (a) => a.labels.host === 'web-7' && a.status.state === 'active',
      )
      expect(after).toEqual([])

      // Slack and the webhook: each event once, in order; deliveries recorded.
      await notifications?.deliver(new Date())
      const kinds = ['snowflake', 'replacement-scheduled', 'replacement-dispatched', 'replacement-completed']
      expect(slack.json<{ text: string }>().map((m) => m.text.split(' ')[1])).toEqual(
        kinds.map((k) => `*${k}*`),
      )
      expect(slack.json<{ text: string }>()[0]?.text).toMatch(
        /^:snowflake: \*snowflake\* <http:\/\/collector.test\/v1\/hosts\/web-7\|web-7.internal>: snowflake: 2 critical findings/,
      )
      expect(hook.json<{ kind: string }>().map((e) => e.kind)).toEqual(kinds)
      for (const delivery of hook.received) {
        expect(
          verifySignature(
            SECRET,
            delivery.body,
            String(delivery.headers['x-driftwatch-signature']),
            new Date(),
          ),
        ).toBe(true)
        expect(
          verifySignature(
            'another-secret-0123456789',
            delivery.body,
            String(delivery.headers['x-driftwatch-signature']),
            new Date(),
          ),
        ).toBe(false)
      }
      const recorded = await store.replacements.listNotifications({ notifier: 'slack' })
      expect(recorded.map((n) => n.status)).toEqual(['sent', 'sent', 'sent', 'sent'])
      s.close()
    }, 30_000)

    test('a notifier that is down does not hold up scheduling; its deliveries are retried with backoff and recorded', async () => {
      const clock = { now: () => new Date() }
      await host(store, 'web-8', clock.now(), { group: 'web', critical: 1 })
      const down = await receiver()
      const url = down.url
      await down.close()
      const { scheduler: s, notifications } = scheduler(
        store,
        clock,
        { budget: { minHealthyPercent: 0 } },
        {
          notifiers: [
            new SlackNotifier('slack', { url, timeoutMs: 1000 }),
            new AlertmanagerNotifier('alertmanager', {
              url: 'http://127.0.0.1:1',
              resendEveryMs: 1000,
              timeoutMs: 1000,
            }),
          ],
          executor: new WebhookExecutor({
            url: executorHook.url,
            secret: SECRET,
            timeoutMs: 5000,
            retries: 0,
          }),
        },
      )
      expect(await s.tick()).toMatchObject({ created: 1, dispatched: 1 })
      const now = new Date()
      expect(await notifications?.deliver(now)).toMatchObject({ sent: 0 })
      const [first] = await store.replacements.listNotifications({ notifier: 'slack' })
      expect(first).toMatchObject({
        status: 'pending',
        attempts: 1,
        lastError: expect.stringMatching(/ECONNREFUSED/),
      })
      expect(first?.nextAttemptAt.getTime()).toBeGreaterThan(now.getTime())
      // Not due yet: nothing is tried again at once.
      expect(await notifications?.deliver(now)).toEqual({ sent: 0, failed: 1 })
      s.close()
    })

    test('the same event published twice is recorded once per notifier', async () => {
      const { notifications } = scheduler(
        store,
        { now: () => new Date() },
        {},
        {
          notifiers: [new SlackNotifier('slack', { url: slack.url, timeoutMs: 1000 })],
        },
      )
      const event = {
        kind: 'host-stale' as const,
        key: 'web-9:stale:1',
        at: new Date(),
        group: 'web',
        replacement: null,
        summary: 'no report or heartbeat for 20m',
        host: { id: 'web-9', hostname: 'web-9', labels: {}, image: null, summary: null },
      }
      await notifications?.publish(event)
      await notifications?.publish(event)
      await notifications?.deliver(new Date())
      await notifications?.deliver(new Date())
      expect(slack.received).toHaveLength(1)
    })
  },
)
