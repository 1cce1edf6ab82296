#!/usr/bin/env bash
# bench/scan-vs-aide.sh: driftwatch vs AIDE on this host's /usr.
#
# What it measures: wall-clock seconds, CPU seconds (user + system) and peak RSS
# (/usr/bin/time -f '%e %M %U %S') of
#   - driftwatch scan --mode full   (re-hashes every file under /usr)
#   - driftwatch scan --mode quick  (scan cache warm: verdicts and digests of unchanged entries)
#   - aide --check                  (same attributes: ftype+p+u+g+s+l+sha256+caps, 2 workers)
# against one manifest / one AIDE database of /usr, with a warm page cache, BENCH_RUNS
# runs each (default 5). The ratio column is AIDE's median over the tool's median.
#
# Targets:
#   - full scan of /usr: at least 10x faster than AIDE, and under 4 s
#   - quick scan:        at least 40x faster than AIDE
#   - peak RSS:          under 300 MB (both modes)
#
# Side by side with the previous build: the same runs of a git worktree of PREV_REF (default
# a9dafef, the main before the native core was cut down), built here, alternated run by run
# with this build (and with this build's JavaScript binding, DRIFTWATCH_NATIVE=0), so that a
# machine shared with other work slows all of them alike. PREV_REPO=DIR uses a built checkout
# instead; PREV_REF=none skips it.
#
# Usage: bench/scan-vs-aide.sh            (as root; installs aide/time with apt if missing)
#        BENCH_RUNS=3 bench/scan-vs-aide.sh
# Needs a built CLI (npm run build). CPU time is printed too: on a machine that other work
# shares, it varies much less than wall time. The last line of output is machine-readable:
#   RESULT full_s=... quick_s=... aide_s=... full_ratio=... quick_ratio=... full_rss_mb=... quick_rss_mb=...
#          full_cpu_s=... quick_cpu_s=... aide_cpu_s=... prev_full_s=... prev_quick_s=... js_full_s=...
#          js_quick_s=... full_vs_prev=... quick_vs_prev=...
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLI="$REPO/bin/driftwatch.js"
RUNS="${BENCH_RUNS:-5}"

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
  printf '[bench] error: %s\n' "$*" >&2
  exit 2
}

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, got '$RUNS'"
[[ -f "$REPO/dist/cli/main.js" ]] || die "no dist/ in $REPO: run npm run build first"

