#!/usr/bin/env bash
# The ftp storage against vsftpd on 127.0.0.1:19220 (passive ports
# 19230-19249), plain and with explicit TLS (a self-signed certificate
# trusted through ca_file): the round trip, wrong credentials, an untrusted
# certificate, a flapping and a hung server (behind a fault-injecting proxy
# on 127.0.0.1:19201), and the server dying in the middle of an upload.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/remote_lib.sh"

need /usr/sbin/vsftpd openssl
need_root

port=19220
srv=$T/vsftpd
mkdir -p "$srv/empty"
# vsftpd logs the user in with PAM and changes into the home directory:
# both must be reachable by that user ($T is root's alone).
home=$(mktemp -d /tmp/moonbak-ftp-XXXXXX) && chmod 755 "$home"
password=pw-$RANDOM-$RANDOM
throwaway_user "$password" "$home/home" || not_ok "a throwaway login user can be made"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$srv/key.pem" -out "$srv/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null

# require_ssl_reuse is off: TLS session reuse between the control and data
# connections is a known source of trouble with vsftpd and TLS 1.3 (not
# tried here with it on).
cat > "$srv/vsftpd.conf" <<EOF
listen=YES
listen_address=127.0.0.1
listen_port=$port
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=077
pasv_enable=YES
pasv_min_port=19230
pasv_max_port=19249
pasv_address=127.0.0.1
secure_chroot_dir=$srv/empty
pam_service_name=vsftpd
seccomp_sandbox=NO
xferlog_enable=NO
ssl_enable=YES
allow_anon_ssl=NO
force_local_logins_ssl=NO
force_local_data_ssl=NO
require_ssl_reuse=NO
rsa_cert_file=$srv/cert.pem
rsa_private_key_file=$srv/key.pem
EOF

start_vsftpd() {
    /usr/sbin/vsftpd "$srv/vsftpd.conf" >>"$srv/log" 2>&1 &
    ftpd_pid=$!
    wait_port $port
}
ftpd_pid=
trap 'stop_fault_proxy; [ -n "$ftpd_pid" ] && kill_tree $ftpd_pid; rm -rf "$home"; remove_throwaway_user' EXIT
start_vsftpd
check "vsftpd listens on 127.0.0.1:$port" [ $? -eq 0 ]
export FTP_TEST_PASSWORD=$password

make_payload
storage() { # storage TLS [EXTRA]
    echo "{ type = \"ftp\", host = \"127.0.0.1\", port = $port, user = \"$test_user\",
            password = env \"FTP_TEST_PASSWORD\", path = \"backups/moonbak\", tls = $1 ${2:-} }"
}
round_trip plain "$(storage false)"
round_trip tls "$(storage true ", ca_file = \"$srv/cert.pem\"")"
check "no temporary file is left on the server" [ -z "$(find "$home/home" -name '.*partial*')" ]
leftovers_swept ftp "$(storage false)" "$home/home/backups/moonbak" "$test_user"

write_job "$T/untrusted.lua" untrusted "{ type = \"file\", path = \"$T/payload.bin\" }" "$(storage true)"
mb run "$T/untrusted.lua"
check "with tls = true, a certificate nobody vouches for is refused (exit $?)" [ $? -eq 1 ]
check "...with a message naming the storage and the certificate problem" \
    grep -q "storage ftp: ftp 127.0.0.1:$port: .*certificate" "$T/err"

write_job "$T/badpw.lua" badpw "{ type = \"file\", path = \"$T/payload.bin\" }" \
    "{ type = \"ftp\", name = \"offsite\", host = \"127.0.0.1\", port = $port, user = \"$test_user\",
       password = \"not-$password\" }"
mb run "$T/badpw.lua"
check "a wrong password fails the run (exit $?)" [ $? -eq 1 ]
check "...with a clear error naming the storage" \
    grep -q "storage offsite: ftp 127.0.0.1:$port: cannot log in as $test_user: .*530" "$T/err"
check "...and the password appears in no message" bash -c "! grep -q 'not-$password' '$T/err' '$T/out'"

# The proxy fronts only the control connection: passive data connections go
# straight to vsftpd's ports (19230-19249), which is enough, since a
# session fails or hangs from its control connection.  Connections through
# the proxy: 1 is the run's check, 2 and 3 the sweep of leftovers (LIST -a
# and LIST), 4 the upload (STOR).
proxied_storage() {
    echo "{ type = \"ftp\", host = \"127.0.0.1\", port = 19201, user = \"$test_user\",
            password = env \"FTP_TEST_PASSWORD\", path = \"backups/moonbak\", tls = false, $1 }"
}
flapping_server ftp 19201 $port 4 proxied_storage "$home/home/backups/moonbak"

slow_source_job "$T/cut.lua" cut "$(storage false)"
mb run "$T/cut.lua" & run_pid=$!
wait_for_file "$home/home/backups/moonbak/cut" '.*partial*'
check "the upload streams into a hidden temporary file" [ $? -eq 0 ]
kill_tree $ftpd_pid; ftpd_pid=
resume_source cut # the rest of the dump meets a stopped server
wait $run_pid
check "the server stopped mid-upload fails the run (exit $?)" [ $? -eq 1 ]
check "...naming the storage" grep -q "storage ftp: ftp 127.0.0.1:$port" "$T/err"
check "...and leaves no sidecar and no artifact under its final name" \
    [ -z "$(find "$home/home/backups/moonbak/cut" -name '2*')" ]
start_vsftpd
mb backups "$T/cut.lua" --json
check "...and once the server is back, nothing is listed" [ "$(cat "$T/out")" = "[]" -o "$(cat "$T/out")" = "{}" ]

finish
