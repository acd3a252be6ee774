#!/usr/bin/env bash
# End to end: a SQLite database backed up while another process writes to it,
# listed, verified, restored; then damaged artifacts.
. "$(dirname "$0")/lib.sh"

db=$T/live.db
sqlite3 "$db" <<'SQL'
CREATE TABLE events (id INTEGER PRIMARY KEY, payload BLOB, note TEXT);
CREATE INDEX events_note ON events (note);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO events (payload, note) SELECT randomblob(1000), 'before ' || i FROM n;
SQL

# Two steps of the job's own bracket the snapshot: the run goes on to the
# upload only once the writer has committed a row after the snapshot began
# (60 s at most: only a writer the backup blocks takes that long).  So the
# writer surely commits during the run, however the machine schedules it.
cat > "$T/live.lua" <<JOB
local function last_committed()
  local f = assert(io.open("$T/progress"))
  local last = 0
  for line in f:lines() do last = tonumber(line) or last end
  f:close()
  return last
end
local before_snapshot
local function note_writer() before_snapshot = last_committed() end
local function wait_for_writer()
  local sys = require "moonbak.sys"
  for _ = 1, 1200 do
    if last_committed() > before_snapshot then return end
    sys.sleep(0.05)
  end
  error("the writer committed nothing for 60 s after the snapshot began", 0)
end
return {
  name = "live",
  source = { type = "sqlite", path = "$db" },
  compression = { type = "zstd", level = 3 },
  storage = { { type = "local", path = "$T/backups" } },
  steps = { "initialize", note_writer, "dump", wait_for_writer, "upload", "completion" },
}
JOB

for journal in wal delete; do
    sqlite3 "$db" "PRAGMA journal_mode = $journal" >/dev/null
    rm -f "$T/progress" "$T/stop"
    "$MOONBAK" script tests/e2e/sqlite_writer.lua "$db" "$T/progress" "$T/stop" &
    writer=$!
    for _ in $(seq 1200); do # until the writer has committed a few rows (60 s at most)
        [ -s "$T/progress" ] && [ "$(wc -l <"$T/progress")" -ge 20 ] && break
        sleep 0.05
    done
    before=$(tail -n 1 "$T/progress")
    mb run "$T/live.lua"; status=$?
    during=$(tail -n 1 "$T/progress")
    touch "$T/stop"; wait $writer
    check "[$journal] backup succeeds while another process writes (exit $status)" [ $status -eq 0 ]
    check "[$journal] the writer kept committing during the backup (row $before, then $during)" [ "$during" -gt "$before" ]
    id=$(sed -n 's/.*backup \([0-9TZ.a-f-]*\).*/\1/p' "$T/out")
    rm -f "$T/restored.db"
    mb restore "$T/live.lua" "$id" --output "$T/restored.db"
    check "[$journal] restore of backup $id succeeds" [ $? -eq 0 ]
    check "[$journal] the restored database passes PRAGMA integrity_check" \
        [ "$(sqlite3 "$T/restored.db" 'PRAGMA integrity_check')" = ok ]
    missing=$(sqlite3 "$T/restored.db" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $before)
                                        SELECT count(*) FROM n WHERE i NOT IN (SELECT id FROM events)")
    check "[$journal] every row committed before the backup began is restored (ids 1..$before, $missing missing)" [ "$missing" = 0 ]
done

mb backups "$T/live.lua"
check "backups lists both backups from the sidecars" [ "$(grep -c '^2[0-9]*T[0-9.]*Z' "$T/out")" -eq 2 ]
mb backups "$T/live.lua" --json
check "backups --json is valid JSON with both checksums" json "$T/out" "assert(#t == 2 and #t[1].sha256 == 64 and #t[1].plain_sha256 == 64)"

mb verify "$T/live.lua" --all
check "verify --all checks every backup" [ $? -eq 0 -a "$(grep -c '^ok' "$T/out")" -eq 2 ]

artifact=$(ls "$T"/backups/live/*.sqlite3.zst | tail -n 1)
check "the artifact is a standard zstd file: zstd -d gives the restored database" \
    bash -c "zstd -dc '$artifact' | cmp -s - '$T/restored.db'"
check "the sidecar records the sha256 of the stored bytes" \
    grep -q "\"sha256\":\"$(sha256sum "$artifact" | cut -d' ' -f1)\"" "$artifact.meta.json"
check "the sidecar records the sha256 of the dump" \
    grep -q "\"plain_sha256\":\"$(sha256sum "$T/restored.db" | cut -d' ' -f1)\"" "$artifact.meta.json"

# Damage: one flipped byte in the middle of the newest artifact.
cp "$artifact" "$T/artifact.orig"
size=$(stat -c %s "$artifact")
flip_byte "$artifact" $((size / 2))
mb verify "$T/live.lua"
check "verify fails on a flipped byte, exit 1" [ $? -eq 1 ]
check "verify says what is wrong with the backup" grep -q "FAILED.*\(checksum mismatch\|zstd\)" "$T/out"
mb restore "$T/live.lua" --output "$T/r2.db"
check "restore of a damaged backup fails" [ $? -eq 1 ]
check "restore of a damaged backup writes nothing, not even a temporary file" \
    bash -c "! ls -A '$T' | grep -q r2.db"

head -c $((size - 100)) "$T/artifact.orig" > "$artifact"
mb verify "$T/live.lua"
check "verify fails on a truncated artifact" [ $? -eq 1 ]
cp "$T/artifact.orig" "$artifact"
mb verify "$T/live.lua"
check "verify passes again once the artifact is intact" [ $? -eq 0 ]

mv "$artifact" "$T/moved"
mb backups "$T/live.lua" --json
check "a sidecar whose artifact is missing is not listed as a backup" json "$T/out" "assert(#t == 1)"
check "...and the missing artifact is reported" grep -q "has no artifact" "$T/err"
mb verify "$T/live.lua" --all
check "verify --all fails when a sidecar has lost its artifact" \
    bash -c "[ $? -eq 1 ] && grep -q 'FAILED.*has no artifact' '$T/err' && [ \"\$(grep -c '^ok' '$T/out')\" -eq 1 ]"
mv "$T/moved" "$artifact"

finish
