/*
 * The few system calls the files probe makes for every entry, without Node's per-call
 * overhead (a Stats object, BigInts and Dates for each lstat; a thrown error for each file
 * that has no capabilities): a directory listed and every entry lstat'ed in one call, fstat
 * into a caller's array, and fgetxattr/flistxattr on an open descriptor.
 *
 * Stat results are written as doubles, STAT_FIELDS per entry, in this order (64-bit device
 * and inode numbers are split in 32-bit halves so that every value is exact in a double):
 *   mode, uid, gid, size, dev_hi, dev_lo, ino_hi, ino_lo,
 *   mtime_sec, mtime_nsec, ctime_sec, ctime_nsec, errno (0 when the stat succeeded)
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

#define STAT_FIELDS 13

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
    f[12] = err;
    return;
  }
  f[0] = st->st_mode;
  f[1] = st->st_uid;
  f[2] = st->st_gid;
  f[3] = (double)st->st_size;
  f[4] = (double)(uint32_t)((uint64_t)st->st_dev >> 32);
  f[5] = (double)(uint32_t)st->st_dev;
  f[6] = (double)(uint32_t)((uint64_t)st->st_ino >> 32);
  f[7] = (double)(uint32_t)st->st_ino;
  f[8] = (double)st->st_mtim.tv_sec;
  f[9] = (double)st->st_mtim.tv_nsec;
  f[10] = (double)st->st_ctim.tv_sec;
  f[11] = (double)st->st_ctim.tv_nsec;
  f[12] = 0;
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
#define CACHE_WORDS 28
#define CACHE_KEY_WORDS 6
#define CACHE_STAT_WORDS 17
#define CACHE_VERDICT 17

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
      uint32_t verdict = r[CACHE_VERDICT];
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

/* The errno of an entry scanDir(path, true) did not stat: a regular file by its directory entry. */
#define NOT_STATED (-1)
/* Regular files a directory may hold and still be listed with them unstated: the walk's
 * FILES_PER_JOB (walk-worker.ts), the most it keeps in one job without knowing their sizes. */
#define LAZY_FILES_MAX 64

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
      f[0] = S_IFREG;
      f[12] = NOT_STATED;
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
 * The outline of a JSON document that is one object: where each top-level member's key and
 * value begin and end, and for an array value how many elements it holds. Only the structure
 * is followed (strings, brackets, commas); the parts a caller uses are parsed by JSON.parse,
 * which validates them. A manifest's files are tens of megabytes: this lets a reader take
 * the rest without parsing them.
 */
#define OUTLINE_FIELDS 5

/* Index just past the string starting at d[i] == '"', or 0 when it does not end. */
static size_t skip_string(const unsigned char *d, size_t len, size_t i) {
  size_t start = ++i;
  for (;;) {
    const unsigned char *q = memchr(d + i, '"', len - i);
    if (!q) return 0;
    size_t at = (size_t)(q - d);
    size_t slashes = 0;
    while (at - slashes > start && d[at - slashes - 1] == '\\') slashes++;
    if (slashes % 2 == 0) return at + 1;
    i = at + 1;
  }
}

static size_t skip_ws(const unsigned char *d, size_t len, size_t i) {
  while (i < len && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t')) i++;
  return i;
}

/* Index just past the value starting at d[i], or 0 when it is cut short. For an array, its
 * element count goes to *count (left alone otherwise). */
static size_t skip_value(const unsigned char *d, size_t len, size_t i, double *count) {
  if (i >= len) return 0;
  unsigned char c = d[i];
  if (c == '"') return skip_string(d, len, i);
  if (c != '{' && c != '[') {
    while (i < len && d[i] != ',' && d[i] != '}' && d[i] != ']' && d[i] != ' ' && d[i] != '\n' &&
           d[i] != '\r' && d[i] != '\t')
      i++;
    return i;
  }
  int is_array = c == '[';
  size_t depth = 0, commas = 0;
  int empty = 1;
  for (; i < len; i++) {
    c = d[i];
    if (c == '"') {
      if (depth == 1) empty = 0;
      i = skip_string(d, len, i);
      if (!i) return 0;
      i--;
    } else if (c == '{' || c == '[') {
      if (depth == 1) empty = 0;
      depth++;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) {
        if (is_array && count) *count = empty ? 0 : (double)(commas + 1);
        return i + 1;
      }
    } else if (c == ',') {
      if (depth == 1) commas++;
    } else if (depth == 1 && c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      empty = 0;
    }
  }
  return 0;
}

