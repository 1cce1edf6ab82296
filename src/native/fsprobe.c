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

/* scanDir(path): [names: Buffer (each name NUL-terminated), stats: Float64Array] */
static napi_value scan_dir(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX];
  if (argc < 1 || get_path(env, argv[0], path, sizeof path) != 0) {
    napi_throw_type_error(env, NULL, "scanDir(path) expects a path string or Buffer");
    return NULL;
  }
  /* O_NOFOLLOW: a directory swapped for a symlink since it was listed is not followed. */
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "opendir");
  DIR *dir = fdopendir(fd);
  if (!dir) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "fdopendir");
  }
  size_t names_cap = 4096, names_len = 0, stats_cap = 64, count = 0;
  char *names = malloc(names_cap);
  double *stats = malloc(stats_cap * STAT_FIELDS * sizeof(double));
  if (!names || !stats) {
    free(names);
    free(stats);
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
      stats_cap *= 2;
      double *grown = realloc(stats, stats_cap * STAT_FIELDS * sizeof(double));
      if (!grown) break;
      stats = grown;
    }
    memcpy(names + names_len, name, len);
    names_len += len;
    struct stat st;
    int rc = fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW);
    fill_stat(stats + count * STAT_FIELDS, &st, rc == 0 ? 0 : errno);
    count++;
    errno = 0;
  }
  int read_err = errno;
  closedir(dir);
  if (read_err) {
    free(names);
    free(stats);
    return throw_errno(env, read_err, "readdir");
  }
  napi_value result, names_buffer, stats_buffer, stats_array;
  void *data;
  napi_create_buffer_copy(env, names_len, names, &data, &names_buffer);
  napi_create_arraybuffer(env, count * STAT_FIELDS * sizeof(double), &data, &stats_buffer);
  memcpy(data, stats, count * STAT_FIELDS * sizeof(double));
  napi_create_typedarray(env, napi_float64_array, count * STAT_FIELDS, stats_buffer, 0, &stats_array);
  free(names);
  free(stats);
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, names_buffer);
  napi_set_element(env, result, 1, stats_array);
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"scanDir", NULL, scan_dir, NULL, NULL, NULL, napi_default, NULL},
      {"lstat", NULL, lstat_into, NULL, NULL, NULL, napi_default, NULL},
      {"fstat", NULL, fstat_into, NULL, NULL, NULL, napi_default, NULL},
      {"getXattr", NULL, get_xattr, NULL, NULL, NULL, napi_default, NULL},
      {"listXattr", NULL, list_xattr, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
