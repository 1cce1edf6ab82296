{
  "targets": [
    {
      "target_name": "driftwatch_native",
      "sources": ["src/native/fsprobe.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
