#!/usr/bin/env bash
# Every example in examples/ runs here, as an operator would run it, against
# real things on loopback: a PostgreSQL server (scripts/test-servers.sh),
# sqlite3, GNU tar, zstd and age.  An example that no section below runs is a
# failure (the last check), so a new example needs its test.
# Run it under `flock /tmp/moonbak-e2e.lock` (it starts a server).
. "$(dirname "$0")/lib.sh"
require_tools pg_dump psql pg_restore sqlite3 tar zstd age diff sha256sum
repo=$PWD
examples=$repo/examples
export PGPORT_TEST=${PGPORT_TEST:-15452}
servers=$T/srv
mkdir -p "$servers"
chmod o+x "$T" "$(dirname "$T")" # the server runs as its own user
cleanup() {
    "$repo/scripts/test-servers.sh" stop postgres "$servers" >/dev/null 2>&1
    rm -rf /tmp/moonbak-demo
}
trap cleanup EXIT

# The examples this test ran; each section names its own.
declare -A ran
exercised() { ran[$1]=1; }

# --- sqlite-local.lua and custom-step.lua: the demo's database -------------
# `make demo` is scripts/demo.sh: it runs examples/sqlite-local.lua, lists,
# verifies, restores and compares the rows.
exercised sqlite-local.lua
(cd "$repo" && scripts/demo.sh "$MOONBAK") >"$T/demo.out" 2>&1
check "sqlite-local.lua: the demo backs up, verifies and restores the same rows" \
    grep -q 'the restored database holds the same rows as the original' "$T/demo.out" || sed 's/^/# /' "$T/demo.out"

exercised custom-step.lua
export MOONBAK_STATE=$T/state-demo
mb run "$examples/custom-step.lua"
check "custom-step.lua: a database with orders is backed up" [ $? -eq 0 ] || show_err
sqlite3 /tmp/moonbak-demo/shop.db 'DELETE FROM orders'
mb run "$examples/custom-step.lua"
check "...and with an empty orders table the run fails, saying why" \
    bash -c "[ $? -eq 1 ] && grep -q 'failed in step custom: the orders table is empty' '$T/err'" || show_err
export MOONBAK_STATE=$T/state

# --- the PostgreSQL examples --------------------------------------------------
if ! scripts/test-servers.sh start postgres "$servers" 2>"$T/server.err"; then
    not_ok "a PostgreSQL server starts for the tests: $(grep -m1 '^test-servers:' "$T/server.err")"
    sed 's/^/# /' "$T/server.err"
    finish
fi
. "$servers/postgres.env"
cd "$T"

sql() { # sql DB SQL : runs SQL as the test's superuser, prints rows unaligned
    PGPASSWORD=$PG_PASSWORD psql -X -q -A -t -w -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$1" \
        -v ON_ERROR_STOP=1 -c "$2"
}
compare() { "$repo/tests/e2e/fixtures/compare.sh" postgres "$servers/postgres.env" "$1" "$2" >"$T/compare.out" 2>&1; }
printf '%s\n' "$PG_PASSWORD" | "$MOONBAK" secret set pg-backup >/dev/null
printf '%s\n' "$PG_PASSWORD" | "$MOONBAK" secret set shop-db >/dev/null

# The tools moonbak starts are spies that record their argv and environment
# (lib.sh: spy_tool); mbs runs moonbak with them first on PATH.
spy_tool "$T/spy" psql && spy_tool "$T/spy" pg_dump
mbs() { PATH="$T/spy:$PATH" mb "$@"; }

# --- all-postgres-databases.lua ---------------------------------------------
exercised all-postgres-databases.lua
sql postgres 'CREATE DATABASE shop' >/dev/null
PGPASSWORD=$PG_PASSWORD psql -X -q -w -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d shop -v ON_ERROR_STOP=1 \
    -f "$repo/tests/e2e/fixtures/postgres.sql" >/dev/null
sql postgres 'CREATE DATABASE blog' >/dev/null
sql blog "CREATE TABLE posts (id int PRIMARY KEY, title text);
          INSERT INTO posts SELECT i, 'post ' || i FROM generate_series(1, 300) i" >/dev/null
