/*
 * fgetxattr(2) and flistxattr(2) on an open descriptor, for the files probe. An absent
 * attribute is the common case (almost no file has capabilities), so it is answered with
 * null rather than a thrown error: throwing costs more than the system call itself.
 */
#define NAPI_VERSION 8
#include <errno.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

static napi_value throw_errno(napi_env env, int err, const char *syscall) {
  char message[128];
  const char *code = err == EACCES ? "EACCES" : err == EPERM ? "EPERM" : err == EBADF ? "EBADF" : err == EIO ? "EIO" : "EXATTR";
  snprintf(message, sizeof message, "%s: %s", syscall, strerror(err));
  napi_throw_error(env, code, message);
  return NULL;
}

static int absent(int err) { return err == ENODATA || err == ENOTSUP || err == EOPNOTSUPP; }

/* get(fd: number, name: string): Buffer | null */
static napi_value get(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  char name[256];
  size_t name_len;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], name, sizeof name, &name_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "get(fd, name) expects a number and a string");
    return NULL;
  }
  char stack[256];
  ssize_t n = fgetxattr(fd, name, stack, sizeof stack);
  napi_value result;
  if (n >= 0) {
    void *data;
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
  void *data;
  napi_create_buffer_copy(env, (size_t)n, heap, &data, &result);
  free(heap);
  return result;
}

/* list(fd: number): string[] */
static napi_value list(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, NULL, "list(fd) expects a number");
    return NULL;
  }
  napi_value result;
  napi_create_array(env, &result);
  ssize_t size = flistxattr(fd, NULL, 0);
  if (size < 0) {
    if (absent(errno)) return result;
    return throw_errno(env, errno, "flistxattr");
  }
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
      {"get", NULL, get, NULL, NULL, NULL, napi_default, NULL},
      {"list", NULL, list, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
