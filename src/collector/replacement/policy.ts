import { formatSpan } from '../../config/duration.js'
import type { ReplacementConfig } from '../../config/replacement.js'
import type { DecideDispatch, GroupStats } from '../../fleet/replacements.js'
import type { MaintenanceWindows } from './windows.js'

/**
 * Whether a replacement may go now: approval, window, budget (maxConcurrent, minHealthyPercent),
 * cooldown, in that order, the first that holds it back named. Pure; the store applies it inside
 * its dispatch transaction, on the group as it is at that moment.
 */
export function dispatchPolicy(config: ReplacementConfig, windows: MaintenanceWindows): DecideDispatch {
  return (replacement, stats, now) => {
    // An operator's manual replacement is approved by asking for it.
    if (config.approval && replacement.trigger !== 'manual' && replacement.approvedBy === null) {
      return {
        dispatch: false,
        waitingFor: 'approval',
        reason: 'waiting for approval (driftwatch fleet approve ID)',
      }
    }
    if (windows.openUntil(now) === undefined) {
      return {
        dispatch: false,
        waitingFor: 'window',
        reason: `outside the maintenance windows: ${windows.describe()}`,
      }
    }
    const budget = config.budget
    if (stats.inFlight >= budget.maxConcurrent) {
      return {
        dispatch: false,
        waitingFor: 'budget',
        reason: `${stats.inFlight} of ${budget.maxConcurrent} replacements in flight in group ${groupName(stats)}`,
      }
    }
    if (!healthyEnough(stats, budget.minHealthyPercent)) {
      return {
        dispatch: false,
        waitingFor: 'budget',
        reason: `group ${groupName(stats)} would keep ${stats.inServiceOthers} of ${stats.hosts} hosts in service, below ${budget.minHealthyPercent}%`,
      }
    }
    if (stats.lastDispatchedAt !== null && config.cooldown > 0) {
      const since = now.getTime() - stats.lastDispatchedAt.getTime()
      if (since < config.cooldown) {
        return {
          dispatch: false,
          waitingFor: 'cooldown',
          reason: `cooldown: last dispatch in group ${groupName(stats)} ${formatSpan(since)} ago, cooldown ${formatSpan(config.cooldown)}`,
        }
      }
    }
    return {
      dispatch: true,
      reason: `within budget: ${stats.inFlight + 1} of ${budget.maxConcurrent} in flight in group ${groupName(stats)}`,
    }
  }
}

/** Hosts in service once this one is out: at least minHealthyPercent of the group. */
export function healthyEnough(stats: GroupStats, minHealthyPercent: number): boolean {
  return stats.inServiceOthers * 100 >= minHealthyPercent * stats.hosts
}

/** How many more may be dispatched in the group now by the budget alone. */
export function budgetLeft(stats: GroupStats, config: ReplacementConfig): number {
  const byConcurrency = config.budget.maxConcurrent - stats.inFlight
  // inServiceOthers here counts every host in service; each dispatch takes one out.
  const byHealth = Math.floor(stats.inServiceOthers - (config.budget.minHealthyPercent * stats.hosts) / 100)
  return Math.max(0, Math.min(byConcurrency, byHealth))
}

export function groupName(stats: Pick<GroupStats, 'group'>): string {
  return stats.group === '' ? '(no group)' : stats.group
}
