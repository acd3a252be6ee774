# lib.sh — helpers for the end-to-end tests, which drive the real binary.
# Each test prints "ok - name" or "not ok - name"; tests/run.sh counts them.
set -u
: "${MOONBAK:?run through tests/run.sh or set MOONBAK}"
failures=0
T=$(mktemp -d "${MOONBAK_TEST_ROOT:-/tmp}/e2e-XXXXXX")
export MOONBAK_STATE=$T/state

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failures=$((failures + 1)); }

# check NAME COMMAND... : passes when COMMAND succeeds; returns 1 when it
# fails, so that `check ... || show_err` can add the details
check() {
    local name=$1; shift
    if "$@"; then ok "$name"; else not_ok "$name"; return 1; fi
}

# show_err : moonbak's last stderr, as TAP comments
show_err() { sed 's/^/# /' "$T/err"; }

# flip_byte FILE OFFSET : inverts the lowest bit of one byte in place, so the
# file surely changes (writing a fixed byte is a no-op when it was already there)
flip_byte() {
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "\\x$(printf %02x $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# mb ARGS... : runs moonbak, keeping stdout in $T/out and stderr in $T/err
mb() {
    "$MOONBAK" "$@" >"$T/out" 2>"$T/err"
}

# json FILE LUA : evaluates LUA with t = the JSON in FILE (prints, asserts ...)
json() {
    printf "local t = require('cjson').decode(io.open('%s'):read('a'))\n%s\n" "$1" "$2" > "$T/json.lua"
    "$MOONBAK" script "$T/json.lua"
}

# require_tools TOOL... : a test that cannot run without TOOL stops here.
# On a developer laptop that is a skip; under CI=true it is a failure.
require_tools() {
    local missing=""
    for tool in "$@"; do command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"; done
    [ -z "$missing" ] && return 0
    if [ "${CI:-}" = true ]; then
        not_ok "$(basename "$0"): missing$missing (scripts/install-deps.sh --test installs it)"
    else
        ok "$(basename "$0") # SKIP missing$missing"
    fi
    finish
}

# no_secret_in VALUE FILE... : true when VALUE appears in none of the files
no_secret_in() {
    local value=$1; shift
    ! grep -rqaF -- "$value" "$@" 2>/dev/null
}

finish() {
    exit $((failures > 0))
}
