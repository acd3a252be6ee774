#!/usr/bin/env bash
# bench/pg-setup.sh start|stop DATA_DIR — a throwaway PostgreSQL server for `make bench`.
#
# start: installs Debian's PostgreSQL 15 if it is missing (as root), creates a
#        cluster in DATA_DIR/pg (once; reused afterwards), starts it on
#        127.0.0.1:$BENCH_PG_PORT with its unix socket in DATA_DIR/pg/sock, and
#        fills the database "bench" with `pgbench -i -s $BENCH_PG_SCALE` (once).
# stop:  stops that server (fast shutdown).  Safe to call when it is not running.
#
# Login: user "bench", password "bench" (scram-sha-256 over TCP), database "bench".
# The server runs as the `postgres` user when we are root (initdb refuses root),
# else as ourselves.  It never listens on anything but loopback.  The cluster is
# for benchmarks only: fsync is off.
set -euo pipefail

PORT=${BENCH_PG_PORT:-55432}
SCALE=${BENCH_PG_SCALE:-50}
PGVER=${BENCH_PG_VERSION:-15}
PGBIN=${BENCH_PGBIN:-/usr/lib/postgresql/$PGVER/bin}
PGUSER_NAME=bench
PGPASS=bench

log() { printf 'pg-setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { echo "usage: $0 start|stop DATA_DIR" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
ACTION=$1
DATA=$(mkdir -p "$2" && cd "$2" && pwd)
ROOT=$DATA/pg                 # cluster, socket, log, markers

# as_server CMD... — run CMD as the user that owns the cluster.
as_server() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Installs the postgresql package when the binaries are not there.
ensure_postgres() {
    [[ -x $PGBIN/initdb && -x $PGBIN/pgbench ]] && return 0
    [[ $(id -u) == 0 ]] || die "PostgreSQL $PGVER is not installed; run: sudo apt-get install postgresql"
    log "installing postgresql (Debian's PostgreSQL $PGVER)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    [[ -x $PGBIN/initdb ]] || die "no $PGBIN/initdb after installing postgresql"
}

# When root, the cluster directory belongs to `postgres`, which must be able to
# reach it: a data dir under /root (mode 0700) would not do.
check_access() {
    mkdir -p "$ROOT"
    if [[ $(id -u) == 0 ]]; then
        chown postgres: "$ROOT"
        runuser -u postgres -- test -w "$ROOT" ||
            die "user postgres cannot reach $ROOT (a parent directory is private); set BENCH_DATA to a directory under /var/tmp"
    fi
}

# initdb once; the settings live in postgresql.conf, the port on the command line.
init_cluster() {
    [[ -f $ROOT/cluster/PG_VERSION ]] && return 0
    log "initdb in $ROOT/cluster"
    as_server mkdir -p "$ROOT/sock"
    printf '%s\n' "$PGPASS" | as_server tee "$ROOT/pwfile" >/dev/null
    as_server "$PGBIN/initdb" -D "$ROOT/cluster" -U "$PGUSER_NAME" --pwfile="$ROOT/pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"$ROOT/initdb.log" 2>&1 ||
        { cat "$ROOT/initdb.log" >&2; die "initdb failed"; }
    as_server tee -a "$ROOT/cluster/postgresql.conf" >/dev/null <<EOF

# moonbak bench: loopback only, socket in the data dir, no durability (throwaway)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$ROOT/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 4GB
EOF
}

running() { as_server "$PGBIN/pg_ctl" -D "$ROOT/cluster" status >/dev/null 2>&1; }

start_server() {
    if running; then log "a server from an earlier run is still up; restarting it"; stop_server; fi
    log "starting PostgreSQL on 127.0.0.1:$PORT"
    as_server "$PGBIN/pg_ctl" -D "$ROOT/cluster" -l "$ROOT/server.log" -w -t 120 -o "-p $PORT" start >/dev/null ||
        { tail -n 20 "$ROOT/server.log" >&2; die "the server did not start (is port $PORT taken? set BENCH_PG_PORT)"; }
}

stop_server() {
    [[ -f $ROOT/cluster/PG_VERSION ]] || return 0
    running || return 0
    log "stopping PostgreSQL"
    as_server "$PGBIN/pg_ctl" -D "$ROOT/cluster" -m fast -w stop >/dev/null
}

# psql/pgbench over TCP, like the benchmark's pg_dump.
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=$PGUSER_NAME PGPASSWORD=$PGPASS
export PGOPTIONS="-c client_min_messages=warning"

# pgbench -i once per scale; a marker records which scale the database holds.
fill_database() {
    local marker=$ROOT/pgbench-scale
    [[ -f $marker && $(cat "$marker") == "$SCALE" ]] && return 0
    log "pgbench -i -s $SCALE (once; takes a minute or two)"
    "$PGBIN/psql" -q -d postgres -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench" >/dev/null
    "$PGBIN/pgbench" -i -q -s "$SCALE" bench >"$ROOT/pgbench-init.log" 2>&1 ||
        { tail -n 20 "$ROOT/pgbench-init.log" >&2; die "pgbench -i failed"; }
    echo "$SCALE" >"$marker"
}

case $ACTION in
    start) ensure_postgres; check_access; init_cluster; start_server; fill_database ;;
    stop) stop_server ;;
    *) usage ;;
esac
