#!/bin/bash
# test-servers.sh — throwaway PostgreSQL, MariaDB and Redis servers for the
# end-to-end tests.
#
#   scripts/test-servers.sh start NAME DIR     NAME: postgres | mariadb | redis
#   scripts/test-servers.sh stop  NAME DIR
#
# start: makes a fresh data directory DIR/NAME, starts the server in the
#   background listening only on 127.0.0.1:PORT and on a unix socket in
#   DIR/NAME, waits until it accepts connections, creates the test
#   credentials (random passwords) and writes them to DIR/NAME.env (mode 0600)
#   as shell assignments.  Server and setup output go to DIR/NAME.log.
# stop: clean shutdown of the server started in DIR (found through its pid
#   file), waits for it to exit.  Idempotent.  DIR is left for the caller.
#
# Ports: postgres 15432, mariadb 13306, redis 16379, below Linux's ephemeral
#   range (32768-60999), where an outgoing connection of another test could
#   hold the port for a moment; override with
#   PGPORT_TEST, MYPORT_TEST, REDISPORT_TEST.  TEST_SERVER_WAIT (s, default 30)
#   bounds every wait.  Nothing is installed here: see scripts/install-deps.sh.
set -eu

WAIT=${TEST_SERVER_WAIT:-30}

die() {
    echo "test-servers: ${NAME:-?}: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start|stop postgres|mariadb|redis DIR" >&2
    exit 2
}

# need BIN... : fails unless every BIN is on PATH
need() {
    local b
    for b in "$@"; do
        command -v "$b" >/dev/null 2>&1 ||
            die "'$b' not found: install the test packages (scripts/install-deps.sh --test)"
    done
}

# as USER CMD... : runs CMD as USER when we are root, as ourselves otherwise
as() {
    local user=$1; shift
    as_prefix "$user"
    "${AS[@]}" "$@"
}

# as_prefix USER : sets AS to the command prefix that runs a program as USER
# (setpriv execs, so the program keeps the pid; runuser/su would fork)
as_prefix() {
    if [ "$(id -u)" = 0 ]; then
        AS=(setpriv --reuid="$1" --regid="$1" --init-groups --)
    else
        AS=()
    fi
}

# own USER PATH... : gives PATH to USER when we are root
own() {
    local user=$1; shift
    if [ "$(id -u)" = 0 ]; then chown "$user:" "$@"; fi
}

# port_free PORT : fails when something already listens on 127.0.0.1:PORT
port_free() {
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
        die "port $1 is already in use (choose another with ${PORTVAR})"
    fi
}

# sock_ok PATH : unix socket paths are limited to 107 bytes
sock_ok() {
    [ "${#1}" -le 100 ] || die "socket path too long (${#1} bytes): $1 — use a shorter DIR"
}

# alive PID : the process exists and is not a zombie
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# pid_of PIDFILE COMM : prints the pid in PIDFILE when that process is alive
# and is COMM (guards against a stale pid file and a reused pid)
pid_of() {
    local pid
    [ -f "$1" ] || return 1
    pid=$(head -n 1 "$1" 2>/dev/null | tr -dc 0-9)
    [ -n "$pid" ] && alive "$pid" || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
    echo "$pid"
}

# launch CMD... : starts the server CMD in the background, in DIR/NAME, in its
# own session, stdin from /dev/null, output to the log and every other file
# descriptor closed (an inherited pipe would hold up the caller's pipeline);
# sets PID
launch() {
    (
        cd "$D"
        for fd in "/proc/$BASHPID"/fd/*; do
            fd=${fd##*/}
            [ "$fd" -gt 2 ] && eval "exec $fd>&-"
        done 2>/dev/null
        exec setsid -- "$@"
    ) </dev/null >>"$LOG" 2>&1 &
    PID=$!
}

