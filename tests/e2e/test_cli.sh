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
    bash -c "[ $? -eq 0 -a -s '$T/x.db' ] && grep -q \"restored backup \$(ls '$T/backups/app' | sort | tail -n 1 | grep -o '^[0-9]*T[0-9.]*Z-[0-9a-f]*') \" '$T/out'"
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

# One command per file (issue 11, item 5): each command takes its own
# options only, and its --help comes from the same table.
mb --jobs "$jobs" jobs --create
status=$?
check "jobs --create exits 2" [ $status -eq 2 ]
check "...naming the option and the command" grep -q 'jobs: unknown option --create' "$T/err"
check "...with the command's usage" grep -q '^usage: moonbak jobs' "$T/err"
ls "$T/backups/app" > "$T/before"
mb --jobs "$jobs" run app --dry-run
status=$?
check "an option of another command (run --dry-run) exits 2 and runs nothing" \
    bash -c "[ $status -eq 2 ] && ls '$T/backups/app' | cmp -s - '$T/before'"
check "...naming the option and the command" grep -q 'run: unknown option --dry-run' "$T/err"
mb --json --jobs "$jobs" pause app
check "...also when the option comes before the command" \
    bash -c "[ $? -eq 2 ] && grep -q 'pause: unknown option --json' '$T/err'"
mb keygen --identity "$T/k"
check "...also for an option that takes a value" \
    bash -c "[ $? -eq 2 ] && grep -q 'keygen: unknown option --identity' '$T/err' && [ ! -e '$T/k' ]"
mb --jobs "$jobs" jobs --json=no
check "a flag given a value is refused" bash -c "[ $? -eq 2 ] && grep -q 'jobs: --json takes no value' '$T/err'"
(cd "$T" && "$MOONBAK" --jobs "$jobs" jobs --state --json >"$T/out" 2>"$T/err")
check "an option's value forgotten before another option is refused, not taken as the value" \
    bash -c "[ $? -eq 2 ] && grep -q 'jobs: --state needs a value' '$T/err' && [ ! -e '$T/--json' ]"
mb --jobs "$jobs" history -- app
check "-- ends the options" [ $? -eq 0 ]
mb --jobs "$jobs" restore app --output "$T/x" --to db
check "restore with both --output and --to is refused" \
    bash -c "[ $? -eq 2 ] && grep -q 'exclude each other' '$T/err' && [ ! -e '$T/x' ]"