/*
 * The manifest's file entries indexed by path, for walk workers to tell on their own that an
 * entry they recorded is exactly the manifest's: the entry's canonical JSON (as
 * fileEntryJson writes it) is byte for byte the manifest entry's text, but for the
 * manifest's "package" member, which a walk never records. Such an entry is marked and
 * never crosses to the main thread; anything else (no entry at that path, any difference,
 * a manifest written another way) is left to the comparison in JavaScript, which is the
 * reference: this only finds, faster, the entries it would find equal.
 *
 * The index lives in a Uint32Array over shared memory, next to the manifest's bytes:
 *   [0] entry count  [1] slot count (a power of two, at least twice the entries)
 *   then per entry k, 4 words: text start, text end, path start, path end (inside the quotes)
 *   then per slot, 2 words: FNV-1a hash of the path's bytes, entry index + 1 (0: empty)
 */
#define INDEX_HEADER 2
#define INDEX_ENTRY 4

/* The value of the top-level member `key` (with its quotes) of the object d[s, e): its
 * member's start (the key's opening quote) and the value's bounds. Canonical JSON only: no
 * whitespace. 0 when the object has no such member or is not as expected. */
static int find_member(const unsigned char *d, size_t s, size_t e, const char *key, size_t key_len, size_t *member,
                       size_t *value, size_t *value_end) {
  if (s >= e || d[s] != '{') return 0;
  size_t i = s + 1;
  while (i < e && d[i] == '"') {
    size_t key_start = i;
    i = skip_string(d, e, i);
    if (!i || i >= e || d[i] != ':') return 0;
    size_t v = i + 1;
    i = skip_value(d, e, v, NULL);
    if (!i || i == v) return 0;
    if (i - v > 0 && (size_t)(v - 1 - key_start) == key_len && memcmp(d + key_start, key, key_len) == 0) {
      *member = key_start;
      *value = v;
      *value_end = i;
      return 1;
    }
    if (i < e && d[i] == ',') i++;
    else break;
  }
  return 0;
}

/* Whether d[s, e) is a JSON string as JSON.parse takes it: quoted, no control characters,
 * only valid escapes. */
static int valid_json_string(const unsigned char *d, size_t s, size_t e) {
  if (e - s < 2 || d[s] != '"' || d[e - 1] != '"') return 0;
  for (size_t i = s + 1; i < e - 1; i++) {
    if (d[i] < 0x20) return 0;
    if (d[i] != '\\') continue;
    if (++i >= e - 1) return 0;
    if (d[i] == 'u') {
      for (int k = 1; k <= 4; k++) {
        unsigned char h = i + k < e - 1 ? d[i + k] : 0;
        if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return 0;
      }
      i += 4;
    } else if (!strchr("\"\\/bfnrt", d[i])) {
      return 0;
    }
  }
  return 1;
}

static uint32_t fnv1a(const unsigned char *p, size_t n) {
  uint32_t h = 0x811c9dc5u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x01000193u;
  return h;
}

/* The path string of an entry's text d[s, e), inside its quotes; 0 when there is none. */
static int entry_path(const unsigned char *d, size_t s, size_t e, size_t *start, size_t *end) {
  size_t member, value, value_end;
  if (!find_member(d, s, e, "\"path\"", 6, &member, &value, &value_end)) return 0;
  if (d[value] != '"' || value_end - value < 2) return 0;
  *start = value + 1;
  *end = value_end - 1;
  return 1;
}

