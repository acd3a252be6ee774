#!/usr/bin/env bash
# moonbak cron next, and the next run that `moonbak jobs` shows.
. "$(dirname "$0")/lib.sh"

# prints_lines NAME LINE... : $T/out holds exactly these lines
prints_lines() {
    local name=$1; shift
    printf '%s\n' "$@" > "$T/expected"
    check "$name" cmp -s "$T/expected" "$T/out" || { sed 's/^/# got: /' "$T/out"; show_err; }
}

mb cron next '30 2 * * *' --timezone Europe/Berlin --after 2026-03-27T12:00:00Z --count 3
check "cron next exits 0" [ $? -eq 0 ]
prints_lines "a fixed time in Berlin's spring-forward gap fires at the jump (01:00 UTC), once" \
    2026-03-28T01:30:00Z 2026-03-29T01:00:00Z 2026-03-30T00:30:00Z
mb cron next '30 2 * * *' --timezone Europe/Berlin --after 2026-10-23T12:00:00Z --count 3
prints_lines "a fixed time on Berlin's fall-back night fires once, at the first 02:30 (00:30 UTC)" \
    2026-10-24T00:30:00Z 2026-10-25T00:30:00Z 2026-10-26T01:30:00Z
mb cron next '0 * * * *' --timezone Europe/Berlin --after 2026-10-24T23:30:00Z --count 3
prints_lines "a wildcard hour follows the wall clock through the repeated hour" \
    2026-10-25T00:00:00Z 2026-10-25T01:00:00Z 2026-10-25T02:00:00Z
mb cron next 0 0 29 2 '*' --after 2026-01-01T00:00:00Z --count 2
prints_lines "the fields may come as separate arguments; UTC by default; leap days" \
    2028-02-29T00:00:00Z 2032-02-29T00:00:00Z
mb cron next @daily
check "without --after the times come after now" [ $? -eq 0 ] && \
    check "...one line by default" [ "$(wc -l < "$T/out")" -eq 1 ]

mb cron next '*/0 * * * *'
check "a bad expression exits 2" [ $? -eq 2 -a ! -s "$T/out" ]
check "...with the message naming the field" grep -q 'minute field "\*/0": a step must be 1 or more' "$T/err"
mb cron next '0 0 30 2 *'
check "an expression that can never fire exits 2" [ $? -eq 2 ]
check "...saying so" grep -q 'can never fire' "$T/err"
mb cron next @daily --timezone Mars/Olympus_Mons
check "an unknown zone exits 2" [ $? -eq 2 ]
check "...naming it" grep -q 'time zone "Mars/Olympus_Mons": no such zone' "$T/err"
mb cron next @daily --after 2026-02-30T00:00:00Z
check "a time that does not exist exits 2" [ $? -eq 2 ]
mb cron next @daily --count 0
check "a count of 0 exits 2" [ $? -eq 2 ]
mb cron
check "cron without next exits 2" [ $? -eq 2 ]

jobs=$T/jobs
mkdir -p "$jobs"
cat > "$jobs/nightly.lua" <<'JOB'
return { schedule = "30 2 * * *", timezone = "Europe/Berlin",
         source = { type = "file", path = "/etc/hostname" }, storage = { { type = "local", path = "/tmp/x" } } }
JOB
cat > "$jobs/manual.lua" <<'JOB'
return { source = { type = "file", path = "/etc/hostname" }, storage = { { type = "local", path = "/tmp/x" } } }
JOB
# the next run as cron next computes it, before and after (a fire time may pass in between)
before=$("$MOONBAK" cron next '30 2 * * *' --timezone Europe/Berlin)
mb --jobs "$jobs" jobs
cp "$T/out" "$T/jobs.txt"
mb --jobs "$jobs" jobs --json
cp "$T/out" "$T/jobs.json"
after=$("$MOONBAK" cron next '30 2 * * *' --timezone Europe/Berlin)
check "jobs shows a NEXT RUN column" grep -q 'NEXT RUN' "$T/jobs.txt"
check "...with the job's next run in its zone, as cron next computes it" \
    grep -Eq "^nightly .*($before|$after)" "$T/jobs.txt" || cat "$T/jobs.txt"
json "$T/jobs.json" "local by = {} for _, j in ipairs(t.jobs) do by[j.name] = j end
assert(by.nightly.next_run == '$before' or by.nightly.next_run == '$after', tostring(by.nightly.next_run))
assert(by.nightly.timezone == 'Europe/Berlin')
assert(by.manual.next_run == nil)"
check "jobs --json has next_run (none for a job without a schedule)" [ $? -eq 0 ]

finish
