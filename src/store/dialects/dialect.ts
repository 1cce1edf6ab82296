import type { CreateTableBuilder, Kysely, RawBuilder, SelectQueryBuilder, SqlBool, Transaction } from 'kysely'
import type { Ingest, IngestResult } from '../fold.js'
import type { Executor } from '../prepared.js'
import type { Database } from '../schema.js'
import type { Statements, StoredTime, StoreReportParams } from '../statements.js'

export type Dialect = 'sqlite' | 'postgres'

/**
 * Where the store's SQL differs between SQLite and PostgreSQL, one implementation per dialect
 * (sqlite.ts, postgres.ts), as kysely keeps its own dialects apart. The rest of the store is
 * the same SQL for both and names no dialect.
 */
export interface DialectOps {
  readonly name: Dialect
  /** Column types: a point in time, and a JSON document that SQL may look into. */
  readonly columns: { readonly time: 'timestamptz' | 'integer'; readonly json: 'jsonb' | 'text' }
  /** Adds `column`, a key that grows with every row inserted, so it orders rows by insertion. */
  addSequence<TB extends string, C extends string, CN extends string>(
    table: CreateTableBuilder<TB, C>,
    column: CN,
  ): CreateTableBuilder<TB, C | CN>
  /** A time as its column stores it. */
  time(date: Date): StoredTime
  /** Locks the rows of `table` that `query` reads, until the transaction ends. */
  lock<DB, TB extends keyof DB, O>(
    query: SelectQueryBuilder<DB, TB, O>,
    table: TB & string,
  ): SelectQueryBuilder<DB, TB, O>
  /** The host's label `key` is `value` (on PostgreSQL, served by the labels index). */
  labelIs(key: string, value: string): RawBuilder<SqlBool>
  /** The value of the host's label `key`, or null; `key` is written into the SQL as a literal (a fixed name, never input). */
  labelValue(key: string): RawBuilder<string | null>
  /** Indexes the hosts' labels for `labelIs`, where the dialect has such an index (migration 0003). */
  indexLabels(db: Kysely<unknown>): Promise<void>
  /** The host has no label `key`. */
  labelAbsent(key: string): RawBuilder<SqlBool>
  /**
   * Stores a report unless its id is already stored; then the host's new facts and state, and
   * prunes its history. True when stored.
   */
  storeReport(trx: Executor, q: Statements, isLatest: boolean, values: StoreReportParams): Promise<boolean>
  /** How many groups of reports may commit at once (see group-commit.ts). */
  readonly parallelCommits: number
  /** Stores a group of reports in fewer round trips than one at a time, where the dialect can. */
  readonly ingestGroup?: (trx: Transaction<Database>, group: readonly Ingest[]) => Promise<IngestResult[]>
}
