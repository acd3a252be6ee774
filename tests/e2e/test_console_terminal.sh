#!/usr/bin/env bash
# moonbak console on a terminal (a tmux pane, a real pseudo-terminal): the
# prompt, Tab completion, the history file, Ctrl-C at the prompt and while
# a statement or a job run goes on, Ctrl-D.  Every check waits for text to
# appear in the pane (or a file to be written): no fixed sleeps.
. "$(dirname "$0")/lib.sh"
require_tools tmux
cd "$T"

sock=$T/tmux.sock
tm() { tmux -S "$sock" "$@"; }
trap 'tm kill-server 2>/dev/null' EXIT

# the whole pane, its scrollback included, without trailing blank lines nor
# the ^C the terminal echoes in front of what follows a Ctrl-C
pane() { tm capture-pane -p -S -2000 -t console | sed -e 's/^^C//' -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
# wait_for TEST : waits until TEST succeeds (an event; the 90 s bound only
# stops a hang, such as a statement that never gives the prompt back)
wait_for() {
    local give_up=$((SECONDS + 90))
    until eval "$1"; do
        [ "$SECONDS" -lt "$give_up" ] || return 1
        sleep 0.01
    done
}
show_pane() { pane | sed 's/^/#   /'; }
# expect NAME TEST : passes once TEST succeeds; else fails, showing the pane
expect() {
    if wait_for "$2"; then ok "$1"; else not_ok "$1"; show_pane; fi
}
# the console waits at an empty prompt (drawn once the terminal is raw)
idle='[ "$(pane | tail -n 1)" = ">" ]'
# after TEXT : TEXT is a line of the pane and the console is idle after it
after() { echo "pane | grep -qxF -- '$1' && $idle"; }
keys() { tm send-keys -t console "$@"; }
line() { tm send-keys -t console -l "$1"; tm send-keys -t console Enter; }

# The shell that starts the console in the pane ignores SIGINT (as an
# interactive one does, which puts the console in a process group of its
# own): a Ctrl-C is the console's alone, and the shell is there after it
# ends to say its exit status.
tm -f /dev/null new-session -d -s console -x 150 -y 50 \
    "trap '' INT; cd '$T' && '$MOONBAK' console; echo \$? > '$T/exit'; sleep 600"
expect "on a terminal the console shows its banner and a prompt" "pane | grep -q 'console, Lua 5.4' && $idle"

keys "mb.cro" Tab
expect "Tab completes mb.cro to mb.cron (a submodule not loaded yet)" "[ \"\$(pane | tail -n 1)\" = '> mb.cron' ]"
line '.next("0 3 * * *", { after = 0 })[1] + 1000000'
expect "...into an expression that runs" "$(after 1010800)"

line 'my_long_global_name = 1041'
wait_for "pane | grep -qF 'my_long_global_name = 1041' && $idle"
keys "my_long_g" Tab Enter
expect "Tab completes a global the session defined" "$(after 1041)"

keys "mb." Tab
expect "Tab after mb. lists the submodules" "pane | grep -q '^artifact  *backups ' && pane | grep -qw runner"
keys C-u

"$MOONBAK" console <<<'print(package.preload["moonbak.console.helpers"] ~= nil)' >"$T/has_helpers" 2>&1
if grep -qx true "$T/has_helpers"; then
    keys "verif" Tab
    expect "Tab completes a helper's name (verif -> verify)" "[ \"\$(pane | tail -n 1)\" = '> verify' ]"
    keys C-u
else
    ok "Tab completes a helper's name # SKIP the helpers (branch console-helpers) are not in this build"
fi

line 'for i = 1, 2 do'
expect "an incomplete statement goes on with a >> prompt" "[ \"\$(pane | tail -n 1)\" = '>>' ]"
line 'print(i * 1111)'
line 'end'
expect "...and runs once complete" "pane | grep -qxF 1111 && $(after 2222)"

line 'abandoned = ('
wait_for "[ \"\$(pane | tail -n 1)\" = '>>' ]"
keys C-c
wait_for "$idle"
line '=abandoned == nil and 3033 or 0'
expect "Ctrl-C at a >> prompt drops the incomplete statement: a fresh prompt, the session goes on" "$(after 3033)"

history=$MOONBAK_STATE/console_history
cat > decode.lua <<'LUA'
-- prints the entries of a libedit history file, one a line, with "\n" for a newline
local f = assert(io.open(arg[1]))
assert(f:read("l") == "_HiStOrY_V2_", "not a libedit history file")
for entry in f:lines() do
  entry = entry:gsub("\\(%d%d%d)", function(o) return string.char(tonumber(o, 8)) end):gsub("\\\\", "\\")
  print((entry:gsub("\n", "\\n")))
end
LUA
wait_for "grep -qF 'abandoned\\040==' '$history' 2>/dev/null"
"$MOONBAK" script decode.lua "$history" > entries
check "the history file is written, mode 600" bash -c "[ \"\$(stat -c %a '$history')\" = 600 ]"
check "...a statement of several lines is one entry" grep -qxF 'for i = 1, 2 do\nprint(i * 1111)\nend' entries ||
    sed 's/^/#   /' entries
check "...its lines are no entries of their own, nor the dropped input" \
    bash -c "! grep -qxF 'for i = 1, 2 do' entries && ! grep -qF 'abandoned = (' entries" || sed 's/^/#   /' entries

line 'io.write("spin" .. "ning\n") io.stdout:flush() while true do end'
wait_for "pane | grep -qx spinning"
keys C-c
expect "Ctrl-C stops a long statement (while true do end) and brings the prompt back" \
    "$(after 'stdin:1: interrupted')"
line '=4000 + 44'
expect "...and the next statement runs" "$(after 4044)"

# A job run from the console, cancelled by Ctrl-C once its upload has begun
# (the storage holds its hidden partial file), then another one.
cat > endless.lua <<JOB
return { name = "endless", source = { type = "command",
           argv = { "sh", "-c", "echo \$\$ > $T/tool.pid; while :; do seq 1 100000; done" } },
         storage = { { type = "local", path = "$T/store" } } }
JOB
echo "small" > small.txt
cat > small.lua <<JOB
return { name = "small", source = { type = "file", path = "$T/small.txt" },
         storage = { { type = "local", path = "$T/store" } } }
JOB
line 'st = mb.state.open(os.getenv("MOONBAK_STATE"))'
line 'ok, ctx = mb.runner.run(mb.job.open("endless.lua"), { state = st }) print("first run: " .. ctx.status) while true do end'
wait_for '[ -s "$T/tool.pid" ] && [ -n "$(find store -name ".*.partial-*" 2>/dev/null)" ]'
tool=$(cat "$T/tool.pid")
keys C-c
expect "Ctrl-C during a job run from the console cancels the run, stops the statement, brings the prompt back" \
    "pane | grep -qxF 'first run: cancelled' && $(after 'stdin:1: interrupted')"
mb history endless --json
check "...recorded as cancelled" json "$T/out" "assert(t[1].status == 'cancelled')"
check "...leaving nothing in the storage, not even a hidden partial file" \
    bash -c "[ -z \"\$(find store -type f 2>/dev/null)\" ]"
expect "...and its dump tool (pid $tool) is gone" "[ -n '$tool' ] && ! kill -0 '$tool' 2>/dev/null"
line 'ok, ctx = mb.runner.run(mb.job.open("small.lua"), { state = st }) print("second run: " .. ctx.status)'
expect "...and the next job run from the same console is not cancelled" "$(after 'second run: success')"

keys C-d
expect "Ctrl-D leaves the console with status 0 (and, built with the sanitizers, no leak)" \
    "[ \"\$(cat '$T/exit' 2>/dev/null)\" = 0 ]"
finish
