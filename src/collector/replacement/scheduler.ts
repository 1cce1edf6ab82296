import type { Logger } from 'pino'
import { formatSpan } from '../../config/duration.js'
import type { ReplacementConfig } from '../../config/replacement.js'
import { DriftwatchError } from '../../errors.js'
import type {
  AlertCondition,
  FleetEvent,
  FleetEventKind,
  ReplacementRecord,
} from '../../fleet/replacements.js'
import type { HostRecord, HostState, Judge, Judgement } from '../../fleet/states.js'
import type { Store } from '../../store/types.js'
import type { CloudInstance, Executor } from '../executors/types.js'
import type { Notifications } from '../notifiers/hub.js'
import { dispatchPolicy, groupName } from './policy.js'
import { MaintenanceWindows } from './windows.js'

/** The lease that makes one collector at a time the scheduler. */
export const SCHEDULER_LEASE = 'replacement-scheduler'
/** Snowflakes turned into replacements per tick; the rest wait for the next. */
const CREATE_BATCH = 500
/** The states an alert can be about (besides a failed replacement): read a page at a time, never the fleet. */
const ALERT_STATES = ['stale', 'snowflake', 'replacement-scheduled', 'replacing'] as const
const ALERT_PAGE = 1000

export interface SchedulerDeps {
  store: Store
  judge: Judge
  config: ReplacementConfig
  /** None: every replacement is a dry run. */
  executor?: Executor
  notifications?: Notifications
  /** This collector's name in the lease and the records, e.g. `collector-1:4242`. */
  holder: string
  /** A link to a host in the collector, for alerts. */
  link: (hostId: string) => string
  logger?: Logger
  /** The collector's clock (a fake one in tests). */
  clock: () => Date
}

/** What one tick did; `leader` is false when another collector holds the lease. */
export interface TickResult {
  leader: boolean
  created: number
  dispatched: number
  completed: number
  failed: number
  cancelled: number
}

/**
 * Turns snowflakes into replacements and moves them along: pending -> waiting -> dispatched ->
 * completed | failed | cancelled. Driven by `tick(now)` with the caller's clock (the collector's
 * timer, or a test's fake clock). Only the holder of the lease ticks; every dispatch re-checks
 * the lease and the group's budget inside the store's transaction.
 */
export class ReplacementScheduler {
  readonly windows: MaintenanceWindows
  readonly #deps: SchedulerDeps
  readonly #decide

  constructor(deps: SchedulerDeps) {
    this.#deps = deps
    this.windows = new MaintenanceWindows(deps.config.windows)
    this.#decide = dispatchPolicy(deps.config, this.windows)
  }

  get config(): ReplacementConfig {
    return this.#deps.config
  }

  get dryRun(): boolean {
    // Without an executor nothing can run; with one, dryRun: true still holds it back.
    return this.#deps.executor === undefined || this.#deps.config.dryRun === true
  }

