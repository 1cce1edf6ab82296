// Generated from src/native/constants.json by generate-constants.mjs: do not edit.

/** A stat result: STAT_FIELDS doubles in this order (64-bit device and inode numbers in 32-bit halves, exact in a double); errno 0 when the stat succeeded. */
export const STAT_FIELDS = 13
/** Where each field of a stat result is. */
export const ST = {
  mode: 0,
  uid: 1,
  gid: 2,
  size: 3,
  devHi: 4,
  devLo: 5,
  inoHi: 6,
  inoLo: 7,
  mtimeSec: 8,
  mtimeNsec: 9,
  ctimeSec: 10,
  ctimeNsec: 11,
  errno: 12,
} as const
/** The errno of a regular file that scanDir(path, true) listed by type only, unstated. */
export const NOT_STATED = -1
/** The most regular files a directory may hold and be listed with them unstated: the walk keeps that many in one job. */
export const LAZY_FILES_MAX = 64
/** hashFile status: the file changed while it was read. */
export const HASH_CHANGED = -100000
/** hashFile status: what was opened is no regular file. */
export const HASH_NOT_FILE = -100001
/** Bytes of a sha256 digest in a hashFiles result. */
export const DIGEST_BYTES = 32
/** Bytes of capability per file in a hashFile(s) result (a v3 capability is 24). */
export const CAPS_PER_FILE = 64
/** Bytes of one scan cache record (see src/probes/files/stat-cache.ts). */
export const CACHE_RECORD_BYTES = 112
/** A record's key, its first u32 words: device (2), inode (2), path hash (2); records are sorted by it. */
export const CACHE_KEY_WORDS = 6
/** The key and the rest of the stat: mode, uid, gid, size (2), mtime (2 + ns), ctime (2 + ns). */
export const CACHE_STAT_WORDS = 17
/** The word holding the manifest entry a record matched, + 1 (0: none). */
export const CACHE_VERDICT_WORD = 17
