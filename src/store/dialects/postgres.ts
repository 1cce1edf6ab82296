import { type SqlBool, sql } from 'kysely'
import type { DialectOps } from './dialect.js'
import { ingestGroup } from './postgres-group-ingest.js'

/**
 * PostgreSQL: timestamptz and jsonb; rows a transaction is about to change are locked FOR
 * UPDATE; and since a round trip costs more than a statement, a report is stored in one
 * statement and a group of reports in two (postgres-group-ingest.ts), with a few groups
 * committing while others fill.
 */
export const postgresOps: DialectOps = {
  name: 'postgres',
  columns: { time: 'timestamptz', json: 'jsonb' },
  addSequence: (table, column) =>
    table.addColumn(column, 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity()),
  time: (date) => date,
  lock: (query, table) => query.forUpdate(table),
  // Containment, which the GIN index on labels serves: no scan of the fleet.
  labelIs: (key, value) => sql<SqlBool>`hosts.labels @> ${JSON.stringify({ [key]: value })}::jsonb`,
  // A literal key: the same expression may appear in a GROUP BY, where a parameter would not match.
  labelValue: (key) => sql<string | null>`(hosts.labels ->> ${sql.lit(key)})`,
  async indexLabels(db) {
    await sql`create index hosts_labels on hosts using gin (labels jsonb_path_ops)`.execute(db)
  },
  labelAbsent: (key) => sql<SqlBool>`not (hosts.labels ? ${key})`,
  /** One statement, whose CTEs insert the report, update the host and prune. */
  async storeReport(trx, q, isLatest, values) {
    return (await (isLatest ? q.storeLatestCte : q.storeSeenCte).run(trx, values)).length > 0
  },
  parallelCommits: 4,
  ingestGroup,
}
