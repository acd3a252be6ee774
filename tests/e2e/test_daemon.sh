#!/usr/bin/env bash
# moonbak daemon, end to end, on the real binary: runs on time and once,
# singleton, catch-up after a kill -9, no overlap, pause/resume, reload,
# SIGTERM waits for a run.  The clock runs ten times faster under faketime
# (Debian's libfaketime, shared by the daemon and its runs), so a minute
# takes six seconds; nothing here depends on how fast the machine is: each
# check waits for the event it needs (a line in the daemon's log, a row in
# the state database), with a generous limit that only a hang reaches.
. "$(dirname "$0")/lib.sh"
require_tools faketime sqlite3

# libfaketime comes before the sanitizer runtime in the library list
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
SPEED=x10
LIMIT=${MOONBAK_TEST_WAIT:-180} # seconds of real time before a wait gives up

# wait_for WHAT COMMAND... : until COMMAND succeeds (checked every 0.2 s)
wait_for() {
    local what=$1 deadline=$((SECONDS + LIMIT)); shift
    until "$@"; do
        if [ $SECONDS -ge $deadline ]; then
            echo "# gave up waiting for: $what"
            return 1
        fi
        sleep 0.2
    done
}

# sql DIR QUERY : one value from DIR's state database
sql() { sqlite3 -cmd ".timeout 5000" "$1/state/moonbak.db" "$2" 2>/dev/null; }

# job DIR NAME SCHEDULE COMMAND [EXTRA] : a job file whose dump is COMMAND
job() {
    mkdir -p "$1/jobs" "$1/store"
    cat > "$1/jobs/$2.lua" <<EOF
return {
  name = "$2", schedule = "$3",
  source = { type = "command", argv = { "sh", "-c", [[$4]] } },
  compression = { type = "none" },
  storage = { { type = "local", path = "$1/store" } },
  ${5:-}
}
EOF
}

# start DIR FAKETIME [ARGS] : a daemon on DIR's state and jobs, its log in
# DIR/log; sets DPID to the daemon's pid once it has taken its lock
start() {
    local dir=$1 spec=$2 before; shift 2
    before=$(loaded "$dir")
    faketime -f "$spec" "$MOONBAK" --state "$dir/state" --jobs "$dir/jobs" daemon "$@" \
        >>"$dir/log" 2>&1 &
    WRAPPER=$!
    wait_for "the daemon of $dir to start" loaded_more "$dir" "$before" || return 1
    DPID=$(sed -n 's/^moonbak daemon: started: pid \([0-9]*\),.*/\1/p' "$dir/log" | tail -1)
}

# loaded DIR : how many daemons started on DIR have loaded their jobs
loaded() {
    local n
    n=$(grep -cE "^moonbak daemon: [0-9]+ scheduled job" "$1/log" 2>/dev/null)
    echo "${n:-0}"
}
loaded_more() { [ "$(loaded "$1")" -gt "$2" ]; }

# stop DIR : SIGTERM, then waits for the daemon to end; its status in DSTATUS
stop() {
    kill -TERM "$DPID" 2>/dev/null
    wait "$WRAPPER"
    DSTATUS=$?
}

count() { sql "$1" "SELECT count(*) FROM executions WHERE $2"; }
both() { counted "$1" "$2" "$3" "$4" && counted "$1" "$5" "$6" "$7"; }
# counted DIR WHERE OP N : the executions WHERE selects number OP N (-ge, -eq);
# evaluated each time it is called, so that wait_for can poll it
counted() { test "$(count "$1" "$2")" "$3" "$4"; }

# --- a job's timeout, on a manual run in real time: the run stops itself ---
D=$T/timeout
job "$D" stuck "" "exec sleep 100000" "timeout = 2,"
sed -i 's/schedule = "",//' "$D/jobs/stuck.lua"
mb --state "$D/state" --jobs "$D/jobs" run stuck
check "a run past its timeout fails (exit 1)" [ $? -eq 1 ]
check "...recorded failed, timed out" \
    [ "$(sql "$D" "SELECT status || ': ' || error FROM executions")" = "failed: timed out after 2 s (the job's timeout)" ]
check "...with no backup and no temporary file left" [ -z "$(ls -A "$D/store/stuck" 2>/dev/null)" ]

