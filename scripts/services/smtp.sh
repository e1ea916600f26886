#!/usr/bin/env bash
# An SMTP server for the email notifier's tests (see scripts/test.sh):
# Debian's aiosmtpd (1.4), run by scripts/services/smtp_server.py with a
# self-signed certificate made at start, STARTTLS and AUTH required, and an
# SMTPS port; every message it takes lands in a maildir the tests read.
#
#   smtp.sh install           apt-get install python3-aiosmtpd (and openssl)
#                             when missing (root)
#   smtp.sh start STATE_DIR   start it on two free loopback ports, print the
#                             SATELLITE_TEST_SMTP* variables
#   smtp.sh stop STATE_DIR    stop it (SIGTERM, then SIGKILL after a while)
#
# Debian's python3 is called by its path: a pyenv (or venv) python3 first on
# PATH does not see Debian's python3-aiosmtpd.
set -euo pipefail

PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
USER_NAME=satellite-test

log() { echo "smtp.sh: $*" >&2; }
# shellcheck source=lib/service.bash
. "$(dirname "$0")/lib/service.bash"

have_aiosmtpd() { [ -x "$PY" ] && "$PY" -c 'import aiosmtpd' 2>/dev/null; }

install() {
  local pkgs=()
  have_aiosmtpd || pkgs+=(python3-aiosmtpd)
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  if [ ${#pkgs[@]} -eq 0 ]; then
    log "aiosmtpd $("$PY" -c 'import aiosmtpd; print(aiosmtpd.__version__)') is in $PY"
    return
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "${pkgs[*]} missing and installing needs root"
    exit 1
  fi
  log "installing ${pkgs[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >&2
  have_aiosmtpd || { log "aiosmtpd is still missing for $PY after apt-get install"; exit 1; }
}

start() {
  local state=$1
  { have_aiosmtpd && command -v openssl >/dev/null 2>&1; } || install
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  mkdir -p "$state/maildir"/{cur,new,tmp}

  # A certificate for 127.0.0.1 and localhost, trusted by the tests alone.
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=localhost" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$state/key.pem" -out "$state/cert.pem" 2>"$state/openssl.log" ||
    { log "openssl could not make the certificate:"; cat "$state/openssl.log" >&2; return 1; }
  chmod 600 "$state/key.pem"
  # A password fresh at each start, kept out of the process list.
  (umask 077 && od -An -N12 -tx1 /dev/urandom | tr -d ' \n' >"$state/password")

  local port smtps
  port=$(free_port)
  smtps=$(free_port)
  while [ "$smtps" = "$port" ]; do smtps=$(free_port); done
  rm -f "$state/ready"
  log "starting aiosmtpd: STARTTLS on 127.0.0.1:$port, SMTPS on 127.0.0.1:$smtps (log: $state/smtp.log)"
  # setsid: the server must not get the terminal's Ctrl-C before stop runs.
  setsid "$PY" "$HERE/smtp_server.py" --host 127.0.0.1 --port "$port" --smtps "$smtps" \
    --cert "$state/cert.pem" --key "$state/key.pem" --maildir "$state/maildir" \
    --user "$USER_NAME" --password-file "$state/password" --ready "$state/ready" \
    >"$state/smtp.log" 2>&1 </dev/null &
  echo $! >"$state/smtp.pid"

  for _ in $(seq 300); do
    if [ -f "$state/ready" ]; then
      log "ready"
      echo "SATELLITE_TEST_SMTP_ADDR=127.0.0.1:$port"
      echo "SATELLITE_TEST_SMTPS_ADDR=127.0.0.1:$smtps"
      echo "SATELLITE_TEST_SMTP_MAILDIR=$state/maildir"
      echo "SATELLITE_TEST_SMTP_CA=$state/cert.pem"
      echo "SATELLITE_TEST_SMTP_USER=$USER_NAME"
      echo "SATELLITE_TEST_SMTP_PASSWORD=$(cat "$state/password")"
      return
    fi
    if ! kill -0 "$(cat "$state/smtp.pid")" 2>/dev/null; then
      log "the SMTP server exited at start:"
      tail -n 30 "$state/smtp.log" >&2
      rm -f "$state/smtp.pid"
      return 1
    fi
    sleep 0.1
  done
  log "the SMTP server was not ready within 30 s:"
  tail -n 30 "$state/smtp.log" >&2
  stop "$state"
  return 1
}

stop() { stop_pidfile "$1/smtp.pid" "the SMTP server" 10; }

service_main "$@"
