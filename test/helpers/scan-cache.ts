import type { BigIntStats } from 'node:fs'

/*
 * The scan cache file's layout (src/probes/files/stat-cache.ts), for tests that forge one: a
 * 96-byte header (record count at byte 8), then 112-byte records of little-endian u32 words:
 * 0-1 dev, 2-3 ino, 4-5 path hash, 6 mode, 7 uid, 8 gid, 9-10 size, 11-12 mtime sec,
 * 13 mtime ns, 14-15 ctime sec, 16 ctime ns, 17 verdict (index + 1), ...
 */
export const CACHE_HEADER = 96
export const CACHE_RECORD = 112

/** The byte offset of each record in a cache file's bytes. */
export function recordOffsets(data: Buffer): number[] {
  const out: number[] = []
  for (
    let at = CACHE_HEADER;
    at + CACHE_RECORD <= CACHE_HEADER + data.readUInt32LE(8) * CACHE_RECORD;
    at += CACHE_RECORD
  )
    out.push(at)
  return out
}

/**
 * Makes every record of the inode `st` names claim the mtime and ctime `st` has now, leaving
 * the rest (digest, verdict, checksum) as it was: a forgery. Returns how many it changed.
 */
export function forgeRecordTimes(data: Buffer, st: BigIntStats): number {
  let forged = 0
  for (const at of recordOffsets(data)) {
    if (data.readUInt32LE(at + 12) !== Number(st.ino)) continue
    data.writeUInt32LE(Number(st.mtimeNs / 1_000_000_000n), at + 48)
    data.writeUInt32LE(Number(st.mtimeNs % 1_000_000_000n), at + 52)
    data.writeUInt32LE(Number(st.ctimeNs / 1_000_000_000n), at + 60)
    data.writeUInt32LE(Number(st.ctimeNs % 1_000_000_000n), at + 64)
    forged++
  }
  return forged
}
