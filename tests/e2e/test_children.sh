#!/usr/bin/env bash
# Dump tools die with moonbak and with its cancellation: kill -9 of moonbak
# takes its tool along; SIGTERM stops the tool's whole process group, a
# grandchild holding the pipe included, without waiting for it; a second
# signal hurries the cleanup but never skips it.
#
# Every wait here waits for an event (a file the tool writes, a process
# ending) with a generous bound that only a hang reaches.
. "$(dirname "$0")/lib.sh"
cd "$T"

# gone PID : true when PID has exited (a zombie nobody reaps counts as gone)
gone() {
    [ ! -e "/proc/$1/stat" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]
}

# wait_gone PID SECONDS : waits until PID is gone; false if it outlived SECONDS
wait_gone() {
    local i
    for i in $(seq $(($2 * 10))); do gone "$1" && return 0; sleep 0.1; done
    gone "$1"
}

# wait_file FILE : waits (up to 60 s) until FILE is non-empty
wait_file() {
    local i
    for i in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done
    return 1
}

# leftovers PID... : kills what a failed check left running, so the suite goes on
leftovers() {
    local p
    for p in "$@"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null; done
}

job() { # job NAME SHELL-SCRIPT : a command source running sh -c SCRIPT
    cat > "$1.lua" <<JOB
return { name = "$1", source = { type = "command", argv = { "sh", "-c", [[$2]] } },
         storage = { { type = "local", path = "$T/store-$1" } } }
JOB
}

# no_files DIR : the storage directory holds no file, not even a hidden .partial
no_files() { [ -z "$(find "$1" -type f 2>/dev/null)" ]; }

# ---- signals as a new program expects them ---------------------------------
# moonbak ignores SIGPIPE once libcurl is in use (the webdav storage that
# cannot be reached is checked before the dump starts); its tools must not.
# The shell reads its own status with builtins only: while dash forks a
# command it blocks every signal for a moment, and a forked grep could read
# that moment.  Signals 32 and 33 are glibc's own: no program can change
# their disposition, and make(1) leaves them ignored.
cat > signals.lua <<JOB
return { name = "signals", source = { type = "command", argv = { "sh", "-c",
           [[while read -r line; do case \$line in Sig[IB]??:*) echo "\$line";; esac; done < /proc/\$\$/status > $T/signals.txt; echo data]] } },
         storage = { { type = "local", path = "$T/store-signals" },
                     { type = "webdav", url = "http://127.0.0.1:1/dav" } } }
JOB
mb run signals.lua
ignored=$(awk '/^SigIgn:/ { print $2 }' signals.txt) blocked=$(awk '/^SigBlk:/ { print $2 }' signals.txt)
default_signals() {
    [ -n "$ignored" ] && [ -n "$blocked" ] && [ $((16#$blocked)) -eq 0 ] \
        && [ $((16#$ignored & ~16#180300000)) -eq 0 ]
}
check "a dump tool starts with no signal blocked ($blocked) and none ignored but SIGTTIN and SIGTTOU ($ignored)" \
    default_signals

# ---- kill -9 of moonbak -----------------------------------------------------
job orphan "echo \$\$ > $T/orphan.pid; head -c 100000 /dev/urandom; exec sleep 600"
"$MOONBAK" run orphan.lua >"$T/out" 2>"$T/err" &
pid=$!
check "the dump tool of a run has started" wait_file orphan.pid
tool=$(cat orphan.pid)
{ kill -9 $pid; wait $pid; } 2>/dev/null
check "kill -9 of moonbak takes its dump tool (pid $tool) with it" wait_gone "$tool" 30
leftovers "$tool"

# ---- SIGTERM while a grandchild holds the pipe -----------------------------
job grand "echo \$\$ > $T/grand.pid; head -c 100000 /dev/urandom; sleep 600 & echo \$! > $T/grand.grandpid; wait"
"$MOONBAK" run grand.lua >"$T/out" 2>"$T/err" &
pid=$!
wait_file grand.pid && wait_file grand.grandpid
check "a dump tool has started a grandchild that holds its stdout" [ -s grand.grandpid ]
tool=$(cat grand.pid) grandchild=$(cat grand.grandpid)
kill -TERM $pid
check "SIGTERM ends moonbak although a grandchild of the tool holds the pipe" wait_gone $pid 60 \
    || leftovers $pid
wait $pid 2>/dev/null
status=$?
check "...with exit 1 (got $status)" [ $status -eq 1 ] || show_err
check "...leaving no file in the storage, not even a hidden partial one" no_files store-grand
mb history grand --json
check "...recorded as cancelled" json "$T/out" "assert(t[1].status == 'cancelled', t[1].status)"
check "...and the tool (pid $tool) is gone" wait_gone "$tool" 30
check "...and so is its grandchild (pid $grandchild)" wait_gone "$grandchild" 30
leftovers "$tool" "$grandchild"

# ---- two signals in a row ---------------------------------------------------
# The tool survives SIGTERM (and says when it got it), so the first signal
# leaves moonbak waiting for it; the second comes while it waits.
job twice "trap 'echo term > $T/twice.term' TERM; echo \$\$ > $T/twice.pid; head -c 100000 /dev/urandom; while :; do sleep 0.1; done"
"$MOONBAK" run twice.lua >"$T/out" 2>"$T/err" &
pid=$!
check "a dump tool that survives SIGTERM has started" wait_file twice.pid
tool=$(cat twice.pid)
kill -TERM $pid
check "...the first SIGTERM reaches the tool" wait_file twice.term
kill -TERM $pid
check "a second SIGTERM ends moonbak promptly" wait_gone $pid 60 || leftovers $pid
wait $pid 2>/dev/null
status=$?
check "...with exit 1 (got $status), not killed by the signal" [ $status -eq 1 ] || show_err
check "...leaving no file in the storage, not even a hidden partial one" no_files store-twice
mb history twice --json
check "...recorded as cancelled, no execution left running" \
    json "$T/out" "assert(#t == 1 and t[1].status == 'cancelled', t[1].status)"
check "...and the tool (pid $tool) is gone" wait_gone "$tool" 30
leftovers "$tool"

# ---- a background child that keeps the tool's stderr open --------------------
# The tool exits 0 but leaves a grandchild holding its stderr (not its
# stdout): its end is its exit, not the end of that pipe, which may never come.
job held "sleep 3600 >/dev/null & echo \$! > $T/held.grandpid; echo data"
"$MOONBAK" run held.lua >"$T/out" 2>"$T/err" &
pid=$!
check "a run whose dump tool left a grandchild holding its stderr ends" wait_gone $pid 120 \
    || leftovers $pid
wait $pid 2>/dev/null
status=$?
check "...with exit 0 (got $status)" [ $status -eq 0 ] || show_err
mb history held --json
check "...recorded as a success" json "$T/out" "assert(t[1].status == 'success', t[1].status)"
grandchild=$(cat held.grandpid 2>/dev/null)
leftovers "$grandchild"

finish
