/*
 * The few system calls the files probe makes for every entry, without Node's per-call
 * overhead (a Stats object, BigInts and Dates for each lstat; a thrown error for each file
 * that has no capabilities): a directory listed and every entry lstat'ed in one call, fstat
 * into a caller's array, fgetxattr/flistxattr on an open descriptor, and a directory's
 * regular files read and hashed with plain reads. Nothing else: no parsing, no signal
 * handling. src/native/fsprobe-js.ts serves the same interface where this does not load.
 *
 * Stat results are written as doubles, STAT_FIELDS per entry, at the ST_* offsets of
 * constants.h (generated, with the TypeScript side, from constants.json).
 */
#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "constants.h"

static const char *errno_code(int err) {
  switch (err) {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ENOTDIR: return "ENOTDIR";
    case ELOOP: return "ELOOP";
    case EBADF: return "EBADF";
    case EIO: return "EIO";
    case ENOMEM: return "ENOMEM";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    default: return "EUNKNOWN";
  }
}

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", syscall, strerror(err));
  napi_throw_error(env, errno_code(err), message);
  return NULL;
}

/* A path argument: a string (UTF-8) or a Buffer holding the exact bytes. */
static int get_path(napi_env env, napi_value value, char *out, size_t size) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_string) {
    size_t len;
    if (napi_get_value_string_utf8(env, value, out, size, &len) != napi_ok || len >= size - 1) return -1;
    return 0;
  }
  bool is_buffer = false;
  napi_is_buffer(env, value, &is_buffer);
  if (!is_buffer) return -1;
  void *data;
  size_t len;
  napi_get_buffer_info(env, value, &data, &len);
  if (len >= size || memchr(data, 0, len) != NULL) return -1;
  memcpy(out, data, len);
  out[len] = 0;
  return 0;
}

static void fill_stat(double *f, const struct stat *st, int err) {
  if (err) {
    memset(f, 0, sizeof(double) * STAT_FIELDS);
    f[ST_ERRNO] = err;
    return;
  }
  f[ST_MODE] = st->st_mode;
  f[ST_UID] = st->st_uid;
  f[ST_GID] = st->st_gid;
  f[ST_SIZE] = (double)st->st_size;
  f[ST_DEV_HI] = (double)(uint32_t)((uint64_t)st->st_dev >> 32);
  f[ST_DEV_LO] = (double)(uint32_t)st->st_dev;
  f[ST_INO_HI] = (double)(uint32_t)((uint64_t)st->st_ino >> 32);
  f[ST_INO_LO] = (double)(uint32_t)st->st_ino;
  f[ST_MTIME_SEC] = (double)st->st_mtim.tv_sec;
  f[ST_MTIME_NSEC] = (double)st->st_mtim.tv_nsec;
  f[ST_CTIME_SEC] = (double)st->st_ctim.tv_sec;
  f[ST_CTIME_NSEC] = (double)st->st_ctim.tv_nsec;
  f[ST_ERRNO] = 0;
}

/*
 * The scan cache's path hash (src/probes/files/stat-cache.ts: pathHash), over a path's bytes:
 * two 32-bit lanes, FNV-1a and a multiply-rotate, mixed at the end with the length.
 */
typedef struct {
  uint32_t a, b, len;
} path_hash;

static void path_hash_init(path_hash *h) {
  h->a = 0x811c9dc5u;
  h->b = 0x9747b28cu;
  h->len = 0;
}

static void path_hash_update(path_hash *h, const unsigned char *p, size_t n) {
  uint32_t a = h->a, b = h->b;
  for (size_t i = 0; i < n; i++) {
    a = (a ^ p[i]) * 0x01000193u;
    b = (b ^ p[i]) * 0xcc9e2d51u;
    b = ((b << 15) | (b >> 17)) * 0x1b873593u;
  }
  h->a = a;
  h->b = b;
  h->len += (uint32_t)n;
}

