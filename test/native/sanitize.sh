#!/usr/bin/env bash
# Builds the addon once more with AddressSanitizer and UndefinedBehaviorSanitizer, in a temporary
# directory (the repository's build/ is left alone), and runs the native tests against it in
# process: any out-of-bounds access, use after free or undefined behaviour in fsprobe.c
# aborts the run. (The CLI tests spawn node children; with the runtime preloaded each ran
# past the tests' time limits on a shared 2-core machine, so they stay out.) CI runs it after
# npm test (.ci/run).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mktemp -d -t driftwatch-asan.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

mkdir -p "$WORK/src/native"
cp "$REPO/binding.gyp" "$WORK/"
cp "$REPO/src/native/fsprobe.c" "$REPO/src/native/constants.h" "$WORK/src/native/"
gyp="$(dirname "$(realpath "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
nodedir="$(npm config get nodedir 2>/dev/null || true)"
[[ "$nodedir" == undefined || "$nodedir" == null ]] && nodedir=""
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
(cd "$WORK" && CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" node "$gyp" rebuild ${nodedir:+--nodedir="$nodedir"} >/dev/null)
addon="$WORK/build/Release/driftwatch_native.node"
nm -D "$addon" | grep -q __asan_init || { echo "sanitize: $addon is not instrumented" >&2; exit 1; }

# Node itself is not instrumented: the sanitizer runtime is preloaded, and leak checking (of
# V8's own allocations) is off; any error it finds fails the run.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export DRIFTWATCH_ADDON="$addon"
cd "$REPO"
npx vitest run --project all test/native/hash.test.ts
