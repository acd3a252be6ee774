#!/usr/bin/env bash
# bench/run.sh MOONBAK [--memory] — the `make bench` harness.
#
# Default mode: on one synthetic SQL dump (bench/gen-data.sh) and on a pg_dump of
# a pgbench database (bench/pg-setup.sh), measures zstd alone, the equivalent
# shell pipeline, restic and moonbak, and prints a markdown report with the
# ratios the project's targets are about.  --memory: moonbak's peak RSS on a
# 1 GiB and a 4 GiB input.
#
# Informative, not a test: a missed target prints MISS and the exit status is
# still 0.  A tool that fails exits non-zero.  Progress goes to stderr, the
# report to stdout (and to $BENCH_DATA/results-*.md).
#
# Environment: BENCH_DATA (default bench/data), BENCH_REPEAT (runs per
# measurement, best kept; 1), BENCH_SQL_MB (800), BENCH_PG (1; 0 skips
# PostgreSQL), BENCH_PG_SCALE (50), BENCH_PG_PORT (55432), BENCH_PG_ENCRYPT (1;
# 0 leaves age out of the pg_dump jobs).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${BENCH_DATA:-$HERE/data}
REPEAT=${BENCH_REPEAT:-1}
SQL_MB=${BENCH_SQL_MB:-800}
PG_ON=${BENCH_PG:-1}
PG_SCALE=${BENCH_PG_SCALE:-50}
PG_PORT=${BENCH_PG_PORT:-55432}
PG_ENCRYPT=${BENCH_PG_ENCRYPT:-1}
PGBIN=${BENCH_PGBIN:-/usr/lib/postgresql/15/bin}
export BENCH_PG_PORT=$PG_PORT BENCH_PG_SCALE=$PG_SCALE BENCH_PGBIN=$PGBIN

