-- moonbak.sys: the process identity that tells a live execution from a
-- reused pid (sys.process_start_time).
local T = dofile("tests/lua/testlib.lua")
local sys = require "moonbak.sys"

local function ticks(instance)
  return tonumber(instance:match(":(%d+)$"))
end

-- Runs a script whose file name (and so its command name in /proc) holds
-- spaces and parentheses; returns its pid and the handle that owns it.
-- SIGTERM ends it and its sleep.
local function odd_named_process()
  local dir = T.tempdir()
  local script = dir .. "/x) y (z"
  T.write(script, "#!/bin/sh\ntrap 'kill $!; exit' TERM\nsleep 60 & echo $$\nwait\n")
  T.sh(("chmod +x '%s'"):format(script))
  local handle = io.popen(("'%s'"):format(script))
  return assert(tonumber(handle:read("l")), "the script says its pid"), handle
end

T.test("the own process has a start time that names its boot and stays the same", function()
  local first, second = sys.process_start_time(sys.pid()), sys.process_start_time(sys.pid())
  T.matches(first, "^%x+%-%x+%-%x+%-%x+%-%x+:%d+$", "instance")
  T.eq(second, first, "second call")
end)

T.test("another process has another start time, read after the last ')' of its name", function()
  local pid, handle = odd_named_process()
  local ok, own, other = pcall(function()
    return sys.process_start_time(sys.pid()), sys.process_start_time(pid)
  end)
  os.execute("kill " .. pid)
  handle:close()
  assert(ok, own)
  assert(other and other ~= own, ("%s vs %s"):format(tostring(other), own))
  T.eq(other:match("^[^:]+"), own:match("^[^:]+"), "boot id")
  -- started after us: a parser that counted fields from the first ')'
  -- would read the thread count or another small field instead
  assert(ticks(other) >= ticks(own), ("started at %d, before us at %d"):format(ticks(other), ticks(own)))
end)

T.test("a process that has ended has no start time", function()
  local handle = io.popen("sh -c 'echo $$'")
  local pid = assert(tonumber(handle:read("l")))
  handle:close() -- waits: the shell is gone and reaped
  T.eq(sys.process_start_time(pid), nil, "ended process")
  T.eq(sys.process_start_time(0), nil, "pid 0")
  T.eq(sys.process_start_time(-1), nil, "negative pid")
end)

-- The console goes on after a Ctrl-C that stopped a statement: the token is
-- cleared, and the next Ctrl-C is a first one again (a third one without
-- the reset would end the process).  Last: it leaves SIGINT caught.
T.test("sys.reset_interrupts: not interrupted any more, and every next SIGINT is a first one", function()
  local function interrupt_self()
    -- popen, not os.execute: system() ignores SIGINT in the caller while it waits
    io.popen("kill -INT " .. sys.pid()):close()
  end
  sys.catch_interrupts()
  for round = 1, 4 do
    interrupt_self()
    T.eq(sys.interrupted(), 2, "interrupted, round " .. round)
    sys.reset_interrupts()
    T.eq(sys.interrupted(), nil, "after the reset, round " .. round)
  end
end)

-- A run's time limit, once disarmed, is forgotten: the console's next run
-- (or next statement) is not cancelled by it, nor is its next Ctrl-C a
-- second one.  But a Ctrl-C after the limit fired is the reason, and stays.
T.test("sys.cancel_after(0) forgets a limit that fired; an operator's signal beats it and stays", function()
  local function wait_for_alarm()
    local give_up = sys.monotonic() + 60 -- only against a hang: the alarm is the event
    while sys.interrupted() == nil and sys.monotonic() < give_up do sys.sleep(0.001) end
  end
  sys.catch_interrupts()
  for round = 1, 3 do
    assert(sys.cancel_after(0.001))
    wait_for_alarm()
    T.eq(sys.interrupted(), 14, "the limit cancels, round " .. round)
    assert(sys.cancel_after(0))
    T.eq(sys.interrupted(), nil, "disarmed: forgotten, round " .. round)
  end
  assert(sys.cancel_after(0.001))
  wait_for_alarm()
  io.popen("kill -INT " .. sys.pid()):close()
  T.eq(sys.interrupted(), 2, "a Ctrl-C after the limit fired is the reason")
  assert(sys.cancel_after(0))
  T.eq(sys.interrupted(), 2, "...and stays once the limit is disarmed")
  sys.reset_interrupts()
  T.eq(sys.interrupted(), nil, "until the reset")
end)

T.test("sys.run_command runs a program to its end: output (stdout and stderr) kept, a failure says why", function()
  local ok, out = sys.run_command({ "sh", "-c", "echo one; echo two >&2; echo \"$DRILL_X\"" }, { DRILL_X = "three" })
  T.eq(ok, true)
  T.eq(out, "one\ntwo\nthree\n", "stdout and stderr together, env added")
  local none, err, said = sys.run_command({ "sh", "-c", "echo first; echo the last words >&2; exit 3" })
  T.eq(none, nil)
  T.eq(err, "command sh exited with status 3: the last words", "the status and its last line")
  T.eq(said, "first\nthe last words\n")
  local _, killed = sys.run_command({ "sh", "-c", "kill -9 $$" })
  T.matches(killed, "^command sh was killed by signal 9")
  local _, missing = sys.run_command({ "/nonexistent/tool" })
  T.matches(missing, "cannot start /nonexistent/tool")
  local _, long = sys.run_command({ "sh", "-c", "yes 0123456789 | head -c 100000" })
  T.eq(#long, 4096, "the last 4 KiB of a long output")
end)

T.test("sys.remove_tree removes a directory and all it holds, never following a link", function()
  local dir = T.tempdir()
  local keep = T.tempdir()
  T.write(keep .. "/precious", "x")
  assert(sys.mkdirs(dir .. "/a/b"))
  T.write(dir .. "/a/b/c", "data")
  os.execute(("ln -s %q %q"):format(keep, dir .. "/a/link"))
  T.eq(sys.remove_tree(dir), true)
  T.eq(sys.stat(dir), nil, "the tree is gone")
  T.eq(sys.stat(keep .. "/precious").type, "file", "what a link pointed to is not touched")
  T.eq(sys.remove_tree(dir), true, "a missing path is fine")
end)

return T.done()
