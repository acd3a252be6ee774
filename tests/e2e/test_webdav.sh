#!/usr/bin/env bash
# The webdav storage against nginx's dav modules (PUT/MKCOL/MOVE/DELETE and
# dav-ext's PROPFIND) with basic auth, over http on 127.0.0.1:19210 and over
# https on 127.0.0.1:19211 (a self-signed certificate trusted through
# ca_file): the round trip, wrong credentials, an untrusted certificate,
# a flapping and a hung server (behind a fault-injecting proxy on
# 127.0.0.1:19200), and the server dying in the middle of an upload.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/remote_lib.sh"

module=/usr/lib/nginx/modules/ngx_http_dav_ext_module.so
need /usr/sbin/nginx openssl "$module"

http_port=19210 https_port=19211
srv=$T/nginx
mkdir -p "$srv/tmp" "$srv/logs" "$T/www/dav"
password=pw-$RANDOM-$RANDOM
printf 'moonbak:%s\n' "$(openssl passwd -apr1 "$password")" > "$srv/htpasswd"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$srv/key.pem" -out "$srv/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null

dav='dav_methods PUT DELETE MKCOL COPY MOVE; dav_ext_methods PROPFIND OPTIONS;
     create_full_put_path on; dav_access user:rw;
     auth_basic "moonbak test"; auth_basic_user_file '"$srv"'/htpasswd;'
cat > "$srv/nginx.conf" <<EOF
load_module $module;
daemon off;
master_process off;
worker_processes 1;
pid $srv/nginx.pid;
error_log $srv/logs/error.log;
events { worker_connections 64; }
http {
  log_format dav '\$request \$status te=\$http_transfer_encoding';
  access_log $srv/logs/access.log dav;
  client_body_temp_path $srv/tmp;
  proxy_temp_path $srv/tmp; fastcgi_temp_path $srv/tmp; uwsgi_temp_path $srv/tmp; scgi_temp_path $srv/tmp;
  client_max_body_size 0;
  root $T/www;
  server { listen 127.0.0.1:$http_port; location /dav/ { $dav } }
  server {
    listen 127.0.0.1:$https_port ssl;
    ssl_certificate $srv/cert.pem; ssl_certificate_key $srv/key.pem;
    location /dav/ { $dav }
  }
}
EOF

start_nginx() {
    /usr/sbin/nginx -c "$srv/nginx.conf" -p "$srv" >>"$srv/log" 2>&1 &
    nginx_pid=$!
    wait_port $http_port && wait_port $https_port
}
nginx_pid=
trap 'stop_fault_proxy; [ -n "$nginx_pid" ] && kill_tree $nginx_pid' EXIT
start_nginx
check "nginx listens on 127.0.0.1:$http_port and :$https_port" [ $? -eq 0 ]
export DAV_TEST_PASSWORD=$password

make_payload
storage() { # storage URL [EXTRA]
    echo "{ type = \"webdav\", url = \"$1\", user = \"moonbak\", password = env \"DAV_TEST_PASSWORD\" ${2:-} }"
}
round_trip http "$(storage "http://127.0.0.1:$http_port/dav/moonbak")"
round_trip https "$(storage "https://127.0.0.1:$https_port/dav/tls%20backups/" ", ca_file = \"$srv/cert.pem\"")"
check "no temporary file is left on the server" [ -z "$(find "$T/www" -name '*partial*')" ]
# nginx's PROPFIND never lists hidden names: uploads go to visible ones
leftovers_swept webdav "$(storage "http://127.0.0.1:$http_port/dav/moonbak")" "$T/www/dav/moonbak" root ""
check "a url with an escaped space (%20) names the collection \"tls backups\"" [ -d "$T/www/dav/tls backups/rt-https" ]
check "large uploads went up with chunked transfer encoding (PUT of unknown length)" \
    grep -q '^PUT /dav/moonbak/rt-http/.*partial.* 201 te=chunked' "$srv/logs/access.log"

write_job "$T/untrusted.lua" untrusted "{ type = \"file\", path = \"$T/payload.bin\" }" \
    "$(storage "https://127.0.0.1:$https_port/dav/x")"
mb run "$T/untrusted.lua"
check "over https, a certificate nobody vouches for is refused (exit $?)" [ $? -eq 1 ]
check "...with a message naming the storage and the certificate problem" \
    grep -q "storage webdav: webdav https://127.0.0.1:$https_port/dav/x: .*certificate" "$T/err"

write_job "$T/badpw.lua" badpw "{ type = \"file\", path = \"$T/payload.bin\" }" \
    "{ type = \"webdav\", name = \"offsite\", url = \"http://127.0.0.1:$http_port/dav/b\", user = \"moonbak\",
       password = \"not-$password\" }"
mb run "$T/badpw.lua"
check "a wrong password fails the run (exit $?)" [ $? -eq 1 ]
check "...with a clear error naming the storage" \
    grep -q "storage offsite: webdav http://127.0.0.1:$http_port/dav/b: cannot reach /: HTTP 401 (authentication failed" "$T/err"
check "...and the password appears in no message" bash -c "! grep -q 'not-$password' '$T/err' '$T/out'"

# Connections through the proxy: 1 is the run's check (PROPFIND), 2 and 3
# the sweep of leftovers (PROPFIND), 4 and 5 make the collections (MKCOL),
# 6 is the PUT.
proxied_storage() { storage "http://127.0.0.1:19200/dav/moonbak" ", $1"; }
flapping_server webdav 19200 $http_port 6 proxied_storage "$T/www/dav/moonbak"

slow_source_job "$T/cut.lua" cut "$(storage "http://127.0.0.1:$http_port/dav/moonbak")"
mb run "$T/cut.lua" & run_pid=$!
wait_for_file "$srv/tmp" '[0-9]*'
check "the upload streams to the server before the dump ends" [ $? -eq 0 ]
kill_tree $nginx_pid; nginx_pid=
resume_source cut # the rest of the dump meets a stopped server
wait $run_pid
check "the server stopped mid-upload fails the run (exit $?)" [ $? -eq 1 ]
check "...naming the storage" grep -q "storage webdav: webdav http://127.0.0.1:$http_port" "$T/err"
check "...and leaves no sidecar and no artifact" [ -z "$(find "$T/www/dav/moonbak/cut" -name '2*')" ]
start_nginx
mb backups "$T/cut.lua" --json
check "...and once the server is back, nothing is listed" [ "$(cat "$T/out")" = "[]" -o "$(cat "$T/out")" = "{}" ]

finish