# fail_start MSG : reports MSG with the log tail, stops what we started, fails
fail_start() {
    {
        echo "test-servers: $NAME: $1; errors and last lines of $LOG:"
        { grep -E 'ERROR|FATAL|PANIC|# ' "$LOG" | tail -n 5; tail -n 10 "$LOG"; } | sed 's/^/    /'
    } >&2
    "stop_$NAME" >/dev/null 2>&1 || true
    exit 1
}

# wait_ready PID CMD... : waits up to $WAIT s until CMD succeeds, failing
# early when the server process PID exits
wait_ready() {
    local pid=$1 i=0; shift
    until "$@" >/dev/null 2>&1; do
        alive "$pid" || fail_start "server exited during start"
        i=$((i + 1))
        [ "$i" -le $((WAIT * 10)) ] || fail_start "not accepting connections after ${WAIT}s"
        sleep 0.1
    done
}

# stop_pidfile PIDFILE COMM SIGNAL : sends SIGNAL (a clean shutdown) to the
# server in PIDFILE and waits for it to exit; SIGKILL after $WAIT s
stop_pidfile() {
    local pid i=0
    pid=$(pid_of "$1" "$2") || return 0 # not running: nothing to do
    kill -"$3" "$pid"
    while alive "$pid"; do
        i=$((i + 1))
        if [ "$i" -gt $((WAIT * 10)) ]; then
            echo "test-servers: $NAME: pid $pid did not exit after ${WAIT}s, killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
            return 1
        fi
        sleep 0.1
    done
}

# prepare USER : fresh DIR/NAME owned by USER, which must be able to reach it
prepare() {
    local user=$1
    rm -rf "$D"
    mkdir -m 700 "$D"
    own "$user" "$D"
    : >"$LOG"
    if [ "$(id -u)" = 0 ] && ! as "$user" test -w "$D"; then
        chmod o+x "$DIR" # e.g. a 0700 mktemp -d directory: let USER through
        as "$user" test -w "$D" ||
            die "user $user cannot reach $D (a parent directory is not searchable)"
    fi
}

# write_env VAR=VALUE... : writes DIR/NAME.env, readable only by us
write_env() {
    local kv
    (
        umask 077
        for kv in "$@"; do printf "%s='%s'\n" "${kv%%=*}" "${kv#*=}"; done >"$ENVF.tmp"
    )
    mv "$ENVF.tmp" "$ENVF"
}

password() { openssl rand -hex 16; }

# --- PostgreSQL ------------------------------------------------------------
# Runs as the "postgres" system user when we are root (postgres refuses root).
# pg_hba: trust on the socket (setup), scram-sha-256 over TCP.

pg_bindir() {
    local d
    for d in $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V -r); do
        [ -x "$d/postgres" ] && { echo "$d"; return; }
    done
    dirname "$(command -v postgres || command -v initdb || echo /x/none)"
}

