#!/usr/bin/env bash
# The catalog rebuilt from the storages' sidecars on a machine that lost its
# state directory; locks kept in the sidecars survive it; retention keeps a
# locked backup and prune --dry-run says why each backup stays or goes.
. "$(dirname "$0")/lib.sh"
cd "$T"
mkdir jobs
export MOONBAK_JOBS=$T/jobs
sqlite3 app.db "CREATE TABLE t (x); INSERT INTO t VALUES (1);"
job() { # job [RETENTION]
    cat > jobs/app.lua <<JOB
return { name = "app", source = { type = "sqlite", path = "$T/app.db" },
         storage = { { name = "a", type = "local", path = "$T/a" }, { name = "b", type = "local", path = "$T/b" } },
         $1 }
JOB
}
# the catalog rows as text: what a rebuild must give back
catalog() {
    sqlite3 "$MOONBAK_STATE/moonbak.db" \
        "SELECT job, backup_id, storage, path, size, logical_size, sha256, plain_sha256, locked,
                coalesce(lock_reason, '-') FROM catalog ORDER BY backup_id, storage"
}
# the backups as `backups --json` lists them, one line each
listing() {
    mb backups app --json && json "$T/out" \
        "for _, b in ipairs(t) do print(b.backup_id, b.storage, b.path, b.size, b.sha256, b.locked, b.lock_reason) end"
}
job ""
for i in 1 2 3; do
    sqlite3 app.db "INSERT INTO t VALUES ($i + 1)"
    mb run app || echo "# run $i failed: $(cat "$T/err")"
