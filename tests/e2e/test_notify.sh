#!/usr/bin/env bash
# Notifications from real runs, end to end: a webhook and healthchecks on a
# recording HTTP receiver (tests/e2e/http_receiver.py stands in for the
# services), notifiers that cannot be reached (a refused port, a name that
# does not resolve, a receiver that never answers): the run's outcome is
# its own, every delivery is recorded with its reason and shown by `log`,
# and no token of a URL shows anywhere.
. "$(dirname "$0")/lib.sh"
require_tools sqlite3

RX=$T/receiver
/usr/bin/python3 "$(dirname "$0")/http_receiver.py" "$RX.port" "$RX.log" 2>"$RX.err" &
RXPID=$!
trap 'kill $RXPID 2>/dev/null' EXIT
for _ in $(seq 300); do [ -s "$RX.port" ] && break; sleep 0.1; done
check "the HTTP receiver listens" [ -s "$RX.port" ] || finish
BASE=http://127.0.0.1:$(cat "$RX.port")

# requests PATH-PATTERN : the recorded requests whose path matches, as JSON lines
requests() { grep -F "\"path\": \"$1" "$RX.log" 2>/dev/null; }

sqlite3 "$T/shop.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1), (2);"
token=tok$RANDOM$RANDOM$RANDOM
export HOOK_URL="$BASE/seq/204/hook/$token" HOOK_KEY=key$RANDOM$RANDOM
mkdir -p "$T/jobs"
cat > "$T/jobs/shop.lua" <<JOB
return {
  source = { type = "sqlite", path = "$T/shop.db" },
  storage = { { type = "local", path = "$T/backups" } },
  notify = {
    { type = "webhook", url = env "HOOK_URL", secret = env "HOOK_KEY", headers = { ["X-Team"] = "db" },
      on = { "start", "success", "partial", "failure" } },
    { type = "healthchecks", url = "$BASE/seq/200/hc/$token" },
    { type = "webhook", name = "refused", url = "http://127.0.0.1:1/x/$token", retries = 0,
      on = { "success", "failure" } },
    { type = "webhook", name = "nodns", url = "http://nonexistent.invalid/x/$token", retries = 0,
      on = { "success", "failure" } },
    { type = "webhook", name = "hung", url = "$BASE/seq/hang/hung/$token", timeout = 1, retries = 0,
      on = { "success" } },
  },
}
JOB
export MOONBAK_JOBS=$T/jobs

mb run shop
check "a run whose notifiers are refused, unresolvable or hung still succeeds (exit 0)" [ $? -eq 0 ] || show_err
id=$(sqlite3 "$MOONBAK_STATE/moonbak.db" "SELECT max(id) FROM executions")
check "...and is recorded success" \
    [ "$(sqlite3 "$MOONBAK_STATE/moonbak.db" "SELECT status FROM executions WHERE id = $id")" = success ]

# the webhook: start, then success, each signed
requests "/seq/204/hook/" > "$T/hook.jsonl"
check "the webhook heard start, then success" \
    [ "$(json_lines "$T/hook.jsonl" 'print(t.headers["x-moonbak-event"])' | tr '\n' ' ')" = "start success " ]
/usr/bin/python3 - "$T/hook.jsonl" "$HOOK_KEY" > "$T/sig" <<'PY'
import base64, hashlib, hmac, json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    body = base64.b64decode(r["body_b64"])
    good = "sha256=" + hmac.new(sys.argv[2].encode(), body, hashlib.sha256).hexdigest()
    print("signed" if r["headers"].get("x-moonbak-signature") == good else "bad")