# --- a per-minute job runs once per minute, and a second daemon is refused ---
D=$T/minute
job "$D" tick "* * * * *" "echo tick"
start "$D" "@2026-03-02 10:00:10 $SPEED"
wait_for "three runs" counted "$D" "status = 'success'" -ge 3
"$MOONBAK" --state "$D/state" --jobs "$D/jobs" daemon >"$T/out" 2>"$T/err"
check "a second daemon on the same state exits 2" [ $? -eq 2 ]
check "...naming the pid of the first" grep -q "another daemon runs on state $D/state: pid $DPID" "$T/err" \
    || show_err
stop "$D"
check "SIGTERM stops the daemon with status 0" [ "$DSTATUS" -eq 0 ]
check "...and it says so" grep -q "moonbak daemon: stopped" "$D/log"
check "every fire time ran once: one execution per scheduled minute" \
    [ "$(sql "$D" "SELECT count(*) - count(DISTINCT scheduled_for) FROM executions")" -eq 0 ]
check "...the first three minutes after the start, in order, each a success" \
    [ "$(sql "$D" "SELECT group_concat(scheduled_for || ' ' || status, ',') FROM
                   (SELECT * FROM executions ORDER BY id LIMIT 3)")" = \
      "2026-03-02T10:01:00Z success,2026-03-02T10:02:00Z success,2026-03-02T10:03:00Z success" ]
check "...recorded with trigger schedule" [ "$(count "$D" "trigger <> 'schedule'")" -eq 0 ]
check "no execution is left running or pending" [ "$(sql "$D" "SELECT count(*) FROM executions WHERE status IN ('running','pending')")" -eq 0 ]
mb --state "$D/state" --jobs "$D/jobs" status
check "status says no daemon runs any more" grep -q "daemon: not running on $D/state" "$T/out"

# --- kill -9 of the daemon (and its run), then a restart: one catch-up ---
D=$T/crash
NOTIFIED="notify = { function(e)
    local f = assert(io.open('$D/notified-' .. e.execution .. '-' .. e.status, 'w'))
    f:write(e.event, ' ', e.error or '') f:close() end },"
job "$D" slow "* * * * *" "exec sleep 100000" "$NOTIFIED"
start "$D" "@2026-03-02 10:00:10 $SPEED"
wait_for "the run to start" counted "$D" "status = 'running'" -eq 1
RUN=$(sql "$D" "SELECT pid FROM executions WHERE status = 'running'")
kill -KILL "$RUN" "$DPID" # a power loss: nothing gets to clean up
wait "$WRAPPER"
# the job no longer sleeps; the clock is 29 minutes on
job "$D" slow "* * * * *" "echo quick" "$NOTIFIED"
start "$D" "@2026-03-02 10:30:30 $SPEED"
wait_for "the catch-up run" counted "$D" "status = 'success'" -ge 1
stop "$D"
check "the run killed with the daemon is marked interrupted" \
    [ "$(sql "$D" "SELECT status FROM executions WHERE scheduled_for = '2026-03-02T10:01:00Z'")" = interrupted ]
check "...and the restarted daemon said it did so" grep -q "1 dead run(s) marked interrupted" "$D/log"
dead=$(sql "$D" "SELECT id FROM executions WHERE scheduled_for = '2026-03-02T10:01:00Z'")
check "...and notified it as a failure, before the fire times it skipped (stop waits for the notifier)" \
    grep -q "^failure the process running it ended unexpectedly" "$D/notified-$dead-interrupted"
check "one catch-up run for the downtime: the newest missed fire time" \
    [ "$(sql "$D" "SELECT group_concat(scheduled_for) FROM executions WHERE status = 'success'
                   AND scheduled_for < '2026-03-02T10:31:00Z'")" = 2026-03-02T10:30:00Z ]
check "...the older missed fire times are recorded skipped, as missed" \
    [ "$(count "$D" "status = 'skipped' AND scheduled_for BETWEEN
                     '2026-03-02T10:02:00Z' AND '2026-03-02T10:29:00Z'")" -eq 28 -a \
      "$(count "$D" "status = 'skipped' AND error LIKE 'missed%'")" -ge 27 ]
mb --state "$D/state" history slow --json
check "history --json shows a skipped fire time with its reason" \
    json "$T/out" 'for _, e in ipairs(t.executions or t) do
                     if e.status == "skipped" and e.scheduled_for and e.error:find("missed") then os.exit(0) end
                   end os.exit(1)'

