/**
 * Group commit: work items that arrive while a transaction is open wait, and the next
 * transaction takes all of them at once. Every item is still answered only after the commit
 * that holds it, so nothing acknowledged is lost, but the fixed cost of a commit (a WAL flush
 * on PostgreSQL, the WAL append on SQLite) is paid once per group instead of once per report.
 * An item that fails makes its group roll back; the group is then run again one item per
 * transaction, so one bad item fails alone.
 */
interface Waiting<In, Out> {
  input: In
  resolve: (out: Out) => void
  reject: (error: unknown) => void
}

export class GroupCommit<In, Out> {
  readonly #queue: Waiting<In, Out>[] = []
  #running = 0
  #scheduled = false
  /** Groups committed, items in them, and groups that failed and were run again one item at a time. */
  readonly stats = { groups: 0, items: 0, fallbacks: 0 }

  constructor(
    /** Runs the items in one transaction, in order, returning one result each. */
    private readonly commit: (inputs: In[]) => Promise<Out[]>,
    private readonly options: {
      /** Items in one transaction at most. */
      maxGroup: number
      /** Transactions open at once (1 on SQLite, which has one writer anyway). */
      parallel: number
      /** Orders a group before it runs, e.g. by host id, so parallel groups lock rows in one order. */
      order?: (a: In, b: In) => number
    },
  ) {}

  run(input: In): Promise<Out> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ input, resolve, reject })
      // Start after the current I/O phase, so that every request already read joins the group.
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => {
          this.#scheduled = false
          this.#drain()
        })
      }
    })
  }

  #drain(): void {
    while (this.#running < this.options.parallel && this.#queue.length > 0) {
      const group = this.#queue.splice(0, this.options.maxGroup)
      if (this.options.order) {
        const order = this.options.order
        group.sort((a, b) => order(a.input, b.input))
      }
      this.#running++
      void this.#commitGroup(group).finally(() => {
        this.#running--
        this.#drain()
      })
    }
  }

  async #commitGroup(group: Waiting<In, Out>[]): Promise<void> {
    this.stats.groups++
    this.stats.items += group.length
    let results: Out[]
    try {
      results = await this.commit(group.map((item) => item.input))
    } catch (error) {
      if (group.length === 1) {
        group[0]?.reject(error)
        return
      }
      results = []
      this.stats.fallbacks++
    }
    if (results.length === group.length) {
      for (const [i, item] of group.entries()) item.resolve(results[i] as Out)
      return
    }
    for (const item of group) {
      try {
        const [result] = await this.commit([item.input])
        item.resolve(result as Out)
      } catch (error) {
        item.reject(error)
      }
    }
  }
}
