import type { HostRecord, StateTransition } from '../fleet/states.js'
import type { DialectOps } from './dialects/dialect.js'
import type { Executor } from './prepared.js'
import type { Statements } from './statements.js'

/** A host's judged state, and its transitions: written alike by a report, a heartbeat, a sweep and a replacement. */

type Judged = Pick<HostRecord, 'id' | 'state' | 'stateReasons' | 'stateSince'>

/** The host's judged state as its columns take it. */
export function stateValues(
  ops: DialectOps,
  host: Pick<HostRecord, 'state' | 'stateReasons' | 'stateSince'>,
) {
  return {
    state: host.state,
    stateReasons: JSON.stringify(host.stateReasons),
    stateSince: ops.time(host.stateSince),
  }
}

/** Records the transition from `before` to `after` when the state changed. */
export async function recordTransition(
  trx: Executor,
  q: Statements,
  ops: DialectOps,
  before: Pick<HostRecord, 'state'>,
  after: Judged,
): Promise<StateTransition | undefined> {
  if (before.state === after.state) return undefined
  const transition: StateTransition = {
    hostId: after.id,
    from: before.state,
    to: after.state,
    reasons: after.stateReasons,
    at: after.stateSince,
  }
  await insertTransition(trx, q, ops, transition)
  return transition
}

export async function insertTransition(trx: Executor, q: Statements, ops: DialectOps, t: StateTransition) {
  await q.insertTransition.run(trx, {
    hostId: t.hostId,
    from: t.from,
    to: t.to,
    reasons: JSON.stringify(t.reasons),
    at: ops.time(t.at),
  })
}
