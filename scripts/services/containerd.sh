#!/usr/bin/env bash
# A private containerd for the container check's tests (see scripts/test.sh):
# its own root, state and socket under STATE_DIR, so it never touches a
# containerd the machine may already run.
#   containerd.sh install           apt-get install containerd runc when missing
#   containerd.sh start STATE_DIR   prints SATELLITE_TEST_CONTAINERD_SOCKET=...
#   containerd.sh stop STATE_DIR
set -euo pipefail

cmd=${1:-}
dir=${2:-}

log() { echo "containerd.sh: $*" >&2; }

case "$cmd" in
install)
  if command -v containerd >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1; then
    exit 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "containerd and runc are missing and installing them needs root"
    exit 1
  fi
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq containerd runc >&2
  ;;
start)
  [ -n "$dir" ] || { log "usage: $0 start STATE_DIR"; exit 2; }
  if [ "$(id -u)" -ne 0 ]; then
    log "containerd runs containers only as root"
    exit 1
  fi
  mkdir -p "$dir/root" "$dir/state"
  # A short socket path: unix socket paths are limited to 108 bytes.
  sock="$dir/c.sock"
  cat >"$dir/config.toml" <<CONF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  address = ""
  level = "warn"

[metrics]
  address = ""
CONF
  containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
  echo $! >"$dir/containerd.pid"
  for _ in $(seq 1 100); do
    if ctr --address "$sock" version >/dev/null 2>&1; then
      echo "SATELLITE_TEST_CONTAINERD_SOCKET=$sock"
      exit 0
    fi
    if ! kill -0 "$(cat "$dir/containerd.pid")" 2>/dev/null; then
      log "containerd exited at start; its log:"
      cat "$dir/containerd.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  log "containerd did not answer on $sock within 10s; its log:"
  cat "$dir/containerd.log" >&2
  exit 1
  ;;
stop)
  [ -n "$dir" ] || { log "usage: $0 stop STATE_DIR"; exit 2; }
  if [ -f "$dir/containerd.pid" ]; then
    pid=$(cat "$dir/containerd.pid")
    if kill -TERM "$pid" 2>/dev/null; then
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        log "containerd did not stop in 10s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    rm -f "$dir/containerd.pid"
  fi
  # Shims outlive containerd by design; end the ones of this instance (their
  # command line names our state folder), then unmount what is left.
  for p in $(pgrep -f "containerd-shim.*-address $dir/c.sock" || true); do
    kill -KILL "$p" 2>/dev/null || true
  done
  if [ -d "$dir" ]; then
    awk -v d="$dir" '$5 ~ "^"d {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || log "could not unmount $m"
    done
  fi
  ;;
*)
  log "usage: $0 install | start STATE_DIR | stop STATE_DIR"
  exit 2
  ;;
esac
