#!/usr/bin/env bash
# The command source: a child process's stdout is the backup; its exit
# status and stderr decide and explain.
. "$(dirname "$0")/lib.sh"
cd "$T"

job() { # job NAME ARGV-LUA [EXTRA-LUA]
    cat > "$1.lua" <<JOB
return { name = "$1", source = { type = "command", argv = $2 ${3:-} },
         storage = { { type = "local", path = "$T/store" } } }
JOB
}

seq 1 300000 > expected.txt
job good '{ "seq", "1", "300000" }'
mb run good.lua
check "a command's output is backed up" [ $? -eq 0 ]
mb restore good.lua --output good.out
check "...and restores byte for byte" cmp -s good.out expected.txt

job half '{ "sh", "-c", "seq 1 300000 | head -c 1000000; echo giving up half way >&2; exit 1" }'
mb run half.lua
check "a child that exits 1 after half its output fails the run (exit 1)" [ $? -eq 1 ]
check "...with its exit status and its stderr in the message" grep -q 'exited with status 1: giving up half way' "$T/err"
check "...and leaves no artifact, no sidecar, no temporary file" bash -c "[ ! -e store/half ] || [ -z \"\$(ls -A store/half)\" ]"
mb backups half.lua --json
check "...and no backup is listed" [ "$(cat "$T/out")" = "{}" -o "$(cat "$T/out")" = "[]" ]
mb history half --json
check "...and the execution is failed, with the tool's words" \
    json "$T/out" "assert(t[1].status == 'failed' and t[1].error:find('giving up'))"

job killed '{ "sh", "-c", "seq 1 100000; kill -9 $$" }'
mb run killed.lua
check "a child killed by a signal fails the run, naming the signal" \
    bash -c "[ $? -eq 1 ] && grep -q 'killed by signal 9' '$T/err'"

job chatty '{ "sh", "-c", "for i in $(seq 1 20000); do echo \"progress line $i\" >&2; done; seq 1 1000" }'
timeout 60 "$MOONBAK" run chatty.lua >"$T/out" 2>"$T/err"
check "a child that writes much more to stderr than a pipe holds does not hang" [ $? -eq 0 ]
mb history chatty --json
id=$(json "$T/out" "print(t[1].id)")
mb log "$id"
check "...and the end of its stderr is in the execution log" grep -q 'progress line 20000' "$T/out"

job missing '{ "moonbak-no-such-program" }'
mb run missing.lua
check "a program that does not exist fails with a clear message" \
    bash -c "[ $? -eq 1 ] && grep -q 'cannot start moonbak-no-such-program' '$T/err'"

# Secrets go to the child through its environment, never its argv.  The
# child records its own argv and environment, and moonbak's argv (its
# parent's), before it prints the secret: evidence it leaves itself, read
# after the run.
printf 'pa55-in-env\n' > secret.txt
cat > envjob.lua <<JOB
return { name = "envjob",
  source = { type = "command", env = { DUMP_PASSWORD = file "$T/secret.txt" }, argv = { "sh", "-c",
    "umask 077; cat /proc/\$\$/cmdline > '$T/child.argv'; cat /proc/\$\$/environ > '$T/child.environ';"
    .. " cat /proc/\$PPID/cmdline > '$T/parent.argv'; printf %s \\"\$DUMP_PASSWORD\\"" } },
  storage = { { type = "local", path = "$T/store" } } }
JOB
mb run envjob.lua
check "a command with a secret in env runs" [ $? -eq 0 ] || show_err
check "...and the secret reaches the child" bash -c "'$MOONBAK' restore envjob.lua --output env.out >/dev/null && [ \"\$(cat env.out)\" = pa55-in-env ]"
check "...through its environment, as DUMP_PASSWORD" spy_holds entry DUMP_PASSWORD=pa55-in-env "$T/child.environ"
check "...and it is in neither the child's command line nor moonbak's (both recorded)" \
    bash -c "[ -s '$T/child.argv' ] && grep -qaF envjob.lua '$T/parent.argv' && ! grep -qaF pa55-in-env '$T/child.argv' '$T/parent.argv'"

finish
