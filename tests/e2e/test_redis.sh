#!/usr/bin/env bash
# Redis on a real server: RDB snapshots with a password, an ACL user and no
# auth; restore to a file that a fresh server loads; failures.
. "$(dirname "$0")/lib.sh"
require_tools redis-server redis-cli redis-check-rdb
repo=$PWD
export REDISPORT_TEST=${REDISPORT_TEST:-16389}
open_port=$((REDISPORT_TEST + 1))
servers=$T/srv
mkdir -p "$servers" "$T/open" "$T/loaded"
trap '"$repo/scripts/test-servers.sh" stop redis "$servers" >/dev/null 2>&1
      for p in $open_port $((open_port + 1)); do redis-cli -p $p shutdown nosave >/dev/null 2>&1; done' EXIT
if ! scripts/test-servers.sh start redis "$servers" 2>"$T/server.err"; then
    not_ok "a Redis server starts for the tests: $(grep -m1 "^test-servers:" "$T/server.err")"; sed "s/^/# /" "$T/server.err"
    finish
fi
. "$servers/redis.env"
cd "$T"
rcli() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli --no-auth-warning -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"; }
for i in $(seq 1 2000); do echo "SET key:$i value-$i"; done | rcli >/dev/null
rcli HSET user:1 name "Zoë" city "Kraków" >/dev/null
rcli RPUSH queue a b c >/dev/null
printf 'bin\x00\xff\x01' | rcli -x SET binary >/dev/null
rcli SELECT 3 >/dev/null; REDISCLI_AUTH=$REDIS_PASSWORD redis-cli --no-auth-warning -h "$REDIS_HOST" -p "$REDIS_PORT" -n 3 SET in-db-3 yes >/dev/null
printf '%s\n' "$REDIS_ACL_PASSWORD" | "$MOONBAK" secret set redis-acl >/dev/null 2>&1

cat > acl.lua <<JOB
return { name = "acl", source = { type = "redis", host = "$REDIS_HOST", port = $REDIS_PORT,
         user = "$REDIS_ACL_USER", password = secret "redis-acl" },
         storage = { { type = "local", path = "$T/store" } } }
JOB
mb run acl.lua
check "an RDB snapshot through an ACL user backs up" [ $? -eq 0 ]
check "...as an .rdb.zst artifact" bash -c "ls store/acl/*.rdb.zst >/dev/null"
mb backups acl.lua --json
check "...with the Redis version in the sidecar" json "$T/out" "assert(t[1].source.engine_version:match('^7'))"
mb restore acl.lua --output dump.rdb
check "restore --output writes the RDB file" [ $? -eq 0 ]
check "...which redis-check-rdb accepts" bash -c "redis-check-rdb dump.rdb | grep -q 'RDB looks OK'"
mb restore acl.lua --to somewhere
check "restore --to is refused with the way to restore redis" bash -c "[ $? -eq 1 ] && grep -q -- '--output' '$T/err'"
cp dump.rdb loaded/dump.rdb
redis-server --port $((open_port + 1)) --bind 127.0.0.1 --dir "$T/loaded" --dbfilename dump.rdb --save '' \
    --daemonize yes --logfile "$T/loaded/log" >/dev/null
# up to 60 s each: a slow start is no failure, only a server that never starts
for _ in $(seq 600); do redis-cli -p $((open_port + 1)) ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
loaded() { redis-cli -p $((open_port + 1)) "$@"; }
check "a fresh server started on the restored file has every key" [ "$(loaded DBSIZE)" = "$(rcli DBSIZE)" ]
check "...with the same values (strings, hashes, lists, other databases)" \
    bash -c "[ \"\$(redis-cli -p $((open_port + 1)) HGET user:1 city)\" = Kraków ] && [ \"\$(redis-cli -p $((open_port + 1)) LRANGE queue 0 -1 | tr '\n' ,)\" = a,b,c, ] && [ \"\$(redis-cli -p $((open_port + 1)) -n 3 GET in-db-3)\" = yes ]"
