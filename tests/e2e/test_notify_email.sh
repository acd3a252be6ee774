#!/usr/bin/env bash
# The email notifier against a real SMTP server (Debian's python3-aiosmtpd,
# tests/e2e/smtp_server.py) on 127.0.0.1, on ports the OS chooses: the
# message and its headers as Python's email package reads them, STARTTLS
# with a certificate trusted through ca_file, a server without STARTTLS
# (refused unless tls = false), smtps://, AUTH with a wrong password,
# transient and permanent replies, an unreachable port, and options that
# are refused before anything is sent.  Run it under
# `flock /tmp/moonbak-e2e.lock` like every test that starts servers.
. "$(dirname "$0")/lib.sh"
e2e=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3 # Debian's, where python3-aiosmtpd is installed

# A missing tool skips the test on a laptop, and fails it in CI.
missing() {
    if [ "${CI:-}" = true ]; then not_ok "email notifier tests: $1 (scripts/install-deps.sh --test installs it)"
    else ok "email notifier tests # SKIP $1"; fi
    finish
}
[ -x "$py" ] || missing "/usr/bin/python3 is not installed"
"$py" -c 'import aiosmtpd' 2>/dev/null || missing "python3-aiosmtpd is not installed"
command -v openssl >/dev/null || missing "openssl is not installed"

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
password=pw-$RANDOM-$RANDOM-$RANDOM
export SMTP_TEST_PASSWORD=$password
printf 'moonbak\n%s\n' "$password" > "$T/auth"

servers=""
trap 'for p in $servers; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done' EXIT