# ---------------------------------------------------------------- helpers ---

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }
q() { printf '%q' "$1"; }                          # shell-quote for bash -c scripts
luastr() { local s=${1//\\/\\\\}; printf '"%s"' "${s//\"/\\\"}"; }  # Lua string literal
calc() { awk "BEGIN { printf \"%.${2:-2}f\", $1 }"; } # calc EXPR [DECIMALS]
filesize() { stat -c %s "$1"; }

usage() { echo "usage: $0 MOONBAK [--memory]" >&2; exit 2; }

# ensure_packages PKG... — installs missing Debian packages (root only).
ensure_packages() {
    local p missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $(id -u) == 0 ]] || die "missing Debian packages: ${missing[*]} (sudo apt-get install ${missing[*]})"
    log "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ------------------------------------------------------------ measurement ---
# Results, by row name: wall ns, user+sys s, peak RSS KiB, input bytes,
# output bytes ("" when not known), note; ROWS keeps their order.
declare -A R_WALL R_CPU R_RSS R_IN R_OUT R_NOTE
ROWS=()

# measure NAME BYTES PREP SCRIPT — runs `bash -c SCRIPT` under /usr/bin/time
# BENCH_REPEAT times, calling the function PREP before each run (untimed), and
# keeps the fastest run.  Wall time is taken around the whole process tree;
# CPU is user+sys of the tree; RSS (%M) is the largest single process in it,
# not a sum.  Returns the script's exit status on the first failure.
measure() {
    local name=$1 bytes=$2 prep=$3 script=$4 i t0 t1 rc user sys rss best
    for ((i = 1; i <= REPEAT; i++)); do
        "$prep"
        rc=0
        t0=$(date +%s%N)
        /usr/bin/time -q -f '%U %S %M' -o "$WORK/time.txt" bash -c "$script" || rc=$?
        t1=$(date +%s%N)
        ((rc == 0)) || return "$rc"
        read -r user sys rss < <(tail -n 1 "$WORK/time.txt")
        best=${R_WALL[$name]:-}
        if [[ -z $best ]] || ((t1 - t0 < best)); then
            R_WALL[$name]=$((t1 - t0))
            R_CPU[$name]=$(calc "$user + $sys")
            R_RSS[$name]=$rss
        fi
    done
    R_IN[$name]=$bytes
    R_OUT[$name]=""
    R_NOTE[$name]=""
    ROWS+=("$name")
    log "$name: $(calc "${R_WALL[$name]} / 1e9") s"
}

skip_row() { ROWS+=("$1"); R_NOTE[$1]=$2; log "$1: $2"; }
done_row() { [[ -n ${R_WALL[$1]:-} ]]; }           # measured (not skipped)
wall_s() { calc "${R_WALL[$1]} / 1e9" 3; }
mbps() { calc "${R_IN[$1]} / 1e6 / (${R_WALL[$1]} / 1e9)" 1; }
rss_mib() { calc "${R_RSS[$1]} / 1024" 1; }

# ----------------------------------------------------------------- moonbak ---

# write_job FILE SOURCE_LUA LEVEL ENCRYPT(0|1) — a moonbak job storing into $OUT.
write_job() {
    local file=$1 source=$2 level=$3 encrypt=$4 enc=""
    ((encrypt)) && enc="encryption = { type = \"age\", recipients = { $(luastr "$RECIPIENT") } },"
    cat >"$file" <<EOF
return { name = "bench", source = $source,
         compression = { type = "zstd", level = $level, workers = 2 },
         $enc
         storage = { { type = "local", path = $(luastr "$OUT") } } }
EOF
}
file_source() { echo "{ type = \"file\", path = $(luastr "$1") }"; }
# command_source ARGV... — a `command` source running ARGV.
command_source() {
    local a list=""
    for a in "$@"; do list+="$(luastr "$a"), "; done
    echo "{ type = \"command\", argv = { ${list%, } } }"
}
# pg_source ARGV... — the same with the benchmark database's password in env.
pg_source() { local s; s=$(command_source "$@"); echo "${s% \}}, env = { PGPASSWORD = \"bench\" } }"; }

clean_out() { rm -rf "$OUT"; mkdir -p "$OUT"; }
out_bytes() { find "$OUT" -type f ! -name '*.meta.json' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

# moonbak_row NAME BYTES JOB — measures `moonbak run JOB`.  A job refused with
# "not available" (a feature this build lacks) makes a skipped row.
moonbak_row() {
    local name=$1 bytes=$2 job=$3 script
    script="exec $(q "$MOONBAK") --state $(q "$WORK/state") run $(q "$job") >$(q "$WORK/moonbak.log") 2>&1"
    if measure "$name" "$bytes" clean_out "$script"; then
        R_OUT[$name]=$(out_bytes)
        [[ ${R_OUT[$name]} -gt 0 ]] || die "$name: moonbak reported success but stored nothing"
        return 0
    fi
    if grep -q "not available" "$WORK/moonbak.log"; then
        skip_row "$name" "skipped: $(grep -m1 -o 'source type.*' "$WORK/moonbak.log" || echo 'not available in this build')"
        return 0
    fi
    cat "$WORK/moonbak.log" >&2
    die "$name: moonbak failed"
}

# Does this moonbak accept `command` sources?  (probe with a tiny job)
command_source_available() {
    write_job "$WORK/probe.lua" "$(command_source printf x)" 1 0
    clean_out
    "$MOONBAK" --state "$WORK/state" run "$WORK/probe.lua" >"$WORK/probe.log" 2>&1 && return 0
    grep -q "not available" "$WORK/probe.log" && return 1
    cat "$WORK/probe.log" >&2
    die "moonbak failed on a one-byte command-source job"
}

# ------------------------------------------------------------------- setup ---

setup() {
    ensure_packages zstd age restic time
    DATA=$(mkdir -p "$DATA" && cd "$DATA" && pwd)
    WORK=$DATA/run                 # scratch: outputs, repositories, logs
    OUT=$WORK/out
    rm -rf "$WORK"
    mkdir -p "$WORK"
    "$MOONBAK" keygen --output "$WORK/key.txt" >/dev/null 2>&1 || die "moonbak keygen failed"
    RECIPIENT=$(sed -n 's/^# public key: //p' "$WORK/key.txt")
    [[ $RECIPIENT == age1* ]] || die "no public key in $WORK/key.txt"
}

PG_STARTED=0
cleanup() {
    local rc=$?
    ((PG_STARTED)) && { "$HERE/pg-setup.sh" stop "$DATA" || true; }
    [[ -n ${WORK:-} ]] && rm -rf "$WORK/out" "$WORK/restic" "$WORK/pipe.out" "$WORK/restore.out" "$WORK/restore-store"
    exit "$rc"
}

# --------------------------------------------------------- the file runs ---

prep_none() { :; }
prep_pipe() { rm -f "$WORK/pipe.out" "$WORK/pipe.sum" "$WORK/pipe.fifo"; mkfifo "$WORK/pipe.fifo"; }
prep_restic() {
    rm -rf "$WORK/restic"
    restic -r "$WORK/restic" init --quiet >/dev/null 2>"$WORK/restic.log" || { cat "$WORK/restic.log" >&2; die "restic init failed"; }
}

bench_file() {
    local dump=$1 size
    size=$(filesize "$dump")
    cat "$dump" >/dev/null                          # into the page cache, for everyone alike

    measure "zstd -3 -T2" "$size" prep_none "exec zstd -q -3 -T2 < $(q "$dump") > /dev/null" ||
        die "zstd failed"

    # `tee >(sha256sum > sum)`, with the process substitution spelled out as a
    # fifo so that the script can wait for sha256sum: the wall time and the CPU
    # then include it (bash does not reliably wait for a >(...) process).
    measure "zstd | age | tee sha256sum (shell)" "$size" prep_pipe \
        "set -o pipefail
         sha256sum < $(q "$WORK/pipe.fifo") > $(q "$WORK/pipe.sum") &
         zstd -q -3 -T2 < $(q "$dump") | age -r $(q "$RECIPIENT") | tee $(q "$WORK/pipe.fifo") > $(q "$WORK/pipe.out")
         wait \$!" || die "the shell pipeline failed"
    [[ -s $WORK/pipe.sum ]] || die "the shell pipeline wrote no checksum"
    R_OUT["zstd | age | tee sha256sum (shell)"]=$(filesize "$WORK/pipe.out")
    rm -f "$WORK/pipe.out"

    export RESTIC_PASSWORD=bench-not-secret RESTIC_CACHE_DIR=$WORK/restic-cache
    measure "restic backup --stdin" "$size" prep_restic \
        "exec restic -r $(q "$WORK/restic") backup --quiet --stdin --stdin-filename dump.sql < $(q "$dump") > $(q "$WORK/restic.log") 2>&1" ||
        { cat "$WORK/restic.log" >&2; die "restic backup failed"; }
    R_OUT["restic backup --stdin"]=$(du -sb "$WORK/restic/data" | cut -f1)
    rm -rf "$WORK/restic"

    write_job "$WORK/file-age.lua" "$(file_source "$dump")" 3 1
    moonbak_row "moonbak file, zstd 3, age" "$size" "$WORK/file-age.lua"
    write_job "$WORK/file-plain.lua" "$(file_source "$dump")" 3 0
    moonbak_row "moonbak file, zstd 3, no encryption" "$size" "$WORK/file-plain.lua"

    bench_restore "$dump"
}

# ------------------------------------------------------- the restore runs ---

prep_restore() { rm -f "$WORK/restore.out"; }

# restored_ok NAME DUMP — the restored file is the dump, byte for byte (untimed).
restored_ok() {
    cmp -s "$WORK/restore.out" "$2" || die "$1: the restored file differs from the dump"
    R_OUT[$1]=$(filesize "$WORK/restore.out")
    rm -f "$WORK/restore.out"
}

# One backup of the dump (zstd 3, 2 workers, age), made untimed, restored by
# the standard tools and by `moonbak restore --output`, which also checks the
# sha256 of the stored and of the restored bytes and syncs the file before it
# renames it into place.  Both rows count the dump's size as their MB.
bench_restore() {
    local dump=$1 size artifact job=$WORK/restore-job.lua saved_out=$OUT
    size=$(filesize "$dump")
    OUT=$WORK/restore-store
    rm -rf "$OUT" && mkdir -p "$OUT"
    write_job "$job" "$(file_source "$dump")" 3 1
    OUT=$saved_out
    "$MOONBAK" --state "$WORK/state" run "$job" >"$WORK/moonbak.log" 2>&1 ||
        { cat "$WORK/moonbak.log" >&2; die "the backup to restore failed"; }
    artifact=$(find "$WORK/restore-store" -type f -name '*.age')
    [[ -s $artifact ]] || die "the backup to restore stored no artifact"

    measure "age -d | zstd -d > file (shell)" "$size" prep_restore \
        "set -o pipefail
         age -d -i $(q "$WORK/key.txt") < $(q "$artifact") | zstd -q -d > $(q "$WORK/restore.out")" ||
        die "the shell restore failed"
    restored_ok "age -d | zstd -d > file (shell)" "$dump"

    measure "moonbak restore --output" "$size" prep_restore \
        "exec $(q "$MOONBAK") --state $(q "$WORK/state") restore $(q "$job") --identity $(q "$WORK/key.txt") --output $(q "$WORK/restore.out") >$(q "$WORK/moonbak.log") 2>&1" ||
        { cat "$WORK/moonbak.log" >&2; die "moonbak restore failed"; }
    restored_ok "moonbak restore --output" "$dump"
}

# ---------------------------------------------------------- the pg runs ---

bench_pg() {
    local size argv=("$PGBIN/pg_dump" -h 127.0.0.1 -p "$PG_PORT" -U bench bench) level name
    PG_STARTED=1
    "$HERE/pg-setup.sh" start "$DATA"
    export PGPASSWORD=bench
    # one untimed pass: the dump's size, and the table in the server's cache
    size=$("${argv[@]}" | wc -c) || die "pg_dump failed"
    PG_BYTES=$size
    local script="exec" a
    for a in "${argv[@]}"; do script+=" $(q "$a")"; done
    measure "pg_dump > /dev/null" "$size" prep_none "$script > /dev/null" || die "pg_dump failed"

    local enc_label="no encryption"
    ((PG_ENCRYPT)) && enc_label="age"
    for level in 1 3; do
        name="moonbak pg_dump, zstd $level, $enc_label"
        write_job "$WORK/pg-$level.lua" "$(pg_source "${argv[@]}")" "$level" "$PG_ENCRYPT"
        moonbak_row "$name" "$size" "$WORK/pg-$level.lua"
    done
    "$HERE/pg-setup.sh" stop "$DATA"
    PG_STARTED=0
}

# ---------------------------------------------------------- memory mode ---

# mem_input BYTES — a file of BYTES bytes made of the dump repeated (cached).
mem_input() {
    local bytes=$1 dump=$2 f
    f=$DATA/mem-$bytes-$(basename "$dump")
    if [[ ! -s $f ]]; then
        log "writing $f"
        repeat_cmd "$bytes" "$dump" >"$f.tmp"
        mv "$f.tmp" "$f"
    fi
    echo "$f"
}
# repeat_cmd BYTES DUMP — prints the dump repeated, cut at BYTES (runs it).
repeat_cmd() {
    local bytes=$1 dump=$2 n
    n=$(((bytes + $(filesize "$dump") - 1) / $(filesize "$dump")))
    local args=() i
    for ((i = 0; i < n; i++)); do args+=("$dump"); done
    cat "${args[@]}" | head -c "$bytes" || true
}

bench_memory() {
    local dump=$1 bytes name job src n i
    local use_command=0
    command_source_available && use_command=1
    for bytes in $((1 << 30)) $((4 << 30)); do
        name="moonbak $((bytes >> 30)) GiB, zstd 3, age"
        job=$WORK/mem-$bytes.lua
        if ((use_command)); then
            # stream: sh -c 'cat dump dump ... | head -c BYTES'
            n=$(((bytes + $(filesize "$dump") - 1) / $(filesize "$dump")))
            local cmd="cat" && for ((i = 0; i < n; i++)); do cmd+=" $(q "$dump")"; done
            src=$(command_source sh -c "$cmd | head -c $bytes")
            name+=" (command source)"
        else
            src=$(file_source "$(mem_input "$bytes" "$dump")")
            name+=" (file source)"
        fi
        write_job "$job" "$src" 3 1
        moonbak_row "$name" "$bytes" "$job"
    done
}

# ---------------------------------------------------------------- report ---

versions() {
    echo "- moonbak: $("$MOONBAK" version 2>&1 | head -n 1)"
    echo "- zstd: $(zstd -V | grep -o 'v[0-9.]*' | head -n 1); age: $(age --version); restic: $(restic version | awk '{ print $2 }')"
    [[ -x $PGBIN/postgres ]] && echo "- PostgreSQL: $("$PGBIN/postgres" --version | awk '{ print $3 }'); pg_dump: $("$PGBIN/pg_dump" --version | awk '{ print $3 }')"
    return 0
}

report_header() {
    echo "## moonbak benchmark, $START_DATE"
    echo
    echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
    versions
    echo "- load average before the runs: $LOAD_START (other work on the machine skews the figures)"
    echo "- runs per measurement: $REPEAT (fastest kept)"
    echo
}

report_table() {
    local r out
    echo "| run | input MB | wall s | MB/s | CPU s (user+sys) | peak RSS MiB | output MB |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for r in "${ROWS[@]}"; do
        local cell=${r//|/\\|} # a pipe inside a markdown cell must be escaped
        if ! done_row "$r"; then echo "| $cell (${R_NOTE[$r]}) | - | - | - | - | - | - |"; continue; fi
        out=${R_OUT[$r]:+$(calc "${R_OUT[$r]} / 1e6" 1)}
        echo "| $cell | $(calc "${R_IN[$r]} / 1e6" 1) | $(wall_s "$r") | $(mbps "$r") | ${R_CPU[$r]} | $(rss_mib "$r") | ${out:--} |"
    done
    echo
    echo "Peak RSS is that of the largest single process (GNU time %M): for the shell"
    echo "pipeline the largest of zstd, age, tee, sha256sum; for the pg_dump jobs the"
    echo "larger of moonbak and the pg_dump it spawns.  CPU is the whole process tree."
    echo
}

# target LABEL VALUE OP GOAL — one line of the targets table.
target() {
    local label=$1 value=$2 op=$3 goal=$4 ok
    if [[ -z $value ]]; then echo "| $label | - | $op $goal | skipped |"; return; fi
    if [[ -z $op ]]; then echo "| $label | $value | | |"; return; fi
    ok=$(awk -v v="$value" -v g="$goal" -v op="$op" 'BEGIN { print ((op == "≥" && v >= g) || (op == "≤" && v <= g) || (op == "<" && v < g)) ? "PASS" : "MISS" }')
    echo "| $label | $value | $op $goal | $ok |"
}
# ratio_wall A B — wall(A) / wall(B), empty when either was skipped.
ratio_wall() { if done_row "$1" && done_row "$2"; then calc "${R_WALL[$1]} / ${R_WALL[$2]}" 3; fi; }

report_targets() {
    local m="moonbak file, zstd 3, age" p="zstd | age | tee sha256sum (shell)" z="zstd -3 -T2"
    local enc="no encryption"
    ((PG_ENCRYPT)) && enc="age"
    echo "| target | value | goal | result |"
    echo "|---|---:|---:|---|"
    target "moonbak (file, zstd 3, age) ÷ shell pipeline, MB/s" "$(ratio_wall "$p" "$m")" "≥" 1.3
    target "moonbak (file, zstd 3, age) ÷ zstd -3 -T2 alone, MB/s" "$(ratio_wall "$z" "$m")" "≥" 0.9
    target "moonbak restore --output ÷ age -d \\| zstd -d > file, MB/s" "$(ratio_wall "age -d | zstd -d > file (shell)" "moonbak restore --output")" "≥" 1.3
    if ((PG_ON)); then
        target "moonbak pg_dump job (zstd 1, $enc) ÷ pg_dump > /dev/null, time" "$(ratio_wall "moonbak pg_dump, zstd 1, $enc" "pg_dump > /dev/null")" "≤" 1.05
        target "moonbak pg_dump job (zstd 3, $enc) ÷ pg_dump > /dev/null, time" "$(ratio_wall "moonbak pg_dump, zstd 3, $enc" "pg_dump > /dev/null")" "≤" 1.10
    fi
    done_row "$m" && echo "| moonbak peak RSS (file, zstd 3, age) | $(rss_mib "$m") MiB | | |"
    echo
}

report_memory() {
    local a=${ROWS[0]} b=${ROWS[1]}
    echo "| target | value | goal | result |"
    echo "|---|---:|---:|---|"
    if done_row "$a" && done_row "$b"; then
        local diff
        diff=$(awk -v x="${R_RSS[$a]}" -v y="${R_RSS[$b]}" 'BEGIN { d = (y - x) / x * 100; printf "%.1f", d < 0 ? -d : d }')
        target "peak RSS 4 GiB ÷ 1 GiB ($(rss_mib "$b") / $(rss_mib "$a") MiB)" "$(calc "${R_RSS[$b]} / ${R_RSS[$a]}" 3)" "" ""
        target "peak RSS difference, %" "$diff" "<" 10
        target "peak RSS 1 GiB, MiB" "$(rss_mib "$a")" "<" 64
        target "peak RSS 4 GiB, MiB" "$(rss_mib "$b")" "<" 64
    fi
    echo
}

# ------------------------------------------------------------------ main ---

main() {
    [[ $# -ge 1 && $# -le 2 ]] || usage
    local mode=full
    [[ $# -eq 2 ]] && { [[ $2 == --memory ]] || usage; mode=memory; }
    [[ -x $1 ]] || die "$1: not an executable"
    MOONBAK=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    [[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer"

    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    START_DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    setup
    local dump report
    dump=$("$HERE/gen-data.sh" "$DATA" "$SQL_MB")
    report=$DATA/results-$(date -u +%Y%m%dT%H%M%SZ)-$mode.md

    if [[ $mode == memory ]]; then
        bench_memory "$dump"
        { report_header; echo "### Memory: moonbak on 1 GiB and 4 GiB (the SQL dump repeated)"; echo
          report_table; report_memory; } | tee "$report"
    else
        bench_file "$dump"
        ((PG_ON)) && bench_pg
        {
            report_header
            echo "Inputs: synthetic SQL dump $(calc "$(filesize "$dump") / 1e6" 1) MB (bench/gen-sql.c)"
            ((PG_ON)) && echo "and pg_dump of \`pgbench -i -s $PG_SCALE\`, $(calc "$PG_BYTES / 1e6" 1) MB."
            echo
            report_table
            echo "### Targets"
            echo
            report_targets
        } | tee "$report"
    fi
    log "report written to $report"
}

main "$@"
