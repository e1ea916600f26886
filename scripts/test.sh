#!/usr/bin/env bash
# Runs the whole test suite with the race detector. It sets up and starts the
# services the tests need, and stops what it started, whatever happens.
# Today the tests need no outside service: loopback servers, SQLite files and
# temporary folders are made by the tests themselves. Later services
# (containerd, InfluxDB) are started here.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
export SATELLITE_TEST_SERVICES=1 # tests needing a service must not skip under make test

cleanup() {
  local rc=$?
  # Stop what this script started (nothing yet).
  exit "$rc"
}
trap cleanup EXIT INT TERM

echo "== go test -race ./..."
"$GO" test -race -count=1 -timeout 20m ./...
