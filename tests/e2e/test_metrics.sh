#!/usr/bin/env bash
# Prometheus metrics: the textfile after success, failure and partial runs
# passes promtool and holds the expected values; `moonbak metrics` prints
# the same text; the file is replaced through a temporary name that never
# matches *.prom (what the textfile collector reads), and a file that
# cannot be written changes nothing about the run.
. "$(dirname "$0")/lib.sh"
require_tools promtool sqlite3
cd "$T"
sqlite3 app.db "CREATE TABLE t (x); INSERT INTO t VALUES ('one'), ('two');"
mkdir -p jobs textfile
prom=$T/textfile/moonbak.prom
# a schedule whose next fire time stays the same for years: the file and
# `moonbak metrics` a moment later agree on it
cat > jobs/good.lua <<JOB
return { name = "good", source = { type = "sqlite", path = "$T/app.db" }, schedule = "0 0 29 2 *",
         storage = { { type = "local", path = "$T/store" } }, metrics = "$prom" }
JOB
cat > jobs/bad.lua <<JOB
return { name = "bad", source = { type = "sqlite", path = "$T/missing.db" },
         storage = { { type = "local", path = "$T/store" } }, metrics = "$prom" }
JOB
cat > jobs/partial.lua <<JOB
return { name = "partial", source = { type = "sqlite", path = "$T/app.db" },
         storage = { { type = "local", name = "good", path = "$T/store" },
                     { type = "local", name = "broken", path = "/proc/moonbak-cannot-write" } },
         metrics = "$prom" }
JOB
export MOONBAK_JOBS=$T/jobs

# value METRIC LABELS : the value of one sample in the file
value() { sed -n "s/^$1{$2} //p" "$prom"; }

promtool_ok() {
    promtool check metrics < "$prom" > "$T/promtool" 2>&1 || { sed 's/^/# /' "$T/promtool"; return 1; }
}

# only the file itself in its directory: no temporary file left, none seen
only_the_file() { [ "$(ls -A textfile)" = moonbak.prom ]; }

mb run good
check "a successful run exits 0" [ $? -eq 0 ] || show_err
check "...and writes the metrics file, which promtool accepts" promtool_ok
check "...mode 0644, for an exporter running as another user" [ "$(stat -c %a "$prom")" = 644 ]
check "...with nothing else left in its directory" only_the_file
check "last status 0 and its label" \
    [ "$(value moonbak_job_last_status 'job="good"')" = 0 -a "$(value moonbak_job_last_status_info 'job="good",status="success"')" = 1 ]
