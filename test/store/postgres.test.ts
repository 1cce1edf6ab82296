import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, afterEach, beforeEach, describe, expect, test } from 'vitest'
import { DriftwatchError } from '../../src/errors.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/types.js'
import { POSTGRES_URL, postgresUnreachable, schemaUrl } from '../helpers/stores.js'
import { replacementContract, storeContract } from './contract.js'
import { hostQueriesContract } from './host-queries-contract.js'

const unreachable = await postgresUnreachable()

/** Each test gets a schema of its own, dropped after it. */
const admin = unreachable === undefined ? new pg.Pool({ connectionString: POSTGRES_URL, max: 2 }) : undefined
admin?.on('error', () => {})
let schema = ''

describe.skipIf(unreachable !== undefined)('postgres', () => {
  beforeEach(() => {
    schema = `dw_test_${process.pid}_${randomBytes(4).toString('hex')}`
  })
  afterEach(async () => {
    await admin?.query(`drop schema if exists "${schema}" cascade`)
  })
  afterAll(async () => {
    await admin?.end()
  })

  storeContract('postgres', () => openStore(schemaUrl(schema)))
  replacementContract('postgres', () => openStore(schemaUrl(schema)))
  hostQueriesContract('postgres', () => openStore(schemaUrl(schema)))

  describe('postgres store', () => {
    test('?schema= creates the schema and keeps every table in it', async () => {
      const store = await openStore(schemaUrl(schema))
      try {
        expect(store.dialect).toBe('postgres')
        const { rows } = await (admin as pg.Pool).query<{ table_name: string }>(
          'select table_name from information_schema.tables where table_schema = $1 order by table_name',
          [schema],
        )
        expect(rows.map((r) => r.table_name)).toEqual([
          'alerts',
          'hosts',
          'images',
          'kysely_migration',
          'kysely_migration_lock',
          'leases',
          'notifications',
          'replacement_events',
          'replacements',
          'reports',
          'state_transitions',
        ])
      } finally {
        await store.close()
      }
    })

    test('collectors starting at once migrate once', async () => {
      const stores: Store[] = await Promise.all(Array.from({ length: 4 }, () => openStore(schemaUrl(schema))))
      try {
        const { rows } = await (admin as pg.Pool).query(`select name from "${schema}".kysely_migration`)
        expect(rows).toEqual([
          { name: '0001_initial' },
          { name: '0002_replacements' },
          { name: '0003_fleet_scale' },
          { name: '0004_host_facts' },
        ])
        await Promise.all(stores.map((s) => s.ping()))
      } finally {
        await Promise.all(stores.map((s) => s.close()))
      }
    })
  })
})

describe('postgres store errors', () => {
  test('an unreachable server is an IO error naming the URL, password masked', async () => {
    const url = 'postgres://dw:hunter2@127.0.0.1:1/driftwatch'
    const error = await openStore(url).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DriftwatchError)
    const { code, message, hint } = error as DriftwatchError
    expect(code).toBe('IO')
    expect(message).toContain('postgres://dw:***@127.0.0.1:1/driftwatch')
    expect(message).toContain('ECONNREFUSED')
    expect(message).not.toContain('hunter2')
    expect(hint).toMatch(/reachable/)
  })

  test.skipIf(unreachable !== undefined)('a database that does not exist is an IO error', async () => {
    const url = new URL(POSTGRES_URL)
    url.pathname = '/driftwatch_no_such_database'
    await expect(openStore(url.toString())).rejects.toMatchObject({
      code: 'IO',
      message: expect.stringContaining('does not exist'),
    })
  })
})
