#!/usr/bin/env bash
# Scheduled verification, end to end, on the real binary: the daemon runs a
# job's verify schedule beside its backup schedule (moonbak verify as a
# child taking over the claimed execution), each fire time once, recorded
# kind verify with trigger schedule; a verification and the job's backup
# never hold each other back; a tampered backup makes the scheduled
# verification fail, recorded failed and notified (verify_failed) to a
# recording HTTP receiver (tests/e2e/http_receiver.py); moonbak verify by
# hand is recorded too (trigger manual), and still verifies with no usable
# state database.  As in test_daemon.sh the clock runs ten times faster
# under faketime, and every check waits for the event it needs.
. "$(dirname "$0")/lib.sh"
require_tools faketime sqlite3

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
SPEED=x10
LIMIT=${MOONBAK_TEST_WAIT:-180} # seconds of real time before a wait gives up

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

sql() { sqlite3 -cmd ".timeout 5000" "$1/state/moonbak.db" "$2" 2>/dev/null; }
count() { sql "$1" "SELECT count(*) FROM executions WHERE $2"; }
counted() { test "$(count "$1" "$2")" "$3" "$4"; }
both() { counted "$1" "$2" "$3" "$4" && counted "$1" "$5" "$6" "$7"; }

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

# backup_at DIR NAME TIME : a manual backup made with the clock at TIME (the
# daemon's faked clock verifies the newest backup not dated after its now)
backup_at() {
    faketime "$3" "$MOONBAK" --state "$1/state" --jobs "$1/jobs" run "$2" >"$T/out" 2>"$T/err"
}

# start DIR FAKETIME : a daemon on DIR, its log in DIR/log
start() {
    local dir=$1 spec=$2
    faketime -f "$spec" "$MOONBAK" --state "$dir/state" --jobs "$dir/jobs" daemon >>"$dir/log" 2>&1 &
    WRAPPER=$!
    wait_for "the daemon of $dir to start" grep -qE "^moonbak daemon: [0-9]+ scheduled job" "$dir/log" || return 1
    DPID=$(sed -n 's/^moonbak daemon: started: pid \([0-9]*\),.*/\1/p' "$dir/log" | tail -1)
}

stop() {
    kill -TERM "$DPID" 2>/dev/null
    wait "$WRAPPER"
    DSTATUS=$?
}

RX=$T/receiver
/usr/bin/python3 "$(dirname "$0")/http_receiver.py" "$RX.port" "$RX.log" 2>"$RX.err" &
RXPID=$!
trap 'kill $RXPID 2>/dev/null' EXIT
for _ in $(seq 300); do [ -s "$RX.port" ] && break; sleep 0.1; done
check "the HTTP receiver listens" [ -s "$RX.port" ] || finish
HOOK=http://127.0.0.1:$(cat "$RX.port")/seq/204/hook

# --- a verify schedule beside a backup schedule: each runs on its own ---
D=$T/beside
# the dump takes 90 s of the faked clock once D/slow exists: a backup run
# spans the next minute's fire time
job "$D" shop "* * * * *" "[ -e $D/slow ] && sleep 90; echo data" \
    'verify = { schedule = "* * * * *" },'
backup_at "$D" shop "2026-03-02 09:59:00"
check "a first backup, made by hand" [ $? -eq 0 ] || show_err
touch "$D/slow"
start "$D" "@2026-03-02 10:00:10 $SPEED"
wait_for "the verifications of 10:01 and 10:02, and the backup of 10:02 skipped" \
    both "$D" "kind = 'verify' AND status = 'success' AND scheduled_for <= '2026-03-02T10:02:00Z'" -eq 2 \
              "kind = 'backup' AND status = 'skipped'" -ge 1
mb --state "$D/state" --jobs "$D/jobs" status
cp "$T/out" "$T/status"
stop "$D"
check "the daemon stops with status 0" [ "$DSTATUS" -eq 0 ]
check "a verify fire time runs as an execution of kind verify, trigger schedule, with success" \
    [ "$(sql "$D" "SELECT group_concat(scheduled_for || ' ' || trigger || ' ' || status, ',') FROM
                   (SELECT * FROM executions WHERE kind = 'verify' AND scheduled_for <= '2026-03-02T10:02:00Z' ORDER BY id)")" = \
      "2026-03-02T10:01:00Z schedule success,2026-03-02T10:02:00Z schedule success" ]