/*
 * Fills `index` (INDEX_HEADER + INDEX_ENTRY * count + 2 * slots words, slots a power of two at
 * least twice count) for the entries whose texts are at spans (start, end pairs) in d[0, len).
 * Returns count, or -1 when some entry has no path, or two share one.
 */
static int32_t index_core(const unsigned char *d, size_t len, const double *spans, size_t count, uint32_t *index,
                          size_t slots) {
  uint32_t *entries = index + INDEX_HEADER, *table = entries + INDEX_ENTRY * count;
  memset(table, 0, 2 * slots * sizeof(uint32_t));
  index[0] = (uint32_t)count;
  index[1] = (uint32_t)slots;
  for (size_t k = 0; k < count; k++) {
    double s = spans[2 * k], e = spans[2 * k + 1];
    size_t ps, pe;
    if (!(s >= 0 && e <= (double)len && s < e && e < 4294967296.0) || !entry_path(d, (size_t)s, (size_t)e, &ps, &pe))
      return -1;
    uint32_t *entry = entries + INDEX_ENTRY * k;
    entry[0] = (uint32_t)s;
    entry[1] = (uint32_t)e;
    entry[2] = (uint32_t)ps;
    entry[3] = (uint32_t)pe;
    uint32_t h = fnv1a(d + ps, pe - ps);
    for (size_t j = h & (slots - 1);; j = (j + 1) & (slots - 1)) {
      uint32_t *slot = table + 2 * j;
      if (slot[1] == 0) {
        slot[0] = h;
        slot[1] = (uint32_t)k + 1;
        break;
      }
      const uint32_t *other = entries + INDEX_ENTRY * (slot[1] - 1);
      /* A path listed twice: the comparison in JavaScript knows which entry counts. */
      if (slot[0] == h && other[3] - other[2] == pe - ps && memcmp(d + other[2], d + ps, pe - ps) == 0) return -1;
    }
  }
  return (int32_t)count;
}

/* Whether `index_len` words hold an index of `count` entries with index[1] slots. */
static int index_sized(size_t index_len, size_t count, size_t slots) {
  return slots >= 2 * count && slots > 0 && (slots & (slots - 1)) == 0 &&
         index_len == INDEX_HEADER + INDEX_ENTRY * count + 2 * slots;
}

/* Whether the observed text o equals the manifest entry d[s, e) but for its "package" member. */
static int same_but_package(const unsigned char *d, size_t s, size_t e, const unsigned char *o, size_t olen) {
  size_t member, value, value_end;
  if (!find_member(d, s, e, "\"package\"", 9, &member, &value, &value_end))
    return olen == e - s && memcmp(o, d + s, olen) == 0;
  /* "path" sorts after "package" and every entry has one: a comma always follows. */
  if (value_end >= e || d[value_end] != ',' || !valid_json_string(d, value, value_end)) return 0;
  size_t before = member - s, after = e - (value_end + 1);
  return olen == before + after && memcmp(o, d + s, before) == 0 && memcmp(o + before, d + value_end + 1, after) == 0;
}

/*
 * matchEntries(bytes: Uint8Array, index: Uint32Array, texts: Buffer, marks: Uint8Array,
 *              verdicts: Int32Array): void
 * For each of the NUL-separated entry texts (canonical JSON; an empty one matches nothing):
 * the index of the manifest entry it equals but for "package", marked 1 in marks; or -1.
 */
