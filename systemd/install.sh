#!/usr/bin/env bash
# Installs driftwatch on a host: the packed npm package under a prefix, the driftwatch system
# user, /etc/driftwatch with the example configurations (secrets in 0600 .env files), the
# systemd units, and enables the agent. --uninstall reverses it (configuration and state are
# kept unless --purge). See README: Install on a host.
#
#   systemd/install.sh [--tarball driftwatch-X.tgz | --no-package] [--prefix /usr] [--destdir DIR]
#                      [--enable agent|collector|agent,collector|none] [--uninstall [--purge]]
#
# Without --tarball this checkout is packed (npm pack). --no-package leaves the package as it
# is (installed by other means) and installs the rest.
# --destdir installs into a staging root (packaging, tests): the user is declared in
# sysusers.d but not created, and units are enabled with `systemctl --root`.
set -euo pipefail

PREFIX=/usr
DESTDIR=${DESTDIR:-}
TARBALL=
ENABLE=agent
UNINSTALL=0
PURGE=0
PACKAGE=1
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --destdir) DESTDIR=${2:?--destdir needs a directory}; shift 2 ;;
    --tarball) TARBALL=${2:?--tarball needs a file}; shift 2 ;;
    --enable) ENABLE=${2:?--enable needs agent, collector, agent,collector or none}; shift 2 ;;
    --no-package) PACKAGE=0; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