# --- prerequisites -------------------------------------------------------------------------
ensure_tools() {
  local missing=()
  command -v aide >/dev/null 2>&1 || missing+=(aide)
  [[ -x /usr/bin/time ]] || missing+=(time)
  if ((${#missing[@]})); then
    log "installing ${missing[*]} with apt-get"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
  fi
  command -v python3 >/dev/null 2>&1 || die "python3 is needed for the statistics"
}

# --- workspace -----------------------------------------------------------------------------
TMP="$(mktemp -d -t driftwatch-bench.XXXXXX)"
PREV_REF="${PREV_REF:-a9dafef}"
PREV="${PREV_REPO:-}"
cleanup() {
  if [[ -z "${PREV_REPO:-}" && -n "$PREV" && -d "$PREV" ]]; then
    git -C "$REPO" worktree remove --force "$PREV" >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
POLICY="$TMP/policy.yaml"
MANIFEST="$TMP/usr.json.gz"
STATE="$TMP/state"
CONF="$TMP/aide.conf"
mkdir -p "$STATE" "$STATE-prev" "$STATE-js"

# prepare_prev: a built checkout of PREV_REF (its addon and dist/), with this one's node_modules.
prepare_prev() {
  [[ "$PREV_REF" == none ]] && return 0
  if [[ -z "$PREV" ]]; then
    PREV="$TMP/prev"
    log "building $PREV_REF in a git worktree"
    git -C "$REPO" worktree add --detach "$PREV" "$PREV_REF" >/dev/null
    ln -s "$REPO/node_modules" "$PREV/node_modules"
    # npm's own node-gyp, with npm's nodedir (headers) when one is configured.
    local gyp nodedir
    gyp="$(dirname "$(realpath "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
    nodedir="$(npm config get nodedir 2>/dev/null || true)"
    [[ "$nodedir" == undefined || "$nodedir" == null ]] && nodedir=""
    (cd "$PREV" && node "$gyp" rebuild ${nodedir:+--nodedir="$nodedir"} >/dev/null)
    (cd "$PREV" && npx --no-install tsc -p tsconfig.build.json)
  fi
  [[ -f "$PREV/dist/cli/main.js" ]] || die "no dist/ in $PREV"
}

write_policy() {
  cat >"$POLICY" <<'EOF'
# bench policy: /usr only, same attributes as the default policy.
schema: driftwatch.policy/v1
files:
  include:
    - /usr/**
  exclude: []
  oneFileSystem: true
  defaultAttributes: [type, mode, uid, gid, size, sha256, target, caps]
  defaultSeverity: medium
  rules: []
EOF
}

write_aide_conf() {
  cat >"$CONF" <<EOF
# bench AIDE config: /usr only, the attributes driftwatch checks.
database_in=file:$TMP/aide.db
database_out=file:$TMP/aide.db.new
gzip_dbout=no
num_workers=2
report_url=stdout
Check = ftype+p+u+g+s+l+sha256+caps
/usr Check
EOF
}

# --- running and timing --------------------------------------------------------------------
# run_dw LABEL ARGS...: runs the driftwatch CLI untimed; exit 0 (clean) and 1 (drift) are fine.
run_dw() {
  local label="$1"
  shift
  local rc=0
  node "$CLI" "$@" >"$TMP/$label.out" 2>"$TMP/$label.err" || rc=$?
  if ((rc >= 2)); then
    printf '[bench] driftwatch %s exited %d; stderr:\n' "$label" "$rc" >&2
    cat "$TMP/$label.err" >&2
    exit 2
  fi
}

# time_cmd LABEL MAXOK CMD...: runs CMD under /usr/bin/time, appends "seconds kb user sys" to
# $TMP/LABEL.times. Exit codes up to MAXOK are results (drift found), above are failures.
time_cmd() {
  local label="$1" maxok="$2"
  shift 2
  local rc=0
  /usr/bin/time -f '%e %M %U %S' -o "$TMP/time.last" "$@" >"$TMP/$label.out" 2>"$TMP/$label.err" || rc=$?
  if ((rc > maxok)); then
    printf '[bench] %s exited %d; stderr:\n' "$label" "$rc" >&2
    tail -n 50 "$TMP/$label.err" >&2
    exit 2
  fi
  # GNU time writes "Command exited with non-zero status N" before the numbers.
  tail -n 1 "$TMP/time.last" >>"$TMP/$label.times"
  log "$label: $(tail -n 1 "$TMP/time.last" | awk '{printf "%.2f s, %.2f s CPU, %.0f MB", $1, $3 + $4, $2 / 1024}') (exit $rc)"
}

# bench_tool LABEL MAXOK CMD...: RUNS timed runs of CMD.
bench_tool() {
  local label="$1" maxok="$2" i
  shift 2
  : >"$TMP/$label.times"
  for ((i = 1; i <= RUNS; i++)); do
    time_cmd "$label" "$maxok" "$@"
  done
}

# stats LABEL: "median_s min_s max_s median_rss_mb median_cpu_s" of $TMP/LABEL.times.
stats() {
  python3 - "$TMP/$1.times" <<'EOF'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
secs = [float(r[0]) for r in rows]
rss_mb = [int(r[1]) / 1024 for r in rows]
cpu = [float(r[2]) + float(r[3]) for r in rows]
print(f"{statistics.median(secs):.2f} {min(secs):.2f} {max(secs):.2f} {statistics.median(rss_mb):.0f} {statistics.median(cpu):.2f}")
EOF
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }'; }

# --- main ----------------------------------------------------------------------------------
ensure_tools
write_policy
write_aide_conf

log "capturing the /usr manifest"
run_dw capture manifest capture --image usr@bench --root / --policy "$POLICY" --out "$MANIFEST" --format json

log "building the AIDE database (aide --init)"
init_rc=0
aide --config "$CONF" --init >"$TMP/aide-init.out" 2>"$TMP/aide-init.err" || init_rc=$?
if ((init_rc != 0)) || [[ ! -s "$TMP/aide.db.new" ]]; then
  cat "$TMP/aide-init.err" >&2
  die "aide --init exited $init_rc"
fi
mv "$TMP/aide.db.new" "$TMP/aide.db"

scan_args() { echo scan --manifest "$MANIFEST" --root / --mode "$1" --format json --state-dir "$2"; }

# bench_side_by_side MODE: RUNS rounds, each one run of this build, the previous one and the
# JavaScript binding, in turn.
bench_side_by_side() {
  local mode="$1" i
  : >"$TMP/$mode.times"
  : >"$TMP/prev-$mode.times"
  : >"$TMP/js-$mode.times"
  for ((i = 1; i <= RUNS; i++)); do
    time_cmd "$mode" 1 node "$CLI" $(scan_args "$mode" "$STATE")
    if [[ "$PREV_REF" != none ]]; then
      time_cmd "prev-$mode" 1 node "$PREV/bin/driftwatch.js" $(scan_args "$mode" "$STATE-prev")
    fi
    time_cmd "js-$mode" 1 env DRIFTWATCH_NATIVE=0 node "$CLI" $(scan_args "$mode" "$STATE-js")
  done
}

prepare_prev
log "warming the page cache (untimed full scans)"
run_dw warm $(scan_args full "$STATE")
[[ "$PREV_REF" != none ]] && node "$PREV/bin/driftwatch.js" $(scan_args full "$STATE-prev") >/dev/null 2>&1 || true
DRIFTWATCH_NATIVE=0 node "$CLI" $(scan_args full "$STATE-js") >/dev/null 2>&1 || true

log "full scans x$RUNS: this build, $PREV_REF, the JavaScript binding, alternated"
bench_side_by_side full

log "populating the scan caches (untimed quick scans)"
run_dw quick-warm $(scan_args quick "$STATE")
[[ "$PREV_REF" != none ]] && node "$PREV/bin/driftwatch.js" $(scan_args quick "$STATE-prev") >/dev/null 2>&1 || true
DRIFTWATCH_NATIVE=0 node "$CLI" $(scan_args quick "$STATE-js") >/dev/null 2>&1 || true

log "quick scans x$RUNS: this build, $PREV_REF, the JavaScript binding, alternated"
bench_side_by_side quick

# AIDE: 0 = no changes, 1..7 = added/removed/changed bits, 14 and up = errors.
log "aide --check x$RUNS"
bench_tool aide 7 aide --config "$CONF" --check

read -r full_med full_min full_max full_rss full_cpu <<<"$(stats full)"
read -r quick_med quick_min quick_max quick_rss quick_cpu <<<"$(stats quick)"
read -r aide_med aide_min aide_max aide_rss aide_cpu <<<"$(stats aide)"
read -r js_full_med js_full_min js_full_max js_full_rss js_full_cpu <<<"$(stats js-full)"
read -r js_quick_med js_quick_min js_quick_max js_quick_rss js_quick_cpu <<<"$(stats js-quick)"
prev_full_med=none prev_quick_med=none
if [[ "$PREV_REF" != none ]]; then
  read -r prev_full_med prev_full_min prev_full_max prev_full_rss prev_full_cpu <<<"$(stats prev-full)"
  read -r prev_quick_med prev_quick_min prev_quick_max prev_quick_rss prev_quick_cpu <<<"$(stats prev-quick)"
fi
full_ratio="$(ratio "$aide_med" "$full_med")"
quick_ratio="$(ratio "$aide_med" "$quick_med")"

usr_files="$(find /usr -xdev 2>/dev/null | wc -l)"
usr_bytes="$(du -sb /usr 2>/dev/null | cut -f1)"
cpu_model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)"

echo
echo "driftwatch vs AIDE on /usr ($RUNS runs each, warm page cache)"
printf '  /usr:  %s entries, %s bytes (%.2f GiB)\n' "$usr_files" "$usr_bytes" "$(awk -v b="$usr_bytes" 'BEGIN { print b / 1073741824 }')"
printf '  cpu:   %s, nproc %s\n' "${cpu_model:-unknown}" "$(nproc)"
printf '  node:  %s, %s\n' "$(node --version)" "$(aide --version 2>&1 | head -n 1)"
echo
printf '%-18s %10s %8s %8s %12s %13s %13s\n' tool median_s min_s max_s median_cpu_s median_rss_mb aide/tool
printf '%-18s %10s %8s %8s %12s %13s %13s\n' "driftwatch full" "$full_med" "$full_min" "$full_max" "$full_cpu" "$full_rss" "${full_ratio}x"
printf '%-18s %10s %8s %8s %12s %13s %13s\n' "driftwatch quick" "$quick_med" "$quick_min" "$quick_max" "$quick_cpu" "$quick_rss" "${quick_ratio}x"
if [[ "$PREV_REF" != none ]]; then
  printf '%-18s %10s %8s %8s %12s %13s %13s\n' "$PREV_REF full" "$prev_full_med" "$prev_full_min" "$prev_full_max" "$prev_full_cpu" "$prev_full_rss" "$(ratio "$aide_med" "$prev_full_med")x"
  printf '%-18s %10s %8s %8s %12s %13s %13s\n' "$PREV_REF quick" "$prev_quick_med" "$prev_quick_min" "$prev_quick_max" "$prev_quick_cpu" "$prev_quick_rss" "$(ratio "$aide_med" "$prev_quick_med")x"
fi
printf '%-18s %10s %8s %8s %12s %13s %13s\n' "JS binding full" "$js_full_med" "$js_full_min" "$js_full_max" "$js_full_cpu" "$js_full_rss" "$(ratio "$aide_med" "$js_full_med")x"
printf '%-18s %10s %8s %8s %12s %13s %13s\n' "JS binding quick" "$js_quick_med" "$js_quick_min" "$js_quick_max" "$js_quick_cpu" "$js_quick_rss" "$(ratio "$aide_med" "$js_quick_med")x"
printf '%-18s %10s %8s %8s %12s %13s %13s\n' "aide --check" "$aide_med" "$aide_min" "$aide_max" "$aide_cpu" "$aide_rss" "1.0x"
echo
echo "targets: full >= 10x aide and < 4 s; quick >= 40x aide; peak RSS < 300 MB"
full_vs_prev=none quick_vs_prev=none
if [[ "$PREV_REF" != none ]]; then
  full_vs_prev="$(awk -v a="$full_med" -v b="$prev_full_med" 'BEGIN { printf "%.3f", a / b }')"
  quick_vs_prev="$(awk -v a="$quick_med" -v b="$prev_quick_med" 'BEGIN { printf "%.3f", a / b }')"
  echo "this build / $PREV_REF (median wall): full ${full_vs_prev}, quick ${quick_vs_prev} (limit 1.10; RSS no higher)"
fi
echo "RESULT full_s=$full_med quick_s=$quick_med aide_s=$aide_med full_ratio=$full_ratio quick_ratio=$quick_ratio full_rss_mb=$full_rss quick_rss_mb=$quick_rss full_cpu_s=$full_cpu quick_cpu_s=$quick_cpu aide_cpu_s=$aide_cpu prev_full_s=$prev_full_med prev_quick_s=$prev_quick_med js_full_s=$js_full_med js_quick_s=$js_quick_med full_vs_prev=$full_vs_prev quick_vs_prev=$quick_vs_prev"
