#!/usr/bin/env bash
# End to end on a real S3-protocol server: s3rver (npm), started here on a
# loopback port and stopped at the end.  Backup, list, verify, restore and
# delete; an artifact of several parts; interoperability with the AWS CLI;
# every request's signature recomputed by botocore; faults (a dump that
# dies, the server stopped mid-upload, wrong credentials, a wrong bucket, a
# flapping and a hung server behind a fault-injecting proxy).
. "$(dirname "$0")/lib.sh"
repo=$(cd "$(dirname "$0")/../.." && pwd)
py=/usr/bin/python3 # Debian's, where python3-botocore is installed

# A missing tool skips the test on a laptop, and fails it in CI.
missing() {
    if [ "${CI:-}" = true ]; then not_ok "S3 tests: $1 (scripts/install-deps.sh --test installs it)"
    else ok "S3 tests # SKIP $1"; fi
    finish
}
"$repo/scripts/install-s3rver.sh" >"$T/npm.log" 2>&1 || missing "s3rver could not be installed from npm: $(tail -n 1 "$T/npm.log")"
s3rver=$repo/build/npm/node_modules/.bin/s3rver
command -v node >/dev/null || missing "node is not installed"
"$py" -c 'import botocore' 2>/dev/null || missing "python3-botocore is not installed"
[ -x /usr/bin/aws ] || missing "awscli is not installed"

free_port() { # the first port of 19020-19099 nobody listens on
    local p
    for p in $(seq "$1" 19099); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
}
port=$(free_port 19020)
proxy_port=$(free_port $((port + 1)))
endpoint=http://127.0.0.1:$port
access=S3RVER                  # the only access key s3rver knows
secret=moonbak-test-secret-4f2 # s3rver does not check V4 signatures: botocore does, below
server=""
proxy=""