case "$PREFIX" in /*) ;; *) die "--prefix $PREFIX: must be an absolute path" ;; esac
[ -z "$DESTDIR" ] || DESTDIR=$(mkdir -p "$DESTDIR" && cd "$DESTDIR" && pwd)
if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then die "run as root (or stage with --destdir DIR)"; fi

ROOT=$DESTDIR
ETC=$ROOT/etc/driftwatch
UNITDIR=$ROOT$PREFIX/lib/systemd/system
SYSUSERS=$ROOT$PREFIX/lib/sysusers.d/driftwatch.conf
STATE=$ROOT/var/lib/driftwatch
UNITS=(driftwatch-agent.service driftwatch-collector.service)

systemctl_() {
  command -v systemctl >/dev/null || return 0
  if [ -n "$DESTDIR" ]; then systemctl --root="$DESTDIR" "$@"; else systemctl "$@"; fi
}

if [ "$UNINSTALL" = 1 ]; then
  for unit in "${UNITS[@]}"; do
    [ -z "$DESTDIR" ] && systemctl stop "$unit" 2>/dev/null || true
    [ -f "$UNITDIR/$unit" ] && { systemctl_ disable "$unit" >/dev/null 2>&1 || true; }
    rm -f "$UNITDIR/$unit"
  done
  [ -z "$DESTDIR" ] && command -v systemctl >/dev/null && systemctl daemon-reload || true
  rm -rf "$ROOT$PREFIX/lib/node_modules/driftwatch"
  rm -f "$ROOT$PREFIX/bin/driftwatch" "$SYSUSERS"
  if [ "$PURGE" = 1 ]; then
    rm -rf "$ETC" "$STATE"
    if [ -z "$DESTDIR" ] && getent passwd driftwatch >/dev/null; then userdel driftwatch || true; fi
    echo "driftwatch removed, with its configuration, state and user"
  else
    echo "driftwatch removed; kept $ETC and $STATE (--purge removes them and the user)"
  fi
  exit 0
fi

# 1. The package, packed and installed as npm installs any package (its native addon built).
if [ "$PACKAGE" = 0 ]; then
  echo "leaving the package as it is (--no-package)"
elif [ -z "$TARBALL" ]; then
  command -v npm >/dev/null || die "npm not found: install Node.js 20.18 or later"
  PACKDIR=$(mktemp -d)
  trap 'rm -rf "$PACKDIR"' EXIT
  echo "packing $REPO"
  TARBALL=$PACKDIR/$(cd "$REPO" && npm pack --silent --pack-destination "$PACKDIR" | tail -n1)
fi
if [ "$PACKAGE" = 1 ]; then
  [ -f "$TARBALL" ] || die "--tarball $TARBALL: no such file"
  echo "installing $(basename "$TARBALL") under $ROOT$PREFIX"
  # The native addons (driftwatch's own, better-sqlite3) are built by their install scripts.
  npm install --global --prefix "$ROOT$PREFIX" --omit=dev --no-audit --no-fund \
    --allow-scripts=driftwatch,better-sqlite3 "$TARBALL" >/dev/null
fi

# 2. The user: declared for systemd-sysusers, and created now on a live system.
install -d -m 0755 "$(dirname "$SYSUSERS")"
printf 'u driftwatch - "driftwatch agent" /var/lib/driftwatch /usr/sbin/nologin\n' >"$SYSUSERS"
chmod 0644 "$SYSUSERS"
if [ -z "$DESTDIR" ] && ! getent passwd driftwatch >/dev/null; then
  if command -v systemd-sysusers >/dev/null; then systemd-sysusers "$SYSUSERS"
  else useradd --system --home-dir /var/lib/driftwatch --no-create-home --shell /usr/sbin/nologin driftwatch
  fi
fi

# 3. Configuration: examples where none exists yet (an operator's edits are never overwritten).
install -d -m 0755 "$ETC"
CONFIG=$ROOT$PREFIX/lib/node_modules/driftwatch/config
[ -d "$CONFIG" ] || CONFIG=$REPO/config
for file in agent.yaml collector.yaml policy.yaml; do
  [ -e "$ETC/$file" ] || install -m 0644 "$CONFIG/$file" "$ETC/$file"
done
# Secrets live in .env files read by systemd (root) alone: mode 0600.
[ -e "$ETC/agent.env" ] || install -m 0600 /dev/null "$ETC/agent.env"
[ -e "$ETC/agent.env" ] && [ ! -s "$ETC/agent.env" ] &&
  printf '# The collector'"'"'s enrollSecret; agent.yaml refers to it.\nDRIFTWATCH_ENROLL_SECRET=\n' >"$ETC/agent.env"
[ -e "$ETC/collector.env" ] || install -m 0600 /dev/null "$ETC/collector.env"
[ -e "$ETC/collector.env" ] && [ ! -s "$ETC/collector.env" ] &&
  printf '# openssl rand -hex 32, one for each.\nDRIFTWATCH_ENROLL_SECRET=\nDRIFTWATCH_ADMIN_TOKEN=\n' >"$ETC/collector.env"
chmod 0600 "$ETC/agent.env" "$ETC/collector.env"

# 4. The units, running the command where this prefix put it.
install -d -m 0755 "$UNITDIR"
for unit in "${UNITS[@]}"; do
  sed "s|^ExecStart=/usr/bin/driftwatch |ExecStart=$PREFIX/bin/driftwatch |" "$HERE/$unit" >"$UNITDIR/$unit"
  chmod 0644 "$UNITDIR/$unit"
done
[ -z "$DESTDIR" ] && command -v systemctl >/dev/null && systemctl daemon-reload || true

# 5. Enabled (started at boot), not started: the manifest and the secret come first.
case "$ENABLE" in
  none) ;;
  agent|collector|agent,collector|collector,agent)
    for name in ${ENABLE//,/ }; do systemctl_ enable "driftwatch-$name.service"; done ;;
  *) die "--enable $ENABLE: expected agent, collector, agent,collector or none" ;;
esac

cat <<EOF
driftwatch installed under $ROOT$PREFIX
next: put the image's manifest and public key in /etc/driftwatch, the collector's URL in
/etc/driftwatch/agent.yaml, its enrollSecret in /etc/driftwatch/agent.env, then
  systemctl start driftwatch-agent && systemctl status driftwatch-agent
EOF
