import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient, sql } from 'kysely'
import { type CustomTypesConfig, Pool, type PoolClient, types } from 'pg'
import type { Database } from './schema.js'

const INT8 = 20
const JSON_OID = 114
const JSONB_OID = 3802

/**
 * The pool's own type parsers, so nothing global changes: int8 (sequences, counts) as a
 * number (they stay far below 2^53), json and jsonb as their text, which the store parses
 * itself exactly as it does SQLite's text columns.
 */
const storeTypes: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8) return (value: string) => Number(value)
    if (oid === JSON_OID || oid === JSONB_OID) return (value: string) => value
    return types.getTypeParser(oid, format)
  }) as CustomTypesConfig['getTypeParser'],
}

export interface PostgresTarget {
  /** A libpq-style URL, without driftwatch's own parameters. */
  connectionString: string
  /** The schema that holds the store's tables (the search_path of every connection); created if missing. */
  schema: string | undefined
}

/**
 * A pool-backed Kysely. The schema, when one is named, is every connection's only
 * search_path, set in the startup packet (no extra round trip per connection).
 */
export function createPostgresKysely(target: PostgresTarget): Kysely<Database> {
  const pool = new Pool({
    connectionString: target.connectionString,
    types: storeTypes,
    application_name: 'driftwatch',
    connectionTimeoutMillis: 10_000,
    ...(target.schema === undefined ? {} : { options: `-c search_path=${target.schema}` }),
  })
  // An idle client that loses its server emits here; without a listener that would end the
  // process. The pool drops the client and the next query connects anew.
  pool.on('error', () => {})
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: preparingPool(pool) }) })
}

/** Statement names by text; bounded, since a statement left unnamed only costs a parse. */
const names = new Map<string, string>()
const MAX_NAMED = 1000

/**
 * Gives every parameterized statement a name, so that each connection parses and plans it
 * once and then only binds and executes it: most of PostgreSQL's work for the store's
 * small statements. The store's statements name their columns (no `select *`), so a
 * column added by a newer collector's migration does not invalidate them.
 */
function preparingPool(pool: Pool): PostgresPool {
  const clients = new WeakMap<PoolClient, PostgresPoolClient>()
  const wrap = (client: PoolClient): PostgresPoolClient => ({
    query: ((text: unknown, parameters?: unknown[]) => {
      if (typeof text !== 'string' || parameters === undefined || parameters.length === 0) {
        return client.query(text as string, parameters)
      }
      let name = names.get(text)
      if (name === undefined && names.size < MAX_NAMED) {
        name = `driftwatch_${names.size}`
        names.set(text, name)
      }
      return client.query({ name, text, values: parameters })
    }) as unknown as PostgresPoolClient['query'],
    release: (destroy?: boolean) => client.release(destroy),
  })
  return {
    async connect() {
      const client = await pool.connect()
      let wrapped = clients.get(client)
      if (wrapped === undefined) {
        wrapped = wrap(client)
        clients.set(client, wrapped)
      }
      return wrapped
    },
    end: () => pool.end(),
  }
}

/**
 * Connects once (so that an unreachable server fails here, before the migrations) and
 * makes sure the schema exists; returns the schema the tables live in.
 */
export async function preparePostgresSchema(
  db: Kysely<Database>,
  schema: string | undefined,
): Promise<string> {
  if (schema === undefined) {
    const row = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db)
    const current = row.rows[0]?.schema
    if (current == null)
      throw new Error('PostgreSQL has no current schema: set search_path, or ?schema= in the URL')
    return current
  }
  const exists = async () =>
    (await sql`select 1 from pg_namespace where nspname = ${schema}`.execute(db)).rows.length > 0
  if (await exists()) return schema
  try {
    await sql`create schema if not exists ${sql.id(schema)}`.execute(db)
  } catch (error) {
    // Two collectors creating it at once: `if not exists` can still fail with a unique violation.
    if (!(await exists())) throw error
  }
  return schema
}
