#!/usr/bin/env bash
# Debian's serf (0.9.4) for the mesh's foreign-member tests (see
# scripts/test.sh): a plain serf agent that joins a satellite mesh without
# satellite's tags. The tests start and stop their own serf agents; this
# script only makes sure the binary is there and tells them where.
#
#   serf.sh install           apt-get install serf when serf is missing (root)
#   serf.sh start STATE_DIR   print SATELLITE_TEST_SERF=PATH
#   serf.sh stop STATE_DIR    nothing to stop (the tests stop their agents)
set -euo pipefail

log() { echo "serf.sh: $*" >&2; }

# serf_bin prints the serf binary's path, or fails when there is none.
serf_bin() {
  if command -v serf >/dev/null 2>&1; then
    command -v serf
  elif [ -x /usr/bin/serf ]; then
    echo /usr/bin/serf
  else
    return 1
  fi
}

install() {
  if bin=$(serf_bin); then
    log "serf is $bin"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "serf is missing and installing it needs root"
    exit 1
  fi
  log "installing Debian's serf"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq serf >&2
  serf_bin >/dev/null || { log "serf is still missing after apt-get install"; exit 1; }
  # The package enables a serf.service on 0.0.0.0:7946, where the tests'
  # agents bind their gossip ports: stop it where systemd runs.
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    log "disabling the serf.service the package started (the tests run their own agents)"
    systemctl disable --now serf.service >&2 || true
  fi
}

start() {
  local state=$1 bin
  mkdir -p "$state"
  bin=$(serf_bin) || install
  bin=$(serf_bin)
  "$bin" version >&2
  echo "SATELLITE_TEST_SERF=$bin"
}

stop() { :; }

case "${1:-}" in
install) install ;;
start)
  [ $# -eq 2 ] || { echo "usage: $0 start STATE_DIR" >&2; exit 2; }
  start "$2"
  ;;
stop)
  [ $# -eq 2 ] || { echo "usage: $0 stop STATE_DIR" >&2; exit 2; }
  stop "$2"
  ;;
*)
  echo "usage: $0 install | start STATE_DIR | stop STATE_DIR" >&2
  exit 2
  ;;
esac
