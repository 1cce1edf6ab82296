import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs'
import Database from 'better-sqlite3'
import { DriftwatchError, errnoCode } from '../../../errors.js'
import type { BlobVisitor } from './header.js'

// sqlite backend (rpm >= 4.16: Fedora 33+, RHEL 9, Amazon Linux 2023, Debian's rpm)

const SQLITE_MAGIC = 'SQLite format 3\0'

/** Hands every header blob of an `rpmdb.sqlite` file to `visit`, without writing beside it. */
export function readSqliteBlobs(file: string, visit: BlobVisitor): void {
  const head = Buffer.alloc(100)
  const fd = openSync(file, 'r')
  try {
    readSync(fd, head, 0, 100, 0)
  } finally {
    closeSync(fd)
  }
  if (head.toString('latin1', 0, 16) !== SQLITE_MAGIC) {
    throw new DriftwatchError('INPUT_INVALID', `${file}: not an sqlite database`, {
      hint: 'the rpm database may be damaged; on the host, `rpmdb --rebuilddb` rebuilds it',
    })
  }
  // rpm keeps its database in WAL mode. Opening a WAL database, even read-only, creates its
  // -shm and -wal files when they are missing: a write to the root, and impossible on a
  // read-only mount. sqlite removes the -shm only when the last connection closes, after
  // checkpointing, so without one the main file alone is the whole database: read a private
  // copy of it instead, switched to rollback mode so that sqlite needs no -shm.
  const wal = head[18] === 2
  if (wal && !existsSync(`${file}-shm`)) {
    querySqlite(file, sqliteCopy(file), visit)
    return
  }
  let db: Database.Database | undefined
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
    // The first statement is where a -shm that cannot be used shows.
    db.prepare('SELECT 1 FROM sqlite_master').get()
  } catch (error) {
    db?.close()
    // A read-only mount whose -shm sqlite cannot map: the copy reads all that was checkpointed.
    if (!wal || !(isSqliteError(error, 'SQLITE_CANTOPEN') || isSqliteError(error, 'SQLITE_READONLY'))) {
      throw error
    }
    db = sqliteCopy(file)
  }
  querySqlite(file, db, visit)
}

function sqliteCopy(file: string): Database.Database {
  const bytes = readFileSync(file)
  bytes[18] = 1
  bytes[19] = 1
  return new Database(bytes, { readonly: true })
}

/** True for better-sqlite3's error of that primary code or any of its extended codes. */
function isSqliteError(error: unknown, code: string): boolean {
  return errnoCode(error)?.startsWith(code) === true
}

function querySqlite(file: string, db: Database.Database, visit: BlobVisitor): void {
  try {
    const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'Packages'").get()
    if (table === undefined) {
      throw new DriftwatchError('INPUT_INVALID', `${file}: no Packages table, not an rpm database`, {
        hint: 'the rpm database may be damaged; on the host, `rpmdb --rebuilddb` rebuilds it',
      })
    }
    const rows = db.prepare('SELECT hnum, blob FROM Packages ORDER BY hnum').iterate() as IterableIterator<{
      hnum: number
      blob: unknown
    }>
    for (const { hnum, blob } of rows) {
      if (!Buffer.isBuffer(blob)) {
        throw new DriftwatchError('INPUT_INVALID', `${file}: package #${hnum}: its header is not a blob`, {
          hint: 'the rpm database may be damaged; on the host, `rpmdb --rebuilddb` rebuilds it',
        })
      }
      visit(hnum, blob)
    }
  } finally {
    db.close()
  }
}
