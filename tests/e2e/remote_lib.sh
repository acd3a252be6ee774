# remote_lib.sh — what the tests of the remote storages (sftp, webdav, ftp)
# share: finding the server programs, starting and stopping servers on
# loopback, and one backup / list / verify / restore / delete round trip.
# Sourced after lib.sh.  Ports 19100-19199 are these tests'.

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

# wait_port PORT : until something listens on 127.0.0.1:PORT (5 s at most).
wait_port() {
    for _ in $(seq 100); do
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

# throwaway_user NAME PASSWORD HOME : a local login with a password, for the
# servers that authenticate against the system's users (vsftpd, sshd).
throwaway_user() {
    id "$1" >/dev/null 2>&1 || useradd -M -s /bin/sh "$1" || return 1
    usermod -d "$3" "$1" && echo "$1:$2" | chpasswd && mkdir -p "$3" && chown "$1" "$3"
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
    sleep 1 # a second backup gets an id of its own
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

# slow_source_job FILE NAME STORAGE-LUA : a backup whose dump pauses half
# way, so that a test can stop the server while the upload is open.
slow_source_job() {
    cat > "$1" <<JOB
return { name = "$2", compression = { type = "none" },
         source = { type = "command", argv = { "sh", "-c",
           "head -c 2000000 /dev/urandom; sleep 3; head -c 2000000 /dev/urandom" } },
         storage = { $3 } }
JOB
}

# wait_for_file DIR PATTERN : until a file matching PATTERN exists under DIR.
wait_for_file() {
    for _ in $(seq 200); do
        [ -n "$(find "$1" -name "$2" 2>/dev/null | head -n 1)" ] && return 0
        sleep 0.05
    done
    return 1
}