mb --jobs "$jobs" verify app somebackup --all
check "verify with both a BACKUP and --all is refused" bash -c "[ $? -eq 2 ] && grep -q 'exclude each other' '$T/err'"
# help_of COMMAND USAGE OPTION... : COMMAND --help and -h print USAGE first,
# then a line for each OPTION and for the global ones, to stdout, exit 0
help_of() {
    local cmd=$1 usage=$2 flag opt missing; shift 2
    for flag in --help -h; do
        mb "$cmd" $flag
        local status=$? missing=""
        for opt in "$@" --state --jobs --help; do
            grep -qE -- "^ +(-[a-z], )?$opt( [A-Z]+)? " "$T/out" || missing="$missing $opt"
        done
        check "$cmd $flag exits 0 and prints its usage and options ($*) to stdout" \
            bash -c "[ $status -eq 0 -a ! -s '$T/err' -a -z '$missing' ] &&
                     [ \"\$(head -n 1 '$T/out')\" = 'usage: moonbak $usage' ] &&
                     grep -q '^exit status' '$T/out'" || echo "# missing:$missing; got: $(head -n 1 "$T/out")"
    done
}
help_of run "run JOB" --quiet
help_of jobs "jobs" --json
help_of history "history [JOB]" --json
help_of log "log EXECUTION" --json
help_of backups "backups JOB" --json --storage
help_of verify "verify JOB [BACKUP|--all] [--identity FILE]" --all --storage --identity --quiet
help_of restore "restore JOB [BACKUP] --output FILE [--force] [--identity FILE]" \
    --output --to --force --create --identity --storage --quiet
help_of prune "prune JOB [--dry-run] [--json]" --dry-run
help_of keygen "keygen [--output FILE]" --output
help_of secret "secret set NAME" --json
help_of script "script FILE.lua [ARGS]"
help_of version "version"
help_of help "help [COMMAND]"
mb help restore
check "help COMMAND prints the command's help" \
    bash -c "[ $? -eq 0 ] && grep -q '^usage: moonbak restore' '$T/out' && grep -q -- '--create' '$T/out'"
mb help frobnicate
check "help of an unknown command exits 2" bash -c "[ $? -eq 2 ] && grep -q 'unknown command \"frobnicate\"' '$T/err'"
echo 'print(table.concat({...}, " ")) return 7' > "$T/args.lua"
mb script "$T/args.lua" --help --dry-run -o x
check "every word after the script file is the script's, options of moonbak too" \
    bash -c "[ $? -eq 7 ] && [ \"\$(cat '$T/out')\" = '--help --dry-run -o x' ]"
mb help
check "help lists every command, as no command does" \
    bash -c "[ $? -eq 0 ] && for c in run jobs history log backups verify restore prune keygen secret script version; do grep -q \"^  \$c\" '$T/out' || exit 1; done"

# Development override: the Lua tree instead of the embedded copy.
mkdir -p "$T/lua/moonbak"
cp -r lua/moonbak/. "$T/lua/moonbak/"
sed -i 's/print("moonbak " .. mb.version)/print("moonbak from the source tree")/' \
    $(grep -rlF 'print("moonbak " .. mb.version)' "$T/lua/moonbak")
MOONBAK_LUA_PATH=$T/lua mb version
check "MOONBAK_LUA_PATH loads the Lua files from a source tree" grep -q "from the source tree" "$T/out"
mb --lua-path "$T/lua" version
check "--lua-path does the same" grep -q "from the source tree" "$T/out"


# Job files (issue 10, items 3, 11, 12, 16): duplicate names, references in
# argv, load limits, the restricted load-time environment, ranges.
jl=$T/jobload
mkdir -p "$jl/jobs" "$jl/outside"
sqlite3 "$jl/db.sqlite" "CREATE TABLE t (x); INSERT INTO t VALUES (1);"
loadjob() { # FILE NAME-OR-EMPTY [PRELUDE] [STEPS]
    local name=""
    [ -n "$2" ] && name="name = \"$2\","
    cat > "$1" <<JOB
${3:-}
return { $name source = { type = "sqlite", path = "$jl/db.sqlite" },
         storage = { { type = "local", path = "$jl/backups" } }, ${4:-} }
JOB
}
loadjob "$jl/jobs/dup.lua" ""
loadjob "$jl/jobs/other.lua" dup
loadjob "$jl/jobs/good.lua" ""
mb --jobs "$jl/jobs" jobs
status=$?
check "jobs exits 2 when two files declare the same job name" [ $status -eq 2 ]
check "...and reports both files as broken, each message naming both" \
    [ "$(grep -c 'job name "dup" is also declared by' "$T/err")" -eq 2 -a \
      "$(grep 'job name "dup"' "$T/err" | grep -c 'dup\.lua.*other\.lua\|other\.lua.*dup\.lua')" -eq 2 ]
check "...and still lists the good job" grep -q '^good ' "$T/out"
mb --jobs "$jl/jobs" run dup
status=$?
check "run refuses a job whose name another file declares (exit 2)" [ $status -eq 2 -a ! -e "$jl/backups/dup" ]
check "...naming both files" grep -q 'dup\.lua: job name "dup" is also declared by .*other\.lua' "$T/err"
echo 'return {' > "$jl/jobs/broken.lua"
echo 'while true do end' > "$jl/jobs/spins.lua"
mb --jobs "$jl/jobs" run good
check "broken files beside a good job do not block running it" [ $? -eq 0 ] || show_err
loadjob "$jl/outside/x.lua" good
mb --jobs "$jl/jobs" run "$jl/outside/x.lua"
check "a job file given by path is refused when the jobs directory declares its name" \
    bash -c "[ $? -eq 2 ] && grep -q 'x\.lua: job name \"good\" is also declared by .*jobs/good\.lua' '$T/err'"
rm "$jl/jobs/other.lua" "$jl/jobs/broken.lua" "$jl/jobs/spins.lua"

cat > "$jl/jobs/argv.lua" <<JOB
return { source = { type = "command", argv = { "touch", "$jl/argv-ran", secret "token" } },
         storage = { { type = "local", path = "$jl/backups" } } }
JOB
mb --jobs "$jl/jobs" run argv
status=$?
check "a secret reference in a command's argv is refused when the job loads (exit 2)" \
    [ $status -eq 2 -a ! -e "$jl/argv-ran" ]
check "...pointing to the command source's env table" \
    grep -q 'argv\.lua\.source\.argv\[3\]: secret "token" would be visible in the process list.*env table' "$T/err"
rm "$jl/jobs/argv.lua"

cat > "$jl/jobs/port.lua" <<JOB
return { source = { type = "sqlite", path = "$jl/db.sqlite" },
         storage = { { type = "sftp", host = "127.0.0.1", port = 70000 } } }
JOB
mb --jobs "$jl/jobs" run port
check "port = 70000 is refused when the job loads, naming the file and the key" \
    bash -c "[ $? -eq 2 ] && grep -q 'port\.lua\.storage\[1\]\.port: expected a port number from 1 to 65535, got 70000' '$T/err'"
cat > "$jl/jobs/part.lua" <<JOB
return { source = { type = "sqlite", path = "$jl/db.sqlite" },
         storage = { { type = "s3", bucket = "b", part_size = -5 } } }
JOB
mb --jobs "$jl/jobs" run part
check "part_size = -5 is refused when the job loads, naming the file and the key" \
    bash -c "[ $? -eq 2 ] && grep -q 'part\.lua\.storage\[1\]\.part_size: expected from 5242880 (5 MiB.*got -5' '$T/err'"
rm "$jl/jobs/port.lua" "$jl/jobs/part.lua"

mkdir -p "$jl/limits"
echo 'while true do end' > "$jl/limits/spin.lua"
echo 'local t = {} while true do t[#t + 1] = ("x"):rep(1e6) end' > "$jl/limits/grow.lua"
echo 'local s = ("x"):rep(2^40)' > "$jl/limits/huge.lua"
loadjob "$jl/limits/fine.lua" ""
timeout 120 "$MOONBAK" --jobs "$jl/limits" jobs >"$T/out" 2>"$T/err"
status=$?
check "jobs returns (exit 2, not a hang) when a job file loops forever" [ $status -eq 2 ]
check "...naming the file and the instruction limit" \
    grep -q 'spin\.lua: stopped while loading: it used more than [0-9]* Lua instructions' "$T/err"
check "...and a file that allocates without bound, naming the memory limit" \
    grep -q 'grow\.lua: stopped while loading: it used more than [0-9]* MiB of memory' "$T/err"
check "...and a file that asks for a 1 TiB string" grep -q 'huge\.lua: error while loading' "$T/err"
check "...and lists the good job" grep -q '^fine ' "$T/out"

mkdir -p "$jl/effects"
loadjob "$jl/effects/exec.lua" "" "os.execute('touch $jl/exec-ran')"
loadjob "$jl/effects/popen.lua" "" "io.popen('touch $jl/popen-ran'):close()"
loadjob "$jl/effects/write.lua" "" "io.open('$jl/write-ran', 'w'):close()"
mb --jobs "$jl/effects" jobs
status=$?
check "os.execute, io.popen and io.open for writing at load time make broken job files" \
    [ $status -eq 2 -a "$(grep -c 'is not available while a job file loads' "$T/err")" -eq 3 ]
check "...and none of them ran" [ ! -e "$jl/exec-ran" -a ! -e "$jl/popen-ran" -a ! -e "$jl/write-ran" ]
rm "$jl/effects/"*.lua
loadjob "$jl/effects/step.lua" "" "local function mark(ctx) local f = assert(io.open('$jl/step-ran', 'w')) f:write(ctx.job.name) f:close() end" \
    'steps = { "initialize", mark, "dump", "upload", "completion" }'
mb --jobs "$jl/effects" run step
check "a custom step may open a file for writing when the job runs" \
    bash -c "[ $? -eq 0 ] && [ \"\$(cat '$jl/step-ran')\" = step ]" || show_err

finish
