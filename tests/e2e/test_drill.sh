#!/usr/bin/env bash
# Restore drills, end to end: a SQLite backup restored into a scratch file
# and checked (recorded as an execution of kind drill, shown by history), a
# check the data fails (exit 1, the check named, notified as drill_failed),
# a tampered artifact, file and command sources checked by a program; the
# scratch is gone afterwards, also after SIGTERM; a drill killed with
# SIGKILL leaves it, and the next drill sweeps it.
. "$(dirname "$0")/lib.sh"
require_tools sqlite3

RX=$T/receiver
/usr/bin/python3 "$(dirname "$0")/http_receiver.py" "$RX.port" "$RX.log" 2>"$RX.err" &
RXPID=$!
trap 'kill $RXPID 2>/dev/null' EXIT
for _ in $(seq 300); do [ -s "$RX.port" ] && break; sleep 0.1; done
check "the HTTP receiver listens" [ -s "$RX.port" ] || finish
BASE=http://127.0.0.1:$(cat "$RX.port")

db() { sqlite3 "$MOONBAK_STATE/moonbak.db" "$@"; }
# no_scratch : nothing of a drill is left in the state's temporary directory
no_scratch() { [ -z "$(ls -A "$MOONBAK_STATE/tmp" 2>/dev/null | grep moonbak_drill_)" ]; }

sqlite3 "$T/shop.db" "PRAGMA journal_mode = wal; CREATE TABLE t (a); INSERT INTO t VALUES (1), (2), (3);" >/dev/null
mkdir -p "$T/jobs"
export MOONBAK_JOBS=$T/jobs
cat > "$T/jobs/shop.lua" <<JOB
return {
  source = { type = "sqlite", path = "$T/shop.db" },
  storage = { { type = "local", path = "$T/backups" } },
  drill = { schedule = "0 6 * * 0",
            checks = { "select count(*) = 3 from t", { sql = "select count(*) from t", expect = 3 } } },
}
JOB
mb run shop
check "a backup of the sqlite job is made" [ $? -eq 0 ] || show_err

# --- a good backup passes ---------------------------------------------------
mb drill shop
check "a drill of a good backup passes (exit 0)" [ $? -eq 0 ] || show_err
check "...it ran PRAGMA integrity_check and both checks" \
    [ "$(grep -c '^ok' "$T/out")" -eq 3 -a "$(grep -c 'integrity_check: ok' "$T/out")" -eq 1 ]
check "...and says it passed, with the restore time" grep -q 'drill passed: backup .* restored in .*3/3 checks passed' "$T/out"
check "...and left no scratch behind" no_scratch
mb history shop
check "history shows the drill: kind drill, with its restore time" \
    grep -Eq '^[0-9]+ +shop +success +drill +manual +[0-9T:.Z-]+ +[0-9.]+s +[0-9.]+s ' "$T/out" || cat "$T/out"