# --- a run that outlasts its minute is never running twice ---
D=$T/overlap
# (a Lua notifier leaves a file for each failure it hears of)
job "$D" long "* * * * *" "sleep 90; echo done" "notify = { function(e)
    local f = assert(io.open('$D/notified-' .. e.execution .. '-' .. e.status, 'w'))
    f:write(e.event, ' ', e.error or '') f:close() end },"
start "$D" "@2026-03-02 10:00:10 $SPEED"
wait_for "a skipped fire time and the run's end" \
    both "$D" "status = 'skipped'" -ge 1 "status = 'success'" -ge 1
skipped=$(sql "$D" "SELECT id FROM executions WHERE status = 'skipped' ORDER BY id LIMIT 1")
wait_for "the skipped fire time's notification" test -e "$D/notified-$skipped-skipped"
stop "$D"
first=$(sql "$D" "SELECT id FROM executions WHERE status = 'success' ORDER BY id LIMIT 1")
check "the fire time that came while the job ran is recorded skipped, naming the run" \
    [ "$(count "$D" "status = 'skipped' AND scheduled_for = '2026-03-02T10:02:00Z'
                     AND error = 'job still running (execution $first)'")" -eq 1 ]
check "...and the daemon logged it" grep -q "skipped long at 2026-03-02T10:02:00Z: job still running" "$D/log"
check "...and notified it as a failure, with the reason" \
    grep -q "^failure job still running (execution $first)" "$D/notified-$skipped-skipped"
check "...its delivery recorded with the skipped execution" \
    [ "$(sql "$D" "SELECT status FROM deliveries WHERE execution_id = $skipped AND event = 'failure'")" = sent ]
check "...and the successful run notified nobody (on: failure, partial)" \
    [ ! -e "$D/notified-$first-success" ]

# --- paused jobs, resume, a manual run while the daemon runs the job, reload ---
D=$T/pause
job "$D" tick "* * * * *" "echo tick"
job "$D" held "* * * * *" "sleep 200; echo held"
"$MOONBAK" --state "$D/state" --jobs "$D/jobs" pause held --reason "maintenance" >"$T/out" 2>"$T/err"
check "pause exits 0" [ $? -eq 0 ]
start "$D" "@2026-03-02 10:00:10 $SPEED"
wait_for "tick to run twice" counted "$D" "job = 'tick' AND status = 'success'" -ge 2
check "a paused job is not run by the daemon" [ "$(count "$D" "job = 'held'")" -eq 0 ]
mb --state "$D/state" --jobs "$D/jobs" status
check "status shows it paused" grep -q "^held .* paused" "$T/out" || cat "$T/out"
"$MOONBAK" --state "$D/state" --jobs "$D/jobs" resume held >/dev/null
wait_for "held to run after resume" counted "$D" "job = 'held' AND status = 'running'" -ge 1
mb --state "$D/state" --jobs "$D/jobs" run held
check "a manual run of a job the daemon is running is refused" [ $? -eq 1 ] && \
    check "...naming the daemon's execution" grep -q "job held is already running: execution" "$T/err"
cp "$D/jobs/tick.lua" "$T/new.lua" && sed -i 's/"tick"/"fresh"/' "$T/new.lua"
mv "$T/new.lua" "$D/jobs/fresh.lua"
wait_for "a new job file to be picked up" grep -q "job fresh: schedule" "$D/log"
check "a new job file is scheduled without a restart" grep -q "reloaded (a change to fresh.lua)" "$D/log"
kill -HUP "$DPID"
wait_for "the reload by SIGHUP" grep -q "reloaded (SIGHUP)" "$D/log"
check "SIGHUP reloads the jobs" grep -q "reloaded (SIGHUP): 3 scheduled job(s)" "$D/log"
wait_for "held's run to be running" counted "$D" "job = 'held' AND status = 'running'" -ge 1
stop "$D"
check "SIGTERM waits for the running run, which finishes" \
    [ "$(count "$D" "job = 'held' AND status = 'cancelled'")" -eq 0 -a \
      "$(count "$D" "job = 'held' AND status = 'success'")" -ge 1 ]
check "...and the daemon exits 0" [ "$DSTATUS" -eq 0 ]

# --- SIGTERM with a short grace cancels the run cleanly ---
D=$T/grace
job "$D" endless "* * * * *" "exec sleep 100000"
start "$D" "@2026-03-02 10:00:10 $SPEED" --grace 1
wait_for "the run to start" counted "$D" "status = 'running'" -eq 1
stop "$D"
check "past --grace the run is cancelled and recorded so" [ "$(count "$D" "status = 'cancelled'")" -eq 1 ]
check "...no partial backup is left" [ -z "$(ls -A "$D/store/endless" 2>/dev/null)" ]
check "...the daemon exits 0" [ "$DSTATUS" -eq 0 ]