static napi_value match_entries(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *bytes, *index_data, *texts, *marks_data, *verdicts_data;
  size_t len, index_len, texts_len, marks_len, verdicts_len;
  if (argc < 5 || get_bytes(env, argv[0], napi_uint8_array, &bytes, &len) != 0 ||
      get_bytes(env, argv[1], napi_uint32_array, &index_data, &index_len) != 0 ||
      napi_get_buffer_info(env, argv[2], &texts, &texts_len) != napi_ok ||
      get_bytes(env, argv[3], napi_uint8_array, &marks_data, &marks_len) != 0 ||
      get_bytes(env, argv[4], napi_int32_array, &verdicts_data, &verdicts_len) != 0) {
    napi_throw_type_error(env, NULL, "matchEntries(bytes, index, texts, marks, verdicts) expects a Uint8Array, a Uint32Array, a Buffer, a Uint8Array and an Int32Array");
    return NULL;
  }
  const unsigned char *d = bytes;
  const uint32_t *index = index_data;
  size_t count = index_len >= INDEX_HEADER ? index[0] : 0, slots = index_len >= INDEX_HEADER ? index[1] : 0;
  if (index_len < INDEX_HEADER || slots == 0 || (slots & (slots - 1)) != 0 ||
      index_len != INDEX_HEADER + INDEX_ENTRY * count + 2 * slots || marks_len < count) {
    napi_throw_range_error(env, NULL, "matchEntries: not an index made by indexEntries, or marks too short");
    return NULL;
  }
  const uint32_t *entries = index + INDEX_HEADER, *table = entries + INDEX_ENTRY * count;
  uint8_t *marks = marks_data;
  int32_t *verdicts = verdicts_data;
  const unsigned char *t = texts;
  size_t at = 0;
  for (size_t k = 0; k < verdicts_len; k++) {
    verdicts[k] = -1;
    if (at > texts_len) continue;
    const unsigned char *nul = memchr(t + at, 0, texts_len - at);
    size_t end = nul ? (size_t)(nul - t) : texts_len;
    size_t ps, pe;
    if (end > at && entry_path(t, at, end, &ps, &pe)) {
      uint32_t h = fnv1a(t + ps, pe - ps);
      for (size_t j = h & (slots - 1);; j = (j + 1) & (slots - 1)) {
        const uint32_t *slot = table + 2 * j;
        if (slot[1] == 0) break;
        const uint32_t *entry = entries + INDEX_ENTRY * (slot[1] - 1);
        if (slot[0] != h || entry[3] - entry[2] != pe - ps || entry[1] > len || memcmp(d + entry[2], t + ps, pe - ps) != 0)
          continue;
        if (same_but_package(d, entry[0], entry[1], t + at, end - at)) {
          verdicts[k] = (int32_t)(slot[1] - 1);
          marks[slot[1] - 1] = 1;
        }
        break;
      }
    }
    at = end + 1;
  }
  return NULL;
}

/* outlineJson(buffer): Float64Array of OUTLINE_FIELDS per top-level member (key start, key end,
 * value start, value end, element count or -1), or null when the bytes are not one object. */
static napi_value outline_json(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_buffer = false;
  if (argc < 1 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer) {
    napi_throw_type_error(env, NULL, "outlineJson(buffer) expects a Buffer");
    return NULL;
  }
  void *data;
  size_t len;
  napi_get_buffer_info(env, argv[0], &data, &len);
  const unsigned char *d = data;
  napi_value result;
  napi_get_null(env, &result);
  size_t cap = 16, n = 0;
  double *fields = malloc(cap * OUTLINE_FIELDS * sizeof(double));
  if (!fields) return throw_errno(env, ENOMEM, "outlineJson");
  size_t i = skip_ws(d, len, 0);
  if (i >= len || d[i] != '{') goto done;
  i = skip_ws(d, len, i + 1);
  if (i < len && d[i] == '}') {
    i++;
  } else {
    for (;;) {
      if (i >= len || d[i] != '"') goto done;
      size_t key_start = i;
      i = skip_string(d, len, i);
      if (!i) goto done;
      size_t key_end = i;
      i = skip_ws(d, len, i);
      if (i >= len || d[i] != ':') goto done;
      i = skip_ws(d, len, i + 1);
      size_t value_start = i;
      double count = -1;
      i = skip_value(d, len, i, &count);
      if (!i || i == value_start) goto done;
      if (n == cap) {
        cap *= 2;
        double *grown = realloc(fields, cap * OUTLINE_FIELDS * sizeof(double));
        if (!grown) goto done;
        fields = grown;
      }
      double *f = fields + n++ * OUTLINE_FIELDS;
      f[0] = (double)key_start;
      f[1] = (double)key_end;
      f[2] = (double)value_start;
      f[3] = (double)i;
      f[4] = count;
      i = skip_ws(d, len, i);
      if (i < len && d[i] == ',') {
        i = skip_ws(d, len, i + 1);
        continue;
      }
      if (i < len && d[i] == '}') {
        i++;
        break;
      }
      goto done;
    }
  }
  if (skip_ws(d, len, i) != len) goto done;
  void *out;
  napi_value array_buffer;
  napi_create_arraybuffer(env, n * OUTLINE_FIELDS * sizeof(double), &out, &array_buffer);
  memcpy(out, fields, n * OUTLINE_FIELDS * sizeof(double));
  napi_create_typedarray(env, napi_float64_array, n * OUTLINE_FIELDS, array_buffer, 0, &result);
done:
  free(fields);
  return result;
}

