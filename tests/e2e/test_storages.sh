#!/usr/bin/env bash
# Several storages in one run: fan-out, partial runs, reading from any storage.
. "$(dirname "$0")/lib.sh"
cd "$T"
sqlite3 app.db "CREATE TABLE t (x); INSERT INTO t VALUES ('one'), ('two');"
cat > app.lua <<JOB
return { name = "app", source = { type = "sqlite", path = "$T/app.db" },
         storage = { { type = "local", name = "first", path = "$T/a" },
                     { type = "local", name = "second", path = "$T/b" } } }
JOB
mb run app.lua
check "one run stores the backup on both storages" \
    bash -c "[ $? -eq 0 ] && ls a/app/*.meta.json b/app/*.meta.json >/dev/null"
check "...the same bytes on both" bash -c "cmp -s a/app/*.sqlite3.zst b/app/*.sqlite3.zst"
mb backups app.lua --json
check "backups lists it once per storage" json "$T/out" "assert(#t == 2 and t[1].storage ~= t[2].storage)"

rm a/app/*
mb restore app.lua --output from-any.db
check "restore reads from the first storage that has the backup" \
    bash -c "[ $? -eq 0 ] && grep -q 'from second' '$T/out' && [ \"\$(sqlite3 from-any.db 'SELECT group_concat(x) FROM t')\" = one,two ]"
mb verify app.lua --storage first
check "verify --storage NAME looks only there (nothing on first)" \
    bash -c "[ $? -eq 1 ] && grep -q 'storage first' '$T/err'"
mb verify app.lua --storage second
check "verify --storage second checks the copy there" [ $? -eq 0 ]

cat > partial.lua <<JOB
return { name = "partial", source = { type = "sqlite", path = "$T/app.db" },
         storage = { { type = "local", name = "good", path = "$T/a" },
                     { type = "local", name = "broken", path = "/proc/moonbak-cannot-write" } } }
JOB
mb run partial.lua
check "a run where one storage fails exits 1" [ $? -eq 1 ]
check "...says partial and names the storage that failed" grep -q 'partial.*broken' "$T/err"
mb history partial --json
check "...and is recorded as partial" json "$T/out" "assert(t[1].status == 'partial' and t[1].error:find('broken'))"
check "...while the good storage holds a complete backup" bash -c "ls a/partial/*.meta.json >/dev/null"

# ---- symbolic links in a local storage are not backups ----------------------
# A link planted as an artifact next to a hand-written sidecar (with the
# right sha256 values, so that only the refusal of links stops it) must
# not make restore or verify read what it points to.
cat > lnk.lua <<JOB
return { name = "lnk", source = { type = "command", argv = { "echo", "real dump" } },
         compression = { type = "none" }, storage = { { type = "local", path = "$T/links" } } }
JOB
mb run lnk.lua
real=$(ls links/lnk/*.out)
real_id=$(basename "$real" .out)
cp "$real" "$T/outside.out" # what the link points to: bytes the sidecar vouches for
ln -s "$T/outside.out" links/lnk/20200101T000000Z.out
sed "s/$real_id/20200101T000000Z/g" "$real.meta.json" > links/lnk/20200101T000000Z.out.meta.json
rm -f restored-link.out
mb restore lnk.lua 20200101T000000Z --output restored-link.out
check "restore of an artifact that is a symbolic link fails (exit $?)" [ $? -eq 1 ]
check "...naming the path ($(head -c 300 "$T/err"))" grep -q "lnk/20200101T000000Z.out" "$T/err"
check "...and writes nothing" [ ! -e restored-link.out ]
mb verify lnk.lua 20200101T000000Z
check "verify of it fails too, naming the path (exit $?)" \
    bash -c "[ $? -eq 1 ] && grep -q 'lnk/20200101T000000Z.out' '$T/err' '$T/out'"
cp "$real" links/lnk/20200102T000000Z.out
sed "s/$real_id/20200102T000000Z/g" "$real.meta.json" > "$T/outside.meta.json"
ln -s "$T/outside.meta.json" links/lnk/20200102T000000Z.out.meta.json
mb backups lnk.lua --json
check "backups does not list a sidecar that is a symbolic link" \
    json "$T/out" "for _, b in ipairs(t) do assert(b.backup_id ~= '20200102T000000Z', b.backup_id) end
                   assert(#t == 1 and t[1].backup_id == '$real_id')"
rm -rf links

# ---- leftovers of runs that never finished -----------------------------------
# plant_leftovers DIR : what killed runs leave in a job's directory, older
# than any run now: a partial upload of an artifact and of a sidecar, an
# artifact without its sidecar; and what must stay: a complete old backup,
# a partial upload newer than the run, names that are not moonbak's.
plant_leftovers() {
    mkdir -p "$1"
    echo partial > "$1/.20200101T000000Z.out.partial-abc123"
    echo partial > "$1/.20200101T000000Z.out.meta.json.partial-Xy9z0Q"
    echo orphan > "$1/20200101T000000Z.out"
    echo old > "$1/20190101T000000Z.out"
    printf '{"job":"left","backup_id":"20190101T000000Z","sha256":"%s","plain_sha256":"%s"}' \
        "$(printf '0%.0s' $(seq 64))" "$(printf '0%.0s' $(seq 64))" > "$1/20190101T000000Z.out.meta.json"
    echo busy > "$1/.20990101T000000Z.out.partial-def456"
    echo mine > "$1/20200101-notes.out"
    echo mine > "$1/.20200101T000000Z.out.partial-not-ours"
}
# left_after_sweep DIR : true when exactly what must stay is there.
left_after_sweep() {
    [ "$(cd "$1" && ls -A | grep -v "^$2" | LC_ALL=C sort | tr '\n' ' ')" = \
      ".20200101T000000Z.out.partial-not-ours .20990101T000000Z.out.partial-def456 20190101T000000Z.out 20190101T000000Z.out.meta.json 20200101-notes.out " ]
}
cat > left.lua <<JOB
return { name = "left", source = { type = "command", argv = { "echo", "new" } },
         compression = { type = "none" }, retention = { keep_last = 10 },
         storage = { { type = "local", name = "disk", path = "$T/left" } } }
JOB
plant_leftovers left/left
mb run left.lua
check "a run with leftovers of killed runs on its storage succeeds (exit $?)" [ $? -eq 0 ]
new_id=$(sed -n 's/.*backup \([0-9TZ.a-f-]*\).*/\1/p' "$T/out")
exe=$(sed -n 's/.* in execution \([0-9]*\).*/\1/p' "$T/out")
check "...removes the stale partial uploads and the artifact without sidecar, and keeps the rest" \
    left_after_sweep left/left "$new_id"
