#!/usr/bin/env bash
# Debian's Chromium for the dashboard's browser tests (see scripts/test.sh):
# each test starts its own headless browser through chromedp, with a new
# profile and the network flags of internal/browsertest; this script only
# makes sure the browser is there and tells the tests where.
#
#   chromium.sh install           apt-get install chromium when missing (root)
#   chromium.sh start STATE_DIR   print SATELLITE_TEST_CHROMIUM=PATH
#   chromium.sh stop STATE_DIR    nothing to stop (the tests stop theirs)
set -euo pipefail

log() { echo "chromium.sh: $*" >&2; }
# shellcheck source=lib/service.bash
. "$(dirname "$0")/lib/service.bash"

chromium_bin() {
  if [ -x /usr/bin/chromium ]; then
    echo /usr/bin/chromium
  elif command -v chromium >/dev/null 2>&1; then
    command -v chromium
  else
    return 1
  fi
}

install() {
  if bin=$(chromium_bin); then
    log "chromium is $bin"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "chromium is missing and installing it needs root"
    exit 1
  fi
  log "installing Debian's chromium (a few minutes on a new machine)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
  chromium_bin >/dev/null || { log "chromium is still missing after apt-get install"; exit 1; }
}

start() {
  local state=$1 bin
  mkdir -p "$state"
  bin=$(chromium_bin) || { install; bin=$(chromium_bin); }
  "$bin" --version >&2 || true
  echo "SATELLITE_TEST_CHROMIUM=$bin"
}

stop() { :; }

service_main "$@"
