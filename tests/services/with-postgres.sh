#!/usr/bin/env bash
# Runs a command with a private PostgreSQL server (tests/services/postgres.sh) and
# KEYGATE_TEST_POSTGRES naming it, so the store's tests and the integration tests keep their
# data there; the server and its folder are removed afterwards, whatever the command did.
#   tests/services/with-postgres.sh cargo test -p keygate-store
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d /tmp/keygate-pg.XXXXXX)
cleanup() {
  "$here/postgres.sh" stop "$dir" || true
  rm -rf "$dir"
}
trap cleanup EXIT
KEYGATE_TEST_POSTGRES=$("$here/postgres.sh" start "$dir")
export KEYGATE_TEST_POSTGRES
"$@"