/* outlineJsonArray(buffer, start, end): Float64Array of (start, end) per element of the array
 * at buffer[start, end), or null when it is not one array. */
/* The (start, end) of each element of the JSON array at d[start, end), malloc'ed, with their
 * number in *count; NULL when it is not one array. */
static double *array_spans(const unsigned char *d, size_t start, size_t end, size_t *count) {
  size_t len = end, i = start, cap = 1024, n = 0;
  double *spans = malloc(cap * 2 * sizeof(double));
  if (!spans) return NULL;
  if (i >= len || d[i] != '[') goto fail;
  i = skip_ws(d, len, i + 1);
  if (i < len && d[i] == ']') {
    i++;
  } else {
    for (;;) {
      size_t element_start = i;
      i = skip_value(d, len, i, NULL);
      if (!i || i == element_start) goto fail;
      if (n == cap) {
        cap *= 2;
        double *grown = realloc(spans, cap * 2 * sizeof(double));
        if (!grown) goto fail;
        spans = grown;
      }
      spans[2 * n] = (double)element_start;
      spans[2 * n + 1] = (double)i;
      n++;
      i = skip_ws(d, len, i);
      if (i < len && d[i] == ',') {
        i = skip_ws(d, len, i + 1);
        continue;
      }
      if (i < len && d[i] == ']') {
        i++;
        break;
      }
      goto fail;
    }
  }
  if (i != len) goto fail;
  *count = n;
  return spans;
fail:
  free(spans);
  return NULL;
}