start_postgres() {
    local user=postgres pw
    [ "$(id -u)" = 0 ] || user=$(id -un)
    PATH=$(pg_bindir):$PATH
    need initdb postgres psql pg_isready openssl setpriv
    pid_of "$D/data/postmaster.pid" postgres >/dev/null && die "already running in $D"
    port_free "$PORT"
    sock_ok "$D/.s.PGSQL.$PORT"
    prepare "$user"

    (cd "$D" && as "$user" initdb -D "$D/data" -U postgres -E UTF8 --locale=C \
        --auth=trust --no-sync --no-instructions) >>"$LOG" 2>&1 ||
        fail_start "initdb failed"
    cat >"$D/data/pg_hba.conf" <<EOF
local all         all                    trust
local replication all                    trust
host  all         all     127.0.0.1/32   scram-sha-256
host  replication all     127.0.0.1/32   scram-sha-256
EOF
    own "$user" "$D/data/pg_hba.conf"

    as_prefix "$user"
    launch "${AS[@]}" postgres -D "$D/data" -p "$PORT" \
        -c listen_addresses=127.0.0.1 -c unix_socket_directories="$D" \
        -c fsync=off -c full_page_writes=off -c synchronous_commit=off \
        -c shared_buffers=16MB -c max_connections=50 \
        -c password_encryption=scram-sha-256
    wait_ready "$PID" pg_isready -q -h "$D" -p "$PORT" -U postgres -d postgres

    pw=$(password)
    psql -X -q -v ON_ERROR_STOP=1 -h "$D" -p "$PORT" -U postgres -d postgres \
        >>"$LOG" 2>&1 <<EOF || fail_start "creating role moonbak failed"
CREATE ROLE moonbak SUPERUSER LOGIN REPLICATION PASSWORD '$pw';
EOF
    # the real test path: password over TCP
    PGPASSWORD=$pw psql -X -q -h 127.0.0.1 -p "$PORT" -U moonbak -d postgres \
        -c 'SELECT 1' >>"$LOG" 2>&1 || fail_start "password login over TCP failed"

    write_env PG_HOST=127.0.0.1 PG_PORT="$PORT" PG_USER=moonbak PG_PASSWORD="$pw" \
        PG_DATABASE=postgres PG_SOCKET_DIR="$D" PG_BINDIR="$(pg_bindir)"
}

stop_postgres() {
    stop_pidfile "$D/data/postmaster.pid" postgres INT # SIGINT: fast shutdown
}

# --- MariaDB ---------------------------------------------------------------
# mariadbd drops to the "mysql" user itself (--user) when started as root.
# root logs in through the socket only (unix_socket auth) for the setup.

my_opts() {
    echo --skip-log-bin --skip-name-resolve \
        --innodb-buffer-pool-size=16M --innodb-log-file-size=16M \
        --innodb-flush-log-at-trx-commit=0 --innodb-doublewrite=0 \
        --innodb-use-native-aio=0 \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci
}

start_mariadb() {
    local user=mysql admin=root pw
    [ "$(id -u)" = 0 ] || { user=$(id -un); admin=$user; }
    need mariadbd mariadb-install-db mariadb openssl setpriv
    pid_of "$D/mariadbd.pid" mariadbd >/dev/null && die "already running in $D"
    port_free "$PORT"
    sock_ok "$D/mariadbd.sock"
    prepare "$user"

    # shellcheck disable=SC2046
    (cd "$D" && mariadb-install-db --no-defaults --user="$user" --datadir="$D/data" \
        --auth-root-authentication-method=socket --auth-root-socket-user="$admin" \
        --skip-test-db $(my_opts)) >>"$LOG" 2>&1 ||
        fail_start "mariadb-install-db failed"

    # shellcheck disable=SC2046
    launch mariadbd --no-defaults --user="$user" \
        --datadir="$D/data" --socket="$D/mariadbd.sock" --pid-file="$D/mariadbd.pid" \
        --port="$PORT" --bind-address=127.0.0.1 --tmpdir="$D" $(my_opts)
    wait_ready "$PID" mariadb --no-defaults -u "$admin" --socket="$D/mariadbd.sock" -e 'SELECT 1'

    pw=$(password)
    mariadb --no-defaults -u "$admin" --socket="$D/mariadbd.sock" \
        >>"$LOG" 2>&1 <<EOF || fail_start "creating user moonbak failed"
CREATE USER 'moonbak'@'127.0.0.1' IDENTIFIED BY '$pw';
CREATE USER 'moonbak'@'localhost' IDENTIFIED BY '$pw';
GRANT ALL PRIVILEGES ON *.* TO 'moonbak'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'moonbak'@'localhost' WITH GRANT OPTION;
EOF
    # the real test path: password over TCP, from a 0600 option file
    (umask 077; printf '[client]\npassword=%s\n' "$pw" >"$D/check.cnf")
    mariadb --defaults-extra-file="$D/check.cnf" --protocol=TCP -h 127.0.0.1 -P "$PORT" \
        -u moonbak -e 'SELECT 1' >>"$LOG" 2>&1 || fail_start "password login over TCP failed"
    rm -f "$D/check.cnf"

    write_env MY_HOST=127.0.0.1 MY_PORT="$PORT" MY_USER=moonbak MY_PASSWORD="$pw" \
        MY_SOCKET="$D/mariadbd.sock"
}

