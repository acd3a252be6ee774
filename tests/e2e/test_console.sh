#!/usr/bin/env bash
# moonbak console with stdin not a terminal: a script with the REPL's
# semantics (expressions print, =expr, statements over several lines),
# no prompt, no history; every statement runs, each error goes to stderr
# with its line, and the exit status says whether one failed.
# (The console on a terminal: test_console_terminal.sh.)
. "$(dirname "$0")/lib.sh"
cd "$T"

# console FILE : runs the console on FILE, keeping stdout, stderr and the status
console() {
    "$MOONBAK" console <"$1" >"$T/out" 2>"$T/err"
    status=$?
}

cat > ok.lua <<'LUA'
1 + 1
=2 * 3
#("a" .. "b"), 4
x = 10
for i = 1, 2 do
  print("line", i * x)
end
local t = {
  1,
  2,
}
function twice(n)
  return n * 2
end
twice(x)
-- a comment alone is a statement too

=mb.cron.next("0 3 * * *", { after = 0 })[1]
print(type(mb.cron))
LUA
console ok.lua
check "statements that all succeed: exit 0 (got $status)" [ "$status" -eq 0 ] || show_err
printf '2\n6\n2\t4\nline\t10\nline\t20\n20\n10800\ntable\n' > expected
check "expressions print their values, =expr too, statements over several lines run once complete" \
    cmp -s expected out || { diff expected out | sed 's/^/# /'; }
check "...with no prompt and nothing on stderr" bash -c "! grep -q '^>' out && [ ! -s err ]"
check "...and no history file written" bash -c "[ ! -e '$MOONBAK_STATE/console_history' ]"

cat > errors.lua <<'LUA'
print("first")
error("boom")
print("after the error")
x = {
  nil_function(),
}
print("after the second")
1 +
  2
=#"abc"
LUA
console errors.lua
check "a failing statement: exit 1 (got $status)" [ "$status" -eq 1 ]
printf 'first\nafter the error\nafter the second\n3\n3\n' > expected
check "...the statements after it still run (a statement may end on a later line)" \
    cmp -s expected out || { diff expected out | sed 's/^/# /'; }
check "...its error on stderr with its line" grep -qx 'stdin:2: boom' err || show_err
check "...an error inside a statement of several lines gives the line in the input" \
    grep -q "^stdin:5: attempt to call a nil value (global 'nil_function')" err || show_err

printf 'print("before")\nfor i = 1, 3 do\n  print(i)\n' > incomplete.lua
console incomplete.lua
check "a statement left incomplete at the end of input fails: exit 1 (got $status)" [ "$status" -eq 1 ]
check "...saying so on stderr" grep -q "^stdin:.*'end' expected.*near <eof>" err || show_err
check "...after the complete ones ran" grep -qx before out

printf 'print("syntax"\nprint("next")\nlocal = 1\nprint("last")\n' > syntax.lua
console syntax.lua
check "a syntax error fails the script (exit $status) and the rest still runs" \
    bash -c "[ $status -eq 1 ] && grep -qx last out && grep -q '^stdin:3: ' err" || show_err

# A job's time limit fails its run only: a second run in the same statement
# (the first one's command hangs, the second's ends at once) is not
# cancelled by the limit the first one hit.
cat > slowfirst.lua <<JOB
return { name = "slowfirst", timeout = 5, compression = { type = "none" },
         source = { type = "command", argv = { "sh", "-c",
           "if [ -e '$T/first.done' ]; then echo second; else touch '$T/first.done'; sleep 60; fi" } },
         storage = { { type = "local", path = "$T/store" } } }
JOB
printf 'for i = 1, 2 do print(run("%s", { quiet = true }).status) end\n' "$T/slowfirst.lua" > twice.lua
console twice.lua
check "a run past its time limit fails, and the next run of the statement succeeds (exit $status)" \
    bash -c "[ $status -eq 0 ] && [ \"\$(cat '$T/out')\" = \"\$(printf 'failed\nsuccess')\" ]" || { show_err; sed 's/^/# /' out; }

printf 'print(arg[0], arg[1], ...)\nreturn 7\n' > script.lua
mb script script.lua one two
check "moonbak script FILE.lua ARGS still runs the file with arg and ... (exit 7)" \
    bash -c "[ $? -eq 7 ] && [ \"\$(cat out)\" = \"\$(printf 'script.lua\tone\tone\ttwo')\" ]" || show_err

finish