static napi_value outline_json_array(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_buffer = false;
  double start_arg, end_arg;
  if (argc < 3 || napi_is_buffer(env, argv[0], &is_buffer) != napi_ok || !is_buffer ||
      napi_get_value_double(env, argv[1], &start_arg) != napi_ok ||
      napi_get_value_double(env, argv[2], &end_arg) != napi_ok) {
    napi_throw_type_error(env, NULL, "outlineJsonArray(buffer, start, end) expects a Buffer and two offsets");
    return NULL;
  }
  void *data;
  size_t buffer_len;
  napi_get_buffer_info(env, argv[0], &data, &buffer_len);
  napi_value result;
  napi_get_null(env, &result);
  if (start_arg < 0 || end_arg < start_arg || end_arg > (double)buffer_len) return result;
  size_t n = 0;
  double *spans = array_spans(data, (size_t)start_arg, (size_t)end_arg, &n);
  if (!spans) return result;
  void *out;
  napi_value array_buffer;
  napi_create_arraybuffer(env, n * 2 * sizeof(double), &out, &array_buffer);
  if (n) memcpy(out, spans, n * 2 * sizeof(double));
  napi_create_typedarray(env, napi_float64_array, n * 2, array_buffer, 0, &result);
  free(spans);
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
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#define HASH_CHANGED (-100000)
#define HASH_NOT_FILE (-100001)
#define HASH_BUFFER (128 * 1024)
/*
 * Files this large are hashed through a mapping of the page cache, a window at a time, not
 * copied out of it by read(): the copy is the largest cost after sha256 itself (about a tenth
 * of a full scan's CPU time). Smaller files are read: mapping and unmapping cost more than
 * copying them.
 */
#define MAP_MIN (256 * 1024)
#define MAP_WINDOW (4 * 1024 * 1024)
/* hash_mapped could not map the file at all: read it instead. */
#define MAP_UNAVAILABLE 1

/*
 * A file truncated while it is mapped raises SIGBUS when the hash touches a page past its new
 * end; a live host's files do change under a scan. While a thread hashes a mapping, bus_jump
 * points where it resumes, and the SIGBUS handler jumps there: the file is reported as changed
 * while read, as a read() that came up short would be. A SIGBUS anywhere else is handled as
 * before the handler was installed. initial-exec TLS: the handler must not allocate.
 */
static __thread __attribute__((tls_model("initial-exec"))) sigjmp_buf *bus_jump;
static struct sigaction bus_previous;
/* How many times a hash resumed after SIGBUS, for mappedTruncations() (tests, diagnostics). */
static unsigned long bus_recoveries;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;
static int bus_ready;

static void on_sigbus(int sig, siginfo_t *info, void *context) {
  sigjmp_buf *jump = bus_jump;
  if (jump) {
    bus_jump = NULL;
    siglongjmp(*jump, 1);
  }
  if ((bus_previous.sa_flags & SA_SIGINFO) && bus_previous.sa_sigaction) {
    bus_previous.sa_sigaction(sig, info, context);
  } else if (bus_previous.sa_handler != SIG_DFL && bus_previous.sa_handler != SIG_IGN) {
    bus_previous.sa_handler(sig);
  } else {
    /* The disposition before ours, for this signal and every one after it. */
    sigaction(SIGBUS, &bus_previous, NULL);
    raise(SIGBUS);
  }
}

static void install_sigbus(void) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigbus;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&action.sa_mask);
  bus_ready = sigaction(SIGBUS, &action, &bus_previous) == 0;
}

/*
 * Hashes [0, size) of an open regular file through mappings of MAP_WINDOW bytes. Returns 0;
 * HASH_CHANGED when the file shrank under a mapping; or MAP_UNAVAILABLE when the first window
 * could not be mapped (a file system without mmap): nothing was hashed, read it instead. A
 * window that cannot be mapped after the first is read by pread from where the mapping stopped
 * (*hashed says how far that is).
 */
static int hash_mapped(int fd, off_t size, EVP_MD_CTX *ctx, off_t *hashed) {
  pthread_once(&bus_once, install_sigbus);
  if (!bus_ready) return MAP_UNAVAILABLE;
  sigjmp_buf jump;
  /* volatile: read after the jump back. */
  void *volatile map = NULL;
  volatile size_t length = 0;
  volatile off_t offset = 0;
  if (sigsetjmp(jump, 1) != 0) {
    __atomic_fetch_add(&bus_recoveries, 1, __ATOMIC_RELAXED);
    munmap(map, length);
    return HASH_CHANGED;
  }
  while (offset < size) {
    length = (size_t)(size - offset < MAP_WINDOW ? size - offset : MAP_WINDOW);
    void *window = mmap(NULL, length, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, offset);
    if (window == MAP_FAILED) break;
    map = window;
    bus_jump = &jump;
    EVP_DigestUpdate(ctx, window, length);
    bus_jump = NULL;
    munmap(window, length);
    map = NULL;
    offset += (off_t)length;
  }
  *hashed = offset;
  return offset == 0 ? MAP_UNAVAILABLE : 0;
}

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
    if (before.st_size >= MAP_MIN && hash_mapped(fd, before.st_size, ctx, &total) == HASH_CHANGED)
      status = HASH_CHANGED;
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
#define CAPS_PER_FILE 64
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
      stats_len < count * STAT_FIELDS || digests_len < count * 32 || caps_len < count * CAPS_PER_FILE) {
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
                                     stats + k * STAT_FIELDS, (unsigned char *)digests + k * 32,
                                     (unsigned char *)caps + k * CAPS_PER_FILE, CAPS_PER_FILE);
  }
  close(dirfd);
  return NULL;
}

