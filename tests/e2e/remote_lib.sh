# remote_lib.sh — what the tests of the remote storages (sftp, webdav, ftp)
# share: finding the server programs, starting and stopping servers on
# loopback, one backup / list / verify / restore / delete round trip, and
# the sweep of what killed runs left.
# Sourced after lib.sh.  Ports 19200-19299 are these tests' (servers and
# the fault-injecting proxies in front of them).

# need PROGRAM... : a missing server program skips the test on a laptop and
# fails it under CI=true (CI must have installed it).
need() {
    local p
    for p in "$@"; do
        if ! command -v "$p" >/dev/null 2>&1 && [ ! -e "$p" ]; then
            if [ "${CI:-}" = true ]; then
                not_ok "$p is installed (scripts/install-deps.sh --test installs it)"
            else
                ok "remote storage tests # SKIP $p is not installed (make check installs it, as root)"
            fi
            finish
        fi
    done
}

# need_root : creating a throwaway login user and running sshd need root.
need_root() {
    if [ "$(id -u)" != 0 ]; then
        if [ "${CI:-}" = true ]; then not_ok "runs as root"; else ok "remote storage tests # SKIP not root"; fi
        finish
    fi
}

# wait_port PORT : until something listens on 127.0.0.1:PORT.  The bound
# (60 s) is only there for a server that never comes up.
wait_port() {
    for _ in $(seq 1200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# kill_tree PID : the server we started and every process it forked
# (sessions of sshd and vsftpd live in children and grandchildren).
kill_tree() {
    local child
    for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        kill_tree "$child"
    done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null # reaps our own child quietly; others are not ours to wait for
}

# throwaway_user PASSWORD HOME : a local login $test_user with a password,
# for the servers that authenticate against the system's users (vsftpd,
# sshd).  The name is this test's own (tests of other checkouts may run at
# the same time and would change a shared user's password and home); the
# EXIT trap removes it with remove_throwaway_user.
test_user=moonbak-t$$
throwaway_user() {
    id "$test_user" >/dev/null 2>&1 || useradd -M -s /bin/sh "$test_user" || return 1
    usermod -d "$2" "$test_user" && echo "$test_user:$1" | chpasswd && mkdir -p "$2" && chown "$test_user" "$2"
}
remove_throwaway_user() {
    userdel "$test_user" 2>/dev/null
}

# Test data: random bytes (not compressible) and text (compressible).
make_payload() {
    { head -c 1500000 /dev/urandom; seq 1 300000; } > "$T/payload.bin"
}

# write_job FILE NAME SOURCE-LUA STORAGE-LUA
write_job() {
    cat > "$1" <<JOB
return { name = "$2", source = $3, compression = { type = "zstd", level = 3 },
         storage = { $4 } }
JOB
}

# round_trip LABEL STORAGE-LUA : backup, list, verify, restore byte for
# byte, then delete through the storage API and list again.
round_trip() {
    local label=$1 storage=$2 job=$T/rt-$1.lua
    write_job "$job" "rt-$label" "{ type = \"file\", path = \"$T/payload.bin\" }" "$storage"
    mb run "$job"
    local status=$?
    check "[$label] a backup to the storage succeeds (exit $status; $(tail -n 1 "$T/err"))" [ $status -eq 0 ]
    mb run "$job"
    check "[$label] a second backup succeeds" [ $? -eq 0 ]
    mb backups "$job" --json
    check "[$label] backups lists both, from the sidecars on the storage" \
        json "$T/out" "assert(#t == 2 and #t[1].sha256 == 64)"
    mb verify "$job" --all
    check "[$label] verify --all re-reads and checks both" [ $? -eq 0 -a "$(grep -c '^ok' "$T/out")" -eq 2 ]
    rm -f "$T/restored.bin"
    mb restore "$job" --output "$T/restored.bin"
    check "[$label] restore gives the payload back byte for byte" cmp -s "$T/payload.bin" "$T/restored.bin"
    cat > "$T/delete.lua" <<'LUA'
local mb = require "moonbak"
local job = assert(mb.job.load(arg[1]))
local spec = assert(require("moonbak.ref").resolve(job.storage[1]))
local st = assert(require("moonbak.storage").open(spec))
local before = assert(st:list(job.name .. "/"))
for _, e in ipairs(before) do assert(st:remove(e.name)) end
local after = assert(st:list(job.name .. "/"))
print(#before, #after)
st:close()
LUA
    mb script "$T/delete.lua" "$job"
    check "[$label] remove deletes every object and list then finds none (4 0: $(cat "$T/out"))" \
        [ "$(cat "$T/out")" = "$(printf '4\t0')" ]
    mb backups "$job" --json
    check "[$label] ...and backups lists nothing" [ "$(cat "$T/out")" = "[]" -o "$(cat "$T/out")" = "{}" ]
}

# leftovers_swept LABEL STORAGE-LUA SERVER-DIR [OWNER [DOT]] : what runs
# killed before they finished left in the job's directory on the server
# (SERVER-DIR/lo-LABEL, written there directly, owned by OWNER; temporary
# names begin with DOT, "." but for webdav): a stale
# partial upload and an artifact without its sidecar, both older than the
# next run, which removes them and says so; a complete old backup, a
# partial upload newer than the run and a name that is not moonbak's stay.
leftovers_swept() {
    local label=$1 storage=$2 dir=$3/lo-$1 owner=${4:-root} dot=${5-.} job=$T/lo-$1.lua exe
    write_job "$job" "lo-$label" '{ type = "command", argv = { "echo", "fresh" } }' "$storage"
    mb run "$job" # makes the job's directory, as the server's user
    mkdir -p "$dir" && cd "$dir" || return 1
    echo partial > "${dot}20200101T000000Z.out.zst.partial-abc123"
    echo orphan > 20200101T000000Z.out.zst
    echo old > 20190101T000000Z.out.zst
    echo '{"job":"lo-'"$label"'","backup_id":"20190101T000000Z"}' > 20190101T000000Z.out.zst.meta.json
    echo busy > "${dot}20990101T000000Z.out.zst.partial-def456"
    echo mine > notes.txt
    chown "$owner" "$dot"2*partial* 2* notes.txt
    cd - >/dev/null || return 1
    mb run "$job"
    check "[$label] a run with leftovers of killed runs on the storage succeeds (exit $?; $(tail -n 1 "$T/err"))"         [ $? -eq 0 ]
    exe=$(sed -n 's/.* in execution \([0-9]*\).*/\1/p' "$T/out")
    check "[$label] ...removes the stale partial upload and the artifact without sidecar"         [ ! -e "$dir/${dot}20200101T000000Z.out.zst.partial-abc123" -a ! -e "$dir/20200101T000000Z.out.zst" ]
    check "[$label] ...keeps the old backup, the newer partial upload and what is not moonbak's"         [ -e "$dir/20190101T000000Z.out.zst" -a -e "$dir/20190101T000000Z.out.zst.meta.json" \
          -a -e "$dir/${dot}20990101T000000Z.out.zst.partial-def456" -a -e "$dir/notes.txt" ]
    mb log "$exe"
    check "[$label] ...and its log says what it removed" bash -c "
        grep -q 'removed stale partial upload lo-$label/${dot}20200101T000000Z.out.zst.partial-abc123 on storage $label' '$T/out' &&
        grep -q 'removed orphaned artifact lo-$label/20200101T000000Z.out.zst (no sidecar) on storage $label' '$T/out' &&
        [ \$(grep -c removed '$T/out') -eq 2 ]"
}

# slow_source_job FILE NAME STORAGE-LUA : a backup whose dump pauses half
# way until the test says go (resume_source NAME), so that the test can stop
# the server while the upload is open, however slow the machine.  The pause
# ends by itself after 120 s, should a test never say go.
slow_source_job() {
    rm -f "$T/go-$2"
    cat > "$1" <<JOB
return { name = "$2", compression = { type = "none" },
         source = { type = "command", argv = { "sh", "-c",
           "head -c 2000000 /dev/urandom; i=0; while [ ! -e '$T/go-$2' ] && [ \$i -lt 2400 ]; do sleep 0.05; i=\$((i + 1)); done; head -c 2000000 /dev/urandom" } },
         storage = { $3 } }
JOB
}
resume_source() { touch "$T/go-$1"; }

# wait_for_file DIR PATTERN : until a file matching PATTERN exists under DIR
# (60 s at most: only a hang takes that long).
wait_for_file() {
    for _ in $(seq 1200); do
        [ -n "$(find "$1" -name "$2" 2>/dev/null | head -n 1)" ] && return 0
        sleep 0.05
    done
    return 1
}

# ---- a flapping or hung server ---------------------------------------------
# The real servers cannot be made to flap or hang on demand, so these tests
# put tests/e2e/fault_proxy.py in front of them: a fault injector that knows
# only TCP, resetting or holding silent the connections it is told to by
# number, and forwarding the others to the real server.
fault_proxy=""
start_fault_proxy() { # LISTEN-PORT TARGET-PORT DROP STALL (connection numbers or -)
    stop_fault_proxy
    rm -f "$T/proxy.log"
    /usr/bin/python3 "$(dirname "$0")/fault_proxy.py" "$1" "$2" "$3" "$4" 120 "$T/proxy.log" &
    fault_proxy=$!
    for _ in $(seq 600); do grep -q listening "$T/proxy.log" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}
stop_fault_proxy() {
    [ -n "$fault_proxy" ] && kill "$fault_proxy" 2>/dev/null && wait "$fault_proxy" 2>/dev/null
    fault_proxy=""
}

# flapping_server LABEL PROXY-PORT TARGET-PORT N STORAGE-FN SERVER-DIR :
# the streamed upload of a backup through the proxy is its connection N
# (those before it are the run's check and small requests, which were
# retried before streamed uploads were); STORAGE-FN EXTRA prints the
# storage's Lua with EXTRA fields, pointed at the proxy; SERVER-DIR is
# where the server keeps the job's files.
flapping_server() {
    local label=$1 proxy=$2 target=$3 n=$4 storage=$5 dir=$6 status started
    local source="{ type = \"file\", path = \"$T/payload.bin\" }"
    start_fault_proxy "$proxy" "$target" "$n,$((n + 1))" -
    write_job "$T/flaps.lua" flaps "$source" "$($storage "retries = 3")"
    mb run "$T/flaps.lua"; status=$?
    check "[$label] the upload's first 2 connections reset, retries = 3: the backup succeeds (exit $status; $(tail -n 1 "$T/err"))" \
        [ $status -eq 0 ]
    check "[$label] ...and the proxy did reset 2 connections ($(tr '\n' ' ' < "$T/proxy.log"))" \
        [ "$(grep -c dropped "$T/proxy.log")" -eq 2 ]
    mb verify "$T/flaps.lua"
    check "[$label] ...and the backup verifies" [ $? -eq 0 ]
    rm -f "$T/restored.bin"
    mb restore "$T/flaps.lua" --output "$T/restored.bin"
    check "[$label] ...and restores byte for byte" cmp -s "$T/payload.bin" "$T/restored.bin"

    start_fault_proxy "$proxy" "$target" "$n,$((n + 1))" -
    write_job "$T/flaps_more.lua" flaps_more "$source" "$($storage "retries = 1")"
    mb run "$T/flaps_more.lua"; status=$?
    check "[$label] the upload's first 2 connections reset, retries = 1: the run fails (exit $status)" [ $status -eq 1 ]
    check "[$label] ...saying which storage, after how many attempts" \
        grep -q "storage $label: $label .*upload failed after 2 attempts" "$T/err"
    check "[$label] ...and leaves no sidecar" [ -z "$(find "$dir/flaps_more" -name '*.meta.json' 2>/dev/null)" ]
    mb backups "$T/flaps_more.lua" --json
    check "[$label] ...and nothing is listed" [ "$(cat "$T/out")" = "[]" -o "$(cat "$T/out")" = "{}" ]

    start_fault_proxy "$proxy" "$target" - "$n"
    write_job "$T/hangs.lua" hangs "$source" "$($storage "retries = 2, timeout = 2")"
    started=$SECONDS
    mb run "$T/hangs.lua"; status=$?
    check "[$label] a hung connection for the upload is given up after timeout = 2 s and the retry succeeds (exit $status; $(tail -n 1 "$T/err"))" \
        [ $status -eq 0 ]
    check "[$label] ...and the proxy did hold one connection silent" grep -q stalled "$T/proxy.log"
    check "[$label] ...and the run waited for it at least 2 s, and gave it up before the proxy let go of it (after 120 s; $((SECONDS - started)) s)" \
        bash -c "[ $((SECONDS - started)) -ge 2 ] && ! grep -q released '$T/proxy.log'"
    mb verify "$T/hangs.lua"
    check "[$label] ...and the backup verifies" [ $? -eq 0 ]
    stop_fault_proxy
}