done
mb backups app --json
oldest=$(json "$T/out" "print(t[#t].backup_id)")
newest=$(json "$T/out" "print(t[1].backup_id)")
check "three backups on two storages" [ "$(json "$T/out" "print(#t)")" = 6 ]

mb lock app "$oldest" --reason "audit 2026"
check "lock exits 0" [ $? -eq 0 ] || show_err
check "...and says so for each storage" [ "$(grep -c "locked $oldest on" "$T/out")" = 2 ]
for s in a b; do
    check "the sidecar on $s says locked, with the reason and when" json "$T/$s/app/$oldest.sqlite3.zst.meta.json" \
        "assert(t.locked == true and t.lock_reason == 'audit 2026' and t.locked_at:match('^%d+%-'))"
done
check "...and keeps the artifact's checksums" \
    json "$T/a/app/$oldest.sqlite3.zst.meta.json" \
        "assert(t.sha256 == io.popen('sha256sum $T/a/app/$oldest.sqlite3.zst'):read('a'):match('%x+'))"
check "no temporary file is left beside the sidecars" [ -z "$(ls -A a/app b/app | grep '^\.')" ]
mb backups app
check "backups shows the backup locked, with its reason" \
    bash -c "grep '$oldest' '$T/out' | grep -q 'locked (audit 2026)' && ! grep '$newest' '$T/out' | grep -q locked"
mb backups app --json
check "backups --json says locked and why" \
    json "$T/out" "for _, b in ipairs(t) do assert(b.locked == (b.backup_id == '$oldest'), b.backup_id)
                   if b.locked then assert(b.lock_reason == 'audit 2026') end end"
check "the catalog row is locked" [ "$(sqlite3 "$MOONBAK_STATE/moonbak.db" \
    "SELECT count(*) FROM catalog WHERE backup_id = '$oldest' AND locked = 1 AND lock_reason = 'audit 2026'")" = 2 ]
mb lock app 20200101T000000Z
check "locking a backup that does not exist exits 1, naming it" \
    bash -c "[ $? -eq 1 ] && grep -q 20200101T000000Z '$T/err'"

before_catalog=$(catalog)
before_listing=$(listing)
mb restore app "$oldest" --output "$T/before.db" || show_err

# a new machine: the job file and the storages, no state
rm -rf "$MOONBAK_STATE"
# a sidecar that is not JSON, and one whose artifact is gone
echo "not json" > a/app/20250101T000000Z.sqlite3.zst.meta.json
sed "s/$newest/20250102T000000.000Z-abcdef/g" "b/app/$newest.sqlite3.zst.meta.json" \
    > b/app/20250102T000000.000Z-abcdef.sqlite3.zst.meta.json
mb catalog rebuild app
status=$?
check "catalog rebuild with problems exits 1" [ $status -eq 1 ] || show_err
check "...naming the junk sidecar and its storage" grep -q "a: sidecar app/20250101T000000Z.sqlite3.zst.meta.json: not JSON" "$T/err"
check "...and the sidecar without artifact" grep -q "b: sidecar app/20250102T000000.000Z-abcdef.sqlite3.zst.meta.json: has no artifact" "$T/err"
check "...and prints a summary" grep -q "3 backups on 2 storages, 2 problems" "$T/out" || sed 's/^/# /' "$T/out"
check "the rebuilt catalog is the one before" [ "$(catalog)" = "$before_catalog" ] || { echo "# before:"; echo "$before_catalog" | sed 's/^/#  /'; echo "# after:"; catalog | sed 's/^/#  /'; }
check "the lock survived the rebuild (catalog row)" [ "$(sqlite3 "$MOONBAK_STATE/moonbak.db" \
    "SELECT count(*) FROM catalog WHERE backup_id = '$oldest' AND locked = 1")" = 2 ]
check "backups lists every backup again, the lock too" [ "$(listing)" = "$before_listing" ]
mb restore app "$oldest" --output "$T/after.db"
check "a backup restores byte for byte as before" cmp -s "$T/before.db" "$T/after.db" || show_err
check "...with the data of its time" [ "$(sqlite3 "$T/after.db" 'SELECT count(*) FROM t')" = 2 ]
mb metrics
check "metrics count the rebuilt catalog's backups" grep -q '^moonbak_job_backups{job="app"} 3$' "$T/out" || sed 's/^/# /' "$T/out"

# a second rebuild, once the problems are gone, finds nothing to report
rm a/app/20250101T000000Z.sqlite3.zst.meta.json b/app/20250102T000000.000Z-abcdef.sqlite3.zst.meta.json
mb catalog rebuild
check "catalog rebuild of every job exits 0 when nothing is wrong" [ $? -eq 0 ] || show_err
check "...and says 0 problems" grep -q "3 backups on 2 storages, 0 problems" "$T/out"
# a backup removed behind the catalog's back leaves it at the next rebuild
sqlite3 "$MOONBAK_STATE/moonbak.db" "INSERT INTO catalog (job, backup_id, storage, path) VALUES ('app', '20240101T000000Z', 'a', 'app/x')"
mb catalog rebuild app
check "a row no storage holds is removed" [ "$(catalog)" = "$before_catalog" ]

# retention: keep_last = 1 keeps the newest and the locked one
job "retention = { keep_last = 1 },"
mb prune app --dry-run
check "prune --dry-run explains the locked one" grep -q "keep *$oldest on a: locked" "$T/out" || sed 's/^/# /' "$T/out"
check "...and the newest" grep -q "keep *$newest on a: newest, keep_last" "$T/out"
check "...and what goes" [ "$(grep -c 'would remove' "$T/out")" = 2 ]
check "...and deletes nothing" [ "$(ls a/app b/app | grep -c 'meta.json$')" = 6 ]
mb prune app --dry-run --json
check "prune --dry-run --json says which rules keep each backup" json "$T/out" "
    assert(#t.backups == 6)
    for _, d in ipairs(t.backups) do
      if d.backup_id == '$oldest' then assert(d.keep and d.reasons[1] == 'locked')
      elseif d.backup_id == '$newest' then assert(d.keep and d.reasons[1] == 'newest' and d.reasons[2] == 'keep_last')
      else assert(not d.keep and #d.reasons == 0) end
    end"
# while something holds the job (a copy under way: what it wrote is not a
# leftover), prune and lock wait their turn: they refuse, and change nothing
cat > hold.lua <<'LUA'
local st = assert(require("moonbak.state").open(os.getenv("MOONBAK_STATE")))
local lock = assert(st:lock_job("app"))
io.open(arg[1], "w"):close()          -- held: the test may go on
io.open(arg[2]):read("l")             -- until it says go
lock:release()
LUA
mkfifo go
"$MOONBAK" script hold.lua "$T/held" "$T/go" &
holder=$!
for _ in $(seq 600); do [ -e held ] && break; sleep 0.1; done
check "a holder of the job's lock is there" [ -e held ]
mb prune app
check "prune refuses while the job is held (exit 1), naming it busy" [ $? -eq 1 ] && grep -q "job app is busy" "$T/err" || show_err
check "...and removes nothing" [ "$(ls a/app b/app | grep -c 'meta.json$')" = 6 ]
mb lock app "$newest"
check "lock refuses too while the job is held" [ $? -eq 1 ] && grep -q "job app is busy" "$T/err" || show_err
mb prune app --dry-run
check "prune --dry-run still explains (it changes nothing)" [ $? -eq 0 ] || show_err
echo go > go; wait $holder
mb prune app
check "prune keeps the locked backup and the newest" [ "$(ls a/app b/app | grep -c 'meta.json$')" = 4 -a -e "a/app/$oldest.sqlite3.zst" ] || show_err
check "...and the catalog follows" [ "$(sqlite3 "$MOONBAK_STATE/moonbak.db" "SELECT count(*) FROM catalog")" = 4 ]

mb unlock app "$oldest"
check "unlock exits 0" [ $? -eq 0 ] || show_err
check "the sidecar is unlocked, without a reason" \
    json "$T/b/app/$oldest.sqlite3.zst.meta.json" "assert(t.locked == false and t.lock_reason == nil)"
check "...and so is the catalog row" [ "$(sqlite3 "$MOONBAK_STATE/moonbak.db" \
    "SELECT count(*) FROM catalog WHERE backup_id = '$oldest' AND locked = 0 AND lock_reason IS NULL")" = 2 ]
mb prune app
check "once unlocked, retention removes it" [ ! -e "a/app/$oldest.sqlite3.zst" -a -e "a/app/$newest.sqlite3.zst" ]
finish