static uint32_t fmix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x85ebca6bu;
  x ^= x >> 13;
  x *= 0xc2b2ae35u;
  return x ^ (x >> 16);
}

static void path_hash_final(const path_hash *h, uint32_t *hi, uint32_t *lo) {
  *hi = fmix32(h->a ^ (h->b * 0x85ebca6bu) ^ h->len);
  *lo = fmix32(h->b + h->a * 0xc2b2ae35u);
}

/* Scan cache records (see stat-cache.ts): CACHE_WORDS u32 words each, sorted by the first
 * CACHE_KEY_WORDS; words CACHE_KEY_WORDS..CACHE_STAT_WORDS-1 are the rest of the stat, word
 * CACHE_VERDICT the manifest entry index + 1 (0: none). */
#define CACHE_WORDS (CACHE_RECORD_BYTES / 4)

typedef struct {
  const uint32_t *words;
  size_t count;
  uint8_t *marks;
  size_t marks_len;
  uint8_t *hits;
  size_t hits_len;
} scan_cache;

static void cache_key(const struct stat *st, uint32_t hash_hi, uint32_t hash_lo, uint32_t *k) {
  uint64_t dev = (uint64_t)st->st_dev, ino = (uint64_t)st->st_ino, size = (uint64_t)st->st_size;
  uint64_t mtime = (uint64_t)(int64_t)st->st_mtim.tv_sec, ctime = (uint64_t)(int64_t)st->st_ctim.tv_sec;
  k[0] = (uint32_t)(dev >> 32);
  k[1] = (uint32_t)dev;
  k[2] = (uint32_t)(ino >> 32);
  k[3] = (uint32_t)ino;
  k[4] = hash_hi;
  k[5] = hash_lo;
  k[6] = (uint32_t)st->st_mode;
  k[7] = (uint32_t)st->st_uid;
  k[8] = (uint32_t)st->st_gid;
  k[9] = (uint32_t)(size >> 32);
  k[10] = (uint32_t)size;
  k[11] = (uint32_t)(mtime >> 32);
  k[12] = (uint32_t)mtime;
  k[13] = (uint32_t)st->st_mtim.tv_nsec;
  k[14] = (uint32_t)(ctime >> 32);
  k[15] = (uint32_t)ctime;
  k[16] = (uint32_t)st->st_ctim.tv_nsec;
}

static int compare_words(const uint32_t *a, const uint32_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
  return 0;
}

/* Marks the manifest entry a record's verdict names when the record has this key and stat;
 * returns 1 when it did. */
static int cache_mark(const scan_cache *c, const uint32_t *key) {
  size_t lo = 0, hi = c->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const uint32_t *r = c->words + mid * CACHE_WORDS;
    int order = compare_words(r, key, CACHE_KEY_WORDS);
    if (order < 0) {
      lo = mid + 1;
    } else if (order > 0) {
      hi = mid;
    } else {
      if (compare_words(r + CACHE_KEY_WORDS, key + CACHE_KEY_WORDS, CACHE_STAT_WORDS - CACHE_KEY_WORDS) != 0) return 0;
      uint32_t verdict = r[CACHE_VERDICT_WORD];
      if (verdict == 0 || verdict > c->marks_len || mid >= c->hits_len) return 0;
      c->marks[verdict - 1] = 1;
      c->hits[mid] = 1;
      return 1;
    }
  }
  return 0;
}

static int get_bytes(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  bool is_typedarray = false;
  if (napi_is_typedarray(env, value, &is_typedarray) != napi_ok || !is_typedarray) return -1;
  if (napi_get_typedarray_info(env, value, &type, length, data, &buffer, &offset) != napi_ok || type != want) return -1;
  return 0;
}


