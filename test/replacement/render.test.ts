import { describe, expect, test } from 'vitest'
import { plainStyle } from '../../src/cli/output.js'
import { renderReplacement, renderReplacementQueue } from '../../src/cli/render-fleet.js'
import type { ReplacementQueueView, ReplacementView } from '../../src/protocol/api.js'

const NOW = new Date('2026-12-03T10:00:00Z')
const replacement: ReplacementView = {
  id: '6f1c2a90-1111-4222-8333-944455556666',
  hostId: 'h-7',
  hostname: 'web-7\u001b[31m',
  group: 'web-prod',
  state: 'waiting',
  reason: '1 of 1 replacements in flight in group web-prod',
  waitingFor: 'budget',
  trigger: 'manual',
  requestedBy: 'alice',
  approvedBy: null,
  approvedAt: null,
  dryRun: false,
  executor: null,
  output: null,
  createdAt: '2026-12-03T09:50:00.000Z',
  updatedAt: '2026-12-03T09:55:00.000Z',
  dispatchedAt: null,
  finishedAt: null,
}

describe('fleet replacements for people', () => {
  test('the queue: one row per replacement, the budget per group, the windows and the lease holder', () => {
    const queue: ReplacementQueueView = {
      dryRun: false,
      replacements: [replacement],
      groups: [
        {
          group: 'web-prod',
          hosts: 40,
          inService: 38,
          inFlight: 1,
          maxConcurrent: 1,
          minHealthyPercent: 90,
          budgetLeft: 0,
          lastDispatchedAt: null,
        },
      ],
      window: {
        open: false,
        openUntil: null,
        nextOpening: '2026-12-04T01:00:00.000Z',
        windows: '0 2 * * * (Europe/Berlin) for 2h',
      },
      lease: {
        holder: 'collector-1:42:abcdef',
        acquiredAt: '2026-12-03T09:00:00.000Z',
        expiresAt: '2026-12-03T10:01:30.000Z',
        ageMs: 3_600_000,
      },
    }
    expect(renderReplacementQueue(queue, plainStyle, NOW).split('\n')).toEqual([
      'ID        HOST           GROUP     STATE    SINCE   REASON',
      '6f1c2a90  web-7\\x1B[31m  web-prod  waiting  5m ago  1 of 1 replacements in flight in group web-prod',
      '',
      'Budget',
      '  web-prod: 1 of 1 in flight, 38 of 40 hosts in service (min 90%), 0 more may go now',
      '',
      'Windows  0 2 * * * (Europe/Berlin) for 2h: closed, next opens 2026-12-04 01:00:00Z',
      'Scheduler  collector-1:42:abcdef holds the lease (for 1h, renewed until 2026-12-03 10:01:30Z)',
      '',
    ])
  })

  test('one replacement with its history; a dry run says so', () => {
    const text = renderReplacement(
      {
        ...replacement,
        dryRun: true,
        events: [
          {
            from: null,
            to: 'pending',
            reason: 'asked for by alice',
            actor: 'alice',
            at: '2026-12-03T09:50:00.000Z',
          },
        ],
      },
      plainStyle,
      NOW,
    )
    expect(text).toContain('replacement 6f1c2a90-1111-4222-8333-944455556666 (dry run)')
    expect(text).toContain('  asked by   alice')
    expect(text).toContain('  2026-12-03 09:50:00Z  pending    alice: asked for by alice')
    expect(text).not.toContain('\u001b')
    // Escaped once: the cell does not escape the escape again.
    expect(text).toContain('  host       web-7\\x1B[31m (h-7)')
  })
})
