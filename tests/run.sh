#!/usr/bin/env bash
# run.sh BUILD_DIR MOONBAK [BUILD_DIR MOONBAK ...] — runs every test of the
# suite once per build (say, a plain one and a sanitizer one) and ends with
# one line "N passed, N failed, N skipped" for the whole run.
#
# Each test program prints TAP-like lines ("ok - name", "not ok - name",
# "ok - name # SKIP why"); a program that exits non-zero without reporting
# a failure counts as one failure, so a crash can never pass.
set -u
cd "$(dirname "$0")/.."
export MOONBAK_TEST_ROOT=$(mktemp -d /tmp/moonbak-tests-XXXXXX)

passed=0 failed=0 skipped=0

run_one() {
    local name=$1; shift
    local log="$MOONBAK_TEST_ROOT/$(basename "$name").log"
    echo "# $name"
    "$@" >"$log" 2>&1
    local status=$?
    cat "$log"
    local p f s
    p=$(grep -c '^ok - ' "$log" | tr -d ' ')
    s=$(grep -c '^ok - .*# SKIP' "$log" | tr -d ' ')
    f=$(grep -c '^not ok - ' "$log" | tr -d ' ')
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $name exited with status $status"
        f=1
    fi
    passed=$((passed + p - s)) failed=$((failed + f)) skipped=$((skipped + s))
}

run_suite() {
    local build=$1
    export MOONBAK=$(realpath "$2")
    echo "## suite with $MOONBAK"
    run_one tests/check_layers.py /usr/bin/python3 tests/check_layers.py "$build"
    for t in "$build"/tests/test_*; do
        [ -x "$t" ] && run_one "$t" "$t"
    done
    for t in tests/lua/test_*.lua; do
        run_one "$t" "$MOONBAK" script "$t"
    done
    for t in tests/e2e/test_*.sh; do
        run_one "$t" bash "$t"
    done
}

while [ $# -ge 2 ]; do
    run_suite "$1" "$2"
    shift 2
done

rm -rf "$MOONBAK_TEST_ROOT"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
