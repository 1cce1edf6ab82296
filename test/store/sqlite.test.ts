import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { sql } from 'kysely'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { DriftwatchError } from '../../src/errors.js'
import { openStore, parseStoreUrl } from '../../src/store/open.js'
import { BUSY_TIMEOUT_MS, createSqliteKysely } from '../../src/store/sqlite.js'
import { REPO } from '../helpers/cli.js'
import { replacementContract, storeContract } from './contract.js'
import { hostQueriesContract } from './host-queries-contract.js'

let dir = ''
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'driftwatch-store-'))
})
afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

storeContract('sqlite', () => openStore(`sqlite://${join(dir, 'store.db')}`))
replacementContract('sqlite', () => openStore(`sqlite://${join(dir, 'store.db')}`))
hostQueriesContract('sqlite', () => openStore(`sqlite://${join(dir, 'store.db')}`))

describe('sqlite store', () => {
  test('the file and its directory are created private on first start, with WAL', async () => {
    const path = join(dir, 'var', 'lib', 'driftwatch', 'collector.db')
    const store = await openStore(`sqlite://${path}`)
    try {
      expect(store.dialect).toBe('sqlite')
      expect(statSync(join(dir, 'var', 'lib', 'driftwatch')).mode & 0o777).toBe(0o700)
      expect(statSync(path).mode & 0o777).toBe(0o600)
      await store.enrollHost({ hostId: 'h1', hostname: 'a', labels: {}, tokenHash: 't', at: new Date() })
      expect(existsSync(`${path}-wal`)).toBe(true)
    } finally {
      await store.close()
    }
  })

  test('every connection runs with WAL, synchronous=NORMAL, a busy timeout and foreign keys', async () => {
    const db = createSqliteKysely(join(dir, 'pragmas.db'))
    try {
      const pragma = async (name: string) =>
        Object.values((await sql.raw<Record<string, unknown>>(`pragma ${name}`).execute(db)).rows[0] ?? {})[0]
      expect(await pragma('journal_mode')).toBe('wal')
      expect(await pragma('synchronous')).toBe(1)
      expect(await pragma('busy_timeout')).toBe(BUSY_TIMEOUT_MS)
      expect(await pragma('foreign_keys')).toBe(1)
    } finally {
      await db.destroy()
    }
  })

  test('collectors starting at once on a new file migrate once (separate processes)', async () => {
    // better-sqlite3 is synchronous, so only processes race for real: each opens the store,
    // which migrates inside BEGIN IMMEDIATE.
    const path = join(dir, 'shared.db')
    const opener = `import('${pathToFileURL(join(REPO, 'dist', 'store', 'open.js')).href}')
      .then(({ openStore }) => openStore('sqlite://${path}')).then((s) => s.close())`
    const exits = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<number | null>((done) => {
            spawn(process.execPath, ['-e', opener], { stdio: 'inherit' }).on('exit', done)
          }),
      ),
    )
    expect(exits).toEqual([0, 0, 0, 0])
    const db = createSqliteKysely(path)
    try {
      const { rows } = await sql<{ name: string }>`select name from kysely_migration`.execute(db)
      expect(rows.map((r) => r.name)).toEqual([
        '0001_initial',
        '0002_replacements',
        '0003_fleet_scale',
        '0004_host_facts',
      ])
    } finally {
      await db.destroy()
    }
  })

  test('an in-memory store works and starts empty', async () => {
    const store = await openStore('sqlite::memory:')
    try {
      await store.ping()
      expect(await store.listHosts()).toEqual([])
    } finally {
      await store.close()
    }
  })

  test('a path that cannot be created is an IO error that names it', async () => {
    writeFileSync(join(dir, 'file'), '')
    const path = join(dir, 'file', 'store.db')
    const error = await openStore(`sqlite://${path}`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(DriftwatchError)
    expect(error).toMatchObject({ code: 'IO', message: expect.stringContaining(path) })
  })

  test('a file that is not a SQLite database is an IO error', async () => {
    const path = join(dir, 'not.db')
    writeFileSync(path, 'x'.repeat(4096))
    await expect(openStore(`sqlite://${path}`)).rejects.toMatchObject({ code: 'IO' })
  })
})

describe('store URLs', () => {
  test.each([
    {
      url: 'sqlite:///var/lib/driftwatch/collector.db',
      target: { dialect: 'sqlite', path: '/var/lib/driftwatch/collector.db' },
    },
    { url: 'sqlite://data/collector.db', target: { dialect: 'sqlite', path: resolve('data/collector.db') } },
    { url: 'sqlite::memory:', target: { dialect: 'sqlite', path: ':memory:' } },
    {
      url: 'postgres://dw:secret@db.internal:5432/driftwatch',
      target: {
        dialect: 'postgres',
        connectionString: 'postgres://dw:secret@db.internal:5432/driftwatch',
        schema: undefined,
      },
    },
    {
      url: 'postgresql://dw@db/driftwatch?schema=fleet_a&sslmode=require',
      target: {
        dialect: 'postgres',
        connectionString: 'postgresql://dw@db/driftwatch?sslmode=require',
        schema: 'fleet_a',
      },
    },
  ])('$url', ({ url, target }) => {
    expect(parseStoreUrl(url)).toEqual(target)
  })

  test.each([
    { url: 'mysql://root:hunter2@db/x', says: 'unknown kind of store' },
    { url: '/var/lib/driftwatch/collector.db', says: 'unknown kind of store' },
    { url: 'sqlite:collector.db', says: 'sqlite://<path>' },
    { url: 'sqlite://', says: 'names no file' },
    { url: 'sqlite:///var/lib/', says: 'directory' },
    { url: 'sqlite:///x.db?mode=ro', says: 'no parameters' },
    { url: 'postgres://dw:hunter2@db/x?schema=a;drop', says: 'not a plain PostgreSQL name' },
    { url: 'postgres://dw:hunter2@[oops/x', says: 'not a valid URL' },
  ])('$url is refused: $says', ({ url, says }) => {
    let error: unknown
    try {
      parseStoreUrl(url)
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(DriftwatchError)
    const { code, message, hint } = error as DriftwatchError
    expect(code).toBe('CONFIG_INVALID')
    expect(message).toContain(says)
    expect(message).not.toContain('hunter2')
    expect(message).toContain(url.replace('hunter2', '***'))
    expect(hint).toContain('sqlite:///')
    expect(hint).toContain('postgres://')
  })
})
