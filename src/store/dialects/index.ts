import type { Dialect, DialectOps } from './dialect.js'
import { postgresOps } from './postgres.js'
import { sqliteOps } from './sqlite.js'

/** Each dialect's SQL differences, by its name. */
export const DIALECTS: Readonly<Record<Dialect, DialectOps>> = { sqlite: sqliteOps, postgres: postgresOps }