sql postgres 'CREATE DATABASE "odd name-ü"' >/dev/null
sql "odd name-ü" "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('ü'), (NULL), ('')" >/dev/null

all_dbs() { # all_dbs ARGS... : the script, connected to the test server
    mbs script "$examples/all-postgres-databases.lua" --host "$PG_HOST" --port "$PG_PORT" --user "$PG_USER" "$@"
}
all_dbs --password-secret pg-backup --storage "$T/all" --exclude postgres
check "all-postgres-databases.lua: backs up every database of the server (exit 0)" [ $? -eq 0 ] || show_err
check "...one job per database, the names made fit for a job name" \
    bash -c "ls '$T/all' | sort | tr '\n' ' ' | grep -qx 'pg-blog pg-odd_name-__ pg-shop '"
check "...each with one backup, in pg_dump's custom format" \
    bash -c "for d in pg-blog pg-odd_name-__ pg-shop; do [ \$(ls '$T/all/'\$d/*.dump.zst | wc -l) -eq 1 ] || exit 1; done"
check "...a summary line per database and a total" \
    bash -c "grep -q '^shop  *pg-shop  *success' '$T/out' && grep -qx '3 of 3 databases backed up' '$T/out'"
mb history pg-blog --json
check "...each run recorded as its job's execution" json "$T/out" "assert(#t == 1 and t[1].status == 'success')"
restored=0
for db in shop blog "odd name-ü"; do
    all_dbs --password-secret pg-backup --storage "$T/all" --job "$db" && cp "$T/out" one.lua || break
    mb restore one.lua --to "copy_of_$db" --create || { show_err; break; }
    compare "$db" "copy_of_$db" || { sed 's/^/# /' "$T/compare.out"; break; }
    restored=$((restored + 1))
done
check "...and each database's backup restores, with --job's job file, into a copy with the same content" \
    [ "$restored" -eq 3 ]

all_dbs --password-secret pg-backup --storage "$T/all" --exclude postgres --exclude blog --exclude shop --prefix again-
check "...--exclude and --prefix: only the one database left" \
    bash -c "[ $? -eq 0 ] && [ -d '$T/all/again-odd_name-__' ] && [ ! -e '$T/all/again-shop' ]" || show_err

# A role that owns one database and may read nothing of the others: those
# fail, the script goes on, names them and exits 1.  Its password comes from
# the environment this time (--password-env).
sql postgres "CREATE ROLE limited LOGIN PASSWORD 'limited-pw-4711'" >/dev/null
sql postgres "CREATE DATABASE mine OWNER limited" >/dev/null
sql mine "SET ROLE limited; CREATE TABLE mine (x int); INSERT INTO mine VALUES (1)" >/dev/null
LIMITED_PW=limited-pw-4711 mbs script "$examples/all-postgres-databases.lua" --host "$PG_HOST" --port "$PG_PORT" \
    --user limited --password-env LIMITED_PW --storage "$T/limited" --exclude postgres
check "...a database that fails: the others are still backed up, the script exits 1" \
    bash -c "[ $? -eq 1 ] && grep -q '^mine  *pg-mine  *success' '$T/out' && grep -q '^shop  *pg-shop  *failed .*pg_dump.* exited with status 1' '$T/out'" ||
    { sed 's/^/# /' "$T/out"; show_err; }
n=$(sql postgres "SELECT count(*) FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'")
check "...and the total says how many failed" grep -qx "1 of $n databases backed up, $((n - 1)) failed" "$T/out"

printf 'not-the-password\n' | "$MOONBAK" secret set wrong-pw >/dev/null
all_dbs --password-secret wrong-pw --storage "$T/wrong"
check "...a server that refuses the password: the list cannot be read, exit 1, nothing stored" \
    bash -c "[ $? -eq 1 ] && grep -q 'cannot list the databases: .*password authentication failed' '$T/err' && [ ! -e '$T/wrong' ]" || show_err
all_dbs --storage
check "...bad usage exits 2 with the usage" bash -c "[ $? -eq 2 ] && grep -q 'usage: moonbak script all-postgres-databases.lua' '$T/err'"

