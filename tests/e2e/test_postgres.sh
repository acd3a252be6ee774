#!/usr/bin/env bash
# PostgreSQL on a real server: plain and custom dumps, every database,
# restores into new databases and a new instance, failures that fail.
. "$(dirname "$0")/lib.sh"
require_tools pg_dump pg_dumpall psql pg_restore sqlite3
repo=$PWD
export PGPORT_TEST=${PGPORT_TEST:-15442}
servers=$T/srv
mkdir -p "$servers"
# the server runs as its own user, which must reach its directory
chmod o+x "$T" "$(dirname "$T")"
trap '"$repo/scripts/test-servers.sh" stop postgres "$servers" >/dev/null 2>&1;
      PGPORT_TEST=$((PGPORT_TEST + 1)) "$repo/scripts/test-servers.sh" stop postgres "$servers/second" >/dev/null 2>&1' EXIT
if ! scripts/test-servers.sh start postgres "$servers" 2>"$T/server.err"; then
    not_ok "a PostgreSQL server starts for the tests: $(grep -m1 "^test-servers:" "$T/server.err")"; sed "s/^/# /" "$T/server.err"
    finish
fi
. "$servers/postgres.env"
cd "$T"

sql() { # sql DB SQL : runs SQL as the test user
    PGPASSWORD=$PG_PASSWORD psql -X -q -w -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$1" -v ON_ERROR_STOP=1 -c "$2"
}
sql postgres "CREATE DATABASE shop" >/dev/null
PGPASSWORD=$PG_PASSWORD psql -X -q -w -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d shop -v ON_ERROR_STOP=1 \
    -f "$repo/tests/e2e/fixtures/postgres.sql" >/dev/null
printf '%s\n' "$PG_PASSWORD" | "$MOONBAK" secret set pg-password >/dev/null 2>&1

job() { # job NAME EXTRA-LUA
    cat > "$1.lua" <<JOB
return {
  name = "$1",
  source = { type = "postgres", host = "$PG_HOST", port = $PG_PORT, user = "$PG_USER",
             password = secret "pg-password", $2 },
  compression = { type = "zstd", level = 3 },
  storage = { { type = "local", path = "$T/store" } },
}
JOB
}
compare() { "$repo/tests/e2e/fixtures/compare.sh" postgres "$servers/postgres.env" "$@" >"$T/compare.out" 2>&1; }

job plain 'database = "shop"'
mb run plain.lua
check "pg_dump (plain SQL) of a real database backs up" [ $? -eq 0 ]
check "...as a .sql.zst artifact" bash -c "ls store/plain/*.sql.zst >/dev/null"
mb backups plain.lua --json
check "...with the server version and the database in the sidecar" \
    json "$T/out" "assert(t[1].source.engine_version:match('^15') and t[1].source.databases[1] == 'shop')"
mb restore plain.lua --to shop_copy --create
check "restore --to a new database (--create) succeeds" [ $? -eq 0 ]
compare shop shop_copy
check "...and every table has the same rows and content" [ $? -eq 0 ]
mb restore plain.lua --to shop_copy
check "restoring twice into the same database fails: psql stops at the first error" [ $? -eq 1 ]

job custom 'database = "shop", format = "custom"'
mb run custom.lua
check "pg_dump -Fc (custom format) backs up as .dump.zst" bash -c "[ $? -eq 0 ] && ls store/custom/*.dump.zst >/dev/null"
mb restore custom.lua --to shop_custom --create
check "a custom-format backup restores through pg_restore" [ $? -eq 0 ]
compare shop shop_custom
check "...with the same content" [ $? -eq 0 ]

