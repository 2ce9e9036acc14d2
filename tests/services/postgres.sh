#!/usr/bin/env bash
# Starts a private PostgreSQL server for the tests: a new cluster in DIR, listening only on a
# Unix socket in DIR (no TCP port at all), owned by the `postgres` user when run as root
# (initdb refuses root). Prints the admin URL on stdout; `postgres.sh stop DIR` stops it.
#   eval "KEYGATE_TEST_POSTGRES=$(tests/services/postgres.sh start /tmp/kg-pg)"
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?a directory for the cluster}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case $cmd in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses='' -k $dir -c fsync=off -c max_connections=200" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    as_owner "$bin/psql" -h "$dir" -U postgres -d postgres -qAt \
      -c "SELECT 1 FROM pg_database WHERE datname = 'keygate_test'" | grep -q 1 \
      || as_owner "$bin/createdb" -h "$dir" -U postgres keygate_test
    echo "postgresql:///keygate_test?host=$dir&user=postgres"
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
