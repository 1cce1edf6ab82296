import { randomBytes } from 'node:crypto'
import { Socket } from 'node:net'
import pg from 'pg'

/** The PostgreSQL server of this machine (and of CI): trust auth, database `test`. */
export const POSTGRES_URL = process.env.DRIFTWATCH_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test'

/**
 * Whether PostgreSQL answers on its port. Tests that need it skip without it, except under
 * DRIFTWATCH_REQUIRE_INTEGRATION=1 (CI), where a missing server fails the run.
 */
export async function hasPostgres(): Promise<boolean> {
  const url = new URL(POSTGRES_URL)
  const reachable = await new Promise<boolean>((resolve) => {
    const socket = new Socket()
    socket.setTimeout(1000)
    socket.once('connect', () => resolve(true))
    socket.once('timeout', () => resolve(false))
    socket.once('error', () => resolve(false))
    socket.connect(Number(url.port || 5432), url.hostname)
  }).catch(() => false)
  if (!reachable && process.env.DRIFTWATCH_REQUIRE_INTEGRATION === '1') {
    throw new Error(`PostgreSQL is not reachable at ${url.host} (DRIFTWATCH_REQUIRE_INTEGRATION=1)`)
  }
  return reachable
}

/** A fresh schema of the test database, for one test file: its store URL, and a drop for afterwards. */
export function postgresSchema(prefix = 'dw_test'): { url: string; drop: () => Promise<void> } {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`
  const url = new URL(POSTGRES_URL)
  url.searchParams.set('schema', schema)
  return {
    url: url.toString(),
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