# --- a run that ignores the cancel (a step looping in Lua, no timeout) ---
D=$T/stubborn
job "$D" spin "* * * * *" "echo x" 'steps = { "initialize", function() local i = 0 while true do i = i + 1 end end, "dump", "upload", "completion" },'
start "$D" "@2026-03-02 10:00:10 $SPEED" --grace 1
wait_for "the run to start" counted "$D" "status = 'running'" -eq 1
stop "$D"
check "SIGTERM with a run that will not stop: the daemon still ends, with status 0" [ "$DSTATUS" -eq 0 ]
check "...the run stopped by the cancel (Lua steps are interrupted too) or killed, never left running" \
    [ "$(count "$D" "status IN ('running', 'pending')")" -eq 0 ]

# --- the jobs directory replaced, and a state database locked for a while ---
D=$T/replaced
job "$D" tick "* * * * *" "echo tick"
start "$D" "@2026-03-02 10:00:10 $SPEED"
mv "$D/jobs" "$D/jobs.old"
mkdir "$D/jobs.new" && cp "$D/jobs.old/tick.lua" "$D/jobs.new/" && sed -i 's/"tick"/"tock"/' "$D/jobs.new/tick.lua"
mv "$D/jobs.new" "$D/jobs"
wait_for "the new directory's job to run" counted "$D" "job = 'tock' AND status = 'success'" -ge 1
check "a jobs directory replaced by another is read again: its job is scheduled" grep -q "job tock: schedule" "$D/log"
check "...and no execution of one job holds another job's backup" \
    [ "$(sql "$D" "SELECT count(*) FROM catalog c JOIN executions e ON e.id = c.execution_id WHERE c.job <> e.job")" -eq 0 ]
mkfifo "$D/sql"
sqlite3 "$D/state/moonbak.db" < "$D/sql" > /dev/null 2>&1 &
SQLPID=$!
exec 9>"$D/sql"
echo "BEGIN EXCLUSIVE;" >&9
wait_for "the daemon to meet the locked state database" grep -q "moonbak daemon: error: .*locked" "$D/log"
echo "COMMIT;" >&9
exec 9>&-
wait "$SQLPID"
before=$(count "$D" "status = 'success'")
wait_for "a run after the lock is gone" counted "$D" "status = 'success'" -gt "$before"
check "a state database locked for a while: the daemon says so and goes on" kill -0 "$DPID"
stop "$D"
check "...and stops normally" [ "$DSTATUS" -eq 0 ]

# --- timeout and retry ---
D=$T/limits
job "$D" stuck "* * * * *" "exec sleep 100000" "timeout = 20,"
job "$D" flaky "* * * * *" "exit 3" "retry = { attempts = 2, delay = 5 },"
start "$D" "@2026-03-02 10:00:10 $SPEED"
wait_for "the stuck run to time out and the flaky one to be retried" \
    both "$D" "job = 'stuck' AND status = 'failed'" -ge 1 "job = 'flaky' AND attempt = 2 AND status = 'failed'" -ge 1
stop "$D"
# (libfaketime does not speed up the run's own timer: here the daemon stops it)
check "a run past its timeout is stopped and recorded failed, saying so" \
    [ "$(count "$D" "job = 'stuck' AND status = 'failed' AND error LIKE 'timed out after 20%'")" -ge 1 -a \
      "$(count "$D" "job = 'stuck' AND status <> 'failed'")" -eq 0 ]
check "...and leaves no backup" [ -z "$(ls -A "$D/store/stuck" 2>/dev/null)" ]
first=$(sql "$D" "SELECT id FROM executions WHERE job = 'flaky' AND attempt = 1 ORDER BY id LIMIT 1")
check "a failed run is retried once more (attempts = 2), as its own execution linked to the first" \
    [ "$(count "$D" "job = 'flaky' AND attempt = 2 AND retry_of = $first
                     AND scheduled_for = (SELECT scheduled_for FROM executions WHERE id = $first)")" -eq 1 ]
check "...and not a third time" [ "$(count "$D" "job = 'flaky' AND attempt > 2")" -eq 0 ]

finish
