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

# json_lines FILE LUA : evaluates LUA once per line of FILE, with t = that
# line's JSON (a log of JSON lines, such as http_receiver.py writes)
json_lines() {
    printf "for line in io.lines('%s') do local t = require('cjson').decode(line)\n%s\nend\n" "$1" "$2" \
        > "$T/json_lines.lua"
    "$MOONBAK" script "$T/json_lines.lua"
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

# spy_tool DIR NAME : writes DIR/NAME, a stand-in for the tool NAME found on
# PATH that records how it was started and then becomes the real tool.  Its
# records are evidence the tool itself leaves, so a test reads them after the
# run instead of watching /proc for a child that may come and go unseen.
# Each start leaves, in DIR/records, NAME.PID.argv (its /proc cmdline, NUL
# separated: exactly the argv it was given), NAME.PID.environ (the
# environment it was given) and, for a --defaults-extra-file=F argument,
# NAME.PID.option-file-path, NAME.PID.option-file-mode ("MODE OWNER" of F)
# and NAME.PID.option-file (a copy).  The records hold secrets: they are
# private, and tests only grep them quietly (spy_holds).
spy_tool() {
    local real
    real=$(command -v "$2") || return 1
    mkdir -p "$1/records"
    cat > "$1/$2" <<SPY
#!/bin/sh
umask 077
r='$1/records/$2'.\$\$
cat /proc/\$\$/cmdline > "\$r.argv"
cat /proc/\$\$/environ > "\$r.environ"
for a in "\$@"; do
    case \$a in --defaults-extra-file=*)
        f=\${a#*=}
        printf '%s\\n' "\$f" > "\$r.option-file-path"
        stat -c '%a %U' "\$f" > "\$r.option-file-mode"
        cat "\$f" > "\$r.option-file" ;;
    esac
done
exec '$real' "\$@"
SPY
    chmod +x "$1/$2"
}

# spy_holds MODE TEXT FILE... : whether TEXT is in the records FILE... without
# printing it.  MODE "entry": TEXT is one whole NUL-separated entry (an argv
# element, an environment variable) of some FILE; "text": anywhere in it.
# A missing FILE holds nothing: check first that the spy ran (spy_ran).
spy_holds() {
    local mode=$1 text=$2 file; shift 2
    for file in "$@"; do
        [ -e "$file" ] || continue
        if [ "$mode" = entry ]; then
            grep -qazxF -- "$text" "$file" && return 0
        else
            grep -qaF -- "$text" "$file" && return 0
        fi
    done
    return 1
}

# spy_lacks TEXT FILE... : TEXT is in none of the records FILE...
spy_lacks() {
    local text=$1; shift
    ! spy_holds text "$text" "$@"
}

# spy_ran DIR NAME... : whether each spy DIR/NAME was started at least once
spy_ran() {
    local dir=$1 name; shift
    for name in "$@"; do
        compgen -G "$dir/records/$name.*.argv" >/dev/null || return 1
    done
}

finish() {
    exit $((failures > 0))
}