# start_server NAME MODE [OPTION...] : a server whose files are in $T/NAME;
# its port is then in $T/NAME/port (the server writes it once it listens).
start_server() {
    local name=$1 mode=$2; shift 2
    mkdir -p "$T/$name"
    "$py" "$e2e/smtp_server.py" "$mode" "$T/$name" --cert "$T/cert.pem" --key "$T/key.pem" "$@" \
        >"$T/$name.log" 2>&1 &
    servers="$servers $!"
    local pid=$!
    for _ in $(seq 1200); do # the bound (60 s) is only for a server that never comes up
        [ -s "$T/$name/port" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    sed 's/^/# /' "$T/$name.log"
    return 1
}
port_of() { read -r p < "$T/$1/port" && echo "$p"; }
received() { find "$T/$1" -name '*.eml' | wc -l; } # messages NAME's server accepted
connections() { [ -e "$T/$1/connections.log" ] && wc -l < "$T/$1/connections.log" || echo 0; }

# deliver NAME SPEC_JSON [NOTICE_JSON] : one delivery; its answer (JSON) in
# $T/out, stderr in $T/err; every output is kept for the secret check.
n_delivery=0
deliver() {
    n_delivery=$((n_delivery + 1))
    printf '%s\n' "$2" > "$T/spec$n_delivery.json"
    local notice_file=
    if [ $# -ge 3 ]; then notice_file=$T/notice$n_delivery.json; printf '%s\n' "$3" > "$notice_file"; fi
    mb script "$e2e/email_deliver.lua" "$T/spec$n_delivery.json" $notice_file
    local status=$?
    { echo "== $1"; cat "$T/out" "$T/err"; } >> "$T/all-output"
    if [ $status -ne 0 ]; then echo "# delivery $1 exited with $status"; show_err; fi
    return $status
}
answer() { json "$T/out" "$1" >/dev/null 2>&1 || { sed 's/^/# answer: /' "$T/out"; return 1; }; }

# check_message FILE SUBJECT : the message as Python's email package reads it.
check_message() {
    "$py" - "$1" "$2" <<'PY'
import datetime, email, email.policy, email.utils, re, sys
path, subject = sys.argv[1], sys.argv[2]
raw = open(path, "rb").read()
msg = email.message_from_bytes(raw, policy=email.policy.default)
problems = []
def expect(what, ok):
    if not ok:
        problems.append(what)
expect("From is backup@example.com", msg["From"].addresses[0].addr_spec == "backup@example.com")
expect("To lists both recipients",
       [a.addr_spec for a in msg["To"].addresses] == ["ops@example.com", "dba@example.com"])
expect("Subject is %r (got %r)" % (subject, str(msg["Subject"])), str(msg["Subject"]) == subject)
date = email.utils.parsedate_to_datetime(msg["Date"])
expect("Date is the notice's time",
       date == datetime.datetime(2025, 12, 2, 3, 0, 0, tzinfo=datetime.timezone.utc))
expect("Message-ID is <...@db1.example.com>",
       re.fullmatch(r"<0f8e2c4a-7d3b-4b1e-9c55-2a6f0d9e1b77\.failure\.1764644400\.[0-9a-f]{16}@db1\.example\.com>",
                    str(msg["Message-ID"])) is not None)
expect("MIME-Version is 1.0", str(msg["MIME-Version"]) == "1.0")
expect("Auto-Submitted: auto-generated", str(msg["Auto-Submitted"]) == "auto-generated")
body = msg.get_body(preferencelist=("plain",))
expect("a text/plain body", body is not None and body.get_content_type() == "text/plain")
if body is not None:
    expect("charset utf-8", body.get_content_charset() == "utf-8")
    text = body.get_content()
    for needed in ["The backup of shop failed in 03-upload: storage s3: HTTP 503",
                   "Trigger: schedule", "Duration: 3.2 s",
                   "[4 earlier lines cut]",
                   "03:00:02 warning dump: Größe überschritten — ошибка ✓",
                   "03:00:03 error upload: storage s3: HTTP 503"]:
        expect("the body holds %r" % needed, needed in text)
    expect("the body holds a line that is one dot", "." in text.splitlines())
lines = raw.split(b"\n")
expect("every line is at most 998 octets", max(len(l) for l in lines) <= 998)
expect("the message is 7-bit ASCII", all(b < 128 for b in raw))
for p in problems:
    print("# " + p)
sys.exit(1 if problems else 0)
PY
}

start_server tls starttls --auth-file "$T/auth"
check "a STARTTLS server with AUTH listens on a port the OS chose" [ $? -eq 0 ] || finish
tls_port=$(port_of tls)
good_spec='"url": "smtp://127.0.0.1:'$tls_port'", "from": "backup@example.com",
  "to": ["ops@example.com", "dba@example.com"], "user": "moonbak", "password_env": "SMTP_TEST_PASSWORD",
  "ca_file": "'$T/cert.pem'"'

# ---- the message ------------------------------------------------------------
deliver starttls '{ "type": "email", '"$good_spec"' }'
check "over STARTTLS with ca_file and AUTH: sent, 250, one attempt" \
    answer 'assert(t.sent == true and t.code == 250 and t.attempts == 1 and not t.error)'
check "the answer is the server's last reply" answer 'assert(t.answer == "250 OK message 1 accepted", t.answer)'
check "the server received one message, over TLS, after AUTH, for both recipients" \
    "$py" -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert len(r) == 1 and r[0]["tls"] and r[0]["auth"], r
assert r[0]["mail_from"] == "backup@example.com" and r[0]["rcpt_tos"] == ["ops@example.com", "dba@example.com"], r' \
    "$T/tls/messages.jsonl"
check "the message has From, To, Subject, Date, Message-ID and a text/plain utf-8 body with the summary, fields and log" \
    check_message "$T/tls/001.eml" "[moonbak] shop: failed"

deliver starttls-again '{ "type": "email", '"$good_spec"' }'
check "a second message is sent" answer 'assert(t.sent == true)'
id1=$(grep -i '^Message-ID:' "$T/tls/001.eml"); id2=$(grep -i '^Message-ID:' "$T/tls/002.eml")
check "each message has its own Message-ID ($id1 / $id2)" [ -n "$id1" -a -n "$id2" -a "$id1" != "$id2" ]

# A non-ASCII subject (RFC 2047, folded when long) and a log line far
# longer than SMTP's 998 octets (quoted-printable keeps lines short).
long_line=$(printf 'x%.0s' $(seq 3000))
title='[moonbak] café-ü-'$(printf 'ñ%.0s' $(seq 60))': failed'
deliver non-ascii '{ "type": "email", '"$good_spec"' }' \
    '{ "title": "'"$title"'", "log": "'"$long_line"'\n03:00:02 warning dump: Größe überschritten — ошибка ✓" }'
check "a non-ASCII title and a 3000-character log line are sent" answer 'assert(t.sent == true)'
check "the non-ASCII subject reads back intact" \
    "$py" -c 'import email, email.policy, sys
m = email.message_from_bytes(open(sys.argv[1], "rb").read(), policy=email.policy.default)
assert str(m["Subject"]) == sys.argv[2], str(m["Subject"])
raw = open(sys.argv[1], "rb").read()
assert all(b < 128 for b in raw) and max(len(l) for l in raw.split(b"\n")) <= 998
text = m.get_body(preferencelist=("plain",)).get_content()
assert sys.argv[3] in text and "Größe überschritten — ошибка ✓" in text' \
    "$T/tls/003.eml" "$title" "$long_line"

# ---- TLS: verified, required, never silently dropped -------------------------
before=$(received tls)
deliver no-ca '{ "type": "email", "url": "smtp://127.0.0.1:'$tls_port'", "from": "backup@example.com",
  "to": "ops@example.com", "user": "moonbak", "password_env": "SMTP_TEST_PASSWORD", "insecure_tls": true }'
check "an untrusted certificate is refused (no ca_file; insecure_tls, not an option here, is ignored), without retrying" \
    answer 'assert(t.sent == false and t.attempts == 1 and t.error:find("^email notifier 127.0.0.1: "), t.error)'
check "nothing was sent past the untrusted certificate" [ "$(received tls)" -eq "$before" ]

start_server plain plain
plain_port=$(port_of plain)
deliver plain-refused '{ "type": "email", "url": "smtp://127.0.0.1:'$plain_port'", "from": "backup@example.com",
  "to": "ops@example.com" }'
