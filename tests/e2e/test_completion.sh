#!/usr/bin/env bash
# Bash completion (completion/moonbak.bash): commands, the options of the
# command being typed, job names from the jobs directory (--jobs on the
# line, MOONBAK_JOBS), backup ids and storage names of a job, source types.
# The completion function is called as bash calls it, with COMP_WORDS and
# COMP_CWORD set; no terminal needed.
. "$(dirname "$0")/lib.sh"
completion=$(cd "$(dirname "$0")/../.." && pwd)/completion/moonbak.bash

jobs=$T/jobs
mkdir -p "$jobs" "$T/other-jobs"
sqlite3 "$T/app.db" "CREATE TABLE t (x); INSERT INTO t VALUES (1);"
cat > "$jobs/app.lua" <<JOB
return {
  source = { type = "sqlite", path = "$T/app.db" },
  storage = { { type = "local", path = "$T/near" }, { type = "local", name = "offsite", path = "$T/far" } },
}
JOB
cp "$jobs/app.lua" "$jobs/apricot.lua"
sed -i 's/^return {/return { name = "apricot",/' "$jobs/apricot.lua"
cp "$jobs/app.lua" "$T/other-jobs/elsewhere.lua"
MOONBAK_JOBS=$jobs "$MOONBAK" run app >"$T/out" 2>"$T/err" || show_err
backup=$("$MOONBAK" --jobs "$jobs" backups app --json | "$MOONBAK" script <(echo 'print(require("cjson").decode(io.read("a"))[1].backup_id)'))

# complete WORD... : the COMPREPLY for the last WORD, sorted, on one line
# (in $T/reply); the first word is the program as typed: $MOONBAK
complete_line() {
    bash -c '
        . "$1"; shift
        COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
        _moonbak
        printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort | tr "\n" " " | sed "s/ $//"
    ' bash "$completion" "$MOONBAK" "$@" > "$T/reply"
}

# expect NAME "REPLY" WORD... : the completion of WORD... is exactly REPLY
expect() {
    local name=$1 want=$2; shift 2
    complete_line "$@"
    check "$name" [ "$(cat "$T/reply")" = "$want" ] || echo "# got: $(cat "$T/reply"); want: $want"
}

# the parser's own lists, to compare with
"$MOONBAK" script <(echo 'print(table.concat(require("moonbak.cli").names, " "))') > "$T/names"
commands=$(tr ' ' '\n' < "$T/names" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
cat > "$T/options.lua" <<'LUA'
local cli = require "moonbak.cli"
local list = {}
for _, o in ipairs(cli.global_options) do list[#list + 1] = "--" .. o[1] end
for _, o in ipairs(cli.command(arg[1]).options) do list[#list + 1] = "--" .. o[1] end
table.sort(list)
print(table.concat(list, " "))
LUA

expect "an empty word completes every command" "$commands" ""
expect "a prefix completes the commands it starts" "restore resume" re
expect "after the global options too" "run" --state "$T/state" ru
for cmd in $(cat "$T/names"); do
    expect "-- completes every option of $cmd (and the global ones)" \
        "$("$MOONBAK" script "$T/options.lua" "$cmd")" "$cmd" --
done
expect "an option prefix completes the options it starts" "--state --storage" restore app --st
MOONBAK_JOBS=$jobs expect "a JOB completes the jobs of MOONBAK_JOBS" "app apricot" run ""
MOONBAK_JOBS=$jobs expect "...those it starts" "app apricot" verify ap
expect "--jobs DIR on the line wins" "elsewhere" --jobs "$T/other-jobs" run ""
expect "...also written --jobs=DIR (which bash splits at =)" "elsewhere" --jobs = "$T/other-jobs" run ""
expect "...also after the command" "elsewhere" run --jobs "$T/other-jobs" ""
(cd "$T" && expect "without either, ./jobs" "app apricot" run "")
expect "a BACKUP completes the job's backup ids" "$backup" --jobs "$jobs" restore app ""
expect "--storage completes the job's storage names" "local offsite" --jobs "$jobs" backups app --storage ""
expect "...of the job named on the line" "offsite" --jobs "$jobs" verify app --storage o
expect "a job that does not load completes nothing, quietly" "" --jobs "$T/nowhere" restore app ""
expect "new completes the source types" "command file mariadb mongodb mysql postgres redis sqlite" new ""
expect "help completes the commands" "$commands" help ""
expect "secret completes its actions" "list rm set" secret ""
expect "cron completes next" "next" cron ""
touch "$T/some-file.key"
expect "--identity completes file names" "$T/some-file.key" restore app --identity "$T/some-f"
expect "--jobs completes directories" "$T/other-jobs" --jobs "$T/other-"
check "the completion is registered for moonbak" \
    bash -c '. "$1"; complete -p moonbak | grep -q "_moonbak"' bash "$completion"

finish
