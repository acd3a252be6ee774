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
finish
