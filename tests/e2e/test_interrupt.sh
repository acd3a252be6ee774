#!/usr/bin/env bash
# Ctrl-C and SIGTERM: the run stops cleanly, is recorded as cancelled, and
# leaves nothing half-written; restore leaves no file.
. "$(dirname "$0")/lib.sh"
e2e_dir=$(cd "$(dirname "$0")" && pwd)
cd "$T"
# wait_for TEST : waits until TEST succeeds (an event; the bound only stops a hang)
wait_for() {
    for _ in $(seq 6000); do eval "$1" && return 0; sleep 0.01; done
    return 1
}
# the dump tool says who it is; the upload has begun once the storage holds
# its hidden partial file
cat > endless.lua <<JOB
return { name = "endless", source = { type = "command",
           argv = { "sh", "-c", "echo \$\$ > $T/tool.pid; while :; do seq 1 100000; done" } },
         storage = { { type = "local", path = "$T/store" } } }
JOB
"$MOONBAK" run endless.lua >"$T/out" 2>"$T/err" &
pid=$!
wait_for '[ -s "$T/tool.pid" ] && [ -n "$(find store -name ".*.partial-*" 2>/dev/null)" ]'
tool=$(cat "$T/tool.pid")
kill -TERM $pid
wait $pid
status=$?
check "SIGTERM stops a running backup with exit 1 (got $status)" [ $status -eq 1 ]
check "...saying it was cancelled by the signal" grep -q 'cancelled in step upload: interrupted by signal 15' "$T/err"
check "...leaving nothing in the storage, not even a hidden partial file" \
    bash -c "[ -z \"\$(find store -type f 2>/dev/null)\" ]"
mb history endless --json
check "...recorded as cancelled" json "$T/out" "assert(t[1].status == 'cancelled')"
wait_for "! kill -0 '$tool' 2>/dev/null"
check "...and its dump tool (pid $tool) is gone too" bash -c "[ -n '$tool' ] && ! kill -0 '$tool' 2>/dev/null"

# A restore interrupted half-way writes no file.
head -c 300000000 /dev/urandom > big.bin 2>/dev/null || dd if=/dev/urandom of=big.bin bs=1M count=300 status=none
cat > big.lua <<JOB
return { name = "big", source = { type = "file", path = "$T/big.bin" }, compression = { type = "none" },
         storage = { { type = "local", path = "$T/store" } } }
JOB
mb run big.lua
check "a 300 MB backup to restore" [ $? -eq 0 ]
"$MOONBAK" restore big.lua --output restored.bin >"$T/out" 2>"$T/err" &
pid=$!
# interrupt it once it is writing (its hidden temporary file exists)
wait_for "ls -A | grep -q '^\.restored\.bin\.partial'"
kill -INT $pid
wait $pid
status=$?
check "an interrupted restore fails (exit $status)" [ $status -eq 1 ]
check "...and leaves neither the file nor a temporary one" bash -c "[ -z \"\$(ls -A | grep restored)\" ]"

# Ctrl-C during a retry back-off ends it at once.  A storage whose server
# resets every connection (a fault proxy on 127.0.0.1:19289), retried 60
# times: the back-offs double from 0.25 s, so waiting them out would take
# years; the watchdog below only stops a hang, and kills with SIGKILL,
# which the checks tell apart from a clean end.
ports=$(seq 1 200 | paste -sd, -)
/usr/bin/python3 "$e2e_dir/fault_proxy.py" 19289 9 "$ports" - 1 "$T/proxy.log" &
proxy=$!
wait_for 'grep -q listening "$T/proxy.log" 2>/dev/null'
check "a proxy that resets every connection listens on 127.0.0.1:19289" grep -q listening "$T/proxy.log"
cat > backoff.lua <<JOB
return { name = "backoff", source = { type = "file", path = "$T/endless.lua" },
         storage = { { type = "webdav", url = "http://127.0.0.1:19289/dav", retries = 60 } } }
JOB
"$MOONBAK" run backoff.lua >"$T/out" 2>"$T/err" &
pid=$!
( sleep 300; kill -KILL $pid ) 2>/dev/null &
watchdog=$!
# the second connection is a retry: from then on the run is in its back-offs
wait_for 'grep -q "^2 dropped" "$T/proxy.log" 2>/dev/null'
kill -INT $pid
wait $pid
status=$?
kill $watchdog 2>/dev/null
kill $proxy 2>/dev/null
check "Ctrl-C during a retry back-off ends the run at once with exit 1 (got $status)" [ $status -eq 1 ]
check "...cancelled by the signal, before a retry" grep -q 'cancelled in step .*interrupted by signal 2 (Interrupt) before a retry' "$T/err" || show_err
mb history backoff --json
check "...and recorded as cancelled" json "$T/out" "assert(t[1].status == 'cancelled')"
finish
