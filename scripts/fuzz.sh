#!/bin/sh
# fuzz.sh NAME SECONDS — runs the libFuzzer harness build-fuzz/fuzz/fuzz_NAME
# (built by `make fuzz`) for SECONDS, from its seeds (tests/fuzz/corpus/NAME),
# its regressions and what earlier runs kept (build-fuzz/corpus/NAME, the
# folder new inputs go to, outside the source tree), with the dictionary
# tests/fuzz/NAME.dict when there is one.  A crash stops it with status 1
# and leaves its input in build-fuzz/crashes/NAME/: copy that file to
# tests/fuzz/regressions/NAME/ and `make unit` replays it from then on.
set -eu
name=$1 seconds=$2
cd "$(dirname "$0")/.."
mkdir -p "build-fuzz/corpus/$name" "build-fuzz/crashes/$name"
dirs="build-fuzz/corpus/$name tests/fuzz/corpus/$name"
[ -d "tests/fuzz/regressions/$name" ] && dirs="$dirs tests/fuzz/regressions/$name"
dict=
[ -f "tests/fuzz/$name.dict" ] && dict=-dict=tests/fuzz/$name.dict
echo "## fuzz $name for $seconds s"
# shellcheck disable=SC2086
if ! "build-fuzz/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="build-fuzz/crashes/$name/" -print_final_stats=1 $dict $dirs; then
    echo "fuzz $name: failed; the input is in build-fuzz/crashes/$name/" >&2
    exit 1
fi
