#!/usr/bin/env bash
# Restore-drill engines (lua/moonbak/drills/postgres, mysql/mariadb, redis)
# on real servers, driven by tests/e2e/drill_engine.lua: a backup loaded
# into a scratch database / a throwaway redis-server, checks passing and
# failing, nothing left after cleanup, and a SIGKILLed drill's leftovers
# removed by another drill's sweep, never a live drill's.
. "$(dirname "$0")/lib.sh"
require_tools psql pg_dump mariadb mariadb-dump mariadbd redis-server redis-cli
repo=$PWD
export PGPORT_TEST=${PGPORT_TEST:-15462} MYPORT_TEST=${MYPORT_TEST:-13326} REDISPORT_TEST=${REDISPORT_TEST:-16399}
servers=$T/srv
mkdir -p "$servers"
chmod o+x "$T" "$(dirname "$T")" # the servers run as their own users
holders="" fake_server=""
cleanup_all() {
    for p in $holders $fake_server; do kill -9 "$p" 2>/dev/null; done
    for s in postgres mariadb redis; do "$repo/scripts/test-servers.sh" stop $s "$servers" >/dev/null 2>&1; done
}
trap cleanup_all EXIT
for s in postgres mariadb redis; do
    if ! scripts/test-servers.sh start $s "$servers" 2>"$T/server.err"; then
        not_ok "a $s server starts for the tests: $(grep -m1 "^test-servers:" "$T/server.err")"; sed "s/^/# /" "$T/server.err"
        finish
    fi
    . "$servers/$s.env"
done
export PATH=$PG_BINDIR:$PATH
HOST_HASH=$(printf %s "$(hostname)" | sha256sum | cut -c1-8)
export HOST_HASH
cd "$T"
harness=$repo/tests/e2e/drill_engine.lua
drill() { "$MOONBAK" script "$harness" "$@" >"$T/out" 2>"$T/err"; cat "$T/err" >> "$T/all.err"; }
ok_json() { json "$T/out" "$1" >/dev/null 2>&1; } # ok_json LUA-ASSERTIONS on $T/out

# psql / mariadb / redis as the tests' own eyes on the servers
pg() { PGPASSWORD=$PG_PASSWORD psql -X -A -t -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres "$@"; }
my() { mariadb --defaults-extra-file="$T/client.cnf" --batch --skip-column-names "$@"; }
printf '[client]\nuser=%s\npassword=%s\nhost=%s\nport=%s\n' "$MY_USER" "$MY_PASSWORD" "$MY_HOST" "$MY_PORT" > client.cnf
chmod 600 client.cnf
pg_scratch() { pg -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'moonbak\\_drill\\_%'"; }
my_scratch() { my -e "SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'moonbak\\_drill\\_%'"; }
pg_has() { [ "$(pg -c "SELECT count(*) FROM pg_database WHERE datname = '$1'")" = 1 ]; }
my_has() { [ "$(my -e "SELECT count(*) FROM information_schema.schemata WHERE schema_name = '$1'")" = 1 ]; }

pg -q -c "CREATE DATABASE shop" >/dev/null
PGPASSWORD=$PG_PASSWORD psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d shop -c \
    "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c');
     CREATE TABLE notes (body text); INSERT INTO notes VALUES ('x|y' || chr(10) || 'z')"
my -e "CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY, name TEXT);
       INSERT INTO shop.items VALUES (1, 'a'), (2, 'b'), (3, 'c')"
rcli() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli --no-auth-warning -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
for i in $(seq 1 50); do echo "SET key:$i value-$i"; done | rcli >/dev/null
rcli -n 2 SET other-db yes >/dev/null

job() { # job NAME TYPE SOURCE-FIELDS
    cat > "$1.lua" <<JOB
return { name = "$1", source = { type = "$2", $3 }, storage = { { type = "local", path = "$T/store" } } }
JOB
}
job pgshop postgres "host = '$PG_HOST', port = $PG_PORT, user = '$PG_USER', password = '$PG_PASSWORD', database = 'shop'"
job pgcustom postgres "host = '$PG_HOST', port = $PG_PORT, user = '$PG_USER', password = '$PG_PASSWORD', database = 'shop', format = 'custom'"
job pgall postgres "host = '$PG_HOST', port = $PG_PORT, user = '$PG_USER', password = '$PG_PASSWORD', database = '*'"
job myshop mariadb "host = '$MY_HOST', port = $MY_PORT, user = '$MY_USER', password = '$MY_PASSWORD', database = 'shop'"
job myall mariadb "host = '$MY_HOST', port = $MY_PORT, user = '$MY_USER', password = '$MY_PASSWORD', database = '*'"
job cache redis "host = '$REDIS_HOST', port = $REDIS_PORT, password = '$REDIS_PASSWORD'"
for j in pgshop pgcustom pgall myshop myall cache; do
    mb run $j.lua
    check "job $j backs up" [ $? -eq 0 ] || show_err
done

SQL_CHECKS='[{"sql":"SELECT count(*) FROM items","expect":3},{"sql":"SELECT count(*) > 2 FROM items"},
  {"sql":"SELECT count(*) FROM items","expect":4},{"sql":"SELECT name FROM items WHERE id = 99"},
  {"sql":"SELECT * FROM no_such_table"}]'

