import { describe, expect, test } from 'vitest'
import { GroupCommit } from '../../src/store/group-commit.js'

/** A "database" that records the groups it was asked to commit, and fails any group holding a poisoned item. */
function recorder(options: { poison?: number; delayMs?: number } = {}) {
  const groups: number[][] = []
  const commit = async (items: number[]) => {
    groups.push([...items])
    await new Promise((resolve) => setTimeout(resolve, options.delayMs ?? 5))
    if (options.poison !== undefined && items.includes(options.poison))
      throw new Error(`poisoned by ${options.poison}`)
    return items.map((n) => n * 10)
  }
  return { groups, commit }
}

describe('group commit', () => {
  test('items that arrive while a group commits share the next group, each answered with its own result', async () => {
    const db = recorder()
    const grouped = new GroupCommit(db.commit, { maxGroup: 100, parallel: 1 })
    const first = grouped.run(1)
    await new Promise((resolve) => setImmediate(resolve))
    const rest = [2, 3, 4, 5].map((n) => grouped.run(n))
    expect(await Promise.all([first, ...rest])).toEqual([10, 20, 30, 40, 50])
    expect(db.groups).toEqual([[1], [2, 3, 4, 5]])
  })

  test('a group holds at most maxGroup items; more run as further groups', async () => {
    const db = recorder()
    const grouped = new GroupCommit(db.commit, { maxGroup: 3, parallel: 1 })
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => grouped.run(n)))
    expect(db.groups).toEqual([[1, 2, 3], [4, 5, 6], [7]])
  })

  test('parallel groups each take their own items, ordered as asked', async () => {
    const db = recorder()
    const grouped = new GroupCommit(db.commit, { maxGroup: 2, parallel: 2, order: (a, b) => b - a })
    await Promise.all([1, 2, 3, 4].map((n) => grouped.run(n)))
    expect(db.groups).toEqual([
      [2, 1],
      [4, 3],
    ])
  })

  test('a failing item fails alone: its group is run again one item at a time', async () => {
    const db = recorder({ poison: 3 })
    const grouped = new GroupCommit(db.commit, { maxGroup: 10, parallel: 1 })
    const results = await Promise.allSettled([1, 2, 3, 4].map((n) => grouped.run(n)))
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason)))).toEqual([
      10,
      20,
      'Error: poisoned by 3',
      40,
    ])
    expect(db.groups).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]])
  })
})