# --- sanity-check-step.lua ----------------------------------------------------
exercised sanity-check-step.lua
sql postgres 'CREATE DATABASE shopcheck' >/dev/null
sql shopcheck "CREATE TABLE orders (id int PRIMARY KEY, total_cents int NOT NULL);
               INSERT INTO orders SELECT i, i * 100 FROM generate_series(1, 50) i" >/dev/null
checked() { # checked ARGS... : moonbak ARGS with the job's settings in the environment
    PGHOST=$PG_HOST PGPORT=$PG_PORT PGUSER=$PG_USER PGDATABASE=shopcheck BACKUP_DIR=$T/checked mbs "$@"
}
backups_of() { # backups_of JOB-FILE : how many backups it has
    checked backups "$1" --json && json "$T/out" "print(#t)"
}
checked run "$examples/sanity-check-step.lua"
check "sanity-check-step.lua: sane data is backed up" [ $? -eq 0 ] || show_err
check "...once" [ "$(backups_of "$examples/sanity-check-step.lua")" = 1 ]
checked history shop-sanity --json
id=$(json "$T/out" "print(t[1].id)")
"$MOONBAK" log "$id" >"$T/log.out" 2>&1
check "...and the log says which checks passed" \
    grep -q 'sanity check passed: SELECT count(\*) > 0 FROM orders' "$T/log.out"

sanity_fails() { # sanity_fails NAME PATTERN : the run fails, saying PATTERN, and stores nothing
    checked run "$examples/sanity-check-step.lua"
    local status=$? count last
    check "$1" bash -c "[ $status -eq 1 ] && grep -q 'shop-sanity: failed in step custom: $2' '$T/err'" || show_err
    count=$(backups_of "$examples/sanity-check-step.lua")
    last=$(mb history shop-sanity --json && json "$T/out" "print(t[1].status)")
    check "...nothing more is stored, and the execution is recorded failed" [ "$count/$last" = 1/failed ]
}
sql shopcheck 'DELETE FROM orders' >/dev/null
sanity_fails "...an empty orders table fails the run with a clear message" \
    'sanity check failed: the orders table is empty .*; not backing up'
sql shopcheck 'INSERT INTO orders VALUES (1, 100), (2, -5)' >/dev/null
sanity_fails "...so does an order with a negative total (the second check)" \
    'sanity check failed: orders with a negative total'
sql shopcheck 'DROP TABLE orders' >/dev/null
sanity_fails "...and a check that cannot run fails it too, with psql's message" \
    'sanity check could not run (SELECT count(\*) > 0 FROM orders): .*relation \"orders\" does not exist'

# --- maintenance-step.lua -----------------------------------------------------
exercised maintenance-step.lua
sql postgres 'CREATE DATABASE shopmaint' >/dev/null
sql shopmaint "CREATE TABLE orders (id int PRIMARY KEY, total_cents int NOT NULL);
               INSERT INTO orders SELECT i, i FROM generate_series(1, 5000) i;
               DELETE FROM orders WHERE id % 2 = 0" >/dev/null
maintained() {
    PGHOST=$PG_HOST PGPORT=$PG_PORT PGUSER=$PG_USER PGDATABASE=shopmaint BACKUP_DIR=$T/maintained mbs "$@"
}
vacuumed() { sql shopmaint "SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'orders'"; }
check "maintenance-step.lua: (before: orders was never vacuumed nor analyzed by hand)" [ "$(vacuumed)" = f ]
maintained run "$examples/maintenance-step.lua"
check "...the job runs and stores its backup" [ $? -eq 0 ] || show_err
check "...after VACUUM (ANALYZE) ran on the database (pg_stat_user_tables: last_vacuum, last_analyze)" \
    [ "$(vacuumed)" = t ]
last_log() { # last_log JOB : the log of the job's newest execution, into $T/log.out
    "$MOONBAK" history "$1" --json >"$T/hist.json" && "$MOONBAK" log "$(json "$T/hist.json" "print(t[1].id)")" >"$T/log.out" 2>&1
}
last_log shop-maintained
check "...and the log says so" grep -q 'maintenance done in .*: VACUUM (ANALYZE)' "$T/log.out"