/*
 * scanDir(path, true): the same, but in a directory of at most LAZY_FILES_MAX regular files,
 * a regular file (by its directory entry's type) is not lstat'ed: its stat is mode S_IFREG
 * with errno NOT_STATED, and the caller stats it when it opens it (hashFiles), or itself. One
 * system call fewer per file for a walk that reads them.
 *
 * scanDir(path[, cache words: Uint32Array, marks: Uint8Array, hits: Uint8Array]):
 *   [names: Buffer (each name NUL-terminated), stats: Float64Array, marked?: Uint8Array]
 * Given a scan cache, each entry with a record of its very stat at its path whose verdict
 * names a manifest entry marks that entry (and the record as used), and is marked 1 in
 * `marked`: the caller has nothing more to do for it.
 */
static napi_value scan_dir(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX];
  if (argc < 1 || get_path(env, argv[0], path, sizeof path) != 0) {
    napi_throw_type_error(env, NULL, "scanDir(path) expects a path string or Buffer");
    return NULL;
  }
  scan_cache cache = {0};
  int with_cache = argc == 4;
  bool lazy_files = false;
  if (argc == 2 && napi_get_value_bool(env, argv[1], &lazy_files) != napi_ok) {
    napi_throw_type_error(env, NULL, "scanDir(path, lazyFiles) expects a path and a boolean");
    return NULL;
  }
  if (with_cache) {
    void *words, *marks, *hits;
    size_t words_len;
    if (get_bytes(env, argv[1], napi_uint32_array, &words, &words_len) != 0 ||
        get_bytes(env, argv[2], napi_uint8_array, &marks, &cache.marks_len) != 0 ||
        get_bytes(env, argv[3], napi_uint8_array, &hits, &cache.hits_len) != 0) {
      napi_throw_type_error(env, NULL, "scanDir(path, words, marks, hits) expects a Uint32Array and two Uint8Arrays");
      return NULL;
    }
    cache.words = words;
    cache.count = words_len / CACHE_WORDS;
    cache.marks = marks;
    cache.hits = hits;
  }
  /* The hash of every entry's path starts with its directory's and a slash. */
  path_hash dir_hash;
  path_hash_init(&dir_hash);
  size_t path_len = strlen(path);
  path_hash_update(&dir_hash, (const unsigned char *)path, path_len);
  if (path_len == 0 || path[path_len - 1] != '/') path_hash_update(&dir_hash, (const unsigned char *)"/", 1);
  /* O_NOFOLLOW: a directory swapped for a symlink since it was listed is not followed. */
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "opendir");
  DIR *dir = fdopendir(fd);
  if (!dir) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "fdopendir");
  }
  size_t names_cap = 4096, names_len = 0, stats_cap = 64, count = 0, regular = 0;
  char *names = malloc(names_cap);
  double *stats = malloc(stats_cap * STAT_FIELDS * sizeof(double));
  uint8_t *marked = malloc(stats_cap);
  if (!names || !stats || !marked) {
    free(names);
    free(stats);
    free(marked);
    closedir(dir);
    return throw_errno(env, ENOMEM, "scandir");
  }
  struct dirent *ent;
  errno = 0;
  while ((ent = readdir(dir)) != NULL) {
    const char *name = ent->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    size_t len = strlen(name) + 1;
    if (names_len + len > names_cap) {
      while (names_len + len > names_cap) names_cap *= 2;
      char *grown = realloc(names, names_cap);
      if (!grown) break;
      names = grown;
    }
    if (count == stats_cap) {
      double *grown = realloc(stats, stats_cap * 2 * STAT_FIELDS * sizeof(double));
      if (!grown) break;
      stats = grown;
      uint8_t *grown_marked = realloc(marked, stats_cap * 2);
      if (!grown_marked) break;
      marked = grown_marked;
      stats_cap *= 2;
    }
    memcpy(names + names_len, name, len);
    names_len += len;
    /* The type for now (in `marked`, which the stat pass below overwrites). */
    marked[count] = ent->d_type;
    if (ent->d_type == DT_REG) regular++;
    count++;
    errno = 0;
  }
  int read_err = errno;
  /* Regular files are left unstated only in a directory small enough that the walk keeps all
   * of its files in one job: a larger one is split by the files' sizes. */
  int lazy = lazy_files && regular <= LAZY_FILES_MAX;
  const char *name = names;
  for (size_t k = 0; !read_err && k < count; name += strlen(name) + 1, k++) {
    double *f = stats + k * STAT_FIELDS;
    if (lazy && marked[k] == DT_REG) {
      /* A regular file by its directory entry: its stat comes when it is opened. */
      memset(f, 0, sizeof(double) * STAT_FIELDS);
      f[ST_MODE] = S_IFREG;
      f[ST_ERRNO] = NOT_STATED;
      marked[k] = 0;
      continue;
    }
    marked[k] = 0;
    struct stat st;
    int rc = fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW);
    fill_stat(f, &st, rc == 0 ? 0 : errno);
    if (with_cache && rc == 0) {
      path_hash h = dir_hash;
      path_hash_update(&h, (const unsigned char *)name, strlen(name));
      uint32_t key[CACHE_STAT_WORDS], hi, lo;
      path_hash_final(&h, &hi, &lo);
      cache_key(&st, hi, lo, key);
      marked[k] = (uint8_t)cache_mark(&cache, key);
    }
  }
  closedir(dir);
  if (read_err) {
    free(names);
    free(stats);
    free(marked);
    return throw_errno(env, read_err, "readdir");
  }
  napi_value result, names_buffer, stats_buffer, stats_array;
  void *data;
  napi_create_buffer_copy(env, names_len, names, &data, &names_buffer);
  napi_create_arraybuffer(env, count * STAT_FIELDS * sizeof(double), &data, &stats_buffer);
  memcpy(data, stats, count * STAT_FIELDS * sizeof(double));
  napi_create_typedarray(env, napi_float64_array, count * STAT_FIELDS, stats_buffer, 0, &stats_array);
  napi_create_array_with_length(env, with_cache ? 3 : 2, &result);
  napi_set_element(env, result, 0, names_buffer);
  napi_set_element(env, result, 1, stats_array);
  if (with_cache) {
    napi_value marked_buffer, marked_array;
    napi_create_arraybuffer(env, count, &data, &marked_buffer);
    if (count) memcpy(data, marked, count);
    napi_create_typedarray(env, napi_uint8_array, count, marked_buffer, 0, &marked_array);
    napi_set_element(env, result, 2, marked_array);
  }
  free(names);
  free(stats);
  free(marked);
  return result;
}

