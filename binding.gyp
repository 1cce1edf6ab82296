{
  "targets": [
    {
      "target_name": "driftwatch_xattr",
      "sources": ["src/native/xattr.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
