#!/usr/bin/env bash
# Runs the whole test suite with the race detector. It installs and starts the
# services the tests need, and stops what it started, whatever happens.
#
# Each service has a script in scripts/services/NAME.sh, called as
#   NAME.sh install           install what is missing (as root, apt or go install)
#   NAME.sh start STATE_DIR   start it; print KEY=VALUE lines to export to the tests
#   NAME.sh stop STATE_DIR    stop what start started
# Tests read those variables through internal/testenv; with
# SATELLITE_TEST_SERVICES=1 a test whose service is missing fails, not skips.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
export SATELLITE_TEST_SERVICES=1

# Debian packages the tests use directly: dbus-daemon (the systemd check's
# D-Bus tests start their own bus), iproute2 and nftables (network namespaces
# for the mesh's partition tests).
need_pkgs=()
command -v dbus-daemon >/dev/null 2>&1 || need_pkgs+=(dbus-daemon)
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v nft >/dev/null 2>&1 || need_pkgs+=(nftables)
command -v lintian >/dev/null 2>&1 || need_pkgs+=(lintian) # deploy/deb: the .deb is checked with it (and man-db)
command -v systemd-analyze >/dev/null 2>&1 || need_pkgs+=(systemd) # verifying deploy/systemd/satellite.service
command -v ansible-playbook >/dev/null 2>&1 || need_pkgs+=(ansible-core) # the Ansible role test
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "== installing ${need_pkgs[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "make test needs root to install ${need_pkgs[*]}" >&2
    exit 1
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}"
fi

state=$(mktemp -d "${TMPDIR:-/tmp}/satellite-test.XXXXXX")
started=()
cleanup() {
  local rc=$?
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    svc=${started[i]}
    echo "== stopping $svc"
    "scripts/services/$svc.sh" stop "$state/$svc" || echo "stopping $svc failed" >&2
  done
  rm -rf "$state"
  exit "$rc"
}
trap cleanup EXIT INT TERM

for script in scripts/services/*.sh; do
  [ -e "$script" ] || continue
  svc=$(basename "$script" .sh)
  echo "== $svc: install"
  "$script" install
  mkdir -p "$state/$svc"
  echo "== $svc: start"
  started+=("$svc")
  "$script" start "$state/$svc" >"$state/$svc.env"
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    case "${line%%=*}" in
    *PASSWORD* | *TOKEN* | *SECRET*) echo "   ${line%%=*}=(hidden)" ;;
    *) echo "   $line" ;;
    esac
    export "${line?}"
  done <"$state/$svc.env"
done

echo "== go test -race ./..."
"$GO" test -race -count=1 -timeout 20m ./...