check "...each verify fire time claimed once" \
    [ "$(sql "$D" "SELECT count(*) - count(DISTINCT scheduled_for) FROM executions WHERE kind = 'verify'")" -eq 0 ]
backup=$(sql "$D" "SELECT backup_id FROM catalog ORDER BY backup_id LIMIT 1") # the one made by hand
first=$(sql "$D" "SELECT id FROM executions WHERE kind = 'verify' ORDER BY id LIMIT 1")
check "...its log holds what it checked" \
    [ "$(sql "$D" "SELECT count(*) FROM execution_logs WHERE execution_id = $first AND message LIKE 'ok      $backup on local:%'")" -eq 1 ]
check "...its metadata counts the backups checked and failed" \
    [ "$(sql "$D" "SELECT json_extract(metadata, '$.checked') || ' ' || json_extract(metadata, '$.failed') || ' ' ||
                          json_extract(metadata, '$.backups[0].backup_id') FROM executions WHERE id = $first")" = "1 0 $backup" ]
running=$(sql "$D" "SELECT id FROM executions WHERE kind = 'backup' AND scheduled_for = '2026-03-02T10:01:00Z'")
check "a backup still running at the next minute: its fire time is skipped, naming the backup" \
    [ "$(sql "$D" "SELECT error FROM executions WHERE kind = 'backup' AND scheduled_for = '2026-03-02T10:02:00Z'")" = \
      "job still running (execution $running)" ]
check "...while the verification of that minute ran: neither kind holds the other back" \
    [ "$(count "$D" "kind = 'verify' AND status = 'skipped'")" -eq 0 ]
check "...and the daemon logged the verification by kind" grep -q "run shop (verify): started execution" "$D/log"
check "status shows the job's verify schedule and its next fire time" \
    grep -qE "^shop +verify +\* \* \* \* \* +UTC +active +[0-9]{4}-[0-9]{2}-[0-9]{2}T" "$T/status" || cat "$T/status"
mb --state "$D/state" history shop
check "history shows the kind of each execution" grep -qE "^$first +shop +success +verify +schedule" "$T/out" \
    || cat "$T/out"

