# Shared by the service scripts of scripts/services/*.sh (sourced, not run:
# scripts/test.sh runs only the *.sh files of the folder above). A script
# defines log, install, start STATE_DIR and stop STATE_DIR, then calls
# service_main "$@".

# free_port prints a loopback TCP port nobody listens on now (bash's
# /dev/tcp, so that no other tool is needed), below the kernel's ephemeral
# range: a port in it may be held by another process's outgoing connection,
# which refuses connections (so it looks free) yet cannot be bound. Another
# process may still take it before the server binds it; start then fails
# and says so.
free_port() {
  local p low=32768
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "$low" -gt 12000 ] || low=32768
  for _ in $(seq 200); do
    p=$((10000 + RANDOM % (low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  log "no free port found"
  return 1
}

# stop_pidfile PIDFILE WHAT SECONDS stops the process of PIDFILE: SIGTERM,
# then SIGKILL when it is still there after SECONDS; then removes PIDFILE.
stop_pidfile() {
  local pidfile=$1 what=$2 secs=$3 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq $((secs * 10))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$what ($pid) did not stop within $secs s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

# service_main runs the script's command: install, start STATE_DIR or
# stop STATE_DIR.
service_main() {
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
}