job everything 'database = "*"'
mb run everything.lua
check "pg_dumpall (database = \"*\") backs up every database" [ $? -eq 0 ]
mb backups everything.lua --json
check "...and the sidecar lists them" json "$T/out" "local s = table.concat(t[1].source.databases, ',') assert(s:find('shop') and s:find('shop_custom'))"
# A second, empty instance: the job pointed at it restores everything there.
mkdir -p "$servers/second"
if PGPORT_TEST=$((PGPORT_TEST + 1)) "$repo/scripts/test-servers.sh" start postgres "$servers/second" 2>"$T/server2.err"; then
    # The dump re-creates the roles with their passwords, so the load goes
    # through the unix socket (trust), as a cluster restore usually does.
    (. "$servers/second/postgres.env"
     cat > everything-second.lua <<JOB
return { name = "everything",
  source = { type = "postgres", socket = "$PG_SOCKET_DIR", port = $PG_PORT, user = "$PG_USER", database = "*" },
  storage = { { type = "local", path = "$T/store" } } }
JOB
    )
    mb restore everything-second.lua --to '*'
    check "an all-databases backup restores into a new instance" [ $? -eq 0 ]
    (. "$servers/second/postgres.env"
     pg_dump -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U "$PG_USER" --data-only --inserts shop | grep '^INSERT' | sort | sha256sum > second.count)
    PGPASSWORD=$PG_PASSWORD pg_dump -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" --data-only --inserts shop | grep '^INSERT' | sort | sha256sum > first.count
    check "...holding the same rows as the original (sorted data dumps compared)" cmp -s first.count second.count
else
    not_ok "a second PostgreSQL instance starts: $(tail -n 3 "$T/server2.err")"
fi

# Failures.
cat > wrongpw.lua <<JOB
return { name = "wrongpw", source = { type = "postgres", host = "$PG_HOST", port = $PG_PORT, user = "$PG_USER",
         password = "not-the-password", database = "shop" }, storage = { { type = "local", path = "$T/store" } } }
JOB
mb run wrongpw.lua
check "a wrong password fails the run in initialize (exit 1)" bash -c "[ $? -eq 1 ] && grep -q 'failed in step initialize' '$T/err'"
check "...saying what the server said" grep -q 'password authentication failed' "$T/err"
check "...and stores nothing" [ ! -e store/wrongpw ]

job nodb 'database = "no_such_db"'
mb run nodb.lua
check "an unknown database fails in initialize, naming it" \
    bash -c "[ $? -eq 1 ] && grep -q 'initialize.*no_such_db' '$T/err'"

cat > killer.sh <<'SH'
#!/bin/sh
# a pg_dump that dies by SIGKILL after 20 kB of output
pg_dump "$@" | head -c 20000
kill -9 $$
SH
chmod +x killer.sh
job killed "database = \"shop\", tool = \"$T/killer.sh\""
mb run killed.lua
check "a dump tool killed mid-stream fails the run" bash -c "[ $? -eq 1 ] && grep -q 'killed by signal 9' '$T/err'"
check "...and leaves no backup behind" bash -c "[ ! -e store/killed ] || [ -z \"\$(ls -A store/killed)\" ]"

# The password in no argv, no log, no sidecar.  The tools are spies that
# record the argv and environment moonbak gave them (pg_dump through the
# tool option, psql as the tool found beside it).
spy_tool "$T/spy" pg_dump && spy_tool "$T/spy" psql
job watched "database = \"shop\", tool = \"$T/spy/pg_dump\""
mb run watched.lua
check "a run whose tools are spies succeeds" [ $? -eq 0 ] || show_err
check "...and it started pg_dump and psql through them" spy_ran "$T/spy" pg_dump psql
check "...with the password in neither tool's argv" spy_lacks "$PG_PASSWORD" "$T"/spy/records/*.argv
check "...but in pg_dump's environment, as PGPASSWORD" spy_holds entry "PGPASSWORD=$PG_PASSWORD" "$T"/spy/records/pg_dump.*.environ
for id in $("$MOONBAK" history --json | tr ',' '\n' | sed -n 's/.*"id":\([0-9]*\).*/\1/p'); do
    "$MOONBAK" log "$id" >>alllogs.txt 2>&1
done
check "the password is in no execution log, sidecar or state file" \
    no_secret_in "$PG_PASSWORD" alllogs.txt store "$MOONBAK_STATE" "$T/out" "$T/err"

finish
