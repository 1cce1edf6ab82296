import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** The PostgreSQL server of this machine (and of CI): trust auth, database `test`. */
export const POSTGRES_URL = process.env.DRIFTWATCH_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test'

/**
 * Why PostgreSQL cannot be used (it does not answer a query), or undefined when it can.
 * Tests that need it skip without it, except under DRIFTWATCH_REQUIRE_INTEGRATION=1 (CI),
 * where a missing server fails the run.
 */
export async function postgresUnreachable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 })
  client.on('error', () => {})
  let why: string | undefined
  try {
    await client.connect()
    await client.query('select 1')
  } catch (error) {
    why = error instanceof Error ? error.message || String(error) : String(error)
  } finally {
    await client.end().catch(() => {})
  }
  if (why !== undefined && process.env.DRIFTWATCH_REQUIRE_INTEGRATION === '1') {
    throw new Error(
      `PostgreSQL at ${POSTGRES_URL} is unreachable (${why}): start it, or point DRIFTWATCH_TEST_POSTGRES at one (DRIFTWATCH_REQUIRE_INTEGRATION=1)`,
    )
  }
  return why
}

export async function hasPostgres(): Promise<boolean> {
  return (await postgresUnreachable()) === undefined
}

/** The store URL of one schema of the test database. */
export function schemaUrl(schema: string): string {
  const url = new URL(POSTGRES_URL)
  url.searchParams.set('schema', schema)
  return url.toString()
}

/** A fresh schema of the test database, for one test file: its store URL, and a drop for afterwards. */
export function postgresSchema(prefix = 'dw_test'): { url: string; drop: () => Promise<void> } {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`
  return {
    url: schemaUrl(schema),
    drop: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL })
      await client.connect()
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      } finally {
        await client.end()
      }
    },
  }
}