mb log "$exe"
check "...and its log says what it removed" bash -c "
    grep -q 'removed stale partial upload left/.20200101T000000Z.out.partial-abc123 on storage disk' '$T/out' &&
    grep -q 'removed stale partial upload left/.20200101T000000Z.out.meta.json.partial-Xy9z0Q on storage disk' '$T/out' &&
    grep -q 'removed orphaned artifact left/20200101T000000Z.out (no sidecar) on storage disk' '$T/out'"
check "...and names nothing else as removed" [ "$(grep -c 'removed' "$T/out")" -eq 3 ]

plant_leftovers left/left
mb prune left.lua --dry-run
check "prune --dry-run says which leftovers it would remove ($(tr '\n' ' ' < "$T/out"))" bash -c "
    grep -q '^would remove stale partial upload left/.20200101T000000Z.out.partial-abc123 on storage disk' '$T/out' &&
    grep -q '^would remove orphaned artifact left/20200101T000000Z.out (no sidecar) on storage disk' '$T/out'"
check "...and removes nothing" [ -e left/left/20200101T000000Z.out -a -e left/left/.20200101T000000Z.out.partial-abc123 ]
mb prune left.lua
check "prune removes them (exit $?)" [ $? -eq 0 ]
check "...saying so" bash -c "
    grep -q '^removed stale partial upload left/.20200101T000000Z.out.partial-abc123 on storage disk' '$T/out' &&
    grep -q '^removed orphaned artifact left/20200101T000000Z.out (no sidecar) on storage disk' '$T/out'"
check "...and keeps what is not a leftover" left_after_sweep left/left "$new_id"

# A real kill -9 in the middle of an upload: the dump writes some bytes,
# says it started, then waits; moonbak is killed while the upload is open.
cat > killed.lua <<JOB
return { name = "killed", compression = { type = "none" },
         source = { type = "command", argv = { "sh", "-c",
           "head -c 100000 /dev/urandom; echo \$\$ > '$T/dump.pid'; exec sleep 120" } },
         storage = { { type = "local", path = "$T/k" } } }
JOB
"$MOONBAK" run killed.lua >/dev/null 2>&1 & run_pid=$!
partial=""
for _ in $(seq 1200); do # up to 60 s: only a hang waits that long
    partial=$(find k/killed -name '.*.partial-*' 2>/dev/null | head -n 1)
    [ -s "$T/dump.pid" ] && [ -n "$partial" ] && break
    sleep 0.05
done
check "the killed run was uploading into a hidden partial file ($partial)" [ -n "$partial" ]
kill -9 $run_pid; wait $run_pid 2>/dev/null
kill "$(cat "$T/dump.pid")" 2>/dev/null # the dump tool outlives a kill -9 (not this test's subject)
check "...which kill -9 leaves behind" [ -e "$partial" ]
# the next run sweeps what is older than its own start: wait for the clock
# to leave the killed run's second (its backup id)
killed_id=$(basename "$partial" | cut -c2-16)
for _ in $(seq 600); do [ "$(date -u +%Y%m%dT%H%M%S)" \> "$killed_id" ] && break; sleep 0.05; done
sed -i 's/exec sleep 120/exit 0/' killed.lua
mb run killed.lua
check "the next run succeeds (exit $?)" [ $? -eq 0 ]
check "...and removes the partial file of the killed run" [ ! -e "$partial" ]
mb log "$(sed -n 's/.* in execution \([0-9]*\).*/\1/p' "$T/out")"
check "...saying so" grep -q "removed stale partial upload killed/$(basename "$partial") on storage local" "$T/out"
finish