static double *get_out(napi_env env, napi_value value, size_t *length) {
  napi_typedarray_type type;
  void *data;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, value, &type, length, &data, &buffer, &offset) != napi_ok || type != napi_float64_array ||
      *length < STAT_FIELDS)
    return NULL;
  return (double *)data;
}

/* lstat(path, out: Float64Array): errno, 0 on success; the result in out[0..STAT_FIELDS) */
static napi_value lstat_into(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX];
  size_t length;
  double *out = argc == 2 ? get_out(env, argv[1], &length) : NULL;
  if (!out || get_path(env, argv[0], path, sizeof path) != 0) {
    napi_throw_type_error(env, NULL, "lstat(path, out) expects a path and a Float64Array");
    return NULL;
  }
  struct stat st;
  int err = lstat(path, &st) == 0 ? 0 : errno;
  fill_stat(out, &st, err);
  napi_value result;
  napi_create_int32(env, err, &result);
  return result;
}

/* fstat(fd, out: Float64Array): errno, 0 on success */
static napi_value fstat_into(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  size_t length;
  double *out = argc == 2 ? get_out(env, argv[1], &length) : NULL;
  if (!out || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "fstat(fd, out) expects a number and a Float64Array");
    return NULL;
  }
  struct stat st;
  int err = fstat(fd, &st) == 0 ? 0 : errno;
  fill_stat(out, &st, err);
  napi_value result;
  napi_create_int32(env, err, &result);
  return result;
}

