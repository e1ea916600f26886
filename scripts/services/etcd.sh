#!/usr/bin/env bash
# etcd for the metrics check's tests and the slow-disk story (see
# scripts/test.sh and docs/etcd-slow-disk.md).
#
#   etcd.sh install           apt-get install Debian's etcd-server and
#                             etcd-client when missing
#   etcd.sh start STATE_DIR   start a one-member etcd on free loopback ports
#                             with its data dir in STATE_DIR, put a key, print
#                             the SATELLITE_TEST_ETCD* variables on stdout
#   etcd.sh stop STATE_DIR    stop it (SIGTERM, then SIGKILL after a while)
#
# Debian's package enables a systemd unit; there is no systemd here, so
# nothing starts by itself and this script is the only thing that runs it.
# The end-to-end slow-disk test starts its own etcd (the binary printed as
# SATELLITE_TEST_ETCD) with its data dir on the FUSE rig; this one serves
# the tests that need a real etcd's /metrics and /health.
set -euo pipefail

log() { echo "etcd: $*" >&2; }
# shellcheck source=lib/service.bash
. "$(dirname "$0")/lib/service.bash"

install() {
  local need=()
  command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
  command -v etcdctl >/dev/null 2>&1 || need+=(etcd-client)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  if [ ${#need[@]} -eq 0 ]; then
    log "$(etcd --version | head -n 1) is installed"
    return
  fi
  log "installing ${need[*]} (apt)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
}

start() {
  local state=$1
  command -v etcd >/dev/null 2>&1 || install
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  local client peer
  client=$(free_port)
  peer=$(free_port)
  local url=http://127.0.0.1:$client
  log "starting etcd on $url (log: $state/etcd.log)"
  # setsid: the server must not get the terminal's Ctrl-C before stop runs.
  # ETCD_UNSUPPORTED_ARCH is not needed on amd64; the environment is
  # cleared of ETCD_* so that a caller's settings do not leak in.
  env -u ETCDCTL_API setsid etcd \
    --name satellite-test \
    --data-dir "$state/data" \
    --listen-client-urls "$url" --advertise-client-urls "$url" \
    --listen-peer-urls "http://127.0.0.1:$peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "satellite-test=http://127.0.0.1:$peer" \
    --initial-cluster-state new \
    --log-level warn --logger zap \
    >"$state/etcd.log" 2>&1 </dev/null &
  echo $! >"$state/etcd.pid"
  for _ in $(seq 300); do
    if curl -fsS "$url/health" 2>/dev/null | grep -q '"health":"true"'; then
      break
    fi
    if ! kill -0 "$(cat "$state/etcd.pid")" 2>/dev/null; then
      log "etcd exited at start:"
      tail -n 30 "$state/etcd.log" >&2
      return 1
    fi
    sleep 0.1
  done
  if ! curl -fsS "$url/health" 2>/dev/null | grep -q '"health":"true"'; then
    log "etcd did not report healthy within 30 s:"
    tail -n 30 "$state/etcd.log" >&2
    stop "$state"
    return 1
  fi
  # One write, so that the WAL fsync histogram has observations.
  ETCDCTL_API=3 etcdctl --endpoints "$url" put satellite-test ready >/dev/null
  log "ready"
  echo "SATELLITE_TEST_ETCD_URL=$url"
  echo "SATELLITE_TEST_ETCD=$(command -v etcd)"
  echo "SATELLITE_TEST_ETCDCTL=$(command -v etcdctl)"
}

stop() { stop_pidfile "$1/etcd.pid" "etcd" 15; }

service_main "$@"
