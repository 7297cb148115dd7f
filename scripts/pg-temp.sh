#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL cluster on 127.0.0.1 for tests and benchmarks.
#   scripts/pg-temp.sh start [port]   prints the DATABASE_URL to use
#   scripts/pg-temp.sh stop
#   scripts/pg-temp.sh restart        immediate restart (drops connections; fault tests)
set -euo pipefail
PORT="${2:-55432}"
DIR="${PG_TEMP_DIR:-/tmp/scim-lifecycle-pg}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [ -z "$BIN" ]; then
  echo "PostgreSQL server binaries not found; install them (apt-get install -y postgresql)" >&2
  exit 1
fi
as_pg() {
  if [ "$(id -u)" = "0" ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}
case "${1:-}" in
  start)
    if [ ! -f "$DIR/PG_VERSION" ]; then
      mkdir -p "$DIR"
      [ "$(id -u)" = "0" ] && chown postgres "$DIR"
      as_pg "'$BIN/initdb' -D '$DIR' -A trust -U postgres --no-sync" >/dev/null
      cat >>"$DIR/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
max_connections = 200
shared_buffers = 256MB
fsync = on
synchronous_commit = on
CONF
    fi
    as_pg "'$BIN/pg_ctl' -D '$DIR' -l '$DIR/server.log' -w start" >/dev/null
    as_pg "'$BIN/psql' -h 127.0.0.1 -p $PORT -U postgres -tAc \"SELECT 1 FROM pg_database WHERE datname='scim'\"" | grep -q 1 ||
      as_pg "'$BIN/createdb' -h 127.0.0.1 -p $PORT -U postgres scim"
    echo "postgres://postgres@127.0.0.1:$PORT/scim"
    ;;
  stop)
    as_pg "'$BIN/pg_ctl' -D '$DIR' -m fast -w stop" >/dev/null || true
    ;;
  restart)
    # Drops every connection, as a failover or a crash-restart does (fault tests).
    as_pg "'$BIN/pg_ctl' -D '$DIR' -m immediate -w restart -l '$DIR/server.log'" >/dev/null
    ;;
  *)
    echo "usage: $0 start [port] | stop | restart" >&2
    exit 2
    ;;
esac
