import { closeSync, openSync, readSync } from 'node:fs'
import { DriftwatchError } from '../../../errors.js'
import type { BlobVisitor } from './header.js'

// Berkeley DB backend (rpm < 4.16: RHEL/CentOS 7 and 8, Amazon Linux 2, SLES 12/15 SP2).
// `Packages` is a BDB hash database: key = header instance (uint32, the writer's byte order),
// value = header blob. Layout from libdb's dbinc/db_page.h; only what rpm writes is read.

const BDB_HASH_MAGIC = 0x061561
const BDB_PAGE_HEADER = 26
const P_HASH_UNSORTED = 2
const P_OVERFLOW = 7
const P_HASHMETA = 8
const P_HASH = 13
const H_KEYDATA = 1
const H_OFFPAGE = 3

function bdbError(file: string, message: string): DriftwatchError {
  return new DriftwatchError('INPUT_INVALID', `${file}: ${message}`, {
    hint: 'the rpm database may be damaged; on the host, `rpmdb --rebuilddb` rebuilds it',
  })
}

/** Hands every header blob of a Berkeley DB `Packages` file to `visit`. */
export function readBdbBlobs(file: string, visit: BlobVisitor): void {
  const fd = openSync(file, 'r')
  try {
    const meta = Buffer.alloc(512)
    if (readSync(fd, meta, 0, 512, 0) < 512) throw bdbError(file, 'too short for a Berkeley DB file')
    const le = meta.readUInt32LE(12) === BDB_HASH_MAGIC
    if (!le && meta.readUInt32BE(12) !== BDB_HASH_MAGIC) {
      throw bdbError(file, 'not a Berkeley DB hash database')
    }
    const u32 = (b: Buffer, at: number) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at))
    const u16 = (b: Buffer, at: number) => (le ? b.readUInt16LE(at) : b.readUInt16BE(at))
    const pageSize = u32(meta, 20)
    if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
      throw bdbError(file, `page size ${pageSize}`)
    }
    if (meta[24] !== 0) throw bdbError(file, 'encrypted Berkeley DB databases are not supported')
    if (meta[25] !== P_HASHMETA) throw bdbError(file, `page 0 is of type ${meta[25]}, not hash metadata`)
    // DBMETA_CHKSUM: checksummed pages have a longer header; rpm never asks for them.
    if (((meta[26] as number) & 1) !== 0) {
      throw bdbError(file, 'checksummed Berkeley DB pages are not supported')
    }
    const lastPage = u32(meta, 32)

    const page = Buffer.alloc(pageSize)
    const readPage = (pgno: number, into: Buffer) => {
      if (pgno > lastPage) throw bdbError(file, `reference to page ${pgno} beyond the last page ${lastPage}`)
      if (readSync(fd, into, 0, pageSize, pgno * pageSize) < pageSize) {
        throw bdbError(file, `page ${pgno} is truncated`)
      }
    }
    const overflow = Buffer.alloc(pageSize)
    const readOverflow = (first: number, length: number): Buffer => {
      const out = Buffer.alloc(length)
      let filled = 0
      let pgno = first
      for (let hops = 0; pgno !== 0 && filled < length; hops++) {
        if (hops > lastPage) throw bdbError(file, `overflow chain from page ${first} loops`)
        readPage(pgno, overflow)
        if (overflow[25] !== P_OVERFLOW) {
          throw bdbError(file, `page ${pgno} in an overflow chain is of type ${overflow[25]}`)
        }
        // On an overflow page the "high free offset" field holds the bytes of data it carries.
        const used = Math.min(u16(overflow, 22), pageSize - BDB_PAGE_HEADER, length - filled)
        overflow.copy(out, filled, BDB_PAGE_HEADER, BDB_PAGE_HEADER + used)
        filled += used
        pgno = u32(overflow, 16)
      }
      if (filled !== length) {
        throw bdbError(file, `overflow chain from page ${first} holds ${filled} of ${length} bytes`)
      }
      return out
    }
    // An item's bytes run from its offset to the previous item's offset (items grow down from the page end).
    const item = (p: Buffer, entries: number[], i: number): Buffer => {
      const start = entries[i] as number
      const end = i === 0 ? pageSize : (entries[i - 1] as number)
      if (start < BDB_PAGE_HEADER || end > pageSize || start >= end) {
        throw bdbError(file, 'hash page item out of bounds')
      }
      return p.subarray(start, end)
    }

    for (let pgno = 1; pgno <= lastPage; pgno++) {
      readPage(pgno, page)
      if (page[25] !== P_HASH && page[25] !== P_HASH_UNSORTED) continue
      const count = u16(page, 20)
      if (count % 2 !== 0) throw bdbError(file, `hash page ${pgno} has an odd number of items`)
      if (BDB_PAGE_HEADER + count * 2 > pageSize) throw bdbError(file, `hash page ${pgno} has ${count} items`)
      const entries = Array.from({ length: count }, (_, i) => u16(page, BDB_PAGE_HEADER + i * 2))
      for (let i = 0; i < count; i += 2) {
        const key = item(page, entries, i)
        const value = item(page, entries, i + 1)
        if (key[0] !== H_KEYDATA || key.length !== 5) {
          throw bdbError(file, `hash page ${pgno}: a key that is not an rpm instance`)
        }
        const hnum = u32(key, 1)
        // Instance 0 is rpm's counter of the highest instance in use, not a package.
        if (hnum === 0) continue
        if (value[0] === H_KEYDATA) {
          visit(hnum, value.subarray(1))
        } else if (value[0] === H_OFFPAGE && value.length >= 12) {
          visit(hnum, readOverflow(u32(value, 4), u32(value, 8)))
        } else {
          throw bdbError(file, `hash page ${pgno}: package #${hnum} is stored as item type ${value[0]}`)
        }
      }
    }
  } finally {
    closeSync(fd)
  }
}
