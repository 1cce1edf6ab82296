/* Generated from src/native/constants.json by generate-constants.mjs: do not edit. */
#ifndef DRIFTWATCH_CONSTANTS_H
#define DRIFTWATCH_CONSTANTS_H

/* A stat result: STAT_FIELDS doubles in this order (64-bit device and inode numbers in 32-bit halves, exact in a double); errno 0 when the stat succeeded. */
#define STAT_FIELDS 13
#define ST_MODE 0
#define ST_UID 1
#define ST_GID 2
#define ST_SIZE 3
#define ST_DEV_HI 4
#define ST_DEV_LO 5
#define ST_INO_HI 6
#define ST_INO_LO 7
#define ST_MTIME_SEC 8
#define ST_MTIME_NSEC 9
#define ST_CTIME_SEC 10
#define ST_CTIME_NSEC 11
#define ST_ERRNO 12

/* The errno of a regular file that scanDir(path, true) listed by type only, unstated. */
#define NOT_STATED (-1)
/* The most regular files a directory may hold and be listed with them unstated: the walk keeps that many in one job. */
#define LAZY_FILES_MAX (64)
/* hashFile status: the file changed while it was read. */
#define HASH_CHANGED (-100000)
/* hashFile status: what was opened is no regular file. */
#define HASH_NOT_FILE (-100001)
/* Bytes of a sha256 digest in a hashFiles result. */
#define DIGEST_BYTES (32)
/* Bytes of capability per file in a hashFile(s) result (a v3 capability is 24). */
#define CAPS_PER_FILE (64)
/* Bytes of one scan cache record (see src/probes/files/stat-cache.ts). */
#define CACHE_RECORD_BYTES (112)
/* A record's key, its first u32 words: device (2), inode (2), path hash (2); records are sorted by it. */
#define CACHE_KEY_WORDS (6)
/* The key and the rest of the stat: mode, uid, gid, size (2), mtime (2 + ns), ctime (2 + ns). */
#define CACHE_STAT_WORDS (17)
/* The word holding the manifest entry a record matched, + 1 (0: none). */
#define CACHE_VERDICT_WORD (17)

#endif
