#!/usr/bin/env bash
# The sftp storage against OpenSSH's sshd on 127.0.0.1:19250, with a
# throwaway host key, user key and known_hosts: key and password logins,
# the round trip, host keys that must be refused, wrong credentials, a
# flapping and a hung server (behind a fault-injecting proxy on
# 127.0.0.1:19202), and the server dying in the middle of an upload.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/remote_lib.sh"

need /usr/sbin/sshd ssh-keygen
need_root

port=19250
srv=$T/sshd
mkdir -p "$srv" "$T/data" /run/sshd
ssh-keygen -q -t ed25519 -N '' -C moonbak-test-host -f "$srv/host_key"
ssh-keygen -q -t ed25519 -N '' -C moonbak-test-user -f "$T/user_key"
cp "$T/user_key.pub" "$srv/authorized_keys"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$srv/host_key.pub")" > "$T/known_hosts"
password=pw-$RANDOM-$RANDOM
# The password login's files live where that user can reach them ($T is
# root's alone).
pw=$(mktemp -d /tmp/moonbak-sftp-XXXXXX) && chmod 755 "$pw"
throwaway_user "$password" "$pw/home" || not_ok "a throwaway login user can be made"
mkdir -p "$pw/data" && chown "$test_user" "$pw/data"

cat > "$srv/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $srv/host_key
PidFile $srv/sshd.pid
AuthorizedKeysFile $srv/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
EOF

start_sshd() {
    /usr/sbin/sshd -D -e -f "$srv/sshd_config" 2>>"$srv/log" &
    sshd_pid=$!
    wait_port $port
}
sshd_pid=
trap 'stop_fault_proxy; [ -n "$sshd_pid" ] && kill_tree $sshd_pid; rm -rf "$pw"; remove_throwaway_user' EXIT
start_sshd
check "sshd listens on 127.0.0.1:$port" [ $? -eq 0 ]

make_payload
key_storage="{ type = \"sftp\", host = \"127.0.0.1\", port = $port, user = \"$(id -un)\",
               private_key = \"$T/user_key\", path = \"$T/data\", known_hosts = \"$T/known_hosts\" }"
round_trip key "$key_storage"
check "[key] no temporary file is left on the server" \
    [ -z "$(find "$T/data" -name '.*partial*')" ]

pw_storage="{ type = \"sftp\", host = \"127.0.0.1\", port = $port, user = \"$test_user\",
              password = env \"SFTP_TEST_PASSWORD\", path = \"$pw/data\", known_hosts = \"$T/known_hosts\" }"
export SFTP_TEST_PASSWORD=$password
round_trip password "$pw_storage"
leftovers_swept sftp "$key_storage" "$T/data"

# Host keys: unknown and changed keys are refused, and say so.
write_job "$T/hk.lua" hk "{ type = \"file\", path = \"$T/payload.bin\" }" \
    "{ type = \"sftp\", host = \"127.0.0.1\", port = $port, user = \"$(id -un)\",
       private_key = \"$T/user_key\", path = \"$T/data\", known_hosts = \"$T/other_known_hosts\" }"
: > "$T/other_known_hosts"
mb run "$T/hk.lua"
check "a host key missing from known_hosts is refused (exit $?)" [ $? -eq 1 ]
check "...with a message naming the storage and the reason" \
    grep -q "storage sftp: sftp 127.0.0.1:$port: .*host key is not in known_hosts" "$T/err"
ssh-keygen -q -t ed25519 -N '' -f "$T/impostor"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$T/impostor.pub")" > "$T/other_known_hosts"
mb run "$T/hk.lua"
check "a host key that differs from known_hosts is refused (exit $?)" [ $? -eq 1 ]
check "...with a message saying it does not match" grep -q "host key does not match known_hosts" "$T/err"
check "...and nothing was written" [ ! -e "$T/data/hk" ]

# Wrong credentials.
write_job "$T/badpw.lua" badpw "{ type = \"file\", path = \"$T/payload.bin\" }" \
    "{ type = \"sftp\", name = \"offsite\", host = \"127.0.0.1\", port = $port, user = \"$test_user\",
       password = \"not-$password\", path = \"$pw/data\", known_hosts = \"$T/known_hosts\" }"
mb run "$T/badpw.lua"
check "a wrong password fails the run (exit $?)" [ $? -eq 1 ]
check "...with a clear error naming the storage" \
    grep -q "storage offsite: sftp 127.0.0.1:$port: cannot log in as $test_user: Authentication failure" "$T/err"
check "...and the password appears in no message" bash -c "! grep -q 'not-$password' '$T/err' '$T/out'"

# The proxy is plain TCP, so SSH goes through it untouched; known_hosts
# names the host key under the proxy's port too.  Connections through it:
# 1 is the run's check, 2 and 3 the sweep of leftovers (listing of hidden
# and of visible names), 4 the upload.
echo "[127.0.0.1]:19202 $(cut -d' ' -f1,2 "$srv/host_key.pub")" >> "$T/known_hosts"
proxied_storage() {
    echo "{ type = \"sftp\", host = \"127.0.0.1\", port = 19202, user = \"$(id -un)\",
            private_key = \"$T/user_key\", path = \"$T/data\", known_hosts = \"$T/known_hosts\", $1 }"
}
flapping_server sftp 19202 $port 4 proxied_storage "$T/data"

# The server dies while the upload is open.
slow_source_job "$T/cut.lua" cut "$key_storage"
mb run "$T/cut.lua" & run_pid=$!
wait_for_file "$T/data/cut" '.*partial*'
check "the upload streams into a hidden temporary file" [ $? -eq 0 ]
kill_tree $sshd_pid; sshd_pid=
resume_source cut # the rest of the dump meets a stopped server
wait $run_pid
check "the server stopped mid-upload fails the run (exit $?)" [ $? -eq 1 ]
check "...naming the storage" grep -q "storage sftp: sftp 127.0.0.1:$port" "$T/err"
check "...and leaves no sidecar and no artifact under its final name" \
    [ -z "$(find "$T/data/cut" -name '2*')" ]
start_sshd
mb backups "$T/cut.lua" --json
check "...and once the server is back, nothing is listed" [ "$(cat "$T/out")" = "[]" -o "$(cat "$T/out")" = "{}" ]

finish