start_server() {
    # s3rver makes list continuation tokens with a cipher OpenSSL 3 keeps in its legacy provider.
    NODE_OPTIONS=--openssl-legacy-provider "$s3rver" -d "$T/s3data" -a 127.0.0.1 -p "$port" --service-endpoint localhost \
        --configure-bucket backups --silent >>"$T/s3rver.log" 2>&1 &
    server=$!
    for _ in $(seq 600); do # 60 s: only a server that never comes up takes that long
        curl -s -o /dev/null "$endpoint/" && return 0
        sleep 0.1
    done
    return 1
}
stop_server() { [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null; server=""; }
stop_proxy() { [ -n "$proxy" ] && kill "$proxy" 2>/dev/null && wait "$proxy" 2>/dev/null; proxy=""; }
trap 'stop_proxy; stop_server' EXIT

start_server
check "s3rver starts on 127.0.0.1:$port" [ $? -eq 0 ]

export MOONBAK_S3_TRACE=$T/trace.jsonl
printf '%s' "$secret" | mb secret set s3-secret
check "the S3 secret key goes into the secret store" [ $? -eq 0 ]

# job NAME SOURCE [EXTRA STORAGE FIELDS]: a job file storing into s3rver.
job() {
    cat > "$T/$1.lua" <<JOB
return {
  name = "$1",
  source = $2,
  compression = { type = "none" },
  storage = { { type = "s3", endpoint = "$endpoint", bucket = "backups", prefix = "moonbak/",
                access_key = "$access", secret_key = secret "s3-secret",
                part_size = 5 * 1024 * 1024, ${3:-} } },
}
JOB
}
aws_cli() {
    AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret AWS_DEFAULT_REGION=us-east-1 \
        AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        /usr/bin/aws --endpoint-url "$endpoint" "$@"
}
bucket_empty() { [ -z "$(aws_cli s3 ls "s3://backups/moonbak/$1/" 2>/dev/null)" ]; }
parts_in_trace() { grep -c "\"PUT\",\"url\":\"[^\"]*$1[^\"]*partNumber=" "$T/trace.jsonl"; }

# ---- a backup of several parts ---------------------------------------------
head -c $((12 * 1024 * 1024)) /dev/urandom > "$T/big.bin"
job big "{ type = \"file\", path = \"$T/big.bin\" }"
mb run "$T/big.lua"; status=$?
check "a 12 MiB backup to S3 succeeds (exit $status)" [ $status -eq 0 ]
id=$(sed -n 's/.*backup \([0-9TZ.a-f-]*\).*/\1/p' "$T/out")
check "it went up as a multipart upload of 3 parts of 5 MiB at most" [ "$(parts_in_trace "big/$id")" -eq 3 ]
mb backups "$T/big.lua" --json
check "backups lists it from the sidecar in the bucket" json "$T/out" \
    "assert(#t == 1 and t[1].backup_id == '$id' and t[1].size == 12 * 1024 * 1024)"
mb verify "$T/big.lua"
check "verify reads it back and the checksums match" [ $? -eq 0 ]
mb restore "$T/big.lua" --output "$T/big.restored"
check "restore gives the same bytes" cmp -s "$T/big.bin" "$T/big.restored"

# ---- interoperability with the AWS CLI ---------------------------------------
aws_cli s3 ls "s3://backups/moonbak/big/" > "$T/ls.txt" 2>"$T/aws.err"
check "aws s3 ls lists the artifact and its sidecar" \
    [ "$(grep -c "$id.bin" "$T/ls.txt")" -eq 2 ]
aws_cli s3 cp "s3://backups/moonbak/big/$id.bin" "$T/big.aws" >/dev/null 2>>"$T/aws.err"
check "aws s3 cp downloads the artifact intact" cmp -s "$T/big.bin" "$T/big.aws"
printf 'made by aws' > "$T/from-aws.txt"
aws_cli s3 cp "$T/from-aws.txt" "s3://backups/moonbak/interop/a file é€.txt" >/dev/null 2>>"$T/aws.err"
cat > "$T/interop.lua" <<LUA
local st = assert(require("moonbak.storage").open{ type = "s3", endpoint = "$endpoint",
  bucket = "backups", prefix = "moonbak", access_key = "$access", secret_key = "$secret" })
local list = assert(st:list("interop/"))
assert(#list == 1 and list[1].name == "interop/a file é€.txt" and list[1].size == 11, list[1] and list[1].name)
assert(st:get("interop/a file é€.txt") == "made by aws")
LUA
mb script "$T/interop.lua"
check "moonbak lists and reads an object aws s3 cp uploaded under a key with a space and non-ASCII" \
    [ $? -eq 0 ]

# ---- keys with spaces and non-ASCII, small objects, delete -------------------
cat > "$T/keys.lua" <<LUA
local st = assert(require("moonbak.storage").open{ type = "s3", endpoint = "$endpoint",
  bucket = "backups", prefix = "moonbak/", access_key = "$access", secret_key = "$secret" })
local name = "odd keys/ä b+c&d=e%f €.txt"
assert(st:put(name, "tiny"))
assert(st:get(name) == "tiny")
local list = assert(st:list("odd keys/"))
assert(#list == 1 and list[1].name == name, "listed as " .. tostring(list[1] and list[1].name))
assert(st:remove(name))
assert(#assert(st:list("odd keys/")) == 0)
local got, err = st:get(name)
assert(got == nil and err:find("NoSuchKey"), err)
LUA
mb script "$T/keys.lua"
check "a key with spaces, '+', '&', '=', '%' and non-ASCII is written, listed, read and removed" \
    [ $? -eq 0 ] || show_err

cat > "$T/list.lua" <<LUA
local st = assert(require("moonbak.storage").open{ type = "s3", endpoint = "$endpoint",
  bucket = "backups", prefix = "moonbak/", access_key = "$access", secret_key = "$secret" })
for i = 1, 5 do assert(st:put(("page/%d"):format(i), "x")) end
assert(st:put("page/deeper/not-direct", "x"))
local list = assert(st:list("page/"))
assert(#list == 5, "listed " .. #list)
LUA
MOONBAK_S3_LIST_MAX_KEYS=2 mb script "$T/list.lua"
check "list follows continuation tokens (pages of 2) and lists only what is directly under the prefix" \
    [ $? -eq 0 ] || show_err

cat > "$T/delete.lua" <<LUA
local st = assert(require("moonbak.storage").open{ type = "s3", endpoint = "$endpoint",
  bucket = "backups", prefix = "moonbak/", access_key = "$access", secret_key = "$secret" })
assert(st:remove("big/$id.bin.meta.json"))
assert(st:remove("big/$id.bin"))
LUA
mb script "$T/delete.lua"
check "a backup is deleted through the storage API" [ $? -eq 0 ] || show_err
mb backups "$T/big.lua" --json
check "...and is no longer listed" json "$T/out" "assert(#t == 0)"
check "...nor seen by aws s3 ls" bucket_empty big

# ---- storages, writers and readers closed in every order --------------------
# tests/lua/test_lifetimes.lua against s3rver: a writer or reader keeps its
# storage alive until it is closed itself (the suite runs this on the
# AddressSanitizer build too).  Not traced: its unreachable storage signs
# with another key than the one botocore checks the trace with below.
(cd "$repo" && unset MOONBAK_S3_TRACE && MOONBAK_TEST_S3="$endpoint backups $access $secret" \
    "$MOONBAK" script tests/lua/test_lifetimes.lua) > "$T/lifetimes.txt" 2>&1
status=$?
grep '^ok - s3: \|^not ok - ' "$T/lifetimes.txt"
failures=$((failures + $(grep -c '^not ok' "$T/lifetimes.txt")))
check "closing an S3 storage before its writers and readers, in every order, is safe (exit $status)" \
    [ $status -eq 0 ] || sed 's/^/# /' "$T/lifetimes.txt"
check "...and each order ran against s3rver, readers included" \
    grep -q '^ok - s3: reader and storage collected without close' "$T/lifetimes.txt"

# ---- virtual-host addressing and credentials from the environment -----------
cat > "$T/vhost.lua" <<LUA
local st = assert(require("moonbak.storage").open{ type = "s3", endpoint = "http://s3.localhost:$port",
  bucket = "backups", path_style = false })
assert(st:check())
assert(st:put("vhost/one", "virtual"))
assert(st:get("vhost/one") == "virtual")
assert(st:remove("vhost/one"))
LUA
AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret AWS_SESSION_TOKEN=session-token-xyz \
    mb script "$T/vhost.lua"
check "virtual-host style (backups.s3.localhost) with AWS_* credentials and a session token" \
    [ $? -eq 0 ] || show_err
check "the trace of it addressed the bucket by host name" grep -q '"host":"backups.s3.localhost:' "$T/trace.jsonl"

# ---- faults ------------------------------------------------------------------
# A dump that dies after one part: the multipart upload is aborted.
job dies "{ type = \"command\", argv = { \"sh\", \"-c\", \"head -c 6000000 /dev/urandom; exit 3\" } }"
mb run "$T/dies.lua"; status=$?
check "a dump that fails after the first part fails the run (exit $status)" [ $status -eq 1 ]
check "...and the multipart upload is aborted (DELETE ?uploadId)" \
    grep -q '"method":"DELETE","url":"[^"]*/dies/[^"]*uploadId=' "$T/trace.jsonl"
check "...and nothing of it is in the bucket" bucket_empty dies

# The server stopped in the middle of the upload.
job halfway "{ type = \"command\", argv = { \"sh\", \"-c\", \"head -c 6000000 /dev/urandom; touch $T/half; while [ ! -e $T/go ]; do sleep 0.05; done; head -c 6000000 /dev/urandom\" } }" \
    "retries = 1"
mb run "$T/halfway.lua" & runner=$!
# The dump waits for go, so the upload is open whenever the server stops.
for _ in $(seq 1200); do [ -e "$T/half" ] && grep -q '/halfway/[^"]*partNumber=1' "$T/trace.jsonl" && break; sleep 0.05; done
stop_server
touch "$T/go"
wait $runner; status=$?
check "the server stopped mid-upload fails the run (exit $status)" [ $status -eq 1 ]
check "...with a message naming the storage and the endpoint" \
    grep -q "storage s3: .*failed at $endpoint" "$T/err"
start_server
mb backups "$T/halfway.lua" --json
check "...and once the server is back, nothing is listed" json "$T/out" "assert(#t == 0)"
check "...not even a half object" bucket_empty halfway

# Wrong credentials.  s3rver knows one access key and does not check V4
# signatures, so a wrong secret key is not observable here (botocore checks
# the signatures below); a wrong access key and a wrong bucket are.
echo small > "$T/small.txt"
job badkey "{ type = \"file\", path = \"$T/small.txt\" }"
sed -i 's/access_key = "S3RVER"/access_key = "AKIDNOTKNOWN"/' "$T/badkey.lua"
mb run "$T/badkey.lua"; status=$?
check "an unknown access key fails the run (exit $status)" [ $status -eq 1 ]
check "...with a clear error naming the storage: $(grep -o 'storage s3: [^;]*InvalidAccessKeyId' "$T/err" | head -n 1)" \
    grep -q "storage s3: listing bucket backups failed at $endpoint: HTTP 403 InvalidAccessKeyId" "$T/err"
job badbucket "{ type = \"file\", path = \"$T/small.txt\" }"
sed -i 's/bucket = "backups"/bucket = "no-such-bucket"/' "$T/badbucket.lua"
mb run "$T/badbucket.lua"
check "a bucket that does not exist is named in the error" grep -q "storage s3: .*no-such-bucket.*NoSuchBucket" "$T/err"

# ---- leftovers of killed runs --------------------------------------------------
# What runs killed before they finished leave, older than the next run: an
# artifact without its sidecar and an incomplete multipart upload.  The
# next run removes them and says so; a complete old backup, a newer upload
# and an upload of a name that is not moonbak's stay.
echo fresh > "$T/fresh.txt"
job lo "{ type = \"file\", path = \"$T/fresh.txt\" }"
printf '{"job":"lo","backup_id":"20190101T000000Z"}' > "$T/old.meta.json"
aws_cli s3 cp "$T/fresh.txt" s3://backups/moonbak/lo/20190101T000000Z.txt >/dev/null 2>>"$T/aws.err"
aws_cli s3 cp "$T/old.meta.json" s3://backups/moonbak/lo/20190101T000000Z.txt.meta.json >/dev/null 2>>"$T/aws.err"
aws_cli s3 cp "$T/fresh.txt" s3://backups/moonbak/lo/20200101T000000Z.txt >/dev/null 2>>"$T/aws.err"
start_upload() { # KEY: an incomplete multipart upload of one part, made by the AWS CLI; prints its id
    local id
    id=$(aws_cli s3api create-multipart-upload --bucket backups --key "moonbak/lo/$1" \
        --query UploadId --output text 2>>"$T/aws.err")
    aws_cli s3api upload-part --bucket backups --key "moonbak/lo/$1" --part-number 1 \
        --upload-id "$id" --body "$T/fresh.txt" >/dev/null 2>>"$T/aws.err"
    echo "$id"
}
stale_upload=$(start_upload 20200101T000000Z.txt)
newer_upload=$(start_upload 20990101T000000Z.txt)
other_upload=$(start_upload notes.txt)
uploads_dir=$T/s3data/backups/._S3rver_uploads # where s3rver keeps them
check "the AWS CLI made 3 incomplete multipart uploads ($(ls "$uploads_dir" 2>&1 | tr '\n' ' '))" \
    [ -e "$uploads_dir/$stale_upload/1" -a -e "$uploads_dir/$newer_upload/1" -a -e "$uploads_dir/$other_upload/1" ]
mb run "$T/lo.lua"; status=$?
check "a run with leftovers of killed runs in the bucket succeeds (exit $status)" [ $status -eq 0 ]
exe=$(sed -n 's/.* in execution \([0-9]*\).*/\1/p' "$T/out")
aws_cli s3 ls s3://backups/moonbak/lo/ > "$T/ls.txt" 2>>"$T/aws.err"
check "...removes the artifact without sidecar and keeps the complete old backup" \
    bash -c "! grep -q ' 20200101T000000Z.txt$' '$T/ls.txt' && grep -q ' 20190101T000000Z.txt$' '$T/ls.txt' &&
             grep -q ' 20190101T000000Z.txt.meta.json$' '$T/ls.txt'"
mb log "$exe"
check "...saying so in its log" grep -q 'removed orphaned artifact lo/20200101T000000Z.txt (no sidecar) on storage s3' "$T/out"
# s3rver answers ListMultipartUploads with 501 NotImplemented (and
# AbortMultipartUpload with 405): against it the sweep can only warn.
check "...and warns that s3rver cannot list incomplete uploads (NotImplemented, not retried)" \
    grep -q 'warning.*could not sweep.*multipart uploads.*501 NotImplemented' "$T/out"

# A MOCK for those two operations only (tests/e2e/s3_uploads_mock.py): it
# answers them from the uploads s3rver keeps on disk and forwards the rest
# to s3rver.  Pages of one upload make the run follow the markers.
mock_port=$(free_port $((proxy_port + 1)))
"$py" "$repo/tests/e2e/s3_uploads_mock.py" "$mock_port" "$port" "$T/s3data" "$T/mock.log" & mock=$!
for _ in $(seq 100); do grep -q listening "$T/mock.log" 2>/dev/null && break; sleep 0.1; done
sed -i "s|endpoint = \"$endpoint\"|endpoint = \"http://127.0.0.1:$mock_port\"|" "$T/lo.lua"
MOONBAK_S3_LIST_MAX_KEYS=1 mb run "$T/lo.lua"; status=$?
kill $mock; wait $mock 2>/dev/null
check "[mock] a run where the server lists incomplete uploads succeeds (exit $status)" [ $status -eq 0 ]
check "[mock] ...aborts the stale upload" [ ! -e "$uploads_dir/$stale_upload" ]
check "[mock] ...keeps the newer one and the one of a name not moonbak's" \
    [ -e "$uploads_dir/$newer_upload/1" -a -e "$uploads_dir/$other_upload/1" ]
check "[mock] ...asked for each page of the listing ($(tr '\n' ' ' < "$T/mock.log"))" \
    [ "$(grep -c 'ListMultipartUploads prefix=moonbak/lo/ page=1 truncated=True' "$T/mock.log")" -ge 2 ]
mb log "$(sed -n 's/.* in execution \([0-9]*\).*/\1/p' "$T/out")"
check "[mock] ...and says what it removed" \
    grep -q "removed stale partial upload lo/20200101T000000Z.txt (multipart upload $stale_upload) on storage s3" "$T/out"
check "[mock] ...and nothing else" [ "$(grep -c 'removed' "$T/out")" -eq 1 ]

# A flapping server, then a hung one: a fault-injecting proxy in front of s3rver.
proxied() { # job NAME through the proxy, with extra storage fields
    job "$1" "{ type = \"file\", path = \"$T/big.bin\" }" "$2"
    sed -i "s|endpoint = \"$endpoint\"|endpoint = \"http://127.0.0.1:$proxy_port\"|" "$T/$1.lua"
}
start_proxy() { # DROP STALL [STALL_SECONDS]
    rm -f "$T/proxy.log"
    "$py" "$repo/tests/e2e/fault_proxy.py" "$proxy_port" "$port" "$1" "$2" "${3:-5}" "$T/proxy.log" &
    proxy=$!
    for _ in $(seq 600); do grep -q listening "$T/proxy.log" 2>/dev/null && break; sleep 0.1; done
}
# Connections: 1 is the check, 2 and 3 the sweep of leftovers (listing the
# multipart uploads and the objects), 4 starts the multipart upload, 5
# sends part 1.
start_proxy 5,6,7 -
proxied flaps "retries = 3"
mb run "$T/flaps.lua"; status=$?
check "part 1's connection reset 3 times, 3 retries allowed: the backup succeeds (exit $status)" \
    [ $status -eq 0 ]
check "...and the proxy did reset 3 connections" [ "$(grep -c dropped "$T/proxy.log")" -eq 3 ]
mb verify "$T/flaps.lua"
check "...and the backup is intact" [ $? -eq 0 ]
stop_proxy
start_proxy 5,6,7 -
proxied flaps_more "retries = 2"
mb run "$T/flaps_more.lua"; status=$?
check "part 1's connection reset 3 times, 2 retries allowed: the run fails (exit $status)" [ $status -eq 1 ]
check "...and says which part failed after how many attempts" \
    grep -q "upload of part 1 of .* after 3 attempts" "$T/err"
stop_proxy
start_proxy - 5 120 # the proxy holds the connection 120 s: only the timeout ends it sooner
proxied hangs "retries = 2, timeout = 2"
started=$SECONDS
mb run "$T/hangs.lua"; status=$?
took=$((SECONDS - started))
check "a hung connection for part 1 is given up after timeout = 2 s and the retry succeeds (exit $status, ${took}s)" \
    [ $status -eq 0 ]
check "...and the proxy did hold one connection" grep -q stalled "$T/proxy.log"
check "...which the run gave up by itself: the proxy never let go of it" bash -c "! grep -q released '$T/proxy.log'"
stop_proxy

# ---- the signer against botocore, and no secret anywhere ---------------------
"$py" "$repo/tests/e2e/s3_check_signatures.py" "$T/trace.jsonl" "$secret" session-token-xyz \
    PutObject CreateMultipartUpload UploadPart CompleteMultipartUpload AbortMultipartUpload \
    GetObject ListObjectsV2 ListMultipartUploads DeleteObject "key with a space" "key with non-ASCII characters" \
    "session token" > "$T/botocore.txt" 2>&1
cat "$T/botocore.txt"
failures=$((failures + $(grep -c '^not ok' "$T/botocore.txt")))
check "botocore checked every traced request" grep -q '^ok - botocore computes the same signature for UploadPart' "$T/botocore.txt"
check "the secret key and the session token are in no trace, log or message" \
    bash -c "! grep -rqae '$secret' -e session-token-xyz '$T/trace.jsonl' '$T/out' '$T/err' '$MOONBAK_STATE'"

stop_server
finish
