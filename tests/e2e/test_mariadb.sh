#!/usr/bin/env bash
# MariaDB on a real server: one database, a list, all of them; restores into
# new databases; credentials only in a private option file; failures.
. "$(dirname "$0")/lib.sh"
require_tools mariadb mariadb-dump mariadbd
repo=$PWD
export MYPORT_TEST=${MYPORT_TEST:-13316}
servers=$T/srv
mkdir -p "$servers"
chmod o+x "$T" "$(dirname "$T")" # the server runs as its own user
trap '"$repo/scripts/test-servers.sh" stop mariadb "$servers" >/dev/null 2>&1' EXIT
if ! scripts/test-servers.sh start mariadb "$servers" 2>"$T/server.err"; then
    not_ok "a MariaDB server starts for the tests: $(grep -m1 "^test-servers:" "$T/server.err")"; sed "s/^/# /" "$T/server.err"
    finish
fi
. "$servers/mariadb.env"
cd "$T"
printf '[client]\nuser=%s\npassword=%s\nhost=%s\nport=%s\n' "$MY_USER" "$MY_PASSWORD" "$MY_HOST" "$MY_PORT" > client.cnf
chmod 600 client.cnf
sql() { mariadb --defaults-extra-file=client.cnf --default-character-set=utf8mb4 "$@"; }
sql -e "CREATE DATABASE shop CHARACTER SET utf8mb4; CREATE DATABASE blog CHARACTER SET utf8mb4"
sql shop < "$repo/tests/e2e/fixtures/mariadb.sql"
sql blog -e "CREATE TABLE posts (id INT PRIMARY KEY, title VARCHAR(100), body BLOB);
             INSERT INTO posts VALUES (1, 'Grüße', UNHEX('00FF10')), (2, NULL, NULL)"
printf '%s\n' "$MY_PASSWORD" | "$MOONBAK" secret set my-password >/dev/null 2>&1

job() { # job NAME EXTRA-LUA
    cat > "$1.lua" <<JOB
return {
  name = "$1",
  source = { type = "mariadb", host = "$MY_HOST", port = $MY_PORT, user = "$MY_USER",
             password = secret "my-password", $2 },
  storage = { { type = "local", path = "$T/store" } },
}
JOB
}
compare() { "$repo/tests/e2e/fixtures/compare.sh" mariadb "$servers/mariadb.env" "$@" >"$T/compare.out" 2>&1; }

job one 'database = "shop"'
mb run one.lua
check "mariadb-dump of one database backs up" [ $? -eq 0 ]
mb backups one.lua --json
check "...with the server version in the sidecar" json "$T/out" "assert(t[1].source.engine_version:find('MariaDB'))"
check "...and no option file is left behind" [ -z "$(ls -A "$MOONBAK_STATE/tmp")" ]
mb restore one.lua --to shop_copy --create
check "restore --to a new database (--create) succeeds" [ $? -eq 0 ]
compare shop shop_copy
check "...and every table has the same rows and content" [ $? -eq 0 ]

job several 'database = { "shop", "blog" }'
mb run several.lua
check "a list of databases backs up" [ $? -eq 0 ]
mb backups several.lua --json
check "...and the sidecar names both" json "$T/out" "assert(#t[1].source.databases == 2)"
mb restore several.lua --to elsewhere
check "--to is refused for a backup of several databases (it names its own)" \
    bash -c "[ $? -eq 1 ] && grep -q 'cannot rename' '$T/err'"

job everything 'database = "*"'
mb run everything.lua
check "all databases (database = \"*\") back up" [ $? -eq 0 ]
sql -e "DROP DATABASE blog"
mb restore everything.lua --to '*'
check "an all-databases backup restores what was dropped" \
    bash -c "[ $? -eq 0 ] && [ \"\$(mariadb --defaults-extra-file=client.cnf -N -e 'SELECT title FROM blog.posts WHERE id = 1' --default-character-set=utf8mb4)\" = 'Grüße' ]"