check "...and binary values byte for byte" \
    bash -c "[ \"\$(redis-cli -p $((open_port + 1)) --no-raw GET binary)\" = '\"bin\\x00\\xff\\x01\"' ]"

cat > default.lua <<JOB
return { name = "default", source = { type = "redis", host = "$REDIS_HOST", port = $REDIS_PORT,
         password = file "$servers/redis.env" }, storage = { { type = "local", path = "$T/store" } } }
JOB
printf '%s' "$REDIS_PASSWORD" > pw.txt
sed -i "s|file \"$servers/redis.env\"|file \"$T/pw.txt\"|" default.lua
mb run default.lua
check "the default user with requirepass backs up" [ $? -eq 0 ]

redis-server --port $open_port --bind 127.0.0.1 --dir "$T/open" --save '' --daemonize yes --logfile "$T/open/log" >/dev/null
for _ in $(seq 600); do redis-cli -p $open_port ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
redis-cli -p $open_port SET hello world >/dev/null
cat > open.lua <<JOB
return { name = "open", source = { type = "redis", host = "127.0.0.1", port = $open_port },
         storage = { { type = "local", path = "$T/store" } } }
JOB
mb run open.lua
check "a server without auth backs up" [ $? -eq 0 ]

cat > wrongpw.lua <<JOB
return { name = "wrongpw", source = { type = "redis", host = "$REDIS_HOST", port = $REDIS_PORT,
         user = "$REDIS_ACL_USER", password = "not-the-password" }, storage = { { type = "local", path = "$T/store" } } }
JOB
mb run wrongpw.lua
check "a wrong password fails in initialize with the server's words" \
    bash -c "[ $? -eq 1 ] && grep -q 'initialize.*WRONGPASS' '$T/err'"
cat > noauth.lua <<JOB
return { name = "noauth", source = { type = "redis", host = "$REDIS_HOST", port = $REDIS_PORT },
         storage = { { type = "local", path = "$T/store" } } }
JOB
mb run noauth.lua
check "no password where one is needed fails in initialize" bash -c "[ $? -eq 1 ] && grep -q 'initialize.*NOAUTH' '$T/err'"
cat > down.lua <<JOB
return { name = "down", source = { type = "redis", host = "127.0.0.1", port = 1 },
         storage = { { type = "local", path = "$T/store" } } }
JOB
mb run down.lua
check "an unreachable server fails in initialize" bash -c "[ $? -eq 1 ] && grep -q 'initialize.*redis 127.0.0.1:1' '$T/err'"

cat > killer.sh <<'SH'
#!/bin/sh
case "$*" in *--rdb*) redis-cli "$@" | head -c 2000; kill -9 $$ ;; *) exec redis-cli "$@" ;; esac
SH
chmod +x killer.sh
cat > killed.lua <<JOB
return { name = "killed", source = { type = "redis", host = "$REDIS_HOST", port = $REDIS_PORT,
         user = "$REDIS_ACL_USER", password = secret "redis-acl", tool = "$T/killer.sh" },
         storage = { { type = "local", path = "$T/store" } } }
JOB
mb run killed.lua
check "redis-cli killed mid-stream fails the run" bash -c "[ $? -eq 1 ] && grep -q 'killed by signal 9' '$T/err'"
check "...and leaves no backup" bash -c "[ ! -e store/killed ] || [ -z \"\$(ls -A store/killed)\" ]"
for id in $(seq 1 20); do "$MOONBAK" log "$id" >>alllogs.txt 2>&1; done
check "no password is in a log, a sidecar or the state database" \
    eval 'no_secret_in "$REDIS_PASSWORD" alllogs.txt store "$MOONBAK_STATE" &&
          no_secret_in "$REDIS_ACL_PASSWORD" alllogs.txt store "$MOONBAK_STATE"'

finish
