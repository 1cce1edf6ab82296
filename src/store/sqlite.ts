import { closeSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import BetterSqlite3 from 'better-sqlite3'
import {
  type DatabaseConnection,
  Kysely,
  SqliteAdapter,
  type SqliteDatabase,
  SqliteDialect,
  type SqliteDialectConfig,
  SqliteDriver,
  type SqliteStatement,
} from 'kysely'
import { DriftwatchError, describeSystemError } from '../errors.js'
import type { Database } from './schema.js'

/** How long a writer waits for another connection's write transaction before it gives up. */
export const BUSY_TIMEOUT_MS = 5000

/**
 * Opens (creating it, and its directory, on first start) the SQLite file at `path`, or an
 * in-memory database for ':memory:'. WAL, synchronous=NORMAL (durable at checkpoints, never
 * corrupt), a busy timeout and foreign keys.
 */
export function createSqliteKysely(path: string): Kysely<Database> {
  if (path !== ':memory:') createPrivateFile(path)
  let sqlite: BetterSqlite3.Database
  try {
    sqlite = new BetterSqlite3(path)
    sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    sqlite.pragma('journal_mode = WAL')
    sqlite.pragma('synchronous = NORMAL')
    sqlite.pragma('foreign_keys = ON')
  } catch (error) {
    throw new DriftwatchError('IO', `cannot open the SQLite store ${path}: ${describeSystemError(error)}`, {
      hint: 'check that the file is a SQLite database and that the collector may read and write it',
      cause: error,
    })
  }
  return new Kysely<Database>({ dialect: new StoreSqliteDialect(sqlite) })
}

/** The directory 0700 and the file 0600 when we create them: the store holds token hashes. */
function createPrivateFile(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    closeSync(openSync(path, 'a', 0o600))
  } catch (error) {
    throw new DriftwatchError('IO', `cannot create the SQLite store ${path}: ${describeSystemError(error)}`, {
      hint: 'choose a path in a directory the collector may write, e.g. sqlite:///var/lib/driftwatch/collector.db',
      cause: error,
    })
  }
}

/**
 * kysely's SQLite dialect with three changes: statements are prepared once and reused;
 * transactions begin IMMEDIATE, taking the write lock up front so that two connections
 * never both read and then fail to upgrade (SQLITE_BUSY that no timeout can cure); and the
 * Migrator runs in a transaction, which makes two collectors starting at once migrate once.
 */
class StoreSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig
  readonly #sqlite: BetterSqlite3.Database

  constructor(sqlite: BetterSqlite3.Database) {
    const config = { database: statementCache(sqlite) }
    super(config)
    this.#config = config
    this.#sqlite = sqlite
  }

  override createDriver() {
    return new ImmediateSqliteDriver(this.#config, this.#sqlite)
  }

  override createAdapter() {
    return new TransactionalDdlSqliteAdapter()
  }
}

class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true
  }
}

class ImmediateSqliteDriver extends SqliteDriver {
  readonly #begin: BetterSqlite3.Statement
  readonly #noWait: BetterSqlite3.Statement
  readonly #wait: BetterSqlite3.Statement

  constructor(config: SqliteDialectConfig, sqlite: BetterSqlite3.Database) {
    super(config)
    this.#begin = sqlite.prepare('BEGIN IMMEDIATE')
    this.#noWait = sqlite.prepare('PRAGMA busy_timeout = 0')
    this.#wait = sqlite.prepare(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)
  }

  /**
   * better-sqlite3 waits for a lock by blocking the thread, and so the event loop: the
   * collector would stop serving meanwhile, and of two stores in one process the one holding
   * the lock could not go on until the other's wait timed out. So the wait for the write
   * lock is done here, asynchronously, with a short backoff up to the same timeout.
   */
  override async beginTransaction(_connection: DatabaseConnection): Promise<void> {
    const deadline = Date.now() + BUSY_TIMEOUT_MS
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      this.#noWait.get()
      try {
        this.#begin.run()
        return
      } catch (error) {
        if (!isBusy(error) || Date.now() >= deadline) throw error
      } finally {
        this.#wait.get()
      }
      await sleep(delay / 2 + Math.random() * delay)
    }
  }
}

function isBusy(error: unknown): boolean {
  return error instanceof BetterSqlite3.SqliteError && error.code.startsWith('SQLITE_BUSY')
}

/** kysely prepares every statement it runs; preparing costs more than running our small ones. */
function statementCache(sqlite: BetterSqlite3.Database): SqliteDatabase {
  const statements = new Map<string, SqliteStatement>()
  return {
    close: () => sqlite.close(),
    prepare(sql) {
      let statement = statements.get(sql)
      if (statement === undefined) {
        // Queries built with varying shapes (IN lists, optional filters) must not grow it forever.
        if (statements.size >= 500) statements.clear()
        statement = sqlite.prepare(sql)
        statements.set(sql, statement)
      }
      return statement
    },
  }
}
