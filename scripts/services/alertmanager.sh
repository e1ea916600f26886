#!/usr/bin/env bash
# Debian's Alertmanager (0.25 on Debian 12) for the alertmanager notifier's
# tests (see scripts/test.sh).
#
#   alertmanager.sh install           apt-get install prometheus-alertmanager
#                                     when the binary is missing (root)
#   alertmanager.sh start STATE_DIR   start it on a free loopback port, HA
#                                     gossip off, and print the
#                                     SATELLITE_TEST_ALERTMANAGER_* variables
#   alertmanager.sh stop STATE_DIR    stop it (SIGTERM, then SIGKILL after a while)
#
# The package ships a service, but the machines running the tests have no
# systemd: the binary is started by hand with its own config and storage in
# STATE_DIR, so it never touches /etc/prometheus or /var/lib/prometheus.
set -euo pipefail

log() { echo "alertmanager.sh: $*" >&2; }
# shellcheck source=lib/service.bash
. "$(dirname "$0")/lib/service.bash"

# am_bin prints the binary's path, or fails when there is none.
am_bin() {
  if command -v prometheus-alertmanager >/dev/null 2>&1; then
    command -v prometheus-alertmanager
  elif [ -x /usr/bin/prometheus-alertmanager ]; then
    echo /usr/bin/prometheus-alertmanager
  else
    return 1
  fi
}

install() {
  local pkgs=()
  am_bin >/dev/null || pkgs+=(prometheus-alertmanager)
  command -v curl >/dev/null 2>&1 || pkgs+=(curl)
  if [ ${#pkgs[@]} -eq 0 ]; then
    log "alertmanager is $(am_bin)"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "${pkgs[*]} missing and installing needs root"
    exit 1
  fi
  log "installing ${pkgs[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >&2
  am_bin >/dev/null || { log "prometheus-alertmanager is still missing after apt-get install"; exit 1; }
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    # Where systemd runs, the package starts its service on :9093 and :9094.
    log "disabling the prometheus-alertmanager.service the package started (the tests run their own)"
    systemctl disable --now prometheus-alertmanager.service >&2 || true
  fi
}

start() {
  local state=$1 bin
  am_bin >/dev/null || install
  bin=$(am_bin)
  mkdir -p "$state/data"
  state=$(cd "$state" && pwd)
  local port
  port=$(free_port)
  # One route to a receiver with no integrations: the alerts are kept (and
  # readable through /api/v2/alerts) but notify nobody.
  cat >"$state/alertmanager.yml" <<'YAML'
route:
  receiver: "null"
  group_by: [alertname, node]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: "null"
YAML
  log "starting $bin on 127.0.0.1:$port (log: $state/alertmanager.log)"
  "$bin" --version 2>&1 | head -n 1 >&2
  # setsid: the server must not get the terminal's Ctrl-C before stop runs.
  # --cluster.listen-address= (empty) turns the HA gossip off: no port 9094.
  setsid "$bin" \
    --config.file="$state/alertmanager.yml" \
    --storage.path="$state/data" \
    --web.listen-address="127.0.0.1:$port" \
    --cluster.listen-address= \
    --log.level=warn \
    >"$state/alertmanager.log" 2>&1 </dev/null &
  echo $! >"$state/alertmanager.pid"

  local url=http://127.0.0.1:$port
  for _ in $(seq 300); do
    if curl -fsS -o /dev/null "$url/-/ready" 2>/dev/null; then
      log "ready"
      echo "SATELLITE_TEST_ALERTMANAGER_URL=$url"
      echo "SATELLITE_TEST_ALERTMANAGER_BIN=$bin"
      return
    fi
    if ! kill -0 "$(cat "$state/alertmanager.pid")" 2>/dev/null; then
      log "alertmanager exited at start:"
      tail -n 30 "$state/alertmanager.log" >&2
      rm -f "$state/alertmanager.pid"
      return 1
    fi
    sleep 0.1
  done
  log "alertmanager did not answer /-/ready within 30 s:"
  tail -n 30 "$state/alertmanager.log" >&2
  stop "$state"
  return 1
}

stop() { stop_pidfile "$1/alertmanager.pid" "alertmanager" 10; }

service_main "$@"
