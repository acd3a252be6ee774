#!/usr/bin/env bash
# Copies between storages (moonbak copy, and a job's copy_to): local -> S3
# (s3rver on 127.0.0.1:19310, behind the fault-injecting proxy on 19311)
# -> SFTP (sshd on 127.0.0.1:19312).  The stored bytes are the same at each
# hop and verify on each storage; a copy interrupted while the upload hangs
# leaves nothing and resumes; a corrupt source is refused with nothing left
# on the target; a run with copy_to puts its backup on both storages.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/remote_lib.sh"
repo=$(cd "$(dirname "$0")/../.." && pwd)

need /usr/sbin/sshd ssh-keygen node
need_root
"$repo/scripts/install-s3rver.sh" >"$T/npm.log" 2>&1 || need "s3rver (could not be installed from npm: $(tail -n 1 "$T/npm.log"))"
s3rver=$repo/build/npm/node_modules/.bin/s3rver

s3_port=19310
proxy_port=19311
ssh_port=19312

# ---- the servers -------------------------------------------------------------
s3_pid=
start_s3() {
    # s3rver makes list continuation tokens with a cipher OpenSSL 3 keeps in its legacy provider.
    NODE_OPTIONS=--openssl-legacy-provider "$s3rver" -d "$T/s3data" -a 127.0.0.1 -p $s3_port \
        --service-endpoint localhost --configure-bucket backups --silent >>"$T/s3rver.log" 2>&1 &
    s3_pid=$!
    for _ in $(seq 600); do # 60 s: only a server that never comes up takes that long
        curl -s -o /dev/null "http://127.0.0.1:$s3_port/" && return 0
        sleep 0.1
    done
    return 1
}

srv=$T/sshd
mkdir -p "$srv" "$T/sftp" /run/sshd
ssh-keygen -q -t ed25519 -N '' -C moonbak-test-host -f "$srv/host_key"
ssh-keygen -q -t ed25519 -N '' -C moonbak-test-user -f "$T/user_key"
cp "$T/user_key.pub" "$srv/authorized_keys"
echo "[127.0.0.1]:$ssh_port $(cut -d' ' -f1,2 "$srv/host_key.pub")" > "$T/known_hosts"
cat > "$srv/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $ssh_port
HostKey $srv/host_key
PidFile $srv/sshd.pid
AuthorizedKeysFile $srv/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
EOF
sshd_pid=
trap 'stop_fault_proxy; [ -n "$sshd_pid" ] && kill_tree $sshd_pid; [ -n "$s3_pid" ] && kill $s3_pid 2>/dev/null && wait $s3_pid 2>/dev/null' EXIT
/usr/sbin/sshd -D -e -f "$srv/sshd_config" 2>>"$srv/log" &
sshd_pid=$!
wait_port $ssh_port
check "sshd listens on 127.0.0.1:$ssh_port" [ $? -eq 0 ]
start_s3
check "s3rver listens on 127.0.0.1:$s3_port" [ $? -eq 0 ]
start_fault_proxy $proxy_port $s3_port - -
check "the proxy in front of s3rver listens on 127.0.0.1:$proxy_port" [ $? -eq 0 ]
printf '%s' "secret-key-$RANDOM" | mb secret set s3-secret

# ---- the jobs ----------------------------------------------------------------
# hop-local.lua makes the backups (on the local storage only); hop.lua is the
# same job with two more storages, which the copies fill.
make_payload
local_storage="{ type = \"local\", path = \"$T/local\" }"
s3_storage() { # PORT NAME
    echo "{ type = \"s3\", name = \"$2\", endpoint = \"http://127.0.0.1:$1\", bucket = \"backups\", prefix = \"moonbak/\",
            access_key = \"S3RVER\", secret_key = secret \"s3-secret\", retries = 0 }"
}
sftp_storage="{ type = \"sftp\", host = \"127.0.0.1\", port = $ssh_port, user = \"$(id -un)\",
                private_key = \"$T/user_key\", path = \"$T/sftp\", known_hosts = \"$T/known_hosts\" }"
source="{ type = \"file\", path = \"$T/payload.bin\" }"
write_job "$T/hop-local.lua" hop "$source" "$local_storage"
write_job "$T/hop.lua" hop "$source" "$local_storage, $(s3_storage $proxy_port s3), $sftp_storage"

