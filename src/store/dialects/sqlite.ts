import { type SqlBool, sql } from 'kysely'
import type { DialectOps } from './dialect.js'

/**
 * SQLite: times are integer milliseconds (it has no time type); JSON is text; there is one
 * writer at a time, so a single group commit and no row locks (BEGIN IMMEDIATE, see
 * ../sqlite.ts, already serializes writers).
 */
export const sqliteOps: DialectOps = {
  name: 'sqlite',
  columns: { time: 'integer', json: 'text' },
  // INTEGER PRIMARY KEY is the rowid: always above every row present, so it orders by insertion.
  addSequence: (table, column) => table.addColumn(column, 'integer', (c) => c.primaryKey()),
  time: (date) => date.getTime(),
  lock: (query) => query,
  // json_each, since `->>` would read a key such as `a.b` as a path.
  labelIs: (key, value) =>
    sql<SqlBool>`exists (select 1 from json_each(hosts.labels) as l where l.key = ${key} and l.value = ${value})`,
  // A JSON path would read a key such as `a.b` as a path: json_each compares plain keys.
  labelValue: (key) =>
    sql<string | null>`(select l.value from json_each(hosts.labels) as l where l.key = ${sql.lit(key)})`,
  // SQLite has no index into JSON documents; a label filter reads the hosts it is given.
  async indexLabels() {},
  labelAbsent: (key) =>
    sql<SqlBool>`not exists (select 1 from json_each(hosts.labels) as l where l.key = ${key})`,
  /** Three statements: SQLite has no writing CTEs, and no round trips to save. */
  async storeReport(trx, q, isLatest, values) {
    const [stored] = await q.insertReport.run(trx, values)
    if (stored === undefined) return false
    await (isLatest ? q.updateLatest : q.updateSeen).run(trx, values)
    await q.pruneHistory.run(trx, values)
    return true
  },
  parallelCommits: 1,
}