static int absent(int err) { return err == ENODATA || err == ENOTSUP || err == EOPNOTSUPP; }

/* getXattr(fd, name): Buffer, or null when the file has no such attribute */
static napi_value get_xattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  char name[256];
  size_t name_len;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &name_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "getXattr(fd, name) expects a number and a string");
    return NULL;
  }
  char stack[256];
  ssize_t n = fgetxattr(fd, name, stack, sizeof stack);
  napi_value result;
  void *data;
  if (n >= 0) {
    napi_create_buffer_copy(env, (size_t)n, stack, &data, &result);
    return result;
  }
  if (absent(errno)) {
    napi_get_null(env, &result);
    return result;
  }
  if (errno != ERANGE) return throw_errno(env, errno, "fgetxattr");
  ssize_t size = fgetxattr(fd, name, NULL, 0);
  if (size < 0) return throw_errno(env, errno, "fgetxattr");
  char *heap = malloc((size_t)size + 1);
  if (!heap) return throw_errno(env, ENOMEM, "fgetxattr");
  n = fgetxattr(fd, name, heap, (size_t)size);
  if (n < 0) {
    int err = errno;
    free(heap);
    return throw_errno(env, err, "fgetxattr");
  }
  napi_create_buffer_copy(env, (size_t)n, heap, &data, &result);
  free(heap);
  return result;
}

/* listXattr(fd): string[] */
static napi_value list_xattr(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "listXattr(fd) expects a number");
    return NULL;
  }
  napi_value result;
  napi_create_array(env, &result);
  ssize_t size = flistxattr(fd, NULL, 0);
  if (size < 0) return absent(errno) ? result : throw_errno(env, errno, "flistxattr");
  if (size == 0) return result;
  char *names = malloc((size_t)size);
  if (!names) return throw_errno(env, ENOMEM, "flistxattr");
  ssize_t n = flistxattr(fd, names, (size_t)size);
  if (n < 0) {
    int err = errno;
    free(names);
    return throw_errno(env, err, "flistxattr");
  }
  uint32_t index = 0;
  for (ssize_t at = 0; at < n;) {
    size_t len = strlen(names + at);
    napi_value name;
    napi_create_string_utf8(env, names + at, len, &name);
    napi_set_element(env, result, index++, name);
    at += (ssize_t)len + 1;
  }
  free(names);
  return result;
}

/*
 * hashFile(path, wantCaps, stat: Float64Array, digest: Buffer(32), caps: Buffer(>= 64)): number
 * Reads a regular file and hashes it (sha256, OpenSSL's as Node has it) in one call: open
 * without following a link and without blocking (a FIFO swapped in is not waited on), fstat,
 * read up to the size fstat gave, fstat again, and with wantCaps the security.capability
 * attribute through the same descriptor. Returns the capability's length (0: none) with the
 * second stat in `stat` and the digest in `digest`; or -errno when the open, a read or the
 * attribute failed; or HASH_CHANGED when the file changed while it was read, HASH_NOT_FILE when
 * what was opened is no regular file. O_NOATIME is dropped for good once refused (EPERM: not
 * our file).
 */
#include <openssl/evp.h>
#define HASH_BUFFER (128 * 1024)

static __thread unsigned char *hash_buffer;
static __thread int hash_noatime = 1;
/* Fetched once per thread: EVP_sha256() makes OpenSSL 3 look the implementation up again
 * at every init, which costs more than hashing a small file. */
static __thread EVP_MD *hash_md;
static __thread EVP_MD_CTX *hash_ctx;

/* Runs when a worker's environment is torn down, on its thread: a daemon starts workers for
 * every scan, so their per-thread state must not outlive them. */
static void free_hash_state(void *unused) {
  (void)unused;
  EVP_MD_CTX_free(hash_ctx);
  EVP_MD_free(hash_md);
  free(hash_buffer);
  hash_ctx = NULL;
  hash_md = NULL;
  hash_buffer = NULL;
}