mb run "$T/hop-local.lua" && mb run "$T/hop-local.lua"
check "two backups are made on the local storage (exit $?)" [ $? -eq 0 ] || show_err
mb backups "$T/hop-local.lua" --json
first=$(json "$T/out" 'print(t[2].backup_id)')
second=$(json "$T/out" 'print(t[1].backup_id)')
ext=$(cd "$T/local/hop" && ls "$first".* | grep -v meta.json | sed "s/^$first//")
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# What a storage of hop.lua holds under hop/: "NAME SIZE" lines, then
# "incomplete ARTIFACT" for each upload never completed; "sha256 NAME
# SHA256" with a name given: the sha256 of that object as read back.
cat > "$T/storage.lua" <<'LUA'
local mb = require "moonbak"
local st <close> = assert(mb.state.open(os.getenv("MOONBAK_STATE")))
local job = assert(mb.ref.resolve(assert(mb.job.load(arg[1])), st))
for _, spec in ipairs(job.storage) do
  if spec.name == arg[2] then
    local h <close> = assert(mb.storage.open(spec))
    if arg[3] then
      local reader = assert(h:reader(arg[3]))
      print(assert(mb.stream.new(reader, {}):pump({})).sha256_in)
      reader:close()
      return 0
    end
    local lines = {}
    for _, e in ipairs(assert(h:list("hop/"))) do lines[#lines + 1] = e.name .. " " .. e.size end
    -- s3rver cannot list unfinished multipart uploads (501): none listed there
    for _, u in ipairs(h:incomplete("hop/") or {}) do lines[#lines + 1] = "incomplete " .. u.artifact end
    table.sort(lines)
    for _, l in ipairs(lines) do print(l) end
    return 0
  end
end
error("no storage " .. arg[2])
LUA
holds() { "$MOONBAK" script "$T/storage.lua" "$T/hop.lua" "$1" > "$T/holds" 2>&1; cat "$T/holds"; }
object_sha() { "$MOONBAK" script "$T/storage.lua" "$T/hop.lua" "$1" "$2" 2>&1; }

# ---- local -> S3 ------------------------------------------------------------------
export MOONBAK_S3_TRACE=$T/trace.jsonl
mb copy "$T/hop.lua" --all --from local --to s3
check "copy --all from local to S3 copies both backups (exit $?)" bash -c "
    grep -q '^copied  *$first from local to s3' '$T/out' && grep -q '^copied  *$second from local to s3' '$T/out' &&
    [ \$(grep -c '' '$T/out') -eq 2 ]" || show_err
holds s3 >/dev/null
check "...S3 holds both artifacts and their sidecars" \
    [ "$(grep -c '' "$T/holds")" -eq 4 -a "$(grep -c incomplete "$T/holds")" -eq 0 ] || sed 's/^/# /' "$T/holds"
for id in "$first" "$second"; do
    check "...the stored bytes of $id on S3 are those on local (sha256)" \
        [ "$(object_sha s3 "hop/$id$ext")" = "$(sha_of "$T/local/hop/$id$ext")" ]
    # MOONBAK_S3_TRACE has a line per request, in order
    check "...its sidecar was written after its artifact" bash -c "
        a=\$(grep -n '\"PUT\",\"url\":\"[^\"]*$id$ext[?\"]' '$T/trace.jsonl' | tail -n 1 | cut -d: -f1)
        s=\$(grep -n '\"PUT\",\"url\":\"[^\"]*$id$ext.meta.json\"' '$T/trace.jsonl' | head -n 1 | cut -d: -f1)
        [ -n \"\$a\" ] && [ -n \"\$s\" ] && [ \$a -lt \$s ]"
done
mb verify "$T/hop.lua" --all --storage s3
check "verify --all --storage s3 passes" [ $? -eq 0 -a "$(grep -c '^ok' "$T/out")" -eq 2 ] || show_err
mb copy "$T/hop.lua" --from local --to s3 --json
check "copy of the newest again, --json: already there" json "$T/out" \
    "assert(#t == 1 and t[1].backup_id == '$second' and t[1].status == 'present' and t[1].to == 's3')"

# ---- a corrupt source is refused -----------------------------------------------
flip_byte "$T/local/hop/$first$ext" 1000
mb copy "$T/hop.lua" "$first" --from local --to sftp
check "a copy from a source whose bytes do not match its sidecar fails (exit $?)" [ $? -eq 1 ]
check "...naming the backup, the storage and the mismatch" \
    grep -q "^FAILED  *$first from local to sftp: backup $first on local: checksum mismatch" "$T/out"
check "...and leaves nothing on the target, not even a temporary file" \
    [ -z "$(find "$T/sftp" -mindepth 1 -not -type d)" ]
flip_byte "$T/local/hop/$first$ext" 1000 # whole again

# ---- S3 -> SFTP, interrupted while S3 hangs, then resumed ------------------------
# Connections of copy --all from S3 through the proxy: 1 lists the backups,
# 2 and 3 read their sidecars; then for each backup its sidecar again (for
# the copy's) and its artifact: 4 and 5, then 6 and 7, which is held silent.
start_fault_proxy $proxy_port $s3_port - 7
"$MOONBAK" copy "$T/hop.lua" --all --from s3 --to sftp >"$T/out" 2>"$T/err" & copy_pid=$!
for _ in $(seq 1200); do grep -q stalled "$T/proxy.log" 2>/dev/null && break; sleep 0.05; done
check "copy --all from S3 to SFTP hangs reading the second backup ($(tr '\n' ' ' < "$T/proxy.log"))" \
    grep -q '^7 stalled' "$T/proxy.log"
kill -TERM $copy_pid
wait $copy_pid
check "SIGTERM stops the copy, which fails (exit $?)" [ $? -eq 1 ]
check "...having copied the first backup" grep -q "^copied  *$first from s3 to sftp" "$T/out"
check "...and saying the second was not ($(tail -n 1 "$T/out"))" \
    grep -q "^FAILED  *$second from s3 to sftp: .*interrupted.*nothing committed on sftp" "$T/out"
check "...SFTP holds the first backup and its sidecar, nothing of the second under its final name" \
    [ "$(cd "$T/sftp/hop" && ls | tr '\n' ' ')" = "$first$ext $first$ext.meta.json " ]

# What a copy killed with SIGKILL leaves: a temporary upload, or an artifact
# committed without its sidecar yet.
echo partial > "$T/sftp/hop/.$second$ext.partial-abc123"
echo cut > "$T/sftp/hop/$second$ext"

start_fault_proxy $proxy_port $s3_port - -
mb copy "$T/hop.lua" --all --from s3 --to sftp
check "copy --all again completes (exit $?)" [ $? -eq 0 ] || show_err
check "...removing what a killed copy left first, and saying so" bash -c "
    grep -q 'removed stale partial upload hop/.$second$ext.partial-abc123 on storage sftp' '$T/err' &&
    grep -q 'removed orphaned artifact hop/$second$ext (no sidecar) on storage sftp' '$T/err'" || show_err
check "...the first backup already there, the second copied" bash -c "
    grep -q '^already there  *$first on sftp' '$T/out' && grep -q '^copied  *$second from s3 to sftp' '$T/out' &&
    [ \$(grep -c '' '$T/out') -eq 2 ]"
check "...and SFTP holds both backups with their sidecars, and no temporary file" \
    [ "$(find "$T/sftp" -mindepth 1 -not -type d | wc -l)" -eq 4 ]
for id in "$first" "$second"; do
    check "the stored bytes of $id on SFTP are those on local (sha256)" \
        [ "$(sha_of "$T/sftp/hop/$id$ext")" = "$(sha_of "$T/local/hop/$id$ext")" ]
    check "...and its SFTP sidecar names them, the storage and where they came from" \
        json "$T/sftp/hop/$id$ext.meta.json" \
        "assert(t.sha256 == '$(sha_of "$T/local/hop/$id$ext")' and t.storage == 'sftp' and t.copied_from == 's3' and t.backup_id == '$id')"
done
mb verify "$T/hop.lua" --all --storage sftp
check "verify --all --storage sftp passes" [ $? -eq 0 -a "$(grep -c '^ok' "$T/out")" -eq 2 ] || show_err
rm -f "$T/restored.bin"
mb restore "$T/hop.lua" "$first" --storage sftp --output "$T/restored.bin"
check "a copy restores the payload byte for byte" cmp -s "$T/payload.bin" "$T/restored.bin"

# ---- copy_to -----------------------------------------------------------------------
write_job "$T/ct.lua" ct "$source" "{ type = \"local\", path = \"$T/ct-local\" }, $(s3_storage $s3_port second)"
sed -i 's/^         storage = {/         copy_to = { "second" },\n         storage = {/' "$T/ct.lua"
mb run "$T/ct.lua"
check "a run with copy_to = { \"second\" } succeeds (exit $?)" [ $? -eq 0 ] || show_err
exe=$(sed -n 's/.* in execution \([0-9]*\).*/\1/p' "$T/out")
mb backups "$T/ct.lua" --json
check "...and its backup is on both storages" json "$T/out" \
    "assert(#t == 2 and t[1].backup_id == t[2].backup_id and t[1].sha256 == t[2].sha256)"
mb log "$exe"
check "...copied to second from local, as its log says" grep -q "copied ct/.* from local to second" "$T/out"
mb verify "$T/ct.lua" --storage second
check "...and the copy verifies" [ $? -eq 0 ] || show_err

finish