cat > mysqltype.lua <<JOB
return { name = "mysqltype", source = { type = "mysql", host = "$MY_HOST", port = $MY_PORT, user = "$MY_USER",
         password = secret "my-password", database = "shop" }, storage = { { type = "local", path = "$T/store" } } }
JOB
mb run mysqltype.lua
check "type = \"mysql\" backs up through mysqldump" [ $? -eq 0 ]
mb restore mysqltype.lua --to shop_mysql --create
compare shop shop_mysql
check "...and restores through the mysql client with the same content" [ $? -eq 0 ]

job tls 'database = "shop", tls = true'
mb run tls.lua
check "tls = true insists on TLS: a server without it is refused" \
    bash -c "[ $? -eq 1 ] && grep -qi 'initialize.*\(ssl\|tls\)' '$T/err'"

job nodb 'database = "no_such_db"'
mb run nodb.lua
check "an unknown database fails in initialize, naming it" \
    bash -c "[ $? -eq 1 ] && grep -q 'initialize.*no_such_db' '$T/err'"

cat > wrongpw.lua <<JOB
return { name = "wrongpw", source = { type = "mariadb", host = "$MY_HOST", port = $MY_PORT, user = "$MY_USER",
         password = "not-the-password", database = "shop" }, storage = { { type = "local", path = "$T/store" } } }
JOB
mb run wrongpw.lua
check "a wrong password fails in initialize with the server's words" \
    bash -c "[ $? -eq 1 ] && grep -q 'initialize.*Access denied' '$T/err'"
check "...and stores nothing" [ ! -e store/wrongpw ]

cat > killer.sh <<'SH'
#!/bin/sh
mariadb-dump "$@" | head -c 20000
kill -9 $$
SH
chmod +x killer.sh
job killed "database = \"shop\", tool = \"$T/killer.sh\""
mb run killed.lua
check "a dump tool killed mid-stream fails the run" bash -c "[ $? -eq 1 ] && grep -q 'killed by signal 9' '$T/err'"
check "...and leaves no backup and no option file behind" \
    bash -c "{ [ ! -e store/killed ] || [ -z \"\$(ls -A store/killed)\" ]; } && [ -z \"\$(ls -A '$MOONBAK_STATE/tmp')\" ]"

# Credentials only in a private option file.  The tools are spies that
# record the argv, environment and option file moonbak gave them
# (mariadb-dump through the tool option, the client found beside it).
spy_tool "$T/spy" mariadb-dump && spy_tool "$T/spy" mariadb
job watched "database = \"shop\", tool = \"$T/spy/mariadb-dump\""
mb run watched.lua
check "a run whose tools are spies succeeds" [ $? -eq 0 ] || show_err
check "...and it started mariadb-dump and mariadb through them" spy_ran "$T/spy" mariadb-dump mariadb
check "...the password was in no tool's argv" spy_lacks "$MY_PASSWORD" "$T"/spy/records/*.argv
check "...nor in its environment" spy_lacks "$MY_PASSWORD" "$T"/spy/records/*.environ
option_files_private() { # every start had an option file, mode 600, ours, with the password
    local argv rec
    for argv in "$T"/spy/records/*.argv; do
        rec=${argv%.argv}
        [ "$(cat "$rec.option-file-mode" 2>/dev/null)" = "600 $(id -un)" ] || return 1
        spy_holds text "$MY_PASSWORD" "$rec.option-file" || return 1
    done
}
check "...but in the option file each was given, readable by its owner only" option_files_private
check "...and each option file is gone afterwards" \
    bash -c "for f in \$(cat '$T'/spy/records/*.option-file-path); do [ ! -e \"\$f\" ] || exit 1; done"
for id in $(seq 1 20); do "$MOONBAK" log "$id" >>alllogs.txt 2>&1; done
check "the password is in no execution log, sidecar or state file" \
    no_secret_in "$MY_PASSWORD" alllogs.txt store "$MOONBAK_STATE" "$T/out" "$T/err"

finish
