#!/usr/bin/env bash
# A first job without reading the source: moonbak new TYPE prints a job file
# for every source type of the registry, with every key of that source, that
# validates once its CHANGE-ME placeholders are filled in; moonbak check JOB
# validates a job file (exit 2), then tries its source and storages as a run
# does before any byte moves (exit 1 naming what failed), backing up nothing.
. "$(dirname "$0")/lib.sh"

jobs=$T/jobs
mkdir -p "$jobs"
"$MOONBAK" script <(echo 'print(table.concat(require("moonbak").source.types(), " "))') > "$T/types"
cat > "$T/keys.lua" <<'LUA'
for _, o in ipairs(require("moonbak").source.schema(arg[1]).options) do print(o.name) end
LUA
check "the registry has source types" [ -s "$T/types" ]

# --- new, for every source type ---------------------------------------------
for type in $(cat "$T/types"); do
    file=$jobs/new-$type.lua
    mb new "$type" "new-$type"
    check "new $type exits 0" [ $? -eq 0 ] || show_err
    cp "$T/out" "$file"
    missing=""
    for key in $("$MOONBAK" script "$T/keys.lua" "$type"); do
        grep -qE "^ *(-- )?$key = " "$file" || missing="$missing $key"
    done
    check "new $type shows every key of the $type source" [ -z "$missing" ] || echo "# missing:$missing"
    check "...each with what it is (a comment from the schema's help)" \
        grep -qF "$("$MOONBAK" script <(echo "print(require('moonbak').source.schema('$type').options[1].help)"))" "$file"
    check "...and marks what to fill in" grep -q 'CHANGE-ME' "$file"
    mb --jobs "$jobs" check --offline "new-$type"
    check "check refuses it while a CHANGE-ME is left (exit 2)" [ $? -eq 2 ]
    check "...naming where" grep -q 'CHANGE-ME left in .*storage\[1\]\.path' "$T/out"
    sed -i "s|CHANGE-ME|$T/filled-in|g" "$file"
    mb --jobs "$jobs" check --offline "new-$type"
    check "filled in, the $type job file validates (check --offline exits 0)" [ $? -eq 0 ] ||
        sed 's/^/# /' "$T/out" "$T/err"
    check "...with an ok line for the file and nothing contacted" \
        grep -q "^ok      job file .*new-$type.lua: job new-$type, source $type, 1 storage" "$T/out"
    check "...and no backup made" [ ! -e "$T/filled-in" ]
done
mb new nosuchtype
check "new with an unknown type exits 2" [ $? -eq 2 ]
check "...listing the types" grep -q 'sqlite' "$T/err"
mb new sqlite "bad name"
check "new with a bad job name exits 2" [ $? -eq 2 ]
mb new sqlite
check "new without NAME leaves the name to the file's" grep -q '^  -- name = ' "$T/out"

# --- check, against a SQLite database and a local storage -------------------
sqlite3 "$T/app.db" "CREATE TABLE t (x); INSERT INTO t VALUES (1);"
cat > "$jobs/app.lua" <<JOB
return {
  source = { type = "sqlite", path = "$T/app.db" },
  storage = { { type = "local", path = "$T/backups" }, { type = "local", name = "second", path = "$T/backups2" } },
  notify = { { type = "webhook", url = "http://127.0.0.1:9/never-called" } },
}
JOB
mb --jobs "$jobs" check app
check "check of a good sqlite job exits 0" [ $? -eq 0 ] || sed 's/^/# /' "$T/out" "$T/err"
check "...one ok line for the job file" grep -q '^ok      job file .*app.lua: job app, source sqlite, 2 storages' "$T/out"
check "...one for the source" grep -q '^ok      source sqlite: reachable' "$T/out"
check "...one per storage" grep -q '^ok      storage local (local): reachable and writable' "$T/out" &&
    grep -q '^ok      storage second (local): reachable and writable' "$T/out"
check "...the notifiers not contacted, said so" grep -q 'notifiers: 1, not contacted' "$T/out"
check "...no backup made" sh -c "[ -z \"\$(find '$T/backups' -type f)\" ]"
mb --jobs "$jobs" history app
check "...no execution recorded" sh -c "! grep -q app '$T/out'"

sed "s|$T/app.db|$T/missing.db|" "$jobs/app.lua" > "$jobs/nodb.lua"
mb --jobs "$jobs" check nodb
check "check with a missing sqlite file exits 1" [ $? -eq 1 ]
check "...naming the file" grep -q "^FAILED  source sqlite: .*$T/missing.db" "$T/out" || sed 's/^/# /' "$T/out"
check "...and still checks the storages" grep -q '^ok      storage second' "$T/out"

: > "$T/a-file"
sed "s|path = \"$T/backups2\"|path = \"$T/a-file/backups\"|" "$jobs/app.lua" > "$jobs/unwritable.lua"
mb --jobs "$jobs" check unwritable
check "check with a storage directory that cannot be made or written exits 1" [ $? -eq 1 ]
check "...naming the storage and its path" grep -q "^FAILED  storage second (local): .*$T/a-file/backups" "$T/out" ||
    sed 's/^/# /' "$T/out"
check "...the good one still ok" grep -q '^ok      storage local (local)' "$T/out"
if [ "$(id -u)" != 0 ]; then
    mkdir -p "$T/readonly" && chmod 0500 "$T/readonly"
    sed "s|path = \"$T/backups2\"|path = \"$T/readonly\"|" "$jobs/app.lua" > "$jobs/readonly.lua"
    mb --jobs "$jobs" check readonly
    check "check with a storage directory that is not writable exits 1" [ $? -eq 1 ]
    check "...saying so" grep -q "^FAILED  storage second (local): .*not writable" "$T/out"
fi

sed 's|source = {|source = { passwrod = "x",|' "$jobs/app.lua" > "$T/typo.lua"
mb check "$T/typo.lua"
check "check of a broken job file exits 2" [ $? -eq 2 ]
check "...naming the key" grep -q 'FAILED  job file: .*unknown key "passwrod"' "$T/out"
mb --jobs "$jobs" check
check "check without JOB exits 2" [ $? -eq 2 ]

cat > "$jobs/secretive.lua" <<JOB
return {
  source = { type = "sqlite", path = "$T/app.db" },
  storage = { { type = "local", path = env "MOONBAK_TEST_UNSET_DIR" } },
}
JOB
mb --jobs "$jobs" check secretive
check "check with a reference that does not resolve exits 1" [ $? -eq 1 ]
check "...naming the reference" grep -q 'FAILED  references: env "MOONBAK_TEST_UNSET_DIR"' "$T/out"
MOONBAK_TEST_UNSET_DIR=$T/from-env mb --jobs "$jobs" check secretive
check "...and 0 once it does" [ $? -eq 0 ]
check "...the references named, never their values" grep -q '^-       references: env "MOONBAK_TEST_UNSET_DIR"' "$T/out" &&
    no_secret_in "$T/from-env" "$T/out" "$T/err"

finish