# sql_drill JOB LABEL SCRATCH-COUNT-FN
sql_drill() {
    drill full "$1.lua" "$SQL_CHECKS"
    check "$2: the backup loads into a scratch database (start)" ok_json "assert(t.start_ok, t.start_error); assert(t.bytes > 0)" || show_err
    check "$2: builtin counts the tables" ok_json "assert(t.builtin[1].ok and t.builtin[1].detail:match('^%d+ tables$'))"
    check "$2: a passing check with expect passes, naming the value" ok_json "assert(t.checks[1].ok == true and t.checks[1].detail == '3')"
    check "$2: a passing boolean check passes" ok_json "assert(t.checks[2].ok == true)"
    check "$2: a failing check fails, naming the value it saw" ok_json "assert(t.checks[3].ok == false and t.checks[3].detail == '3, expected 4')"
    check "$2: a check with no row fails, saying so" ok_json "assert(t.checks[4].ok == false and t.checks[4].detail:match('no'))"
    check "$2: a check the server refuses fails with the server's error" ok_json "assert(t.checks[5].ok == false and t.checks[5].detail:match('no_such_table'))"
    check "$2: cleanup drops the scratch database (idempotent)" ok_json "assert(t.cleanup_ok and t.cleanup_again_ok, t.cleanup_error)"
    check "$2: ...and the server has no scratch database left" [ "$($3)" = 0 ]
}
sql_drill pgshop "postgres" pg_scratch
sql_drill pgcustom "postgres custom format" pg_scratch
sql_drill myshop "mariadb" my_scratch

drill full pgall.lua '[]'
check "postgres: an all-databases (pg_dumpall) backup is refused, saying why" \
    ok_json "assert(not t.start_ok and t.start_error:match('pg_dumpall'))"
check "...and cleanup after a refused start is fine" ok_json "assert(t.cleanup_ok)"
check "...and nothing was created" [ "$(pg_scratch)" = 0 ]
drill full myall.lua '[]'
check "mariadb: a backup of every database is refused, saying why" \
    ok_json "assert(not t.start_ok and t.start_error:match('several databases'))"
check "...and nothing was created" [ "$(my_scratch)" = 0 ]

REDIS_CHECKS='[{"command":["GET","key:7"],"expect":"value-7"},{"command":"DBSIZE"},
  {"command":["GET","key:7"],"expect":"nope"},{"command":["GET","missing"]},{"command":["INCR","key:7"]}]'
