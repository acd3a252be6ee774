#!/usr/bin/env bash
# Nothing lost, ever: concurrent runs, bad clocks, hand-edited storages,
# a broken state database, odd commands in steps (issue 10).
. "$(dirname "$0")/lib.sh"

jobs=$T/jobs
mkdir -p "$jobs"
export MOONBAK_JOBS=$jobs
printf 'some data\n' > "$T/data.txt"

# job NAME EXTRA : a job backing up data.txt to $T/backups, plus EXTRA fields
job() {
    cat > "$jobs/$1.lua" <<JOB
return { source = { type = "file", path = "$T/data.txt" },
         storage = { { type = "local", path = "$T/backups" } }, ${2:-} }
JOB
}

# sidecar_set FILE LUA : rewrites a sidecar, with m = its decoded table
sidecar_set() {
    printf "local cjson = require 'cjson'\nlocal f = assert(io.open('%s'))\nlocal m = cjson.decode(f:read('a'))\nf:close()\n%s\nf = assert(io.open('%s', 'w'))\nf:write(cjson.encode(m))\nf:close()\n" \
        "$1" "$2" "$1" > "$T/edit.lua"
    "$MOONBAK" script "$T/edit.lua"
}

# copy_backup JOB ID NEW_ID [NEW_JOB_DIR] : a hand-made copy of a backup under another id
copy_backup() {
    local dir=$T/backups/${4:-$1} src
    mkdir -p "$dir"
    src=$(ls "$T/backups/$1/$2".*.meta.json)
    local ext=${src#"$T/backups/$1/$2."}
    ext=${ext%.meta.json}
    cp "$T/backups/$1/$2.$ext" "$dir/$3.$ext"
    cp "$src" "$dir/$3.$ext.meta.json"
    sidecar_set "$dir/$3.$ext.meta.json" "m.backup_id = '$3'"
}

newest_id() { ls "$T/backups/$1" | grep -o '^[0-9]*T[0-9.]*Z\(-[0-9a-f]*\)\?' | sort | tail -n 1; }

# --- 1. two runs of one job at once ------------------------------------
cat > "$jobs/slow.lua" <<JOB
return { source = { type = "command", argv = { "sh", "-c",
           "echo dump; touch $T/slow.started; while [ ! -e $T/slow.go ]; do sleep 0.05; done" } },
         storage = { { type = "local", path = "$T/backups" } } }
JOB
"$MOONBAK" run slow >"$T/first.out" 2>"$T/first.err" &
first=$!
for _ in $(seq 600); do [ -e "$T/slow.started" ] && break; sleep 0.1; done
# bounded: without the lock, this second run would wait for slow.go too
timeout 120 "$MOONBAK" run slow >"$T/out" 2>"$T/err"
status=$?
touch "$T/slow.go"
wait $first
first_status=$?
check "a second run of a job that is running is refused (exit 1)" [ $status -eq 1 ]
check "...with a message naming the running execution" \
    grep -q 'job slow is already running: execution [0-9]* (pid [0-9]*' "$T/err"
check "...and the first run succeeds" [ $first_status -eq 0 ]
check "...and exactly one backup exists" [ "$(ls "$T/backups/slow" | grep -c 'meta.json$')" -eq 1 ]
mb run slow
check "the job runs again once the first run is over" [ $? -eq 0 ]

job shared
mkdir -p "$T/host-a" "$T/host-b"
"$MOONBAK" --state "$T/host-a" run shared >"$T/a.out" 2>&1 &
a=$!
"$MOONBAK" --state "$T/host-b" run shared >"$T/b.out" 2>&1 &
b=$!
wait $a; sa=$?; wait $b; sb=$?
check "two machines (two states) backing up one job to one storage at once both succeed" [ $sa -eq 0 -a $sb -eq 0 ]
mb backups shared --json
check "...and make two backups with ids of their own" json "$T/out" "assert(#t == 2 and t[1].backup_id ~= t[2].backup_id)"
mb verify shared --all
check "...which both verify" [ $? -eq 0 -a "$(grep -c '^ok' "$T/out")" -eq 2 ]

# --- 2. a backup dated in the future ---------------------------------------
job future 'retention = { keep_last = 1 }'
mb run future
copy_backup future "$(newest_id future)" 20990101T000000Z
mb run future
status=$?
own=$(sed -n 's/.*backup \([0-9TZ.a-f-]*\).*/\1/p' "$T/out")
check "with a backup dated 2099 and keep_last = 1, a run succeeds" [ $status -eq 0 -a -n "$own" ]
check "...and its own backup is kept" [ -e "$(ls "$T/backups/future/$own".*.meta.json)" ]
check "...and so is the backup dated in the future" [ -e "$T/backups/future/20990101T000000Z.txt.zst.meta.json" ]
check "...and only the backup before it was removed by retention" [ "$(ls "$T/backups/future" | grep -c 'meta.json$')" -eq 2 ]
mb log "$(sed -n 's/.*execution \([0-9]*\).*/\1/p' "$T/out")"
check "...and the log reports the future backup" grep -q '20990101T000000Z on local is dated after now' "$T/out"

mb restore future --output "$T/future.out"
check "restore without a backup id takes the newest backup not dated in the future" \
    grep -q "restored backup $own " "$T/out"

# --- 3. sidecars of another job in this job's directory -------------------
job mine 'retention = { keep_last = 1 }'
mb run mine
copy_backup mine "$(newest_id mine)" 20200101T000000Z
sidecar_set "$T/backups/mine/20200101T000000Z.txt.zst.meta.json" "m.job = 'theirs'"
mb run mine
check "retention leaves a sidecar whose job is another job's alone" \
    [ $? -eq 0 -a -e "$T/backups/mine/20200101T000000Z.txt.zst.meta.json" ]
mb backups mine
check "...and backups reports it with its path" grep -q 'mine/20200101T000000Z.txt.zst.meta.json: belongs to job "theirs"' "$T/err"

# --- 4. sidecars without checksums ----------------------------------------
job sums
mb run sums
id=$(newest_id sums)
sidecar_set "$T/backups/sums/$id.txt.zst.meta.json" "m.sha256 = nil; m.plain_sha256 = nil"
mb verify sums "$id"
check "a sidecar without its sha256 values fails verify" [ $? -eq 1 ]
check "...saying it cannot be verified" grep -q 'no valid sha256 and plain_sha256' "$T/err"
mb restore sums "$id" --output "$T/sums.out"
check "...and restore refuses it, writing nothing" [ $? -eq 1 -a ! -e "$T/sums.out" ]
sidecar_set "$T/backups/sums/$id.txt.zst.meta.json" "m.sha256 = ('0'):rep(63); m.plain_sha256 = ('0'):rep(64)"
mb verify sums "$id"
check "a malformed sha256 in a sidecar fails verify too" [ $? -eq 1 ]

# --- 5. malformed sidecars ---------------------------------------------------
job h 'retention = { keep_last = 1 }'
mb run h
good=$(newest_id h)
d=$T/backups/h
cp "$d/$good.txt.zst" "$d/20200101T000001Z.txt.zst"; echo '{"job":"h"}' > "$d/20200101T000001Z.txt.zst.meta.json"
cp "$d/$good.txt.zst" "$d/20200101T000002Z.txt.zst"
sed 's/"backup_id":"[^"]*"/"backup_id":20200101/' "$d/$good.txt.zst.meta.json" > "$d/20200101T000002Z.txt.zst.meta.json"
cp "$d/$good.txt.zst" "$d/20200101T000003Z.txt.zst"; echo '[1, 2, 3]' > "$d/20200101T000003Z.txt.zst.meta.json"
cp "$d/$good.txt.zst" "$d/20200101T000004Z.txt.zst"; head -c 20971520 /dev/zero | tr '\0' ' ' > "$d/20200101T000004Z.txt.zst.meta.json"
cp "$d/$good.txt.zst" "$d/20200101T000005Z.txt.zst"; echo 'not json' > "$d/20200101T000005Z.txt.zst.meta.json"
mb backups h
status=$?
check "backups lists the good backup despite five malformed sidecars" [ $status -eq 0 ] && grep -q "^$good" "$T/out"
check "...reporting each bad sidecar with its path" [ "$(grep -c 'warning: local: sidecar h/20200101T00000[1-5]Z' "$T/err")" -eq 5 ]
check "...and no traceback" sh -c "! grep -q traceback '$T/err'"
mb restore h --output "$T/h.out"
check "restore of the newest backup works beside them" [ $? -eq 0 ] && cmp -s "$T/h.out" "$T/data.txt"
mb run h
check "a run with retention succeeds beside them" [ $? -eq 0 ]
check "...and retention still removed the older good backup" [ ! -e "$d/$good.txt.zst.meta.json" ]

# --- 6. leftovers that are not this state's to remove -------------------------------
job shared2
mb run shared2
recent=$(date -u -d '-1 hour' +%Y%m%dT%H%M%S.000Z-abcdef)
echo writing > "$T/backups/shared2/.$recent.txt.zst.partial-Qw3rty"
old=20200101T000000Z
copy_backup shared2 "$(newest_id shared2)" $old
mv "$T/backups/shared2/$old.txt.zst.meta.json" "$T/elsewhere.meta.json"
ln -s "$T/elsewhere.meta.json" "$T/backups/shared2/$old.txt.zst.meta.json"
mb run shared2
check "a run leaves alone a recent partial upload no run of this state made (another machine's, in progress)" \
    [ $? -eq 0 -a -e "$T/backups/shared2/.$recent.txt.zst.partial-Qw3rty" ]
check "...and an old artifact whose sidecar is a symbolic link (not listed, but there)" \
    [ -e "$T/backups/shared2/$old.txt.zst" ]

echo partial > "$T/backups/shared2/.20200101T000000Z.txt.zst.partial-Zx81Ab"
mb prune shared2
check "prune of a job without retention still sweeps leftovers of killed runs" \
    bash -c "[ $? -eq 0 ] && [ ! -e '$T/backups/shared2/.20200101T000000Z.txt.zst.partial-Zx81Ab' ] &&
             grep -q 'removed stale partial upload' '$T/out'"

# --- 8. os.exit in a custom step ----------------------------------------------
cat > "$jobs/quitter.lua" <<JOB
return { source = { type = "file", path = "$T/data.txt" }, spool = true,
         storage = { { type = "local", path = "$T/backups" } },
         steps = { "initialize", "dump", function() os.exit(0) end, "upload", "completion" } }
JOB
mb run quitter
check "os.exit in a custom step fails the run (exit 1)" [ $? -eq 1 ]
check "...saying why" grep -q 'os.exit called in step custom' "$T/err"
mb history quitter --json
check "...recorded as failed, not left running" json "$T/out" "assert(t[1].status == 'failed')"
check "...and its spool file is gone" [ -z "$(ls -A "$MOONBAK_STATE/tmp")" ]
check "...and no backup was made" [ ! -e "$T/backups/quitter" ]

# --- 9. a broken state database ------------------------------------------------
job db
mb run db
cp -r "$MOONBAK_STATE" "$T/state.good"
rm -f "$MOONBAK_STATE"/moonbak.db-*
head -c 8192 /dev/urandom > "$MOONBAK_STATE/moonbak.db"
mb run db
check "a run with a corrupt state database fails (exit 1)" [ $? -eq 1 ]
check "...naming the database and saying what to do" \
    grep -q "state database $MOONBAK_STATE/moonbak.db is malformed.*move it aside" "$T/err"
check "...with no traceback" sh -c "! grep -q traceback '$T/err'"
mb backups db
check "backups works with a corrupt state database" [ $? -eq 0 ] && grep -q '^2' "$T/out"
mb verify db
check "verify works with a corrupt state database" [ $? -eq 0 ]
mb restore db --output "$T/db.out"
check "restore works with a corrupt state database" [ $? -eq 0 ] && cmp -s "$T/db.out" "$T/data.txt"
mb jobs
check "jobs lists the jobs with a corrupt state database, their last result unknown" \
    bash -c "grep -q '^db .*unknown' '$T/out' && grep -q 'moonbak.db is malformed' '$T/err'"
rm -rf "$MOONBAK_STATE"; cp -r "$T/state.good" "$MOONBAK_STATE"
sqlite3 "$MOONBAK_STATE/moonbak.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
# every page but the first (the header and the schema stay readable)
pages=$(( $(stat -c %s "$MOONBAK_STATE/moonbak.db") / 4096 ))
dd if=/dev/urandom of="$MOONBAK_STATE/moonbak.db" bs=4096 seek=1 count=$((pages - 1)) conv=notrunc status=none
mb history
check "a state database damaged past its header: history fails (exit 1) naming it and what to do" \
    bash -c "[ $? -eq 1 ] && grep -q 'moonbak.db is malformed.*move it aside' '$T/err'"
check "...with no traceback" sh -c "! grep -q traceback '$T/err'"
rm -rf "$MOONBAK_STATE"; mv "$T/state.good" "$MOONBAK_STATE"
rm -rf "$T/fresh-state"
for i in 1 2 3 4 5; do "$MOONBAK" --state "$T/fresh-state" jobs >/dev/null 2>"$T/par-$i.err" & done
failed=0
for i in 1 2 3 4 5; do wait -n || failed=$((failed + 1)); done
check "five commands opening one new state directory at once all succeed ($failed failed)" [ $failed -eq 0 ]
rm -rf "$T/fresh"
mb --state "$T/fresh" jobs
check "a fresh state database is created 0600" [ "$(stat -c %a "$T/fresh/moonbak.db")" = 600 ]

cat > "$jobs/file-name.lua" <<JOB
return { name = "declared", source = { type = "file", path = "$T/data.txt" },
         storage = { { type = "local", path = "$T/backups" } } }
JOB
mb run declared
check "run NAME finds the job file that declares NAME, whatever the file is called" [ $? -eq 0 ]
rm "$jobs/file-name.lua"

# --- 3. a copy of a job outside the jobs directory -------------------------------
sed "s/^return { /return { name = \"db\", /" "$jobs/db.lua" > "$T/db-copy.lua"
mb run "$T/db-copy.lua"
check "a copy of a job (same name) outside the jobs directory cannot run (exit 2)" [ $? -eq 2 ]
check "...naming both files" grep -q "$T/db-copy.lua.*$jobs/db.lua\|$jobs/db.lua.*$T/db-copy.lua" "$T/err"
mb restore "$T/db-copy.lua" --output "$T/db-copy.out"
check "...but can restore, as for a restore onto another server" [ $? -eq 0 ] && cmp -s "$T/db-copy.out" "$T/data.txt"

# --- 13. the master key ----------------------------------------------------------
echo 'first value' | mb secret set one
mv "$MOONBAK_STATE/master.key" "$T/master.key.saved"
echo 'second value' | mb secret set two
check "a missing master.key with sealed secrets is refused" [ $? -ne 0 -a ! -e "$MOONBAK_STATE/master.key" ]
check "...naming the file and the number of secrets sealed under it" \
    grep -q "master key $MOONBAK_STATE/master.key is missing, and 1 secret" "$T/err"
check "...without a traceback" sh -c "! grep -q traceback '$T/err'"
mb keygen >/dev/null
printf '%064x\n' 12345 > "$MOONBAK_STATE/master.key"
echo 'second value' | mb secret set two
check "a master.key that does not open the stored secrets seals nothing" [ $? -eq 1 ]
check "...saying it is not their key" grep -q 'does not open the 1 secret already in' "$T/err"
mv "$T/master.key.saved" "$MOONBAK_STATE/master.key"
echo 'second value' | mb secret set two
check "...and secrets work again once the key is back" [ $? -eq 0 ]

# --- 15, 16. messages ---------------------------------------------------------------
mb --state "" jobs
check "--state \"\" is a usage error (exit 2)" [ $? -eq 2 ] && grep -q 'empty' "$T/err"
MOONBAK_STATE= mb jobs
check "MOONBAK_STATE= (empty) is a usage error (exit 2)" [ $? -eq 2 ] && grep -q 'MOONBAK_STATE is set but empty' "$T/err"
cat > "$jobs/raiser.lua" <<JOB
return { source = { type = "file", path = "$T/data.txt" },
         storage = { { type = "local", path = "$T/backups" } },
         steps = { function() error({}) end } }
JOB
mb run raiser
check "error({}) in a step is reported plainly, not as table: 0x..." \
    bash -c "grep -q 'raised a table value' '$T/err' && ! grep -q 'table: 0x' '$T/err'"
mb run ""
check "run \"\" is a usage error (exit 2)" [ $? -eq 2 ]
mkfifo "$T/fifo"
cat > "$jobs/reader.lua" <<JOB
local f = io.open("$T/fifo")
return { source = { type = "file", path = "$T/data.txt" }, storage = { { type = "local", path = "$T/backups" } } }
JOB
sed 's|^local f = io.open("\(.*\)")$|dofile("\1")|' "$jobs/reader.lua" > "$jobs/doer.lua"
timeout 120 "$MOONBAK" jobs >"$T/out" 2>"$T/err"
check "a job file that opens or runs a FIFO when it loads is a broken job file, not a hang" \
    bash -c "[ $? -eq 2 ] && grep -q 'reader.lua.*io.open of .*not a regular file' '$T/err' &&
             grep -q 'doer.lua.*dofile of .*not a regular file' '$T/err'"
rm "$jobs/reader.lua" "$jobs/doer.lua"
id=$(newest_id db)
sidecar_set "$T/backups/db/$id.txt.zst.meta.json" "m.finished_at = '\27[31mred'"
mb backups db
check "backups shows no control character from a sidecar" sh -c "! grep -q \"\$(printf '\\033')\" '$T/out'"
sidecar_set "$T/backups/db/$id.txt.zst.meta.json" "m.size = -5"
mb backups db
check "a sidecar with a negative size is reported, not listed" grep -q 'size is not a size' "$T/err"
mb --state "$T/empty-state" history --json
check "an empty --json list is []" [ "$(cat "$T/out")" = "[]" ]
mb history db --json
check "history --json holds metadata as JSON, not as a string" json "$T/out" "assert(type(t[1].metadata) == 'table')"

finish
