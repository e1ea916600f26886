#!/usr/bin/env bash
# Runs the whole test suite with the race detector. It sets up and starts the
# services the tests need, and stops what it started, whatever happens.
# Today the tests start what they need themselves (loopback servers, SQLite
# files, a private dbus-daemon); later services (containerd, InfluxDB) are
# started here.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
export SATELLITE_TEST_SERVICES=1 # tests needing a service must not skip under make test

# Packages the tests use: dbus-daemon (the systemd check's D-Bus tests start
# their own bus). Installed when missing, as root.
need_pkgs=()
command -v dbus-daemon >/dev/null 2>&1 || need_pkgs+=(dbus-daemon)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing ${need_pkgs[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "make test needs root to install ${need_pkgs[*]}" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"
fi

cleanup() {
  local rc=$?
  # Stop what this script started (nothing yet).
  exit "$rc"
}
trap cleanup EXIT INT TERM

echo "== go test -race ./..."
"$GO" test -race -count=1 -timeout 20m ./...
