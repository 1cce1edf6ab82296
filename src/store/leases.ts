import { type Kysely, sql } from 'kysely'
import type { DialectOps } from './dialects/dialect.js'
import type { ReplacementDatabase } from './replacement-tables.js'
import type { ReplacementStore } from './replacements.js'
import { toDate } from './rows.js'

/** Named leases with a time to live: the scheduler dispatches only while it holds its lease. */
export function leaseStore(
  db: Kysely<ReplacementDatabase>,
  ops: DialectOps,
): Pick<ReplacementStore, 'acquireLease' | 'releaseLease' | 'lease'> {
  return {
    async acquireLease(name, holder, ttlMs, now) {
      const at = ops.time(now)
      const until = ops.time(new Date(now.getTime() + ttlMs))
      const row = await db
        .insertInto('leases')
        .values({ name, holder, acquired_at: at, expires_at: until })
        .onConflict((oc) =>
          oc
            .column('name')
            .doUpdateSet((eb) => ({
              // A renewal keeps the time the holder first took it; a takeover starts anew.
              acquired_at: sql`case when leases.holder = ${eb.ref('excluded.holder')} then leases.acquired_at else ${eb.ref('excluded.acquired_at')} end`,
              holder: eb.ref('excluded.holder'),
              expires_at: eb.ref('excluded.expires_at'),
            }))
            .where((eb) =>
              eb.or([eb('leases.holder', '=', eb.ref('excluded.holder')), eb('leases.expires_at', '<=', at)]),
            ),
        )
        .returning('holder')
        .executeTakeFirst()
      return row?.holder === holder
    },

    async releaseLease(name, holder) {
      await db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute()
    },

    async lease(name) {
      const row = await db
        .selectFrom('leases')
        .select(['name', 'holder', 'acquired_at', 'expires_at'])
        .where('name', '=', name)
        .executeTakeFirst()
      return (
        row && {
          name: row.name,
          holder: row.holder,
          acquiredAt: toDate(row.acquired_at),
          expiresAt: toDate(row.expires_at),
        }
      )
    },
  }
}