# Maintenance that fails only warns: another session holds a lock VACUUM
# needs (not one pg_dump needs), VACUUM gives up after lock_timeout, the
# backup goes on.  The holder says when it has the lock by creating a file.
PGPASSWORD=$PG_PASSWORD PGAPPNAME=lock-holder psql -X -q -w -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d shopmaint \
    -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL &
BEGIN;
LOCK TABLE orders IN SHARE UPDATE EXCLUSIVE MODE;
\! touch '$T/locked'
SELECT pg_sleep(3600);
SQL
holder=$!
for _ in $(seq 600); do [ -e "$T/locked" ] || ! kill -0 "$holder" 2>/dev/null && break; sleep 0.1; done
check "...(a session holds a lock on orders that VACUUM waits for)" [ -e "$T/locked" ]
MAINTENANCE_LOCK_TIMEOUT=1s maintained run "$examples/maintenance-step.lua"
check "...a maintenance that fails (lock timeout) does not fail the backup" [ $? -eq 0 ] || show_err
sql postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lock-holder'" >/dev/null
wait "$holder" 2>/dev/null
last_log shop-maintained
check "...it is a warning in the log, with the server's reason" \
    grep -q 'warning.*maintenance failed, backing up anyway: .*lock timeout' "$T/log.out" || sed 's/^/# /' "$T/log.out"
check "...and the backup is there: two now" \
    bash -c "[ \$(ls '$T/maintained/shop-maintained/'*.dump.zst | wc -l) -eq 2 ]"

# --- postgres-offsite.lua -------------------------------------------------------
# Loaded as it is (a real age recipient, S3 on AWS); run with its source
# pointed at the test server and its two storages at local directories, since
# no AWS is reachable here.
exercised postgres-offsite.lua
cat > offsite.lua <<LUA
local mb = require "moonbak"
local job = assert(mb.job.load("$examples/postgres-offsite.lua"))
job.source.host, job.source.port, job.source.user = "$PG_HOST", $PG_PORT, "$PG_USER"
job.storage = { { type = "local", name = "local", path = "$T/offsite/disk" },
                { type = "local", name = "s3", path = "$T/offsite/bucket" } }
local st <close> = assert(mb.state.open("$MOONBAK_STATE"))
local ok, ctx = mb.runner.run(job, { state = st })
assert(ok, ctx.error or ctx.status_message)
print(ctx.artifact_path)
LUA
mbs script offsite.lua
check "postgres-offsite.lua: the job runs (its servers replaced by the test's)" [ $? -eq 0 ] || show_err
artifact=$(cat "$T/out")
check "...a custom-format dump, compressed and encrypted, in both storages" \
    bash -c "case '$artifact' in shop-db/*.dump.zst.age) ;; *) exit 1;; esac &&
             head -c 21 '$T/offsite/disk/$artifact' | grep -q 'age-encryption.org/v1' &&
             cmp -s '$T/offsite/disk/$artifact' '$T/offsite/bucket/$artifact'"

check "the PostgreSQL password was in no argv of the tools moonbak started" \
    spy_ran "$T/spy" psql pg_dump && spy_lacks "$PG_PASSWORD" "$T"/spy/records/*.argv
check "...but in the environment of the psql the examples started (PGAPPNAME: theirs)" \
    bash -c "for f in '$T'/spy/records/psql.*.environ; do
               if grep -qazx 'PGAPPNAME=moonbak-sanity-check' \"\$f\"; then grep -qazxF 'PGPASSWORD=$PG_PASSWORD' \"\$f\" && exit 0; fi
             done; exit 1"
for id in $("$MOONBAK" history --json | tr ',' '\n' | sed -n 's/.*"id":\([0-9]*\).*/\1/p'); do
    "$MOONBAK" log "$id" >>"$T/alllogs.txt" 2>&1
done
check "...and in no execution log, state file or sidecar" \
    no_secret_in "$PG_PASSWORD" "$T/alllogs.txt" "$MOONBAK_STATE" "$T/all" "$T/checked" "$T/maintained" "$T/out" "$T/err"