check "...and the backup run: kind backup, no restore time" grep -Eq ' shop +success +backup +manual .* - +-$' "$T/out"
backup=$(ls "$T/backups/shop" | sed -n 's/\.meta\.json$//p' | sed 's/\..*//' | head -1)
mb history shop --json
check "history --json carries the kind and the drill's metadata" json "$T/out" "
  local d = t[1]
  assert(d.kind == 'drill' and d.status == 'success', 'kind and status')
  assert(t[2].kind == 'backup', 'the backup run is of kind backup')
  local m = d.metadata
  assert(m.backup_id == d.backup_id and m.backup_id ~= nil, 'backup_id')
  assert(m.storage == 'local', 'storage')
  assert(type(m.restore_seconds) == 'number' and m.bytes > 0, 'restore time and bytes')
  assert(#m.checks == 3 and m.checks[1].name == 'integrity_check' and m.checks[1].ok, 'builtin check first')
  assert(m.checks[2].name == 'select count(*) = 3 from t' and m.checks[2].detail == '1', 'a check and the value it saw')
  assert(m.checks[3].ok and m.checks[3].detail == '3', 'a check with expect')"

# --- a check the data fails ------------------------------------------------
cat > "$T/jobs/small.lua" <<JOB
return {
  source = { type = "sqlite", path = "$T/shop.db" },
  storage = { { type = "local", path = "$T/backups" } },
  notify = {
    { type = "webhook", url = "$BASE/seq/204/hook" },
    { type = "healthchecks", url = "$BASE/seq/200/hc" },
  },
  drill = { checks = { "select count(*) > 0 from t", "select count(*) > 1000 from t" } },
}
JOB
mb run small
mb drill small
check "a drill whose check the data fails fails (exit 1)" [ $? -eq 1 ] || show_err
check "...naming the check and the value it saw" \
    grep -q 'drill failed on backup .*: check "select count(\*) > 1000 from t" failed: 0' "$T/err" || show_err
check "...the passing checks listed ok, the failing one FAILED" \
    [ "$(grep -c '^ok' "$T/out")" -eq 2 -a "$(grep -c '^FAILED  select count(\*) > 1000 from t: 0' "$T/out")" -eq 1 ]
check "...and left no scratch behind" no_scratch
check "...recorded failed, kind drill, the check in its error" \
    [ "$(db "SELECT status || ' ' || kind FROM executions WHERE job = 'small' ORDER BY id DESC LIMIT 1")" = "failed drill" ]
grep -F '"path": "/seq/204/hook"' "$RX.log" | tail -1 > "$T/hook.json"
json_lines "$T/hook.json" 'print(t.body)' > "$T/event.json"
check "the webhook (no 'on' of its own) heard drill_failed, with the checks" json "$T/event.json" "
  assert(t.version == 1 and t.event == 'drill_failed' and t.kind == 'drill', 'event and kind: ' .. tostring(t.event))
  assert(t.status == 'failed' and t.job == 'small', 'status and job')
  assert(t.error:find('select count(*) > 1000 from t', 1, true), 'the error names the check')
  assert(t.backup ~= nil and type(t.drill.restore_seconds) == 'number', 'backup and restore time')
  assert(#t.drill.checks == 3 and t.drill.checks[3].ok == false and t.drill.checks[3].detail == '0', 'the checks')"
check "healthchecks (no 'on' of its own) heard no drill: its check is the backup's" \
    [ "$(grep -F '"path": "/seq/200/hc' "$RX.log" | grep -c '"x-moonbak-event\|/fail')" -eq 0 ]
check "...but it heard the backup run (start and success pings)" [ "$(grep -cF '"path": "/seq/200/hc' "$RX.log")" -eq 2 ]
mb log "$(db "SELECT max(id) FROM executions WHERE job = 'small'")"
check "moonbak log shows the drill's log" grep -q 'check "select count(\*) > 1000 from t": FAILED: 0' "$T/out"
check "...and its delivery" grep -q 'webhook.*drill_failed.*sent' "$T/out" || sed 's/^/# /' "$T/out"

# --- a tampered artifact ----------------------------------------------------
cat > "$T/jobs/tamper.lua" <<JOB
return {
  source = { type = "sqlite", path = "$T/shop.db" },
  compression = { type = "none" },
  storage = { { type = "local", path = "$T/tampered" } },
}
JOB
mb run tamper
artifact=$(ls "$T"/tampered/tamper/*.sqlite3 | head -1)
flip_byte "$artifact" 100
mb drill tamper
check "a drill of a tampered artifact fails (exit 1)" [ $? -eq 1 ] || show_err
check "...saying the restore failed on a checksum" grep -q 'restore failed: .*sha256' "$T/err" || show_err
check "...and left no scratch behind" no_scratch

# --- file and command sources: drill.command --------------------------------
printf 'hello drill\n' > "$T/notes.txt"
cat > "$T/jobs/notes.lua" <<JOB
return {
  source = { type = "file", path = "$T/notes.txt" },
  storage = { { type = "local", path = "$T/backups" } },
  drill = { command = 'grep -q "hello drill" "\$1" && test "\$1" = "\$MOONBAK_DRILL_FILE" && echo "found it in \$(basename "\$1")"' },
}
JOB
mb run notes
mb drill notes
check "a file job's drill command gets the restored file (\$1, MOONBAK_DRILL_FILE) and passes" [ $? -eq 0 ] || show_err
check "...the checksums builtin, then the command with its last line as detail" \
    [ "$(grep -c '^ok      checksums: ' "$T/out")" -eq 1 -a "$(grep -c 'found it in notes.txt$' "$T/out")" -eq 1 ]
check "...and left no scratch behind" no_scratch

cat > "$T/jobs/report.lua" <<JOB
return {
  source = { type = "command", argv = { "printf", "report data" } },
  storage = { { type = "local", path = "$T/backups" } },
  drill = { command = { "sh", "-c", 'echo "looked at \$MOONBAK_DRILL_FILE"; echo "the report is bad" >&2; exit 3' } },
}
JOB
mb run report
mb drill report
check "a command job's drill command that exits 3 fails the drill (exit 1)" [ $? -eq 1 ] || show_err
check "...naming the command and what it said last" \
    grep -q 'check "sh -c .*" failed: command sh exited with status 3: the report is bad' "$T/err" || show_err
check "...and left no scratch behind" no_scratch

# --- SIGTERM and SIGKILL ----------------------------------------------------
# The check command says where the restored file is, then (with BLOCK set
# in moonbak's environment, which it inherits) waits on a FIFO nobody writes.
mkfifo "$T/fifo"
cat > "$T/jobs/slow.lua" <<JOB
return {
  source = { type = "file", path = "$T/notes.txt" },
  storage = { { type = "local", path = "$T/backups" } },
  drill = { command = 'echo "\$1" > "$T/marker.\$\$.tmp" && mv "$T/marker.\$\$.tmp" "$T/marker"; if [ -n "\$BLOCK" ]; then read x < "$T/fifo"; fi' },
}
JOB
mb run slow
# start_blocked_drill : a drill in the background, blocked in its check; sets drill_pid, scratch
start_blocked_drill() {
    rm -f "$T/marker"
    BLOCK=1 "$MOONBAK" drill slow >"$T/bg.out" 2>"$T/bg.err" &
    drill_pid=$!
    for _ in $(seq 600); do [ -s "$T/marker" ] && break; sleep 0.1; done
    scratch=$(dirname "$(cat "$T/marker" 2>/dev/null)")
}
start_blocked_drill
check "a blocked drill has its scratch directory under the state's tmp" [ -s "$T/marker" -a -d "$scratch" ]
kill -TERM $drill_pid
wait $drill_pid; status=$?
check "SIGTERM cancels the drill (exit 1)" [ $status -eq 1 ] || sed 's/^/# /' "$T/bg.err"
check "...which removes its scratch" [ ! -e "$scratch" ]
check "...and is recorded cancelled" \
    [ "$(db "SELECT status FROM executions WHERE job = 'slow' AND kind = 'drill' ORDER BY id DESC LIMIT 1")" = cancelled ]

start_blocked_drill
killed=$scratch
kill -KILL $drill_pid
wait $drill_pid 2>/dev/null
check "a drill killed with SIGKILL leaves its scratch" [ -n "$killed" -a -d "$killed" ]
mb drill slow
check "the next drill passes" [ $? -eq 0 ] || show_err
check "...having swept the dead drill's scratch" [ ! -e "$killed" ]
mb log "$(db "SELECT max(id) FROM executions WHERE job = 'slow'")"
check "...which its log says" grep -q "removed the scratch directory $(basename "$killed") of a dead drill" "$T/out"
check "the killed drill is recorded interrupted" \
    [ "$(db "SELECT count(*) FROM executions WHERE job = 'slow' AND kind = 'drill' AND status = 'interrupted'")" -eq 1 ]
check "nothing of any drill is left" no_scratch

finish