stop_mariadb() {
    stop_pidfile "$D/mariadbd.pid" mariadbd TERM # SIGTERM: normal shutdown
}

# --- Redis -----------------------------------------------------------------
# Passwords live in a 0600 config file, never on a command line.  No
# automatic snapshots (save ""), but SAVE/BGSAVE and redis-cli --rdb work
# (no 5 s wait for more replicas before a diskless transfer).

start_redis() {
    local pw aclpw
    need redis-server redis-cli openssl
    pid_of "$D/redis.pid" redis-server >/dev/null && die "already running in $D"
    port_free "$PORT"
    sock_ok "$D/redis.sock"
    prepare "$(id -un)"

    pw=$(password) aclpw=$(password)
    (umask 077 && cat >"$D/redis.conf") <<EOF
bind 127.0.0.1
port $PORT
protected-mode yes
unixsocket "$D/redis.sock"
unixsocketperm 700
daemonize no
pidfile "$D/redis.pid"
logfile ""
dir "$D"
dbfilename dump.rdb
save ""
appendonly no
repl-diskless-sync-delay 0
requirepass $pw
user moonbak on >$aclpw ~* &* +@all
EOF
    launch redis-server "$D/redis.conf"
    wait_ready "$PID" redis_ping "$pw" -s "$D/redis.sock"
    REDISCLI_AUTH=$aclpw redis-cli --user moonbak -h 127.0.0.1 -p "$PORT" ping 2>>"$LOG" |
        grep -qx PONG || fail_start "ACL user login over TCP failed"

    write_env REDIS_HOST=127.0.0.1 REDIS_PORT="$PORT" REDIS_PASSWORD="$pw" \
        REDIS_ACL_USER=moonbak REDIS_ACL_PASSWORD="$aclpw" REDIS_SOCKET="$D/redis.sock"
}

# redis_ping PASSWORD ARGS... : redis-cli exits 0 even on errors: check PONG
redis_ping() {
    local pw=$1; shift
    [ "$(REDISCLI_AUTH=$pw redis-cli "$@" ping 2>/dev/null)" = PONG ]
}

stop_redis() {
    stop_pidfile "$D/redis.pid" redis-server TERM # SIGTERM: shutdown (no save)
}

# --- main --------------------------------------------------------------------
[ $# -eq 3 ] || usage
ACTION=$1 NAME=$2 DIR=$3
case $NAME in
    postgres) PORT=${PGPORT_TEST:-15432} PORTVAR=PGPORT_TEST ;;
    mariadb) PORT=${MYPORT_TEST:-13306} PORTVAR=MYPORT_TEST ;;
    redis) PORT=${REDISPORT_TEST:-16379} PORTVAR=REDISPORT_TEST ;;
    *) usage ;;
esac
case $PORT in
    [1-9][0-9][0-9][0-9] | [1-6][0-9][0-9][0-9][0-9]) [ "$PORT" -le 65535 ] ;;
    *) false ;;
esac || die "invalid port '$PORT' in $PORTVAR"
case $ACTION in
    start)
        mkdir -p "$DIR"
        DIR=$(cd "$DIR" && pwd) ;;
    stop)
        [ -d "$DIR" ] || exit 0
        DIR=$(cd "$DIR" && pwd) ;;
    *) usage ;;
esac
case $DIR in *"'"*) die "DIR must not contain a single quote" ;; esac
D=$DIR/$NAME LOG=$DIR/$NAME.log ENVF=$DIR/$NAME.env
"${ACTION}_$NAME"