# --- uploads-tar.lua ------------------------------------------------------------
exercised uploads-tar.lua
up=$T/uploads
mkdir -p "$up/2026/03" "$up/empty dir" "$up/avatars"
printf 'invoice\n' > "$up/2026/03/invoice 42 (final).pdf"
head -c 300000 /dev/urandom > "$up/2026/03/photo.jpg"
: > "$up/avatars/empty"
printf 'grüße\n' > "$up/avatars/ünïcödé.txt"
chmod 640 "$up/2026/03/photo.jpg"
chmod 750 "$up/avatars"
ln -s "2026/03/invoice 42 (final).pdf" "$up/latest invoice"
ln -s /nonexistent/target "$up/dangling"
find "$up" -exec touch -h -d '2026-01-02 03:04:05' {} +
"$MOONBAK" keygen --output "$T/uploads.key" 2>"$T/keygen.err"
recipient=$(sed -n 's/^Public key: //p' "$T/keygen.err")
uploads() { UPLOADS_DIR=$up BACKUP_DIR=$T/tarstore UPLOADS_AGE_RECIPIENT=$recipient mb "$@"; }
uploads run "$examples/uploads-tar.lua"
check "uploads-tar.lua: the folder is backed up as a tar stream" [ $? -eq 0 ] || show_err
# what a tree holds, as find sees it: type, mode, link target, mtime (GNU tar keeps seconds)
tree_facts() { (cd "$1" && find . -printf '%p %y %m %l %TY-%Tm-%Td %TH:%TM:%.2TS\n' | sort); }
same_tree() { # same_tree A B : contents byte for byte, links as links, modes, times
    diff -r --no-dereference "$1" "$2" && diff <(tree_facts "$1") <(tree_facts "$2")
}
uploads restore "$examples/uploads-tar.lua" --identity "$T/uploads.key" --output "$T/uploads.tar"
mkdir "$T/restored"
check "...restore --output gives a tar archive that tar extracts" \
    bash -c "[ $? -eq 0 ] && tar --extract --file='$T/uploads.tar' --directory='$T/restored'" || show_err
check "...identical to the original: bytes, names with spaces and non-ASCII, symlinks, modes, times" \
    same_tree "$up" "$T/restored"
