import { describe, expect, test } from 'vitest'
import { AdminTokens, hashSecret } from '../../src/collector/auth.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import { effectiveDryRun, NotifiersSchema, notifierName } from '../../src/config/replacement.js'

const base = { enrollSecret: 'enrol-secret-0123456789', adminTokens: ['admin-token-0123456789'] }

describe('collector.yaml: replacement, notifiers, named admin tokens', () => {
  test('defaults: dry run until an executor is configured; dryRun: true keeps it a dry run', () => {
    const plain = CollectorConfigSchema.parse(base)
    expect(plain.replacement).toMatchObject({
      groupLabel: 'group',
      budget: { maxConcurrent: 1, minHealthyPercent: 90 },
      windows: [],
    })
    expect(effectiveDryRun(plain.replacement)).toBe(true)
    const executor = {
      type: 'webhook',
      url: 'https://replacer.internal/hook',
      secret: 'executor-secret-0123456789',
    }
    expect(
      effectiveDryRun(CollectorConfigSchema.parse({ ...base, replacement: { executor } }).replacement),
    ).toBe(false)
    expect(
      effectiveDryRun(
        CollectorConfigSchema.parse({ ...base, replacement: { executor, dryRun: true } }).replacement,
      ),
    ).toBe(true)
  })

  test.each([
    { replacement: { budget: { maxConcurrent: 0 } }, path: 'replacement.budget.maxConcurrent' },
    { replacement: { budget: { minHealthyPercent: 120 } }, path: 'replacement.budget.minHealthyPercent' },
    {
      replacement: { executor: { type: 'webhook', url: 'ftp://x', secret: 'executor-secret-0123456789' } },
      path: 'replacement.executor.url',
    },
    {
      replacement: { executor: { type: 'webhook', url: 'https://x', secret: 'short' } },
      path: 'replacement.executor.secret',
    },
    { replacement: { executor: { type: 'command', run: [] } }, path: 'replacement.executor.run' },
    { replacement: { executor: { type: 'ssh' } }, path: 'replacement.executor.type' },
    { replacement: { cooldwn: '5m' }, path: 'replacement' },
    { notifiers: [{ type: 'pager', url: 'https://x' }], path: 'notifiers.0.type' },
    {
      notifiers: [
        { type: 'slack', url: 'https://a' },
        { type: 'slack', url: 'https://b', name: 'slack' },
      ],
      path: 'notifiers',
    },
    { adminTokens: [{ name: 'alice smith', token: 'admin-token-0123456789' }], path: 'adminTokens.0' },
  ])('a wrong value is refused at its key: $path', ({ path, ...extra }) => {
    const result = CollectorConfigSchema.safeParse({ ...base, ...extra })
    expect(result.success).toBe(false)
    expect(result.error?.issues[0]?.path.join('.').startsWith(path)).toBe(true)
  })

  test('notifiers are named by type, numbered when a type repeats, or by their own name', () => {
    const list = NotifiersSchema.parse([
      { type: 'slack', url: 'https://a' },
      { type: 'slack', url: 'https://b' },
      { type: 'alertmanager', url: 'http://127.0.0.1:9093' },
      { type: 'webhook', url: 'https://c', secret: 'events-secret-0123456789', name: 'siem' },
    ])
    expect(list.map((_, i) => notifierName(list, i))).toEqual(['slack-1', 'slack-2', 'alertmanager', 'siem'])
  })

  test('an admin token may have a name; a bare one is named by its hash head, never by itself', () => {
    const tokens = new AdminTokens([
      'bare-token-0123456789',
      { name: 'alice', token: 'alice-token-0123456789' },
    ])
    expect(tokens.nameFor(hashSecret('alice-token-0123456789'))).toBe('alice')
    const bare = tokens.nameFor(hashSecret('bare-token-0123456789'))
    expect(bare).toBe(`token:${hashSecret('bare-token-0123456789').slice(0, 8)}`)
    expect(bare).not.toContain('bare-token')
    expect(tokens.nameFor(hashSecret('unknown-token-0123456789'))).toBeUndefined()
  })
})
