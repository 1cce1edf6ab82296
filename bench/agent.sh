#!/usr/bin/env bash
# bench/agent.sh: what the agent costs a host like this one.
#
# Captures a manifest of this host's /usr (the policy of bench/scan-vs-aide.sh, with the
# default policy's package and configuration probes), starts a real collector on
# loopback, then runs the agent as a daemon with a quick scan every 15 s and measures:
#   - idle RSS of the agent between scans (VmRSS of its process, sampled after each delivery)
#   - peak RSS of the agent process itself (VmHWM) and of each scan's process (its maxRSS)
#   - CPU seconds (user + system) per scan, quick and full, as the scan's process reports them
# Full scans are `agent --once --mode full`, BENCH_RUNS of them (default 3); quick scans are the
# daemon's, BENCH_RUNS + 2: the scan at start, then scheduled ones (the first is left out: it may
# start while the daemon is still warming up).
#
# Targets (issue 12): idle RSS < 80 MB; a scheduled quick scan < 2 CPU-seconds.
# Usage: bench/agent.sh   (needs a built CLI: npm run build). Medians with min-max.
# The last line is machine-readable:
#   RESULT idle_rss_mb=... agent_peak_rss_mb=... quick_cpu_s=... quick_peak_rss_mb=... full_cpu_s=... full_peak_rss_mb=...
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLI="$REPO/bin/driftwatch.js"
RUNS="${BENCH_RUNS:-3}"
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_RUNS must be a positive integer" >&2; exit 2; }
[[ -f "$REPO/dist/cli/main.js" ]] || { echo "no dist/: run npm run build first" >&2; exit 2; }

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # A collector may take long to stop (an unreachable metrics endpoint to flush): not left behind.
  sleep 5
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '[bench] %s\n' "$*" >&2; }
dw() { node "$CLI" "$@"; }

SECRET=bench-enrol-secret-0123456789
log "capturing a manifest of /usr"
cat >"$WORK/policy.yaml" <<'YAML'
schema: driftwatch.policy/v1
files:
  include:
    - /usr/**
  exclude: []
  oneFileSystem: true
  defaultAttributes: [type, mode, uid, gid, size, sha256, target, caps]
  defaultSeverity: medium
  rules: []
YAML
dw keygen --out "$WORK/image" >/dev/null
dw manifest capture --image bench@1 --root / --policy "$WORK/policy.yaml" --out "$WORK/manifest.json" \
  --sign "$WORK/image.key" >"$WORK/capture.log" 2>&1 || { cat "$WORK/capture.log" >&2; exit 1; }

cat >"$WORK/collector.yaml" <<YAML
listen: 127.0.0.1:0
store: sqlite://$WORK/collector.db
enrollSecret: $SECRET
adminTokens: ["bench-admin-token-0123456789"]
logLevel: info
YAML
dw collector --config "$WORK/collector.yaml" >"$WORK/collector.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do grep -q '"url"' "$WORK/collector.log" 2>/dev/null && break; sleep 0.1; done
URL=$(grep -o '"url":"[^"]*"' "$WORK/collector.log" | head -1 | cut -d'"' -f4)
[[ -n "$URL" ]] || { cat "$WORK/collector.log" >&2; exit 1; }

agent_config() {
  cat <<YAML
collector: { url: $URL, enrollSecret: $SECRET }
manifest: $WORK/manifest.json
publicKey: $WORK/image.pub
root: /
stateDir: $WORK/state
schedule: { quick: "*/15 * * * * *", full: "0 0 1 1 *", heartbeat: 5s, splay: 0s }
YAML
}
agent_config >"$WORK/agent.yaml"

log "full scans: $RUNS x agent --once --mode full"
for _ in $(seq "$RUNS"); do
  dw agent --config "$WORK/agent.yaml" --once --mode full >>"$WORK/full.log" 2>&1 || [[ $? == 1 ]]
done

log "daemon: $((RUNS + 2)) scheduled quick scans"
# Not through dw(): $! must be the agent's own pid, not a subshell's.
node "$CLI" agent --config "$WORK/agent.yaml" >"$WORK/daemon.log" 2>&1 &
AGENT=$!
PIDS+=($AGENT)
: >"$WORK/idle.txt"
seen=0
while [[ $seen -lt $((RUNS + 2)) ]]; do
  sleep 1
  now=$(grep -c '"msg":"report delivered"' "$WORK/daemon.log" || true)
  if [[ $now -gt $seen ]]; then
    seen=$now
    sleep 2 # between scans: the scan's process is gone, the delivery done
    awk '/^VmRSS/ {print $2}' "/proc/$AGENT/status" >>"$WORK/idle.txt"
  fi
done
PEAK_KB=$(awk '/^VmHWM/ {print $2}' "/proc/$AGENT/status")
kill -TERM "$AGENT"
wait "$AGENT" || true

node - "$WORK" "$PEAK_KB" <<'JS'
const [work, peakKb] = process.argv.slice(2)
const fs = require('node:fs')
const scans = (file) =>
  fs.readFileSync(`${work}/${file}`, 'utf8').split('\n').filter((l) => l.includes('"scan finished"')).map((l) => JSON.parse(l))
const full = scans('full.log')
const quick = scans('daemon.log').filter((s) => s.mode === 'quick').slice(1)
const idle = fs.readFileSync(`${work}/idle.txt`, 'utf8').trim().split('\n').map(Number).slice(1)
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2 }
const show = (xs, digits) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`
const mb = (bytes) => bytes / 1024 / 1024
const r = {
  idle_rss_mb: idle.map((kb) => kb / 1024),
  quick_cpu_s: quick.map((s) => s.cpuMs / 1000),
  quick_peak_rss_mb: quick.map((s) => mb(s.maxRssBytes)),
  full_cpu_s: full.map((s) => s.cpuMs / 1000),
  full_peak_rss_mb: full.map((s) => mb(s.maxRssBytes)),
}
console.log(`files per scan            ${full[0]?.files}`)
console.log(`agent idle RSS            ${show(r.idle_rss_mb, 1)} MB   (n=${idle.length})`)
console.log(`agent peak RSS (VmHWM)    ${(Number(peakKb) / 1024).toFixed(1)} MB`)
console.log(`quick scan CPU            ${show(r.quick_cpu_s, 2)} s    (n=${quick.length}; its process's peak RSS ${show(r.quick_peak_rss_mb, 0)} MB)`)
console.log(`full scan CPU             ${show(r.full_cpu_s, 2)} s    (n=${full.length}; its process's peak RSS ${show(r.full_peak_rss_mb, 0)} MB)`)
console.log(
  `RESULT idle_rss_mb=${median(r.idle_rss_mb).toFixed(1)} agent_peak_rss_mb=${(Number(peakKb) / 1024).toFixed(1)} quick_cpu_s=${median(r.quick_cpu_s).toFixed(2)} quick_peak_rss_mb=${median(r.quick_peak_rss_mb).toFixed(0)} full_cpu_s=${median(r.full_cpu_s).toFixed(2)} full_peak_rss_mb=${median(r.full_peak_rss_mb).toFixed(0)}`,
)
JS