PY
check "...each body signed with HMAC-SHA256 of the webhook's secret" [ "$(sort -u "$T/sig")" = signed ]
check "...with the job's own headers" [ "$(json_lines "$T/hook.jsonl" 'print(t.headers["x-team"])' | sort -u)" = db ]
tail -1 "$T/hook.jsonl" > "$T/success.json"
json_lines "$T/success.json" 'print(t.body)' > "$T/event.json"
mb backups shop --json
backup=$(json "$T/out" "print(t[1].backup_id)")
size=$(stat -c %s "$T"/backups/shop/*.zst)
json "$T/event.json" "
  assert(t.version == 1, 'version')
  assert(t.event == 'success' and t.status == 'success', 'event and status')
  assert(t.job == 'shop' and t.execution == $id, 'job and execution')
  assert(t.trigger == 'manual', 'trigger')
  assert(t.backup == '$backup', 'backup id')
  assert(t.bytes_stored == $size, 'bytes stored: ' .. tostring(t.bytes_stored))
  assert(t.bytes_dumped > 0 and type(t.duration) == 'number', 'sizes and duration')
  assert(t.storages[1].name == 'local' and t.storages[1].status == 'stored', 'storages')
  assert(t.error == require('cjson').null, 'no error')
  assert(t.log.lines[#t.log.lines]:find('finished: success', 1, true), 'the log tail')
  assert(t.host and t.moonbak_version and t.run_id, 'host, version, run id')" > "$T/check" 2>&1
check "the success event holds job, execution, backup, sizes, storages, log and host" [ $? -eq 0 ] ||
    sed 's/^/# /' "$T/check"

# healthchecks: /start then the plain URL, the same run id
requests "/seq/200/hc/$token" > "$T/hc.jsonl"
check "healthchecks got /start, then the plain URL" \
    [ "$(json_lines "$T/hc.jsonl" 'print((t.path:gsub(".*/hc/[^/]*", "")))' | tr '\n' ' ')" = "/start  " ]
check "...with the same run id on both" \
    [ "$(json_lines "$T/hc.jsonl" 'print(t.query:match("rid=([%w-]+)"))' | sort -u | wc -l)" -eq 1 ]

# every delivery recorded, the failed ones with their reason
mb log "$id"
check "log lists each delivery" grep -q "^notifications:" "$T/out"
check "...the refused one failed, naming the host" grep -qE "refused webhook \(success\): failed .*127\.0\.0\.1" "$T/out" ||
    sed 's/^/# /' "$T/out"
check "...the unresolvable one failed, naming the host" \
    grep -qE "nodns webhook \(success\): failed .*nonexistent\.invalid" "$T/out"
check "...the hung one failed within its timeout" grep -qE "hung webhook \(success\): failed .*(timed out|timeout)" "$T/out"
check "...the webhook's success was sent with its HTTP status" grep -qE "webhook webhook \(success\): sent \(HTTP 204" "$T/out"
check "none of the failed ones is recorded as sent" \
    [ "$(sqlite3 "$MOONBAK_STATE/moonbak.db" "SELECT count(*) FROM deliveries WHERE execution_id = $id
          AND notifier IN ('refused', 'nodns', 'hung') AND status = 'failed' AND error <> ''")" -eq 3 ]
mb log "$id" --json
check "log --json holds the deliveries" \
    json "$T/out" "assert(#t.deliveries == 7, #t.deliveries) assert(t.deliveries[1].event == 'start')"

# a failed run: a failure event with the error, healthchecks /fail with the log
mv "$T/shop.db" "$T/shop.db.away"
mb run shop
check "a failed run exits 1" [ $? -eq 1 ]
requests "/seq/204/hook/" | tail -1 > "$T/failure.jsonl"
json_lines "$T/failure.jsonl" 'print(t.body)' > "$T/event.json"
check "the webhook heard the failure, with the source's error" \
    json "$T/event.json" "assert(t.event == 'failure' and t.status == 'failed') assert(t.error:find('shop.db', 1, true))
                          assert(t.backup == require('cjson').null)"
requests "/seq/200/hc/$token" | tail -1 > "$T/fail.jsonl"
check "healthchecks got /fail with the end of the log as the body" \
    json_lines "$T/fail.jsonl" 'assert(t.path:match("/fail$"), t.path) assert(t.body:find("finished: failed", 1, true))'
mv "$T/shop.db.away" "$T/shop.db"

# notify test: every notifier, whatever its `on`; what each answered
mb notify test shop
check "notify test exits 1 when a notifier did not accept" [ $? -eq 1 ]
check "...and prints one line per notifier" [ "$(grep -c . "$T/out")" -eq 5 ]
check "...the webhook sent" grep -q "^webhook (webhook): sent" "$T/out"
check "...healthchecks to /log, sent" [ "$(requests "/seq/200/hc/$token/log" | wc -l)" -eq 1 ]

# the token of a URL shows nowhere: output, logs, records
sqlite3 "$MOONBAK_STATE/moonbak.db" .dump > "$T/dump.sql"
"$MOONBAK" log "$id" > "$T/log.txt" 2>&1
check "no URL token in any output, log line, delivery record or the state database" \
    no_secret_in "$token" "$T/out" "$T/err" "$T/log.txt" "$T/dump.sql"
check "...nor the webhook's key" no_secret_in "$HOOK_KEY" "$T/out" "$T/err" "$T/log.txt" "$T/dump.sql" "$RX.log"

finish