check "runs_total counts the success" [ "$(value moonbak_job_runs_total 'job="good",status="success"')" = 1 ]
artifact=$(ls store/good/*.sqlite3.zst)
check "stored bytes: the artifact's size" \
    [ "$(value moonbak_job_last_backup_stored_bytes 'job="good"')" = "$(stat -c %s "$artifact")" ]
logical=$(json "$artifact.meta.json" "print(math.tointeger(t.logical_size))")
check "dumped bytes: the logical size in the sidecar ($logical)" \
    [ "$(value moonbak_job_last_backup_dumped_bytes 'job="good"')" = "$logical" ]
check "one backup present" [ "$(value moonbak_job_backups 'job="good"')" = 1 ]
success_at=$(value moonbak_job_last_success_timestamp_seconds 'job="good"')
check "the last success is now-ish ($success_at)" \
    [ "${success_at%.*}" -le "$(date +%s)" -a "${success_at%.*}" -ge $(( $(date +%s) - 3600 )) ]
next=$(value moonbak_job_next_run_timestamp_seconds 'job="good"')
check "the next run is the next 29 February at 00:00 UTC ($next)" \
    [ "$(date -u -d "@$next" +%m-%dT%H:%M:%S)" = 02-29T00:00:00 ]
check "the file holds the other jobs of the directory, never run" \
    [ "$(value moonbak_job_runs_total 'job="bad",status="failed"')" = 0 -a "$(value moonbak_job_paused 'job="partial"')" = 0 ]
check "build info names this moonbak" grep -q "^moonbak_build_info{version=\"$("$MOONBAK" version | cut -d' ' -f2)\",lua=\"5.4" "$prom"

mb run bad
check "a failed run exits 1" [ $? -eq 1 ]
check "...and rewrites the file, which promtool accepts" promtool_ok
check "...with nothing else left in its directory" only_the_file
check "last status 2 (failed) and its label" \
    [ "$(value moonbak_job_last_status 'job="bad"')" = 2 -a "$(value moonbak_job_last_status_info 'job="bad",status="failed"')" = 1 ]
check "a last failure time, no last success" \
    [ -n "$(value moonbak_job_last_failure_timestamp_seconds 'job="bad"')" -a -z "$(value moonbak_job_last_success_timestamp_seconds 'job="bad"')" ]
check "runs_total counts the failure" [ "$(value moonbak_job_runs_total 'job="bad",status="failed"')" = 1 ]
check "no backup, no sizes" \
    [ "$(value moonbak_job_backups 'job="bad"')" = 0 -a -z "$(value moonbak_job_last_backup_stored_bytes 'job="bad"')" ]
check "no next run for a job without schedule" [ -z "$(value moonbak_job_next_run_timestamp_seconds 'job="bad"')" ]
check "the good job's values are still there" [ "$(value moonbak_job_last_status 'job="good"')" = 0 ]

mb run partial
check "a partial run exits 1" [ $? -eq 1 ]
check "...and rewrites the file, which promtool accepts" promtool_ok
check "...with nothing else left in its directory" only_the_file
check "last status 1 (partial) and its label" \
    [ "$(value moonbak_job_last_status 'job="partial"')" = 1 -a "$(value moonbak_job_last_status_info 'job="partial",status="partial"')" = 1 ]
check "a partial run is neither the last success nor a failure" \
    [ -z "$(value moonbak_job_last_success_timestamp_seconds 'job="partial"')" -a -z "$(value moonbak_job_last_failure_timestamp_seconds 'job="partial"')" ]
check "...counted as partial, its backup present on the good storage" \
    [ "$(value moonbak_job_runs_total 'job="partial",status="partial"')" = 1 -a "$(value moonbak_job_backups 'job="partial"')" = 1 ]
check "...with its stored size" \
    [ "$(value moonbak_job_last_backup_stored_bytes 'job="partial"')" = "$(stat -c %s store/partial/*.sqlite3.zst)" ]

mb metrics
check "moonbak metrics exits 0" [ $? -eq 0 ] || show_err
check "...and prints the text of the file" cmp -s "$T/out" "$prom"

mb pause good
mb metrics
check "a paused job: paused 1, no next run" \
    bash -c "grep -qx 'moonbak_job_paused{job=\"good\"} 1' '$T/out' && ! grep -q 'next_run_timestamp_seconds{job=\"good\"}' '$T/out'"
mb resume good

echo 'return { name = ' > jobs/broken.lua
mb metrics
check "a broken job file is left out of moonbak metrics, named on stderr, not fatal" \
    bash -c "[ $? -eq 0 ] && grep -q broken.lua '$T/err' && grep -q 'job=\"good\"' '$T/out'"
mb run good
check "...and of the file a run writes" bash -c "[ $? -eq 0 ] && promtool check metrics < '$prom' >/dev/null && grep -q 'job=\"bad\"' '$prom'"
rm jobs/broken.lua

# ---- MOONBAK_METRICS: the file of jobs that name none -------------------------
mkdir -p plain
cat > plain/plain.lua <<JOB
return { name = "plain", source = { type = "sqlite", path = "$T/app.db" },
         storage = { { type = "local", path = "$T/store" } } }
JOB
MOONBAK_METRICS=$T/env.prom mb --jobs "$T/plain" run plain
check "MOONBAK_METRICS: a job without metrics = PATH writes there" \
    bash -c "[ $? -eq 0 ] && grep -qx 'moonbak_job_runs_total{job=\"plain\",status=\"success\"} 1' '$T/env.prom'"
check "...and only its own jobs" bash -c "! grep -q 'job=\"good\"' '$T/env.prom'"

# ---- the temporary name, and a file that cannot be written ------------------
# The rename is made to fail deterministically: the metrics path is a
# directory with something in it.  The warning names the temporary file
# the run wrote (and removed): the same code path as every write.
mkdir -p blocked/moonbak.prom/in-the-way
cat > blocked.lua <<JOB
return { name = "blocked", source = { type = "sqlite", path = "$T/app.db" },
         storage = { { type = "local", path = "$T/store" } }, metrics = "$T/blocked/moonbak.prom" }
JOB
mb --jobs "$T/plain" run "$T/blocked.lua"
check "a metrics file that cannot be written leaves the run's exit status 0" [ $? -eq 0 ] || show_err
cp "$T/err" "$T/blocked.err"
check "...and is a warning on stderr naming the file" \
    grep -q "warning: blocked: the metrics file was not updated: metrics $T/blocked/moonbak.prom: cannot rename " "$T/blocked.err"
mb history blocked --json
check "...and leaves its status success" json "$T/out" "assert(t[1].status == 'success')"
temp=$(sed -n 's/.*cannot rename \(.*\) to .*/\1/p' "$T/blocked.err")
check "the temporary file ($temp) is in the file's directory" [ "$(dirname "$temp")" = "$T/blocked" ]
case $(basename "$temp") in
    *.prom) not_ok "the temporary file's name does not match *.prom ($temp)" ;;
    ?*) ok "the temporary file's name does not match *.prom ($temp)" ;;
    *) not_ok "the temporary file's name does not match *.prom (none found in the warning)" ;;
esac
check "...and it is removed" [ "$(ls -A blocked)" = moonbak.prom ]

finish
