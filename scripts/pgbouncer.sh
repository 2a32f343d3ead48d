#!/usr/bin/env bash
# PgBouncer in transaction mode in front of a local PostgreSQL, for CI and developers
# (docs/operations.md, "Connection pooling (PgBouncer)").
#
#   scripts/pgbouncer.sh start    # listen on 127.0.0.1:6432, pool to 127.0.0.1:5432
#   scripts/pgbouncer.sh stop
#   scripts/pgbouncer.sh status
#   scripts/pgbouncer.sh url NAME # the DATABASE_URL of database NAME through the pooler
#   scripts/pgbouncer.sh kill DB  # close the pooler's server connections to DB (before DROP)
#
# Environment: PGBOUNCER_PORT (6432), PGBOUNCER_UPSTREAM_HOST (127.0.0.1),
# PGBOUNCER_UPSTREAM_PORT (5432), PGBOUNCER_USER (postgres), PGBOUNCER_DIR (runtime files,
# /tmp/forge-pgbouncer-$PGBOUNCER_PORT). Needs Debian's `pgbouncer` (apt-get install
# pgbouncer); trust authentication, as the local PostgreSQL of CI and the embedded one use.
set -euo pipefail

PORT="${PGBOUNCER_PORT:-6432}"
UPSTREAM_HOST="${PGBOUNCER_UPSTREAM_HOST:-127.0.0.1}"
UPSTREAM_PORT="${PGBOUNCER_UPSTREAM_PORT:-5432}"
DB_USER="${PGBOUNCER_USER:-postgres}"
DIR="${PGBOUNCER_DIR:-/tmp/forge-pgbouncer-$PORT}"
INI="$DIR/pgbouncer.ini"
PIDFILE="$DIR/pgbouncer.pid"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

admin() { psql -h 127.0.0.1 -p "$PORT" -U "$DB_USER" -d pgbouncer -Atc "$1"; }

start() {
    if running; then
        echo "pgbouncer already running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"
        return 0
    fi
    command -v pgbouncer >/dev/null || { echo "pgbouncer is not installed (apt-get install pgbouncer)" >&2; exit 1; }
    mkdir -p "$DIR"
    printf '"%s" ""\n' "$DB_USER" > "$DIR/userlist.txt"
    cat > "$INI" <<INI
; Written by scripts/pgbouncer.sh: every database of the upstream server, pooled per
; transaction. Django is configured for it (forge/settings/base.py, DATABASE_POOLER):
; no server-side cursors, no named prepared statements, no session state kept across
; transactions (PgBouncer re-applies TimeZone and client_encoding itself).
[databases]
* = host=$UPSTREAM_HOST port=$UPSTREAM_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/userlist.txt
admin_users = $DB_USER
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
reserve_pool_size = 5
server_reset_query =
server_idle_timeout = 30
; psycopg sends these at connect; Django sets the time zone with SET (tracked by PgBouncer).
ignore_startup_parameters = extra_float_digits,options
logfile = $DIR/pgbouncer.log
pidfile = $PIDFILE
INI
    local as_user=()
    if [ "$(id -u)" = 0 ]; then
        # PgBouncer refuses to run as root: run it as the PostgreSQL system user.
        chown -R postgres: "$DIR"
        as_user=(-u postgres)
    fi
    pgbouncer -d "${as_user[@]}" "$INI"
    for _ in $(seq 50); do
        pg_isready -h 127.0.0.1 -p "$PORT" -q 2>/dev/null && break
        sleep 0.1
    done
    pg_isready -h 127.0.0.1 -p "$PORT" -q || { echo "pgbouncer did not start; see $DIR/pgbouncer.log" >&2; exit 1; }
    echo "pgbouncer on 127.0.0.1:$PORT (transaction pooling) -> $UPSTREAM_HOST:$UPSTREAM_PORT"
}

stop() {
    if running; then
        kill "$(cat "$PIDFILE")"
        for _ in $(seq 50); do running || break; sleep 0.1; done
        echo "pgbouncer stopped"
    else
        echo "pgbouncer not running"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) if running; then admin "SHOW CONFIG" | grep -E '^(pool_mode|listen_port)\|'; else echo "not running"; exit 1; fi ;;
    url) echo "postgres://$DB_USER@127.0.0.1:$PORT/${2:?database name}" ;;
    kill) admin "KILL ${2:?database name}" >/dev/null 2>&1 || true; admin "RESUME ${2}" >/dev/null 2>&1 || true ;;
    *) echo "usage: $0 start|stop|status|url NAME|kill DB" >&2; exit 2 ;;
esac
