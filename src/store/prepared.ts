import { type Compilable, CompiledQuery, type Kysely } from 'kysely'

const SLOT = '\u0000driftwatch-slot:'

/** A database or a transaction of it, whatever its tables: all a prepared statement needs. */
export type Executor = Pick<Kysely<unknown>, 'executeQuery'>

/**
 * Stand-ins for a statement's named parameters while it is built: `p.hostId` is the slot
 * of the parameter `hostId`, typed as its value so that kysely checks it against the column
 * it goes into. At run time a slot is a marked string, found again in the compiled query.
 */
export type Slots<P> = { readonly [K in keyof P]: P[K] }

export function slots<P extends object>(): Slots<P> {
  return new Proxy({} as Slots<P>, { get: (_, name) => `${SLOT}${String(name)}` })
}

/**
 * A query built and compiled once, run many times with new values of its parameters `P`:
 * kysely's building and compiling costs more than SQLite takes to run these statements.
 * Parameters are found by their slot names, so the order in which kysely emits them does
 * not matter.
 */
export class Prepared<P, Row> {
  readonly #sql: string
  /** Per parameter: the slot whose value it takes, or the constant the query was built with. */
  readonly #parameters: ({ slot: string } | { value: unknown })[]

  constructor(query: Compilable<Row>) {
    const { sql, parameters } = query.compile()
    this.#sql = sql
    this.#parameters = parameters.map((p) =>
      typeof p === 'string' && p.startsWith(SLOT) ? { slot: p.slice(SLOT.length) } : { value: p },
    )
  }

  async run(db: Executor, values: P): Promise<Row[]> {
    const named = values as Record<string, unknown>
    const parameters = this.#parameters.map((p) => {
      if ('value' in p) return p.value
      const value = named[p.slot]
      if (value === undefined) throw new Error(`no value for ${p.slot} in ${this.#sql}`)
      return value
    })
    const { rows } = await db.executeQuery<Row>(CompiledQuery.raw(this.#sql, parameters))
    return rows
  }
}

/** Prepares `query`, whose parameters are the `slots` it was built with. */
export function prepare<P, Row>(_slots: Slots<P>, query: Compilable<Row>): Prepared<P, Row> {
  return new Prepared<P, Row>(query)
}