/*
 * indexEntriesAsync(source: Uint8Array, shared: Uint8Array, start, end, index: Uint32Array):
 *   Promise<number>
 * In the thread pool: copies source into shared (the same length, in shared memory), finds
 * the elements of the JSON array at shared[start, end), and indexes them as indexEntries
 * does (index[1]: the slot count). Resolves to the entry count, or -1 when the array is not
 * as expected or the index is not to be used. Nobody may write the three arrays meanwhile.
 */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref refs[3];
  const unsigned char *source;
  unsigned char *shared;
  size_t len, start, end;
  uint32_t *index;
  size_t index_len;
  int32_t result;
} index_job;

static void index_execute(napi_env env, void *data) {
  index_job *job = data;
  if (job->shared != job->source) memcpy(job->shared, job->source, job->len);
  size_t count = 0;
  double *spans = array_spans(job->shared, job->start, job->end, &count);
  size_t slots = job->index_len > 1 ? job->index[1] : 0;
  job->result = spans && index_sized(job->index_len, count, slots)
                    ? index_core(job->shared, job->len, spans, count, job->index, slots)
                    : -1;
  free(spans);
}

static void index_complete(napi_env env, napi_status status, void *data) {
  index_job *job = data;
  napi_value result;
  napi_create_int32(env, status == napi_ok ? job->result : -1, &result);
  napi_resolve_deferred(env, job->deferred, result);
  for (int k = 0; k < 3; k++) napi_delete_reference(env, job->refs[k]);
  napi_delete_async_work(env, job->work);
  free(job);
}

static napi_value index_entries_async(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *source, *shared, *index;
  size_t len, shared_len, index_len;
  double start, end;
  if (argc < 5 || get_bytes(env, argv[0], napi_uint8_array, &source, &len) != 0 ||
      get_bytes(env, argv[1], napi_uint8_array, &shared, &shared_len) != 0 ||
      napi_get_value_double(env, argv[2], &start) != napi_ok || napi_get_value_double(env, argv[3], &end) != napi_ok ||
      get_bytes(env, argv[4], napi_uint32_array, &index, &index_len) != 0 || shared_len != len || !(start >= 0) ||
      !(end >= start) || end > (double)len) {
    napi_throw_type_error(env, NULL, "indexEntriesAsync(source, shared, start, end, index) expects two Uint8Arrays of one length, a span within them and a Uint32Array");
    return NULL;
  }
  index_job *job = calloc(1, sizeof *job);
  if (!job) return throw_errno(env, ENOMEM, "indexEntriesAsync");
  job->source = source;
  job->shared = shared;
  job->len = len;
  job->start = (size_t)start;
  job->end = (size_t)end;
  job->index = index;
  job->index_len = index_len;
  napi_value promise, name;
  napi_create_promise(env, &job->deferred, &promise);
  /* The arrays stay alive (and their memory where it is) until the work is done. */
  for (int k = 0; k < 3; k++) napi_create_reference(env, argv[k == 2 ? 4 : k], 1, &job->refs[k]);
  napi_create_string_utf8(env, "driftwatch:indexEntries", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, index_execute, index_complete, job, &job->work);
  napi_queue_async_work(env, job->work);
  return promise;
}

/*
 * packRecords(records: Uint8Array, out: Uint8Array): number
 * The scan cache's records (CACHE_RECORD bytes each, see stat-cache.ts), sorted by their key
 * (the first CACHE_KEY_WORDS little-endian u32: device, inode, path hash) for binary search,
 * one per key, the last given winning (what a scan learned over what it kept), written to out.
 * Returns how many were written.
 */
