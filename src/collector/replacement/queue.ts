import {
  FINAL_REPLACEMENT_STATES,
  type ReplacementEvent,
  type ReplacementRecord,
  type ReplacementState,
} from '../../fleet/replacements.js'
import type { ReplacementQueueView, ReplacementView } from '../../protocol/api.js'
import type { Store } from '../../store/types.js'
import { budgetLeft } from './policy.js'
import { type ReplacementScheduler, SCHEDULER_LEASE } from './scheduler.js'

/** Finished replacements shown in the queue after the open ones. */
const RECENT_FINISHED = 50

/**
 * The replacement queue as the API, the CLI and the fleet page show it: open replacements
 * (oldest first) and the latest finished ones, the budget left in each group concerned, the
 * maintenance windows and the lease holder.
 */
export async function replacementQueue(
  store: Store,
  scheduler: ReplacementScheduler,
  now: Date,
  filter: { states?: readonly ReplacementState[]; hostId?: string } = {},
): Promise<ReplacementQueueView> {
  const config = scheduler.config
  const all = await store.replacements.list({
    ...(filter.states ? { states: filter.states } : {}),
    ...(filter.hostId ? { hostId: filter.hostId } : {}),
  })
  const open = all.filter((r) => !FINAL_REPLACEMENT_STATES.has(r.state))
  const finished = all.filter((r) => FINAL_REPLACEMENT_STATES.has(r.state)).slice(-RECENT_FINISHED)
  const shown = [...open, ...finished]
  const hostnames = new Map<string, string>()
  for (const r of shown) {
    if (!hostnames.has(r.hostId)) hostnames.set(r.hostId, (await store.getHost(r.hostId))?.hostname ?? '')
  }
  const groups: ReplacementQueueView['groups'] = []
  for (const group of [...new Set(open.map((r) => r.group))].sort()) {
    const stats = await store.replacements.groupStats(group, config.groupLabel)
    groups.push({
      group,
      hosts: stats.hosts,
      inService: stats.inServiceOthers,
      inFlight: stats.inFlight,
      maxConcurrent: config.budget.maxConcurrent,
      minHealthyPercent: config.budget.minHealthyPercent,
      budgetLeft: budgetLeft(stats, config),
      lastDispatchedAt: stats.lastDispatchedAt?.toISOString() ?? null,
    })
  }
  const openUntil = scheduler.windows.openUntil(now)
  const always = scheduler.windows.always
  const lease = await store.replacements.lease(SCHEDULER_LEASE)
  return {
    dryRun: scheduler.dryRun,
    replacements: shown.map((r) => replacementView(r, hostnames.get(r.hostId) || null)),
    groups,
    window: {
      open: openUntil !== undefined,
      openUntil: always || openUntil === undefined ? null : openUntil.toISOString(),
      nextOpening: always ? null : (scheduler.windows.nextOpening(now)?.toISOString() ?? null),
      windows: always ? 'always (no windows configured)' : scheduler.windows.describe(),
    },
    lease: lease
      ? {
          holder: lease.holder,
          acquiredAt: lease.acquiredAt.toISOString(),
          expiresAt: lease.expiresAt.toISOString(),
          ageMs: now.getTime() - lease.acquiredAt.getTime(),
        }
      : null,
  }
}

export function replacementView(
  r: ReplacementRecord,
  hostname: string | null,
  events?: readonly ReplacementEvent[],
): ReplacementView {
  return {
    id: r.id,
    hostId: r.hostId,
    hostname,
    group: r.group,
    state: r.state,
    reason: r.reason,
    waitingFor: r.waitingFor,
    trigger: r.trigger,
    requestedBy: r.requestedBy,
    approvedBy: r.approvedBy,
    approvedAt: r.approvedAt?.toISOString() ?? null,
    dryRun: r.dryRun,
    executor: r.executor,
    output: r.output,
    createdAt: r.createdAt.toISOString(),
    updatedAt: r.updatedAt.toISOString(),
    dispatchedAt: r.dispatchedAt?.toISOString() ?? null,
    finishedAt: r.finishedAt?.toISOString() ?? null,
    ...(events
      ? {
          events: events.map((e) => ({
            from: e.from,
            to: e.to,
            reason: e.reason,
            actor: e.actor,
            at: e.at.toISOString(),
          })),
        }
      : {}),
  }
}
