import type { Executor } from '../../src/collector/executors/types.js'
import { makeJudge } from '../../src/collector/judge.js'
import { Notifications } from '../../src/collector/notifiers/hub.js'
import type { Notifier } from '../../src/collector/notifiers/types.js'
import { ReplacementScheduler } from '../../src/collector/replacement/scheduler.js'
import { FleetRulesSchema } from '../../src/config/collector.js'
import { ReplacementConfigSchema } from '../../src/config/replacement.js'
import type { Store } from '../../src/store/types.js'
import { makeReport } from '../helpers/reports.js'

export const judge = makeJudge(FleetRulesSchema.parse({ staleAfter: '1h' }))

/** A clock the test moves by hand. */
export function fakeClock(start: string) {
  let now = new Date(start).getTime()
  return {
    now: () => new Date(now),
    advance: (ms: number) => {
      now += ms
      return new Date(now)
    },
  }
}

/** Enrols a host and sends it a report with `critical` critical findings (a snowflake when > 0). */
export async function host(
  store: Store,
  id: string,
  at: Date,
  options: { group?: string; critical?: number } = {},
) {
  await store.enrollHost({
    hostId: id,
    hostname: `${id}.internal`,
    labels: options.group === undefined ? {} : { group: options.group },
    tokenHash: `hash-${id}`,
    at,
  })
  await report(store, id, at, options.critical ?? 0)
}

export async function report(store: Store, id: string, at: Date, critical: number) {
  await store.ingestReport(
    {
      hostId: id,
      report: makeReport({ hostId: id, startedAt: at, findings: critical, severity: 'critical' }),
      receivedAt: at,
      historyLimit: 10,
    },
    judge,
  )
}

/** A scheduler over `store` with collector.yaml's `replacement` keys as given. */
export function scheduler(
  store: Store,
  clock: { now: () => Date },
  replacement: Record<string, unknown>,
  options: { executor?: Executor; notifiers?: Notifier[]; holder?: string } = {},
) {
  const notifications = options.notifiers
    ? new Notifications(store.replacements, options.notifiers)
    : undefined
  return {
    notifications,
    scheduler: new ReplacementScheduler({
      store,
      judge,
      config: ReplacementConfigSchema.parse(replacement),
      ...(options.executor ? { executor: options.executor } : {}),
      ...(notifications ? { notifications } : {}),
      holder: options.holder ?? 'test-collector',
      link: (id) => `http://collector.test/v1/hosts/${id}`,
      clock: clock.now,
    }),
  }
}