#define CACHE_RECORD 112
#define CACHE_KEY_WORDS 6
static int compare_record_keys(const void *a, const void *b, void *base) {
  uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
  const unsigned char *x = (const unsigned char *)base + (size_t)i * CACHE_RECORD;
  const unsigned char *y = (const unsigned char *)base + (size_t)j * CACHE_RECORD;
  for (int k = 0; k < CACHE_KEY_WORDS; k++) {
    uint32_t u, v;
    memcpy(&u, x + 4 * k, 4);
    memcpy(&v, y + 4 * k, 4);
    if (u != v) return u < v ? -1 : 1;
  }
  return i < j ? -1 : i > j;
}

static napi_value pack_records(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *records, *out;
  size_t len, out_len;
  if (argc < 2 || get_bytes(env, argv[0], napi_uint8_array, &records, &len) != 0 ||
      get_bytes(env, argv[1], napi_uint8_array, &out, &out_len) != 0 || len % CACHE_RECORD != 0 || out_len < len) {
    napi_throw_type_error(env, NULL, "packRecords(records, out) expects two Uint8Arrays, records a whole number of records and out as large");
    return NULL;
  }
  size_t count = len / CACHE_RECORD;
  uint32_t *order = malloc((count ? count : 1) * sizeof(uint32_t));
  if (!order) return throw_errno(env, ENOMEM, "packRecords");
  for (size_t k = 0; k < count; k++) order[k] = (uint32_t)k;
  qsort_r(order, count, sizeof(uint32_t), compare_record_keys, records);
  size_t unique = 0;
  const unsigned char *base = records;
  for (size_t k = 0; k < count; k++) {
    const unsigned char *record = base + (size_t)order[k] * CACHE_RECORD;
    if (k + 1 < count && memcmp(record, base + (size_t)order[k + 1] * CACHE_RECORD, 4 * CACHE_KEY_WORDS) == 0) continue;
    memcpy((unsigned char *)out + unique++ * CACHE_RECORD, record, CACHE_RECORD);
  }
  free(order);
  napi_value result;
  napi_create_double(env, (double)unique, &result);
  return result;
}

/* mappedTruncations(): how many hashes so far, in any thread, found their file cut short under its mapping. */
static napi_value mapped_truncations(napi_env env, napi_callback_info info) {
  napi_value result;
  napi_create_double(env, (double)__atomic_load_n(&bus_recoveries, __ATOMIC_RELAXED), &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_add_env_cleanup_hook(env, free_hash_state, NULL);
  napi_property_descriptor props[] = {
      {"scanDir", NULL, scan_dir, NULL, NULL, NULL, napi_default, NULL},
      {"lstat", NULL, lstat_into, NULL, NULL, NULL, napi_default, NULL},
      {"fstat", NULL, fstat_into, NULL, NULL, NULL, napi_default, NULL},
      {"getXattr", NULL, get_xattr, NULL, NULL, NULL, napi_default, NULL},
      {"listXattr", NULL, list_xattr, NULL, NULL, NULL, napi_default, NULL},
      {"outlineJson", NULL, outline_json, NULL, NULL, NULL, napi_default, NULL},
      {"outlineJsonArray", NULL, outline_json_array, NULL, NULL, NULL, napi_default, NULL},
      {"hashFile", NULL, hash_file, NULL, NULL, NULL, napi_default, NULL},
      {"hashFiles", NULL, hash_files, NULL, NULL, NULL, napi_default, NULL},
      {"mappedTruncations", NULL, mapped_truncations, NULL, NULL, NULL, napi_default, NULL},
      {"indexEntriesAsync", NULL, index_entries_async, NULL, NULL, NULL, napi_default, NULL},
      {"packRecords", NULL, pack_records, NULL, NULL, NULL, napi_default, NULL},
      {"matchEntries", NULL, match_entries, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
