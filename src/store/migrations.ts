import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely'
import type { Dialect, DialectOps } from './dialects/dialect.js'
import { DIALECTS } from './dialects/index.js'
import { createReplacementTables } from './replacement-tables.js'

/** Column types and keys differ between the dialects (see dialects/); everything else is the same SQL. */
function initial(ops: DialectOps): Migration {
  const { time, json: labels } = ops.columns
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('hosts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('hostname', 'text', (c) => c.notNull())
        .addColumn('labels', labels, (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('image_id', 'text')
        .addColumn('image_version', 'text')
        .addColumn('manifest_digest', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('state_reasons', 'text', (c) => c.notNull())
        .addColumn('state_since', time, (c) => c.notNull())
        .addColumn('enrolled_at', time, (c) => c.notNull())
        .addColumn('last_seen_at', time, (c) => c.notNull())
        .addColumn('last_report_at', time)
        .addColumn('last_heartbeat_at', time)
        .addColumn('drift_since', time)
        .addColumn('summary', 'text')
        .addColumn('latest_report_id', 'text')
        .addColumn('latest_scan_started_at', time)
        .addColumn('latest_report', 'text')
        .execute()
      await db.schema.createIndex('hosts_state').on('hosts').column('state').execute()
      await db.schema.createIndex('hosts_image').on('hosts').columns(['image_id', 'image_version']).execute()

      await db.schema
        .createTable('reports')
        // Orders a host's reports by receipt.
        .$call((t) => ops.addSequence(t, 'seq'))
        .addColumn('report_id', 'text', (c) => c.notNull().unique())
        .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
        .addColumn('received_at', time, (c) => c.notNull())
        .addColumn('scan_started_at', time, (c) => c.notNull())
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('manifest_digest', 'text', (c) => c.notNull())
        .addColumn('summary', 'text', (c) => c.notNull())
        .execute()
      // Serves a host's history newest first and the pruning of its oldest entries.
      await db.schema.createIndex('reports_host_seq').on('reports').columns(['host_id', 'seq']).execute()

      await db.schema
        .createTable('state_transitions')
        .$call((t) => ops.addSequence(t, 'seq'))
        .addColumn('host_id', 'text', (c) => c.notNull().references('hosts.id').onDelete('cascade'))
        .addColumn('from_state', 'text')
        .addColumn('to_state', 'text', (c) => c.notNull())
        .addColumn('reasons', 'text', (c) => c.notNull())
        .addColumn('at', time, (c) => c.notNull())
        .execute()
      await db.schema
        .createIndex('state_transitions_host_seq')
        .on('state_transitions')
        .columns(['host_id', 'seq'])
        .execute()

      await db.schema
        .createTable('images')
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('version', 'text', (c) => c.notNull())
        .addColumn('manifest_digest', 'text', (c) => c.notNull())
        .addColumn('public_keys', 'text', (c) => c.notNull())
        .addColumn('signed_by', 'text')
        .addColumn('registered_at', time, (c) => c.notNull())
        .addPrimaryKeyConstraint('images_pk', ['id', 'version'])
        .execute()
    },
  }
}

/**
 * Indexes for a fleet of 100,000 hosts (host-queries.ts): pages of hosts by state or image in id
 * order, the sweep's time ranges (each of its arms is a range on one of these columns), and
 * label filters through jsonb containment on PostgreSQL. (state, id) takes over from (state).
 */
function fleetScale(ops: DialectOps): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.dropIndex('hosts_state').execute()
      await db.schema.createIndex('hosts_state_id').on('hosts').columns(['state', 'id']).execute()
      await db.schema.createIndex('hosts_image_id').on('hosts').columns(['image_id', 'id']).execute()
      for (const column of ['last_seen_at', 'last_report_at', 'drift_since'])
        await db.schema.createIndex(`hosts_${column}`).on('hosts').column(column).execute()
      await ops.indexLabels(db)
    },
  }
}

/** The store's migrations, in order; compiled in, not read from disk. */
export function migrationProvider(dialect: Dialect): MigrationProvider {
  const migrations: Record<string, Migration> = {
    '0001_initial': initial(DIALECTS[dialect]),
    '0002_replacements': { up: (db) => createReplacementTables(db, DIALECTS[dialect]) },
    '0003_fleet_scale': fleetScale(DIALECTS[dialect]),
    // What the agent said of its host at enrolment, shown before the host's first report.
    '0004_host_facts': { up: (db) => db.schema.alterTable('hosts').addColumn('facts', 'text').execute() },
  }
  return { getMigrations: async () => migrations }
}

/**
 * Brings the schema up to date. Safe when several collectors start at once: kysely's
 * Migrator holds a PostgreSQL advisory lock and reads what has run only once it holds it;
 * on SQLite the run is one BEGIN IMMEDIATE transaction (see sqlite.ts), which does the same.
 * `schema` names the PostgreSQL schema of the migration tables, which kysely otherwise
 * looks for in every schema of the database.
 */
export async function migrateToLatest(db: Kysely<unknown>, dialect: Dialect, schema?: string): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: migrationProvider(dialect),
    ...(schema === undefined ? {} : { migrationTableSchema: schema }),
  })
  const { error, results } = await migrator.migrateToLatest()
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName
    throw new Error(`store migration ${failed ?? ''} failed: ${describe(error)}`, { cause: error })
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