check "a server without STARTTLS is refused when TLS is required, not retried" \
    answer 'assert(t.sent == false and t.attempts == 1
      and t.error:find("email notifier 127.0.0.1: the server does not offer STARTTLS and tls = false was not given", 1, true), t.error)'
check "nothing reached the server without STARTTLS" [ "$(received plain)" -eq 0 ]
deliver plain-allowed '{ "type": "email", "url": "smtp://127.0.0.1:'$plain_port'", "from": "backup@example.com",
  "to": ["ops@example.com", "dba@example.com"], "tls": false }'
check "tls = false sends plain SMTP to the same server" answer 'assert(t.sent == true and t.code == 250)'
check "the plain message arrived, not encrypted" "$py" -c 'import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert len(r) == 1 and not r[0]["tls"], r' "$T/plain/messages.jsonl"

start_server smtps smtps --auth-file "$T/auth"
smtps_port=$(port_of smtps)
deliver smtps '{ "type": "email", "url": "smtps://127.0.0.1:'$smtps_port'", "from": "backup@example.com",
  "to": ["ops@example.com", "dba@example.com"], "user": "moonbak", "password_env": "SMTP_TEST_PASSWORD",
  "ca_file": "'$T/cert.pem'" }'
check "smtps:// (TLS from the start) with AUTH: sent" answer 'assert(t.sent == true and t.code == 250)'
check "the smtps message arrived over TLS with the right headers" check_message "$T/smtps/001.eml" "[moonbak] shop: failed"

# ---- failures: permanent, transient, unreachable -------------------------------
before=$(received tls)
deliver wrong-password '{ "type": "email", "url": "smtp://127.0.0.1:'$tls_port'", "from": "backup@example.com",
  "to": "ops@example.com", "user": "moonbak", "password": "wrong-'"$password"'", "ca_file": "'$T/cert.pem'" }'
check "a wrong password: not sent, 535, one attempt (not retried)" \
    answer 'assert(t.sent == false and t.code == 535 and t.attempts == 1, t.error)'
check "its error names the notifier and the host, and says why" \
    answer 'assert(t.error:find("^email notifier 127.0.0.1: authentication failed %(535%)"), t.error)'
check "nothing was sent with a wrong password" [ "$(received tls)" -eq "$before" ]

