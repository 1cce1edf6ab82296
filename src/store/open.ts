import { resolve } from 'node:path'
import type { Kysely } from 'kysely'
import { DriftwatchError, errnoCode } from '../errors.js'
import type { Dialect } from './dialects/dialect.js'
import { KyselyStore } from './kysely-store.js'
import { migrateToLatest } from './migrations.js'
import { createPostgresKysely, preparePostgresSchema } from './postgres.js'
import type { Database } from './schema.js'
import { createSqliteKysely } from './sqlite.js'
import type { Store } from './types.js'

/** Where a store lives, as read from its URL. */
export type StoreTarget =
  | { dialect: 'sqlite'; path: string }
  | { dialect: 'postgres'; connectionString: string; schema: string | undefined }

const ACCEPTED =
  'write sqlite:///absolute/path.db, sqlite://relative/path.db, sqlite::memory:, ' +
  'or postgres://user:password@host:5432/database (postgresql:// too; add ?schema=name to use a schema other than public)'

/** A PostgreSQL identifier we can put in a search_path without quoting. */
const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * Opens the store named by `url` and brings its schema up to date:
 * `sqlite:///abs/path.db`, `sqlite://relative/path.db`, `sqlite::memory:`,
 * `postgres://…` or `postgresql://…` (with `?schema=name` for a schema of its own).
 */
export async function openStore(url: string): Promise<Store> {
  const target = parseStoreUrl(url)
  if (target.dialect === 'sqlite') {
    const db = createSqliteKysely(target.path)
    await migrate(db, 'sqlite', undefined, target.path)
    return new KyselyStore(db, 'sqlite')
  }
  const db = createPostgresKysely(target)
  let schema: string
  try {
    schema = await preparePostgresSchema(db, target.schema)
  } catch (error) {
    await db.destroy()
    throw new DriftwatchError('IO', `cannot open the store ${maskUrl(url)}: ${describeDbError(error)}`, {
      hint: 'check that PostgreSQL runs and is reachable from here, and the user, password and database in the URL',
      cause: error,
    })
  }
  await migrate(db, 'postgres', schema, maskUrl(url))
  return new KyselyStore(db, 'postgres')
}

async function migrate(db: Kysely<Database>, dialect: Dialect, schema: string | undefined, where: string) {
  try {
    await migrateToLatest(db as Kysely<unknown>, dialect, schema)
  } catch (error) {
    await db.destroy()
    throw new DriftwatchError('IO', `cannot prepare the store ${where}: ${describeDbError(error)}`, {
      hint: 'the store must be writable by the collector, and its schema one that this driftwatch created',
      cause: error,
    })
  }
}

/** Reads a store URL; a URL of no accepted form is a CONFIG_INVALID error that names it (password masked). */
export function parseStoreUrl(url: string): StoreTarget {
  const invalid = (why: string) =>
    new DriftwatchError('CONFIG_INVALID', `store "${maskUrl(url)}": ${why}`, { hint: ACCEPTED })
  if (url === 'sqlite::memory:') return { dialect: 'sqlite', path: ':memory:' }
  if (url.startsWith('sqlite:')) {
    if (!url.startsWith('sqlite://'))
      throw invalid('a SQLite store URL is sqlite://<path> or sqlite::memory:')
    const path = url.slice('sqlite://'.length)
    if (path === '' || path === '/') throw invalid('the SQLite URL names no file')
    if (/[?#]/.test(path)) throw invalid('a SQLite store URL takes no parameters')
    if (path.endsWith('/')) throw invalid('the SQLite URL names a directory, not a file')
    return { dialect: 'sqlite', path: resolve(path) }
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw invalid('not a valid URL')
    }
    const schema = parsed.searchParams.get('schema') ?? undefined
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      throw invalid(
        `schema "${schema}" is not a plain PostgreSQL name (letters, digits, _; not starting with a digit)`,
      )
    }
    parsed.searchParams.delete('schema')
    return { dialect: 'postgres', connectionString: parsed.toString(), schema }
  }
  throw invalid('unknown kind of store')
}

/** The URL with any password replaced by ***, for messages and logs. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password === '') return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/(\/\/[^/@:]*:)[^/@]*@/, '$1***@')
  }
}

function describeDbError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return [...new Set(error.errors.map(describeDbError))].join('; ')
  }
  if (error instanceof Error) return error.message || errnoCode(error) || error.name
  return String(error)
}
