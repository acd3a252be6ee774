#!/usr/bin/env bash
# The command line: exit statuses, messages, listings, --json.
. "$(dirname "$0")/lib.sh"

jobs=$T/jobs
mkdir -p "$jobs"
sqlite3 "$T/app.db" "CREATE TABLE t (x); INSERT INTO t VALUES (1), (2);"
cat > "$jobs/app.lua" <<JOB
return {
  schedule = "@daily",
  source = { type = "sqlite", path = "$T/app.db" },
  storage = { { type = "local", path = "$T/backups" } },
}
JOB
cat > "$jobs/typo.lua" <<'JOB'
return { source = { type = "sqlite", path = "/x" }, storage = { { type = "local", path = "/y" } },
         compresion = { type = "zstd" } }
JOB
echo 'return {' > "$jobs/syntax.lua"

mb version
check "version prints the version" grep -q '^moonbak [0-9]' "$T/out"
mb frobnicate
check "an unknown command exits 2" [ $? -eq 2 ]
check "...and says so" grep -q 'unknown command "frobnicate"' "$T/err"
mb
check "no command prints the usage and exits 2" [ $? -eq 2 -a -s "$T/out" ]
mb run
check "run without a job exits 2" [ $? -eq 2 ]
mb --jobs "$jobs" run app extra
check "an extra argument exits 2 and runs nothing" [ $? -eq 2 -a ! -e "$T/backups" ]
check "...naming the argument" grep -q 'run: unexpected argument "extra"' "$T/err"
mb keygen -x
check "an unknown short option exits 2" [ $? -eq 2 ]
check "...naming it" grep -q 'unknown option -x' "$T/err"
mb keygen -o "$T/short.key"
check "keygen -o FILE writes the identity there, as age-keygen -o does" \
    grep -q '^AGE-SECRET-KEY-1' "$T/short.key"
check "...and prints no secret" sh -c "! grep -q SECRET '$T/out' '$T/err'"

mb --jobs "$jobs" run typo
check "a job file with a wrong key exits 2" [ $? -eq 2 ]
check "...naming the file and the key" grep -q "typo.lua.*unknown key \"compresion\"" "$T/err"
mb --jobs "$jobs" run syntax
check "a job file with a syntax error exits 2" [ $? -eq 2 ]
mb --jobs "$jobs" run missing
check "a job that does not exist exits 2" [ $? -eq 2 ]
check "...naming the file it looked for" grep -q "missing.lua" "$T/err"

mb --jobs "$jobs" run app
check "run by name from the jobs directory exits 0" [ $? -eq 0 ]
mb run app --jobs "$jobs" --state "$T/other-state"
check "global options are accepted after the subcommand" [ $? -eq 0 ]
MOONBAK_JOBS=$jobs mb run app
check "MOONBAK_JOBS names the jobs directory" [ $? -eq 0 ]

mb --jobs "$jobs" jobs
status=$?
check "jobs lists the good job with its schedule and last result" grep -q '^app *@daily *success' "$T/out"
check "jobs reports every broken file, not only the first" \
    [ "$(grep -c 'broken job file' "$T/err")" -eq 2 ]
check "jobs exits 2 when a job file is broken" [ $status -eq 2 ]
mb --jobs "$jobs" jobs --json
check "jobs --json lists jobs and broken files" \
    json "$T/out" "assert(#t.jobs == 1 and #t.broken == 2)"

mb history
check "history shows the executions" [ "$(grep -c ' app *success' "$T/out")" -eq 2 ]
mb history app --json
check "history --json is JSON" \
    json "$T/out" "assert(#t == 2 and t[1].status == 'success')"
mb log 1
check "log shows the steps of an execution" grep -q 'upload.*stored app/' "$T/out"
mb log 1 --json
check "log --json has the logs and the metadata" \
    json "$T/out" "assert(#t.logs > 0 and t.metadata.sha256)"
mb log 999
check "log of an unknown execution exits 1" [ $? -eq 1 ]

# A failed run: exit 1, recorded as failed with the error.
rm "$T/app.db"
mb --jobs "$jobs" run app
check "a failed run exits 1" [ $? -eq 1 ]
check "...and says which step failed and why" grep -q 'failed in step initialize: sqlite .*app.db' "$T/err"
mb history app --json
check "...and the execution is recorded as failed, not left running" \
    json "$T/out" "assert(t[1].status == 'failed' and t[1].error:find('app.db'))"

mb restore "$jobs/app.lua" --output "$T/x.db" --jobs "$jobs"
check "restore without a backup id restores the newest" \
    bash -c "[ $? -eq 0 -a -s '$T/x.db' ] && grep -q \"restored backup \$(ls '$T/backups/app' | sort | tail -n 1 | cut -c1-16) \" '$T/out'"
mb restore "$jobs/app.lua" --output "$T/x.db"
check "restore refuses to overwrite an existing file without --force" [ $? -eq 1 ]
mb restore "$jobs/app.lua" 19990101T000000Z --output "$T/y.db"
check "restore of an unknown backup exits 1 and names it" bash -c "[ $? -eq 1 ] && grep -q 19990101T000000Z '$T/err'"

# A run killed outright is not left "running".
# The dump tool says when it runs (and its pid, to clean it up): by then the
# execution is recorded as running.
cat > "$jobs/slow.lua" <<JOB
return { source = { type = "command", argv = { "sh", "-c", "echo \$\$ > '$T/slow.pid'; exec sleep 120" } },
         storage = { { type = "local", path = "$T/backups" } } }
JOB
"$MOONBAK" --jobs "$jobs" run slow >/dev/null 2>&1 &
killme=$!
for _ in $(seq 1200); do [ -s "$T/slow.pid" ] && break; sleep 0.05; done # 60 s: only a hang
mb history slow --json
check "a run whose dump tool has started is recorded as running" json "$T/out" "assert(t[1].status == 'running')"
kill -9 $killme; wait $killme 2>/dev/null
[ -s "$T/slow.pid" ] && kill "$(cat "$T/slow.pid")" 2>/dev/null
mb history slow --json
check "an execution whose process was killed is marked interrupted" json "$T/out" "assert(t[1].status == 'interrupted')"

# Development override: the Lua tree instead of the embedded copy.
mkdir -p "$T/lua/moonbak"
cp -r lua/moonbak/. "$T/lua/moonbak/"
sed -i 's/print("moonbak " .. mb.version)/print("moonbak from the source tree")/' "$T/lua/moonbak/cli.lua"
MOONBAK_LUA_PATH=$T/lua mb version
check "MOONBAK_LUA_PATH loads the Lua files from a source tree" grep -q "from the source tree" "$T/out"
mb --lua-path "$T/lua" version
check "--lua-path does the same" grep -q "from the source tree" "$T/out"

finish