# --- a tampered backup: the scheduled verification fails, is recorded and notified ---
D=$T/tampered
job "$D" shop "0 3 * * *" "echo precious" "verify = { schedule = \"* * * * *\" },
  notify = { { type = \"webhook\", url = \"$HOOK/tampered\" } },"
backup_at "$D" shop "2026-03-02 09:59:00"
check "a backup to tamper with" [ $? -eq 0 ] || show_err
artifact=$(ls "$D"/store/shop/* | grep -v '\.meta\.json$')
backup=$(sql "$D" "SELECT backup_id FROM catalog")
flip_byte "$artifact" 2
start "$D" "@2026-03-02 10:00:10 $SPEED"
wait_for "the failed verification's delivery" \
    counted "$D" "kind = 'verify' AND status = 'failed' AND id IN (SELECT execution_id FROM deliveries)" -ge 1
stop "$D"
failed=$(sql "$D" "SELECT min(id) FROM executions WHERE kind = 'verify' AND status = 'failed'")
check "the scheduled verification of a tampered backup is recorded failed, trigger schedule" \
    [ "$(sql "$D" "SELECT trigger || ' ' || scheduled_for FROM executions WHERE id = $failed")" = \
      "schedule 2026-03-02T10:01:00Z" ]
check "...its error names the backup that failed" \
    [ "$(count "$D" "id = $failed AND error LIKE 'backup $backup on local: %'")" -eq 1 ] \
    || sql "$D" "SELECT error FROM executions WHERE id = $failed"
check "...its metadata counts it failed" \
    [ "$(sql "$D" "SELECT json_extract(metadata, '$.failed') || ' ' || json_extract(metadata, '$.backups[0].ok')
                   FROM executions WHERE id = $failed")" = "1 0" ]
check "...the daemon logged it failed" grep -q "run shop (verify): execution $failed failed" "$D/log"
check "...its delivery recorded as verify_failed, sent" \
    [ "$(sql "$D" "SELECT event || ' ' || status FROM deliveries WHERE execution_id = $failed")" = "verify_failed sent" ]
grep -F '"path": "/seq/204/hook/tampered' "$RX.log" > "$T/hook.jsonl"
head -1 "$T/hook.jsonl" > "$T/first.jsonl"
check "...the webhook (whose default on includes it) heard verify_failed" \
    [ "$(json_lines "$T/first.jsonl" 'print(t.headers["x-moonbak-event"])')" = verify_failed ]
json_lines "$T/first.jsonl" 'print(t.body)' > "$T/event.json"
check "...with the job, the execution, the backup and the reason" \
    json "$T/event.json" "assert(t.event == 'verify_failed' and t.status == 'failed', 'event')
      assert(t.job == 'shop' and t.execution == $failed and t.trigger == 'schedule', 'execution')
      assert(t.backup == '$backup', 'backup: ' .. tostring(t.backup))
      assert(t.error:find('backup $backup on local', 1, true), 'error')"

# --- by hand: recorded (trigger manual) and notified; no state: still verifies ---
before=$(wc -l < "$T/hook.jsonl")
mb --state "$D/state" --jobs "$D/jobs" verify shop
check "moonbak verify of the tampered backup by hand exits 1" [ $? -eq 1 ]
check "...recorded kind verify, trigger manual, failed" \
    [ "$(sql "$D" "SELECT kind || ' ' || trigger || ' ' || status FROM executions ORDER BY id DESC LIMIT 1")" = \
      "verify manual failed" ]
check "...and notified too" \
    [ "$(grep -cF '"path": "/seq/204/hook/tampered' "$RX.log")" -gt "$before" ]
D=$T/beside
mb --state "$D/state" --jobs "$D/jobs" verify shop
check "moonbak verify of an intact backup by hand exits 0" [ $? -eq 0 ] || show_err
check "...recorded kind verify, trigger manual, success" \
    [ "$(sql "$D" "SELECT kind || ' ' || trigger || ' ' || status FROM executions ORDER BY id DESC LIMIT 1")" = \
      "verify manual success" ]
: > "$T/nostate"
mb --state "$T/nostate" --jobs "$D/jobs" verify shop
check "with no usable state database verify still verifies (exit 0)" [ $? -eq 0 ] || show_err
check "...and says it could not record" grep -q "warning: this verification is not recorded" "$T/err"

# --- a drill schedule: the daemon runs moonbak drill for it, which takes
# over the claimed execution (kind drill), restores the backup and runs the
# job's check program on it ---
D=$T/drills
job "$D" lab "0 0 1 1 *" "echo drill-data" \
    'drill = { schedule = "* * * * *", command = [[grep -q drill-data "$1"]] },'
backup_at "$D" lab "2026-03-02 09:59:00"
check "a backup for the drills, made by hand" [ $? -eq 0 ] || show_err
start "$D" "@2026-03-02 10:00:10 $SPEED"
wait_for "the drill of 10:01" counted "$D" "kind = 'drill' AND status = 'success'" -ge 1
stop "$D"
check "a drill fire time runs as an execution of kind drill, trigger schedule, with success" \
    [ "$(sql "$D" "SELECT scheduled_for || ' ' || trigger || ' ' || status FROM executions WHERE kind = 'drill' ORDER BY id LIMIT 1")" = \
      "2026-03-02T10:01:00Z schedule success" ]
check "...it drilled the backup, recording the restore time and its check" \
    [ "$(sql "$D" "SELECT (backup_id = (SELECT backup_id FROM catalog LIMIT 1)) || ' ' ||
                          (json_extract(metadata, '$.restore_seconds') >= 0) || ' ' || json_extract(metadata, '$.checks[#-1].ok')
                   FROM executions WHERE kind = 'drill' ORDER BY id LIMIT 1")" = "1 1 1" ]
check "...no pending or running drill is left" [ "$(count "$D" "status IN ('pending', 'running')")" -eq 0 ]

finish