drill full cache.lua "$REDIS_CHECKS"
check "redis: a throwaway redis-server loads the backup (start)" ok_json "assert(t.start_ok, t.start_error); assert(t.scratch_pid and t.scratch_port)" || show_err
check "redis: builtin counts the keys of every database" ok_json "assert(t.builtin[1].ok and t.builtin[1].detail == '51 keys')"
check "redis: a passing command check passes" ok_json "assert(t.checks[1].ok == true and t.checks[1].detail == 'value-7')"
check "redis: a check without expect passes on a non-zero reply" ok_json "assert(t.checks[2].ok == true and t.checks[2].detail == '50')"
check "redis: a failing check fails, naming the reply" ok_json "assert(t.checks[3].ok == false and t.checks[3].detail == 'value-7, expected nope')"
check "redis: a nil reply fails" ok_json "assert(t.checks[4].ok == false and t.checks[4].detail == '(nil)')"
check "redis: an error reply fails with the server's words" ok_json "assert(t.checks[5].ok == false and t.checks[5].detail:match('not an integer'))"
check "redis: cleanup succeeds (idempotent)" ok_json "assert(t.cleanup_ok and t.cleanup_again_ok, t.cleanup_error)"
scratch_pid=$(json "$T/out" "print(t.scratch_pid)") scratch_port=$(json "$T/out" "print(t.scratch_port)")
check "redis: ...the server is gone" bash -c "! kill -0 $scratch_pid 2>/dev/null"
check "redis: ...nothing listens on its port" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$scratch_port) 2>/dev/null"
check "redis: ...and the scratch directory is removed" bash -c "[ -z \"\$(ls '$MOONBAK_STATE/tmp' | grep '^moonbak_drill_.*[0-9]\$')\" ]"
check "redis: the password is in no argv of the server" bash -c "! grep -rq requirepass '$T/out'"