start_server flaky starttls --tempfail 1 --reject-prefix nobody@
flaky_port=$(port_of flaky)
flaky_spec='"url": "smtp://127.0.0.1:'$flaky_port'", "from": "backup@example.com", "ca_file": "'$T/cert.pem'"'
deliver tempfail '{ "type": "email", '"$flaky_spec"', "to": "ops@example.com" }'
check "a transient reply (451) is retried: sent on the second attempt" \
    answer 'assert(t.sent == true and t.attempts == 2, t.error)'
check "the server saw two connections and one message" [ "$(connections flaky)" -eq 2 -a "$(received flaky)" -eq 1 ]
deliver permanent '{ "type": "email", '"$flaky_spec"', "to": "nobody@example.com" }'
check "a permanent reply (550 mailbox) is not retried" \
    answer 'assert(t.sent == false and t.code == 550 and t.attempts == 1, t.error)'
check "its error says what the server answered" \
    answer 'assert(t.error:find("^email notifier 127.0.0.1: .*550 5.1.1 no such mailbox here"), t.error)'

closed_port=$("$py" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
deliver unreachable '{ "type": "email", "url": "smtp://127.0.0.1:'$closed_port'", "from": "backup@example.com",
  "to": "ops@example.com", "retries": 1 }'
check "an unreachable port: not sent, retried once (retries = 1), the error names the host" \
    answer 'assert(t.sent == false and t.attempts == 2 and not t.code
      and t.error:find("^email notifier 127.0.0.1: "), t.error)'

deliver no-time '{ "type": "email", '"$good_spec"', "seconds": 0 }'
check "with no time left nothing is attempted" answer 'assert(t.sent == false and t.attempts == 0, t.error)'

# ---- options refused before anything is sent ------------------------------------
refused() { # refused NAME EXPECTED_TEXT SPEC_JSON
    local before_conn
    before_conn=$(connections tls)
    deliver "$1" "$3"
    check "$1: refused ($2)" answer 'assert(t.sent == false and t.attempts == 0
      and t.error:find("'"$2"'", 1, true), t.error)' &&
    check "$1: no connection was made" [ "$(connections tls)" -eq "$before_conn" ]
}
refused "an http:// url" 'must begin with smtp:// or smtps://, not http://' \
    '{ "type": "email", "url": "http://127.0.0.1:'$tls_port'", "from": "a@example.com", "to": "b@example.com" }'
refused "tls = false with smtps://" 'tls = false contradicts smtps://' \
    '{ "type": "email", "url": "smtps://127.0.0.1:'$tls_port'", "from": "a@example.com", "to": "b@example.com", "tls": false }'
refused "a line break in an address" 'contains a line break' \
    '{ "type": "email", "url": "smtp://127.0.0.1:'$tls_port'", "from": "a@example.com", "to": ["b@example.com\r\nBcc: x@example.com"] }'
refused "angle brackets in an address" 'contains angle brackets' \
    '{ "type": "email", "url": "smtp://127.0.0.1:'$tls_port'", "from": "<a@example.com>", "to": "b@example.com" }'
refused "credentials in the url" 'not in \"url\"' \
    '{ "type": "email", "url": "smtp://moonbak:'"$password"'@127.0.0.1:'$tls_port'", "from": "a@example.com", "to": "b@example.com" }'

cat > "$T/schema.lua" <<'EOF'
local s = require("moonbak.notifier").schema("email")
assert(s and s.default_on[1] == "failure" and s.default_on[2] == "partial" and #s.default_on == 2)
local opts = {}
for _, o in ipairs(s.options) do opts[o.name] = o end
assert(opts.url.required and opts.from.required and opts.to.required and opts.password.secret)
assert(opts.tls.default == true and opts.timeout.default == 10 and opts.retries.default == 3)
EOF
mb script "$T/schema.lua"
check "the schema: url, from, to required, password secret, tls true, timeout 10, retries 3, on failure and partial" \
    [ $? -eq 0 ] || show_err

check "the password appears in no output of any delivery" no_secret_in "$password" "$T/all-output"

finish