static int same_content_stat(const struct stat *a, const struct stat *b) {
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
         a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
         a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

static int hash_open(int dirfd, const char *name) {
  int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  if (hash_noatime) {
    int fd = openat(dirfd, name, flags | O_NOATIME);
    if (fd >= 0 || errno != EPERM) return fd;
    hash_noatime = 0;
  }
  return openat(dirfd, name, flags);
}

/* The per-thread state hashing needs, made on first use; 0, or an errno. */
static int hash_state(void) {
  if (!hash_buffer && !(hash_buffer = malloc(HASH_BUFFER))) return ENOMEM;
  if (!hash_md && !(hash_md = EVP_MD_fetch(NULL, "SHA256", NULL))) return ENOMEM;
  if (!hash_ctx && !(hash_ctx = EVP_MD_CTX_new())) return ENOMEM;
  return 0;
}

/*
 * Hashes one file, `name` relative to `dirfd` (or a whole path with AT_FDCWD): the status as
 * hashFile returns it, with the stat after reading in stat_out, the digest in digest and the
 * capability in caps.
 */
static int32_t hash_at(int dirfd, const char *name, bool want_caps, double *stat_out, unsigned char *digest,
                       unsigned char *caps, size_t caps_len) {
  int32_t status = 0;
  int fd = hash_open(dirfd, name);
  if (fd < 0) return -errno;
  struct stat before, after;
  EVP_MD_CTX *ctx = hash_ctx;
  if (fstat(fd, &before) != 0) {
    status = -errno;
  } else if (!S_ISREG(before.st_mode)) {
    status = HASH_NOT_FILE;
  } else if (EVP_DigestInit_ex(ctx, hash_md, NULL) != 1) {
    status = -ENOMEM;
  } else {
    off_t total = 0;
    /* Stop at the size fstat gave: the fstat after reading catches a file that grew meanwhile. */
    while (status == 0 && total < before.st_size) {
      ssize_t n = pread(fd, hash_buffer, HASH_BUFFER, total);
      if (n < 0) {
        if (errno == EINTR) continue;
        status = -errno;
        break;
      }
      if (n == 0) break;
      EVP_DigestUpdate(ctx, hash_buffer, (size_t)n);
      total += n;
    }
    if (status == 0) {
      if (fstat(fd, &after) != 0) {
        status = -errno;
      } else if (!same_content_stat(&before, &after)) {
        status = HASH_CHANGED;
      } else {
        unsigned int length = 0;
        EVP_DigestFinal_ex(ctx, digest, &length);
        fill_stat(stat_out, &after, 0);
        if (want_caps) {
          ssize_t n = fgetxattr(fd, "security.capability", caps, caps_len);
          if (n >= 0) status = (int32_t)n;
          else if (!absent(errno)) status = -errno;
        }
      }
    }
  }
  close(fd);
  return status;
}

static napi_value hash_file(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX];
  bool want_caps = false;
  size_t stat_len, digest_len, caps_len;
  void *digest, *caps_out;
  double *out = argc == 5 ? get_out(env, argv[2], &stat_len) : NULL;
  if (!out || get_path(env, argv[0], path, sizeof path) != 0 || napi_get_value_bool(env, argv[1], &want_caps) != napi_ok ||
      napi_get_buffer_info(env, argv[3], &digest, &digest_len) != napi_ok || digest_len < 32 ||
      napi_get_buffer_info(env, argv[4], &caps_out, &caps_len) != napi_ok || caps_len < 64) {
    napi_throw_type_error(env, NULL, "hashFile(path, wantCaps, stat, digest, caps) expects a path, a boolean, a Float64Array and two Buffers");
    return NULL;
  }
  int err = hash_state();
  if (err) return throw_errno(env, err, "hashFile");
  napi_value result;
  napi_create_int32(env, hash_at(AT_FDCWD, path, want_caps, out, digest, caps_out, caps_len), &result);
  return result;
}

