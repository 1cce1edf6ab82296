#!/usr/bin/env bash
# bench/packages-vs-debsums.sh: `driftwatch packages verify` vs `debsums -s` on this host.
#
# Both check every file of every installed Debian package against the MD5 in the package's
# md5sums (conffiles left out, as debsums does by default). The script first checks that both
# report the same changed and missing files, then times each BENCH_RUNS times (default 5)
# with a warm page cache and prints medians (with the range) of wall time and CPU time
# (user + sys, all threads), peak RSS and the ratio.
#
# Target: driftwatch at least 10x faster than debsums, with the same findings.
#
# Usage: bench/packages-vs-debsums.sh      (installs debsums and time with apt if missing)
#        BENCH_RUNS=3 bench/packages-vs-debsums.sh
# Needs a built CLI (npm run build). The last line is machine-readable:
#   RESULT driftwatch_s=... driftwatch_cpu_s=... debsums_s=... debsums_cpu_s=... ratio=... same_findings=yes|no
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLI="$REPO/bin/driftwatch.js"
RUNS="${BENCH_RUNS:-5}"
log() { printf '[bench] %s\n' "$*" >&2; }

[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { log "BENCH_RUNS must be a positive integer"; exit 2; }
[[ -f "$REPO/dist/cli/main.js" ]] || { log "no dist/: run npm run build first"; exit 2; }
missing=()
command -v debsums >/dev/null 2>&1 || missing+=(debsums)
[[ -x /usr/bin/time ]] || missing+=(time)
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

TMP="$(mktemp -d -t driftwatch-bench.XXXXXX)"
trap 'rm -rf "$TMP"' EXIT

# --- the same findings? ---------------------------------------------------------------------
# debsums -s prints "debsums: changed file /x (from pkg package)" / "missing file" on stderr.
log "comparing findings"
debsums -s >/dev/null 2>"$TMP/debsums.err" || true
grep -E '^debsums: (changed|missing) file ' "$TMP/debsums.err" |
  sed -E 's/^debsums: (changed|missing) file (.*) \(from .* package\)$/\2/' | sort -u >"$TMP/debsums.paths"
node "$CLI" packages verify --format json >"$TMP/dw.json" || true
python3 -c 'import json,sys; [print(f["path"]) for f in json.load(open(sys.argv[1]))["findings"]]' "$TMP/dw.json" |
  sort -u >"$TMP/dw.paths"
if diff -q "$TMP/debsums.paths" "$TMP/dw.paths" >/dev/null; then same=yes; else same=no; fi
log "findings: debsums $(wc -l <"$TMP/debsums.paths"), driftwatch $(wc -l <"$TMP/dw.paths"), same: $same"
[[ "$same" == yes ]] || diff "$TMP/debsums.paths" "$TMP/dw.paths" | head -20 >&2

# --- timing ---------------------------------------------------------------------------------
time_runs() {
  local label="$1" i
  shift
  : >"$TMP/$label.times"
  for ((i = 1; i <= RUNS; i++)); do
    /usr/bin/time -f '%e %M %U %S' -o "$TMP/time.last" "$@" >/dev/null 2>&1 || true
    tail -n 1 "$TMP/time.last" >>"$TMP/$label.times"
    log "$label: $(tail -n 1 "$TMP/time.last")"
  done
}
stats() {
  python3 - "$TMP/$1.times" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
wall = [float(r[0]) for r in rows]
cpu = [float(r[2]) + float(r[3]) for r in rows]
rss = statistics.median(int(r[1]) / 1024 for r in rows)
print(f"{statistics.median(wall):.2f} {min(wall):.2f}-{max(wall):.2f} {statistics.median(cpu):.2f} {min(cpu):.2f}-{max(cpu):.2f} {rss:.0f}")
PY
}

log "warming the page cache"
debsums -s >/dev/null 2>&1 || true
time_runs driftwatch node "$CLI" packages verify --format json
time_runs debsums debsums -s
read -r dw_s dw_range dw_cpu dw_cpu_range dw_mb <<<"$(stats driftwatch)"
read -r ds_s ds_range ds_cpu ds_cpu_range ds_mb <<<"$(stats debsums)"
ratio="$(awk -v a="$ds_s" -v b="$dw_s" 'BEGIN { printf "%.1f", a / b }')"

echo
echo "driftwatch packages verify vs debsums -s ($RUNS runs each, warm page cache)"
printf '  packages: %s installed, cpu: %s, nproc %s, node %s\n' \
  "$(dpkg-query -f '${db:Status-Abbrev}\n' -W | grep -c '^ii')" \
  "$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)" "$(nproc)" "$(node --version)"
printf '%-28s %10s %13s %10s %13s %14s %8s\n' tool median_s range median_cpu_s range median_rss_mb ratio
printf '%-28s %10s %13s %10s %13s %14s %8s\n' "driftwatch packages verify" "$dw_s" "$dw_range" "$dw_cpu" \
  "$dw_cpu_range" "$dw_mb" "${ratio}x"
printf '%-28s %10s %13s %10s %13s %14s %8s\n' "debsums -s" "$ds_s" "$ds_range" "$ds_cpu" "$ds_cpu_range" "$ds_mb" "1.0x"
echo "same findings: $same"
echo "RESULT driftwatch_s=$dw_s driftwatch_cpu_s=$dw_cpu debsums_s=$ds_s debsums_cpu_s=$ds_cpu ratio=$ratio same_findings=$same"