artifact=$(ls "$T"/tarstore/uploads/*.out.zst.age)
mkdir "$T/by-hand"
age -d -i "$T/uploads.key" "$artifact" | zstd -d | tar --extract --file=- --directory="$T/by-hand"
pipe_status="${PIPESTATUS[*]}"
check "...and without moonbak: age -d | zstd -d | tar -x gives the same tree" \
    bash -c "[ '$pipe_status' = '0 0 0' ]" && same_tree "$up" "$T/by-hand"
check "...the artifact's sha256sum is the one its sidecar holds" \
    json "$artifact.meta.json" "assert(t.sha256 == '$(sha256sum "$artifact" | cut -d' ' -f1)')"
UPLOADS_DIR=$T/no-such-dir BACKUP_DIR=$T/tarstore UPLOADS_AGE_RECIPIENT=$recipient mb run "$examples/uploads-tar.lua"
check "...a folder tar cannot read fails the run and keeps nothing more" \
    bash -c "[ $? -eq 1 ] && grep -q 'command tar exited with status 2' '$T/err' &&
             [ \$(ls '$T'/tarstore/uploads/*.meta.json | wc -l) -eq 1 ]" || show_err
last_log uploads
check "...its log holds what tar said" grep -q 'no-such-dir: Cannot open: No such file or directory' "$T/log.out"

# --- weekly-report.lua ------------------------------------------------------------
# A history seeded with real runs (sizes known: no compression) and the
# outcomes the daemon records (a skipped fire time), in a state of its own.
exercised weekly-report.lua
r=$T/report
mkdir -p "$r/jobs"
cat > "$r/jobs/notes.lua" <<JOB
return { name = "notes", source = { type = "file", path = "$r/notes.txt" }, compression = { type = "none" },
         storage = { { type = "local", path = "$r/store" } } }
JOB
cat > "$r/jobs/idle.lua" <<JOB
return { name = "idle", source = { type = "file", path = "$r/idle.txt" }, storage = { { type = "local", path = "$r/store" } } }
JOB
report_mb() { MOONBAK_STATE=$r/state MOONBAK_JOBS=$r/jobs mb "$@"; }
seeded=0
for size in 1000 2000 4000; do
    head -c "$size" /dev/zero | tr '\0' x > "$r/notes.txt"
    report_mb run notes && seeded=$((seeded + 1))
done
rm "$r/notes.txt"
report_mb run notes # fails: the file is gone
cat > "$r/seed.lua" <<'LUA'
local mb = require "moonbak"
local st <close> = assert(mb.state.open(arg[1]))
local now = mb.sys.now()
-- a fire time the daemon skipped yesterday, and a failure ten days ago
st:skip("notes", os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(now) - 86400), "the job was still running")
local old = st:skip("notes", os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(now) - 10 * 86400), "an old miss")
local long_ago = mb.state.timestamp(now - 10 * 86400)
st.db:run("UPDATE executions SET started_at = ?, finished_at = ? WHERE id = ?", long_ago, long_ago, old)
LUA
"$MOONBAK" script "$r/seed.lua" "$r/state"
seed_status=$?
check "weekly-report.lua: (history seeded: three successes, a failure, a skipped fire time, an old miss)" \
    [ "$seeded" -eq 3 ] && [ "$seed_status" -eq 0 ]
report() { report_mb script "$examples/weekly-report.lua" "$@"; }
newest=$(report_mb backups notes --json && json "$T/out" "print(t[1].backup_id)")
report --bytes
status=$?
check "...a job without a successful run (idle) needs attention: exit 1, named" \
    bash -c "[ $status -eq 1 ] && grep -qx 'needs attention (no successful run in 7 days, or a broken file): idle' '$T/out'" ||
    sed 's/^/# /' "$T/out"
check "...the last success: its backup and stored size" \
    grep -Eq "^  last success  [0-9T:.-]+Z  backup $newest  4000 B stored$" "$T/out"
check "...the size trend of the last backups, oldest first, and the change" \
    grep -qx '  size trend    1000 B, 2000 B, 4000 B (oldest first): +3000 B (+300.0%) over 3 backups' "$T/out"
check "...the runs of the last 7 days by outcome (the old miss left out)" \
    grep -qx '  runs          5 in 7 days: 3 success, 1 failed, 1 skipped' "$T/out"
check "...each missed run with its reason, the latest first" \
    bash -c "grep -A1 -E '^  missed        [0-9T:-]+Z  failed       file .*notes.txt: cannot read' '$T/out' |
             grep -Eq '^                [0-9T:-]+Z  skipped      the job was still running$' && ! grep -q 'an old miss' '$T/out'" ||
    sed 's/^/# /' "$T/out"
check "...a job that never ran says so" bash -c "grep -A3 -x idle '$T/out' | grep -qx '  last success  never'"
report --last 2 --days 30 --bytes
check "...--last 2: the trend of the two newest; --days 30 takes the old miss in" \
    bash -c "grep -qx '  size trend    2000 B, 4000 B (oldest first): +2000 B (+100.0%) over 2 backups' '$T/out' &&
             grep -qx '  runs          6 in 30 days: 3 success, 1 failed, 2 skipped' '$T/out'" || sed 's/^/# /' "$T/out"
rm "$r/jobs/idle.lua"
report
check "...every job with a success: exit 0; sizes in KiB without --bytes" \
    bash -c "[ $? -eq 0 ] && grep -qx '  size trend    1000 B, 2.0 KiB, 3.9 KiB (oldest first): +2.9 KiB (+300.0%) over 3 backups' '$T/out'" ||
    sed 's/^/# /' "$T/out"
report --days
check "...bad usage exits 2" [ $? -eq 2 ]

# --- every example is run above -------------------------------------------------
missing=""
for f in "$examples"/*.lua; do
    name=$(basename "$f")
    [ -n "${ran[$name]:-}" ] || missing="$missing $name"
done
check "every examples/*.lua is run by this test${missing:+ (not run:$missing)}" [ -z "$missing" ]

finish
