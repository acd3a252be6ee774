#!/usr/bin/env bash
# moonbak notify send EXECUTION (what the daemon runs for the outcomes it
# records itself): a notifier the run already told of its outcome is not
# told again (a run killed past its time limit while notifying told some);
# the others are.  Lua notifiers only: no server, no port.
. "$(dirname "$0")/lib.sh"
require_tools sqlite3

mkdir -p "$T/jobs"
cat > "$T/jobs/shop.lua" <<JOB
local function heard(name)
  return function(e)
    local f = assert(io.open("$T/heard", "a")); f:write(name, " ", e.event, "\n"); f:close()
  end
end
return {
  source = { type = "sqlite", path = "$T/missing/shop.db" },
  storage = { { type = "local", path = "$T/backups" } },
  notify = { { type = "lua", name = "told", fn = heard("told") } },
}
JOB
export MOONBAK_JOBS=$T/jobs
mb run shop
check "the run fails (no database)" [ $? -ne 0 ] || show_err
check "...and told its notifier" [ "$(cat "$T/heard")" = "told failure" ]
id=$(sqlite3 "$MOONBAK_STATE/moonbak.db" "SELECT max(id) FROM executions")

# a second notifier, added as if the run had been killed before reaching it
sed -i 's/notify = { { type = "lua", name = "told", fn = heard("told") } }/notify = { { type = "lua", name = "told", fn = heard("told") }, { type = "lua", name = "late", fn = heard("late") } }/' "$T/jobs/shop.lua"
: > "$T/heard"
mb notify send "$id"
check "notify send: exit 0" [ $? -eq 0 ] || show_err
check "...the notifier the run told is not told again" [ "$(grep -c '^told' "$T/heard")" -eq 0 ]
check "...the one it did not tell is" [ "$(cat "$T/heard")" = "late failure" ]
check "...and its delivery is recorded" \
    [ "$(sqlite3 "$MOONBAK_STATE/moonbak.db" "SELECT group_concat(notifier || ' ' || status, ',') FROM deliveries WHERE execution_id = $id ORDER BY id")" = "told sent,late sent" ]
finish