# hold JOB TAG: a drill that starts and waits (in the background) for a
# line on the fifo go.TAG (release TAG sends it); what its start did is in
# held.TAG ({"exited":true} when the drill ended before saying: a broken
# drill fails the checks instead of hanging the test).  The test holds both
# fifos open read-write, so no open blocks and no line is lost.  Sets
# HELD_PID (the drill's moonbak process).
declare -A GO_FD
hold() {
    local ready go
    mkfifo "$T/ready.$2" "$T/go.$2"
    exec {ready}<>"$T/ready.$2" {go}<>"$T/go.$2"
    GO_FD[$2]=$go
    (
        "$MOONBAK" script "$harness" hold "$1" "$T/ready.$2" "$T/go.$2" >"$T/held.$2.out" 2>"$T/held.$2.err" &
        echo $! > "$T/pid.$2"
        wait $!
        echo '{"exited":true}' 1<>"$T/ready.$2"
    ) &
    timeout 300 head -n 1 <&$ready > "$T/held.$2"
    exec {ready}<&-
    HELD_PID=$(cat "$T/pid.$2")
    holders="$holders $HELD_PID"
}
release() { echo go >&${GO_FD[$1]}; }
# gone PID: waits until process PID has exited (bounded: 60 s)
gone() { for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
held() { json "$T/held.$1" "$2"; }

# killed_and_live JOB LABEL HAS-FN: one drill killed with SIGKILL after its
# start, one alive; a third drill's sweep
killed_and_live() {
    hold "$1.lua" "dead-$1"; dead=$HELD_PID
    hold "$1.lua" "live-$1"; live=$HELD_PID
    kill -9 "$dead"; gone "$dead"
    dead_name=$(held "dead-$1" "print(t.name)") live_name=$(held "live-$1" "print(t.name)")
    check "$2: a drill killed with SIGKILL leaves its scratch database" $3 "$dead_name"
    drill sweep "$1.lua"
    check "$2: sweep from another process removes the dead drill's scratch database" \
        ok_json "assert(#t.removed == 1 and t.removed[1] == '$dead_name' and #t.problems == 0)" || cat "$T/out" "$T/err"
    check "$2: ...it is gone from the server" bash -c "! $3 $dead_name"
    check "$2: ...and the live drill's is still there" $3 "$live_name"
    release "live-$1"; gone "$live"
    check "$2: the live drill then cleans up after itself" bash -c "! $3 $live_name"
}
export -f pg_has my_has pg my
export PG_PASSWORD PG_HOST PG_PORT PG_USER T
killed_and_live pgshop postgres pg_has
killed_and_live myshop mariadb my_has

# redis: the server is a child of the drill and dies with it (even by
# SIGKILL); its directory stays for sweep
hold cache.lua dead-redis; dead=$HELD_PID
hold cache.lua live-redis; live=$HELD_PID
dead_server=$(held dead-redis "print(t.scratch_pid)") live_port=$(held live-redis "print(t.scratch_port)")
dead_name=$(held dead-redis "print(t.name)") live_name=$(held live-redis "print(t.name)")
kill -9 "$dead"; gone "$dead"
for _ in $(seq 600); do kill -0 "$dead_server" 2>/dev/null || break; sleep 0.1; done
check "redis: a SIGKILLed drill's redis-server dies with it" bash -c "! kill -0 $dead_server 2>/dev/null"
check "redis: ...and leaves its scratch directory" [ -d "$MOONBAK_STATE/tmp/$dead_name" ]
drill sweep cache.lua
check "redis: sweep removes the dead drill's directory" \
    ok_json "assert(#t.removed == 1 and t.removed[1] == '$dead_name' and #t.problems == 0)" || cat "$T/out" "$T/err"
check "redis: ...gone" [ ! -e "$MOONBAK_STATE/tmp/$dead_name" ]
check "redis: ...and the live drill's server still answers, its directory kept" \
    bash -c "[ -d '$MOONBAK_STATE/tmp/$live_name' ] && redis-cli -p $live_port PING 2>&1 | grep -q NOAUTH"

# A server a dead drill left running (started here as the drill would have):
# sweep stops it through its recorded port and password, and only it.
fake_pid=999999; while kill -0 $fake_pid 2>/dev/null; do fake_pid=$((fake_pid - 1)); done
fake=moonbak_drill_${HOST_HASH}_${fake_pid}_12345
mkdir -m 700 "$MOONBAK_STATE/tmp/$fake"
fake_port=$((REDISPORT_TEST + 1))
(umask 077; printf 'port %s\nbind 127.0.0.1\nsave ""\nrequirepass fakepw\ndir %s\n' "$fake_port" "$MOONBAK_STATE/tmp/$fake" > "$MOONBAK_STATE/tmp/$fake/redis.conf")
redis-server "$MOONBAK_STATE/tmp/$fake/redis.conf" >/dev/null 2>&1 &
fake_server=$!
for _ in $(seq 600); do REDISCLI_AUTH=fakepw redis-cli --no-auth-warning -p $fake_port PING 2>/dev/null | grep -q PONG && break; sleep 0.1; done
cat > fake_record.lua <<LUA
local sys = require "moonbak.sys"
print(require("cjson").encode { pid = $fake_server, start = sys.process_start_time($fake_server), port = $fake_port, password = "fakepw" })
LUA
"$MOONBAK" script fake_record.lua > "$MOONBAK_STATE/tmp/$fake/server.json"
drill sweep cache.lua
check "redis: sweep stops a dead drill's server still running, and removes its directory" \
    ok_json "assert(#t.removed == 1 and t.removed[1] == '$fake' and #t.problems == 0)" || cat "$T/out" "$T/err"
for _ in $(seq 600); do kill -0 $fake_server 2>/dev/null || break; sleep 0.1; done
check "redis: ...the server has exited" bash -c "! kill -0 $fake_server 2>/dev/null"
check "redis: ...and the live drill's server was left alone" bash -c "redis-cli -p $live_port PING 2>&1 | grep -q NOAUTH"
release live-redis; gone "$live"
check "redis: the live drill then stops its server and removes its directory" \
    bash -c "! redis-cli -p $live_port PING >/dev/null 2>&1 && [ ! -e '$MOONBAK_STATE/tmp/$live_name' ]"

# ---- the same engines through `moonbak drill` (the command, recording,
# notification, the scratch gone, a SIGKILLed drill cleaned by the next) ----
notified=$T/notified
drill_job() { # drill_job NAME TYPE SOURCE-FIELDS CHECKS
    cat > "$1.lua" <<JOB
return { name = "$1", source = { type = "$2", $3 }, storage = { { type = "local", path = "$T/store" } },
  drill = { checks = $4 },
  notify = { function(e) local f = assert(io.open("$notified", "a")); f:write(e.job, " ", e.event, "\n"); f:close() end } }
JOB
}
PGSRC="host = '$PG_HOST', port = $PG_PORT, user = '$PG_USER', password = '$PG_PASSWORD', database = 'shop'"
MYSRC="host = '$MY_HOST', port = $MY_PORT, user = '$MY_USER', password = '$MY_PASSWORD', database = 'shop'"
drill_job pgshop postgres "$PGSRC" '{ "select count(*) = 3 from items" }'
drill_job pgbad postgres "$PGSRC" '{ "select count(*) > 1000 from items" }'
drill_job pgslow postgres "$PGSRC" '{ "select pg_sleep(3600) is not null" }'
drill_job myshop mariadb "$MYSRC" '{ { sql = "select count(*) from items", expect = 3 } }'
drill_job mybad mariadb "$MYSRC" '{ { sql = "select count(*) from items", expect = 1000, name = "enough items" } }'
drill_job myslow mariadb "$MYSRC" '{ "select sleep(3600) = 0" }'
drill_job cache redis "host = '$REDIS_HOST', port = $REDIS_PORT, password = '$REDIS_PASSWORD'" '{ { command = { "GET", "key:7" }, expect = "value-7" } }'
drill_job cachebad redis "host = '$REDIS_HOST', port = $REDIS_PORT, password = '$REDIS_PASSWORD'" '{ { command = { "GET", "key:7" }, expect = "nope" } }'
for j in pgbad pgslow mybad myslow cachebad; do
    mb run $j.lua
    check "job $j backs up" [ $? -eq 0 ] || show_err
done
: > "$notified"
for j in pgshop myshop cache; do
    mb drill $j.lua
    check "moonbak drill $j: a good backup passes (exit 0)" [ $? -eq 0 ] || { cat "$T/out"; show_err; }
    mb history $j --json
    check "moonbak drill $j: recorded as a drill with its restore time" \
        json "$T/out" "local e = t[1]; assert(e.kind == 'drill' and e.status == 'success'); local m = e.metadata; assert(m.restore_seconds >= 0 and m.bytes > 0)"
done
for j in pgbad mybad cachebad; do
    mb drill $j.lua
    check "moonbak drill $j: a check the data fails fails the drill (exit 1)" [ $? -eq 1 ]
    check "moonbak drill $j: ...and the error names the check" grep -q 'check ".*" failed' "$T/err" || show_err
    check "moonbak drill $j: ...and it is notified as drill_failed" grep -qx "$j drill_failed" "$notified"
done
mb drill mybad.lua
check "moonbak drill mybad: a check with a name is named by it" grep -q 'check "enough items" failed' "$T/err" || show_err
check "no scratch database is left on PostgreSQL after the drills" [ "$(pg_scratch)" = 0 ]
check "no scratch database is left on MariaDB after the drills" [ "$(my_scratch)" = 0 ]
check "no scratch redis directory is left after the drills" \
    bash -c "[ -z \"\$(ls '$MOONBAK_STATE/tmp' | grep '^moonbak_drill_')\" ]"

# killed with SIGKILL in the middle of a check: its scratch database stays;
# the next drill (of any job) removes it.  The check is seen running on the
# server (waiting on that event, bounded), never after a fixed sleep.
killed_drill() { # killed_drill JOB LABEL SCRATCH-FN RUNNING-FN
    "$MOONBAK" drill "$1.lua" >"$T/killed.out" 2>"$T/killed.err" &
    local pid=$!
    local i
    for i in $(seq 1200); do $4 && break; sleep 0.1; done
    check "$2: the drill's check runs on the scratch database" $4
    kill -9 $pid; wait $pid 2>/dev/null
    check "$2: a drill killed with SIGKILL leaves its scratch database" [ "$($3)" = 1 ]
    mb drill "$5.lua"
    check "$2: the next drill passes" [ $? -eq 0 ] || show_err
    check "$2: ...and removed what the dead drill left" [ "$($3)" = 0 ]
}
pg_sleeping() { [ "$(pg -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3600)%' AND datname LIKE 'moonbak\\_drill\\_%'")" -ge 1 ]; }
my_sleeping() { [ "$(my -e "SELECT count(*) FROM information_schema.processlist WHERE info LIKE '%sleep(3600)%' AND db LIKE 'moonbak\\_drill\\_%'")" -ge 1 ]; }
killed_drill pgslow "moonbak drill, postgres" pg_scratch pg_sleeping pgshop
killed_drill myslow "moonbak drill, mariadb" my_scratch my_sleeping myshop
check "no drill reported a sanitizer error (under make asan)" bash -c "! grep -q 'Sanitizer\|runtime error' '$T'/all.err '$T'/held.*.err"
check "no password is in a drill's output" no_secret_in "$PG_PASSWORD" "$T"/out "$T"/err "$T"/held.*
finish
