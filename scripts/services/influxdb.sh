#!/usr/bin/env bash
# InfluxDB 1.8.10 for the influxdb sink's tests (see scripts/test.sh).
#
#   influxdb.sh install           build influxd into the cache folder when missing
#   influxdb.sh start STATE_DIR   start it on a free loopback port, create the
#                                 database, print the SATELLITE_TEST_INFLUXDB_*
#                                 variables on stdout
#   influxdb.sh stop STATE_DIR    stop it (SIGTERM, then SIGKILL after a while)
#
# Debian's influxdb (1.6) has no /api/v2/write, which the sink's client speaks;
# 1.8 is the first 1.x with the v2 compatibility endpoints. It is built from
# source because the machines running the tests reach only the Go module proxy.
set -euo pipefail

VERSION=1.8.10
GO=${GO:-go}
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/satellite/influxdb-$VERSION
BIN=$CACHE/bin/influxd
DB=satellite

log() { echo "influxdb: $*" >&2; }
# shellcheck source=lib/service.bash
. "$(dirname "$0")/lib/service.bash"

install() {
  if ! command -v curl >/dev/null 2>&1; then
    log "installing curl (start uses it to wait for the server)"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >&2
  fi
  if [ -x "$BIN" ]; then
    log "influxd $VERSION is in $BIN"
    return
  fi
  log "building influxd $VERSION into $CACHE/bin (go install; about a minute the first time)"
  mkdir -p "$CACHE/bin"
  # -v names each package as it is compiled: the progress shown while a
  # minute of compiling goes by. The version flags make `influxd version`
  # (and the server's X-Influxdb-Version header) say 1.8.10.
  GOBIN="$CACHE/bin" "$GO" install -v \
    -ldflags "-X main.version=$VERSION -X main.branch=$VERSION -X main.commit=go-install" \
    "github.com/influxdata/influxdb/cmd/influxd@v$VERSION" >&2
  "$BIN" version >&2
}

start() {
  local state=$1
  [ -x "$BIN" ] || install
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  local port rpc
  port=$(free_port)
  rpc=$(free_port)
  cat >"$state/influxdb.conf" <<CONF
reporting-disabled = true
# The backup/restore RPC service; its default, :8088, would clash with any
# other influxd on the machine.
bind-address = "127.0.0.1:$rpc"

[meta]
  dir = "$state/meta"

[data]
  dir = "$state/data"
  wal-dir = "$state/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  bind-address = "127.0.0.1:$port"
  auth-enabled = false
  flux-enabled = true
  log-enabled = false
  pprof-enabled = false

[logging]
  level = "warn"
  suppress-logo = true
CONF
  log "starting $BIN on 127.0.0.1:$port (log: $state/influxd.log)"
  # setsid: the server must not get the terminal's Ctrl-C before stop runs.
  setsid "$BIN" run -config "$state/influxdb.conf" >"$state/influxd.log" 2>&1 </dev/null &
  echo $! >"$state/influxd.pid"

  # Flux's start-up takes 10 to 20 s of CPU; give a loaded machine room.
  local url=http://127.0.0.1:$port
  log "waiting for it to answer /ping (Flux takes a while to start)"
  for _ in $(seq 1200); do
    if curl -fsS -o /dev/null "$url/ping" 2>/dev/null; then
      break
    fi
    if ! kill -0 "$(cat "$state/influxd.pid")" 2>/dev/null; then
      log "influxd exited at start:"
      tail -n 30 "$state/influxd.log" >&2
      return 1
    fi
    sleep 0.1
  done
  if ! curl -fsS -o /dev/null "$url/ping"; then
    log "influxd did not answer /ping within 120 s:"
    tail -n 30 "$state/influxd.log" >&2
    stop "$state"
    return 1
  fi
  curl -fsS -o /dev/null -XPOST "$url/query" --data-urlencode "q=CREATE DATABASE $DB" >&2
  log "ready; database $DB created"
  echo "SATELLITE_TEST_INFLUXDB_URL=$url"
  echo "SATELLITE_TEST_INFLUXDB_DB=$DB"
  echo "SATELLITE_TEST_INFLUXD=$BIN"
}

stop() { stop_pidfile "$1/influxd.pid" "influxd" 15; }

service_main "$@"