/*
 * hashFiles(dir, names: Buffer, starts: Int32Array, want: Uint8Array, status: Int32Array,
 *           stats: Float64Array, digests: Buffer, caps: Buffer)
 * hashFile for several files of one directory in one call: file k is the NUL-terminated name
 * at names[starts[k]], opened relative to the directory (one path lookup for the directory,
 * not one per file), with its capability read when want[k] is 1. Its status goes to
 * status[k], its stat to stats[k * STAT_FIELDS], its digest to digests[k * 32] and its
 * capability to caps[k * 64]. A directory that cannot be opened throws.
 */
static napi_value hash_files(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX];
  void *names, *starts, *want, *status, *digests, *caps;
  size_t names_len, count, want_len, status_len, stats_len, digests_len, caps_len;
  double *stats = argc == 8 ? get_out(env, argv[5], &stats_len) : NULL;
  if (!stats || get_path(env, argv[0], path, sizeof path) != 0 ||
      napi_get_buffer_info(env, argv[1], &names, &names_len) != napi_ok ||
      get_bytes(env, argv[2], napi_int32_array, &starts, &count) != 0 ||
      get_bytes(env, argv[3], napi_uint8_array, &want, &want_len) != 0 ||
      get_bytes(env, argv[4], napi_int32_array, &status, &status_len) != 0 ||
      napi_get_buffer_info(env, argv[6], &digests, &digests_len) != napi_ok ||
      napi_get_buffer_info(env, argv[7], &caps, &caps_len) != napi_ok || want_len < count || status_len < count ||
      stats_len < count * STAT_FIELDS || digests_len < count * DIGEST_BYTES || caps_len < count * CAPS_PER_FILE) {
    napi_throw_type_error(env, NULL, "hashFiles(dir, names, starts, want, status, stats, digests, caps) expects a path, a Buffer, an Int32Array, a Uint8Array, an Int32Array, a Float64Array and two Buffers, sized for every file");
    return NULL;
  }
  const int32_t *start = starts;
  for (size_t k = 0; k < count; k++) {
    if (start[k] < 0 || (size_t)start[k] >= names_len || !memchr((char *)names + start[k], 0, names_len - start[k])) {
      napi_throw_range_error(env, NULL, "hashFiles: a start is not that of a NUL-terminated name in names");
      return NULL;
    }
  }
  int err = hash_state();
  if (err) return throw_errno(env, err, "hashFiles");
  /* O_NOFOLLOW: a directory swapped for a symlink since it was listed is not followed. */
  int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd < 0) return throw_errno(env, errno, "opendir");
  for (size_t k = 0; k < count; k++) {
    ((int32_t *)status)[k] = hash_at(dirfd, (char *)names + start[k], ((uint8_t *)want)[k] != 0,
                                     stats + k * STAT_FIELDS, (unsigned char *)digests + k * DIGEST_BYTES,
                                     (unsigned char *)caps + k * CAPS_PER_FILE, CAPS_PER_FILE);
  }
  close(dirfd);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_add_env_cleanup_hook(env, free_hash_state, NULL);
  napi_property_descriptor props[] = {
      {"scanDir", NULL, scan_dir, NULL, NULL, NULL, napi_default, NULL},
      {"lstat", NULL, lstat_into, NULL, NULL, NULL, napi_default, NULL},
      {"fstat", NULL, fstat_into, NULL, NULL, NULL, napi_default, NULL},
      {"getXattr", NULL, get_xattr, NULL, NULL, NULL, napi_default, NULL},
      {"listXattr", NULL, list_xattr, NULL, NULL, NULL, napi_default, NULL},
      {"hashFile", NULL, hash_file, NULL, NULL, NULL, napi_default, NULL},
      {"hashFiles", NULL, hash_files, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