  get #actor(): string {
    return `scheduler@${this.#deps.holder}`
  }

  async tick(now: Date = this.#deps.clock()): Promise<TickResult> {
    const { store, config } = this.#deps
    const result: TickResult = {
      leader: false,
      created: 0,
      dispatched: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
    }
    if (!(await store.replacements.acquireLease(SCHEDULER_LEASE, this.#deps.holder, config.leaseTtl, now))) {
      return result
    }
    result.leader = true
    await this.#createForSnowflakes(now, result)
    await this.#finishDispatched(now, result)
    await this.#dispatchOpen(now, result)
    if (this.#deps.notifications && !this.#deps.notifications.empty) await this.#alertsAndStale(now)
    return result
  }

  /** Lets another collector take over at once (on shutdown). */
  async release(): Promise<void> {
    await this.#deps.store.replacements.releaseLease(SCHEDULER_LEASE, this.#deps.holder)
  }

  close(): void {
    this.windows.close()
  }

  /** `fleet replace HOST`: a replacement asked for by an operator, whatever the host's state. */
  async replaceHost(
    hostId: string,
    actor: string,
    now: Date,
  ): Promise<{ created: boolean; replacement: ReplacementRecord }> {
    const host = await this.#deps.store.getHost(hostId)
    if (!host) {
      throw new DriftwatchError('NOT_FOUND', `host ${hostId}: not enrolled`, {
        hint: 'driftwatch fleet hosts lists the hosts this collector knows',
      })
    }
    if (host.state === 'replaced') {
      throw new DriftwatchError('CONFLICT', `host ${hostId}: already replaced`, {
        hint: 'a replaced host is gone from the fleet',
      })
    }
    const made = await this.#deps.store.replacements.create({
      hostId,
      group: this.#groupOf(host),
      trigger: 'manual',
      requestedBy: actor,
      dryRun: this.dryRun,
      reason: `asked for by ${actor}`,
      actor,
      at: now,
    })
    if (made.created)
      await this.#publish(
        'replacement-scheduled',
        host,
        made.replacement,
        now,
        `replacement asked for by ${actor}`,
      )
    return made
  }

  /** `fleet approve ID`: the replacement may go once window and budget allow. */
  async approve(id: string, actor: string, now: Date): Promise<ReplacementRecord> {
    const current = await this.#get(id)
    if (current.state !== 'pending' && current.state !== 'waiting') {
      throw new DriftwatchError('CONFLICT', `replacement ${id}: ${current.state}, nothing to approve`, {
        hint: 'only a pending or waiting replacement can be approved',
      })
    }
    const changed = await this.#deps.store.replacements.change(id, {
      from: ['pending', 'waiting'],
      to: current.state,
      reason: `approved by ${actor}`,
      waitingFor: null,
      approvedBy: actor,
      actor,
      at: now,
    })
    if (!changed) throw this.#moved(id)
    return changed
  }

  /** `fleet cancel ID`: the replacement will not happen; the host is judged anew. */
  async cancel(id: string, actor: string, now: Date): Promise<ReplacementRecord> {
    const current = await this.#get(id)
    if (current.state !== 'pending' && current.state !== 'waiting') {
      throw new DriftwatchError('CONFLICT', `replacement ${id}: ${current.state}, cannot be cancelled`, {
        hint:
          current.state === 'dispatched'
            ? 'it was dispatched already: its executor has started the replacement'
            : 'it is finished',
      })
    }
    const changed = await this.#deps.store.replacements.change(id, {
      from: ['pending', 'waiting'],
      to: 'cancelled',
      reason: `cancelled by ${actor}`,
      actor,
      at: now,
      ...(await this.#release(current.hostId, now)),
    })
    if (!changed) throw this.#moved(id)
    const host = await this.#deps.store.getHost(changed.hostId)
    if (host)
      await this.#publish('replacement-cancelled', host, changed, now, `replacement cancelled by ${actor}`)
    return changed
  }

  async #createForSnowflakes(now: Date, result: TickResult): Promise<void> {
    const { store } = this.#deps
    for (const host of await store.replacements.snowflakesToSchedule(CREATE_BATCH)) {
      const reason = host.stateReasons.join('; ') || 'snowflake'
      const made = await store.replacements.create({
        hostId: host.id,
        group: this.#groupOf(host),
        trigger: 'snowflake',
        requestedBy: null,
        dryRun: this.dryRun,
        reason,
        actor: this.#actor,
        at: now,
      })
      if (!made.created) continue
      result.created++
      await this.#publish('snowflake', host, made.replacement, now, `snowflake: ${reason}`)
      await this.#publish(
        'replacement-scheduled',
        host,
        made.replacement,
        now,
        `replacement scheduled${made.replacement.dryRun ? ' (dry run)' : ''} in group ${groupName(made.replacement)}`,
      )
    }
  }

  async #dispatchOpen(now: Date, result: TickResult): Promise<void> {
    const { store, config } = this.#deps
    const open = await store.replacements.list({ states: ['pending', 'waiting'] })
    // Groups the budget, cooldown or window held back in this tick: their other waiting
    // replacements would get the same answer, so they are not asked again until the next.
    const held = new Set<string>()
    for (const replacement of open) {
      if (config.cancelWhenClean && replacement.trigger === 'snowflake') {
        const host = await store.getHost(replacement.hostId)
        if (host?.summary?.total === 0) {
          await this.#cancelClean(replacement, host, now, result)
          continue
        }
      }
      if (
        replacement.state === 'waiting' &&
        replacement.waitingFor !== 'approval' &&
        held.has(replacement.group)
      )
        continue
      const outcome = await store.replacements.dispatch(replacement.id, {
        lease: { name: SCHEDULER_LEASE, holder: this.#deps.holder },
        groupLabel: config.groupLabel,
        decide: this.#decide,
        executor: this.#deps.executor?.type ?? null,
        actor: this.#actor,
        at: now,
      })
      if (outcome.outcome === 'lease-lost') {
        this.#deps.logger?.warn(
          { holder: this.#deps.holder },
          'replacement scheduler lost its lease mid-tick',
        )
        return
      }
      if (outcome.outcome === 'waiting') {
        if (outcome.replacement.waitingFor !== 'approval') held.add(replacement.group)
        continue
      }
      if (outcome.outcome !== 'dispatched') continue
      result.dispatched++
      const host = await store.getHost(replacement.hostId)
      if (host) await this.#execute(outcome.replacement, host, now, result)
    }
  }

  async #cancelClean(replacement: ReplacementRecord, host: HostRecord, now: Date, result: TickResult) {
    const changed = await this.#deps.store.replacements.change(replacement.id, {
      from: ['pending', 'waiting'],
      to: 'cancelled',
      reason: 'the host scanned clean before its dispatch (cancelWhenClean)',
      actor: this.#actor,
      at: now,
      ...(await this.#release(host.id, now)),
    })
    if (changed) {
      result.cancelled++
      await this.#publish(
        'replacement-cancelled',
        host,
        changed,
        now,
        'scanned clean before dispatch; replacement cancelled',
      )
    }
  }

  /** Runs the executor for a replacement just dispatched (in a dry run, records what it would do). */
  async #execute(
    replacement: ReplacementRecord,
    host: HostRecord,
    now: Date,
    result: TickResult,
  ): Promise<void> {
    const { store, executor } = this.#deps
    if (replacement.dryRun || executor === undefined) {
      const said = `dry run: would have dispatched to ${executor?.type ?? 'the executor (none configured)'}`
      const changed = await store.replacements.change(replacement.id, {
        from: ['dispatched'],
        to: 'dispatched',
        reason: said,
        output: said,
        actor: this.#actor,
        at: now,
      })
      await this.#publish(
        'replacement-dispatched',
        host,
        changed ?? replacement,
        now,
        `${said} (replacement ${replacement.id})`,
      )
      return
    }
    const cloud = await this.#cloudOf(host.id)
    const answer = await executor.dispatch({ replacement, host, cloud }).catch((error: unknown) => ({
      ok: false,
      output: `executor: ${error instanceof Error ? error.message : String(error)}`,
    }))
    // The executor may have taken a while (retries); what it said is recorded at its own time.
    const at = later(now, this.#deps.clock())
    if (answer.ok) {
      const changed = await store.replacements.change(replacement.id, {
        from: ['dispatched'],
        to: 'dispatched',
        reason: `${executor.type} accepted the replacement`,
        output: answer.output,
        actor: this.#actor,
        at,
      })
      await this.#publish(
        'replacement-dispatched',
        host,
        changed ?? replacement,
        at,
        `replacement dispatched to ${executor.type}`,
      )
      return
    }
    const changed = await store.replacements.change(replacement.id, {
      from: ['dispatched'],
      to: 'failed',
      reason: `${executor.type} refused the replacement`,
      output: answer.output,
      actor: this.#actor,
      at,
      ...(await this.#release(host.id, at)),
    })
    if (changed) {
      result.failed++
      await this.#publish(
        'replacement-failed',
        host,
        changed,
        at,
        `replacement failed: ${executor.type} refused it`,
      )
    }
  }

  /** A dispatched host that has gone silent is replaced; one still reporting after the timeout failed. */
  async #finishDispatched(now: Date, result: TickResult): Promise<void> {
    const { store, config } = this.#deps
    for (const replacement of await store.replacements.list({ states: ['dispatched'] })) {
      const host = await store.getHost(replacement.hostId)
      const dispatchedAt = replacement.dispatchedAt ?? replacement.updatedAt
      const sinceDispatch = now.getTime() - dispatchedAt.getTime()
      if (replacement.dryRun) {
        // A dry run holds its budget as long as a real replacement would at least.
        if (sinceDispatch < config.goneAfter) continue
        const changed = await store.replacements.change(replacement.id, {
          from: ['dispatched'],
          to: 'completed',
          reason: 'dry run: nothing was replaced',
          actor: this.#actor,
          at: now,
        })
        if (changed && host) {
          result.completed++
          await this.#publish(
            'replacement-completed',
            host,
            changed,
            now,
            'dry run: the replacement would be complete',
          )
        }
        continue
      }
      const lastContact = Math.max(host?.lastSeenAt.getTime() ?? 0, dispatchedAt.getTime())
      const silent = now.getTime() - lastContact
      if (!host || silent >= config.goneAfter) {
        const changed = await store.replacements.change(replacement.id, {
          from: ['dispatched'],
          to: 'completed',
          reason: `the host went silent ${formatSpan(sinceDispatch - silent)} after dispatch`,
          actor: this.#actor,
          at: now,
          hostState: { state: 'replaced', reasons: [`replaced: silent since ${formatSpan(silent)} ago`] },
        })
        if (changed && host) {
          result.completed++
          await this.#publish(
            'replacement-completed',
            host,
            changed,
            now,
            'replaced: the host has left the fleet',
          )
        }
        continue
      }
      if (sinceDispatch >= config.timeout) {
        const reason = `the host still reports ${formatSpan(sinceDispatch)} after dispatch (timeout ${formatSpan(config.timeout)})`
        const changed = await store.replacements.change(replacement.id, {
          from: ['dispatched'],
          to: 'failed',
          reason,
          actor: this.#actor,
          at: now,
          ...(await this.#release(host.id, now)),
        })
        if (changed) {
          result.failed++
          await this.#publish('replacement-failed', host, changed, now, `replacement failed: ${reason}`)
        }
      }
    }
  }

  /** Stale hosts as events, and every alert condition that holds now to the alert notifiers. */
  async #alertsAndStale(now: Date): Promise<void> {
    const { store, notifications } = this.#deps
    if (!notifications) return
    const hosts = new Map((await this.#hostsIn(ALERT_STATES)).map((h) => [h.id, h]))
    const conditions: AlertCondition[] = []
    const failedHosts = new Set((await store.replacements.list({ states: ['failed'] })).map((r) => r.hostId))
    const latestFailed = new Map<string, ReplacementRecord>()
    for (const hostId of failedHosts) {
      const [latest] = (await store.replacements.list({ hostId })).slice(-1)
      if (latest?.state !== 'failed') continue
      latestFailed.set(hostId, latest)
      const host = hosts.get(hostId) ?? (await store.getHost(hostId))
      if (host) hosts.set(hostId, host)
    }
    for (const host of [...hosts.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) {
      const group = this.#groupOf(host)
      const shown = eventHost(host)
      if (host.state === 'stale') {
        await this.#publish(
          'host-stale',
          host,
          null,
          now,
          host.stateReasons.join('; ') || 'stale',
          `${host.id}:stale:${host.stateSince.getTime()}`,
        )
        conditions.push({
          key: `stale:${host.id}`,
          alertname: 'DriftwatchHostStale',
          severity: 'warning',
          host: shown,
          group,
          summary: `${host.hostname}: ${host.stateReasons.join('; ') || 'stale'}`,
          since: host.stateSince,
        })
      }
      const clean = host.summary?.total === 0
      if (
        host.state === 'snowflake' ||
        ((host.state === 'replacement-scheduled' || host.state === 'replacing') && !clean)
      ) {
        conditions.push({
          key: `snowflake:${host.id}`,
          alertname: 'DriftwatchSnowflake',
          severity: (host.summary?.critical ?? 0) > 0 ? 'critical' : 'warning',
          host: shown,
          group,
          summary: `${host.hostname} is a snowflake (${host.state}): ${findingsText(host) || host.stateReasons.join('; ')}`,
          since: host.stateSince,
        })
      }
      const failed = latestFailed.get(host.id)
      if (failed && host.state !== 'replaced') {
        conditions.push({
          key: `failed:${host.id}`,
          alertname: 'DriftwatchReplacementFailed',
          severity: 'critical',
          host: shown,
          group,
          summary: `replacement ${failed.id} of ${host.hostname} failed: ${failed.reason}`,
          since: failed.finishedAt ?? now,
        })
      }
    }
    await notifications.reconcile(conditions, now, this.#deps.link)
  }

  /** Every host in one of these states, a page at a time (the filter is the store's, in SQL). */
  async #hostsIn(states: readonly HostState[]): Promise<HostRecord[]> {
    const hosts: HostRecord[] = []
    let after: string | undefined
    do {
      const page = await this.#deps.store.pageHosts({
        filter: { states },
        limit: ALERT_PAGE,
        ...(after === undefined ? {} : { after }),
      })
      hosts.push(...page.hosts)
      after = page.next
    } while (after !== undefined)
    return hosts
  }

  async #publish(
    kind: FleetEventKind,
    host: HostRecord,
    replacement: ReplacementRecord | null,
    at: Date,
    summary: string,
    key?: string,
  ): Promise<void> {
    const notifications = this.#deps.notifications
    if (!notifications) return
    const event: FleetEvent = {
      kind,
      key: key ?? `${replacement?.id ?? host.id}:${kind}`,
      at,
      host: eventHost(host),
      group: this.#groupOf(host),
      replacement: replacement && {
        id: replacement.id,
        state: replacement.state,
        reason: replacement.reason,
        dryRun: replacement.dryRun,
      },
      summary,
    }
    await notifications.publish(event)
  }

  /** The host's state once no replacement holds it: judged as if it had never been scheduled. */
  async #release(hostId: string, now: Date): Promise<{ hostState?: Judgement }> {
    const { store, judge } = this.#deps
    const host = await store.getHost(hostId)
    if (!host) return {}
    const image =
      host.imageId !== null && host.imageVersion !== null
        ? await store.getImage(host.imageId, host.imageVersion)
        : undefined
    return { hostState: judge({ ...host, state: 'compliant' }, image, now) }
  }

  async #cloudOf(hostId: string): Promise<CloudInstance | null> {
    const report = await this.#deps.store.latestReport(hostId)
    // Host facts (cloud provider and instance) come with reports from agents that send them.
    const cloud = (
      report?.host as { facts?: { cloud?: { provider?: unknown; instanceId?: unknown } } } | undefined
    )?.facts?.cloud
    if (!cloud || typeof cloud.provider !== 'string') return null
    return {
      provider: cloud.provider,
      instanceId: typeof cloud.instanceId === 'string' ? cloud.instanceId : null,
    }
  }

  #groupOf(host: HostRecord): string {
    return host.labels[this.#deps.config.groupLabel] ?? ''
  }

  async #get(id: string): Promise<ReplacementRecord> {
    const found = await this.#deps.store.replacements.get(id)
    if (!found) {
      throw new DriftwatchError('NOT_FOUND', `replacement ${id}: no such replacement`, {
        hint: 'driftwatch fleet replacements lists them',
      })
    }
    return found
  }

  #moved(id: string): DriftwatchError {
    return new DriftwatchError('CONFLICT', `replacement ${id}: its state changed meanwhile`, {
      hint: 'driftwatch fleet replacements shows where it is now',
    })
  }
}

function eventHost(host: HostRecord): FleetEvent['host'] {
  return {
    id: host.id,
    hostname: host.hostname,
    labels: host.labels,
    image: host.imageId === null ? null : `${host.imageId}@${host.imageVersion ?? ''}`,
    summary: host.summary,
  }
}

function later(a: Date, b: Date): Date {
  return b.getTime() > a.getTime() ? b : a
}

/** "2 critical, 1 high findings" from the host's latest summary; empty without findings. */
function findingsText(host: HostRecord): string {
  const summary = host.summary
  if (!summary || summary.total === 0) return ''
  const parts = (['critical', 'high', 'medium', 'low', 'info'] as const)
    .filter((s) => summary[s] > 0)
    .map((s) => `${summary[s]} ${s}`)
  return `${parts.join(', ') || summary.total} ${summary.total === 1 ? 'finding' : 'findings'}`
}
