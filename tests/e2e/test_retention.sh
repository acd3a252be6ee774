#!/usr/bin/env bash
# Retention after each successful run, prune, and failed runs that delete nothing.
. "$(dirname "$0")/lib.sh"
cd "$T"
sqlite3 app.db "CREATE TABLE t (x); INSERT INTO t VALUES (1);"
job() { # job KEEP_LAST
    cat > app.lua <<JOB
return { name = "app", source = { type = "sqlite", path = "$T/app.db" },
         storage = { { type = "local", path = "$T/a" }, { type = "local", path = "$T/b" } },
         retention = { keep_last = $1 } }
JOB
}
count() { ls "$T/$1/app" 2>/dev/null | grep -c 'meta.json$'; }
job 2
for i in 1 2 3 4; do mb run app.lua || echo "run $i failed: $(cat "$T/err")"; done
check "keep_last = 2 leaves two backups on each storage after four runs" [ "$(count a)" = 2 -a "$(count b)" = 2 ]
check "...and no artifact without its sidecar" [ "$(ls a/app | wc -l)" = 4 ]
mb log 4
check "the run's log says what retention removed" grep -q 'removed backup' "$T/out"
mb backups app.lua --json
newest=$(json "$T/out" "print(t[1].backup_id)")

job 1
mb prune app.lua --dry-run
check "prune --dry-run says what it would remove" [ "$(grep -c 'would remove' "$T/out")" = 2 ]
check "...and removes nothing" [ "$(count a)" = 2 ]
mb prune app.lua
check "prune removes what the policy no longer keeps" [ "$(count a)" = 1 -a "$(count b)" = 1 ]
mb backups app.lua --json
check "...and keeps the newest" json "$T/out" "assert(t[1].backup_id == '$newest')"

mv app.db gone.db
mb run app.lua
check "a failed run exits 1" [ $? -eq 1 ]
check "...and deletes no backup" [ "$(count a)" = 1 -a "$(count b)" = 1 ]
mv gone.db app.db

cat > bad.lua <<'JOB'
return { source = { type = "sqlite", path = "/x" }, storage = { { type = "local", path = "/y" } },
         retention = { keep_last = 0 } }
JOB
mb run bad.lua
check "a policy that keeps nothing is refused when the job loads" bash -c "[ $? -eq 2 ] && grep -q 'keeps nothing' '$T/err'"
finish
