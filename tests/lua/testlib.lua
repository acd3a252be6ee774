-- testlib.lua — the Lua side of the test harness: test(name, fn) prints
-- "ok - name" or "not ok - name" with the error; done() sets the exit status.
local T = { failures = 0 }

function T.test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    print("ok - " .. name)
  else
    T.failures = T.failures + 1
    print("not ok - " .. name)
    print("#   " .. tostring(err):gsub("\n", "\n#   "))
  end
end

function T.eq(actual, expected, what)
  if actual ~= expected then
    error(("%s: expected %s, got %s"):format(what or "value", tostring(expected), tostring(actual)), 2)
  end
end

function T.matches(text, pattern, what)
  if type(text) ~= "string" or not text:find(pattern) then
    error(("%s: %q does not match %q"):format(what or "text", tostring(text), pattern), 2)
  end
end

-- A fresh directory under the suite's temporary root.
local counter = 0
function T.tempdir()
  counter = counter + 1
  local root = os.getenv("MOONBAK_TEST_ROOT") or "/tmp"
  local dir = ("%s/lua-%d-%d"):format(root, require("moonbak.sys").pid(), counter)
  assert(require("moonbak.sys").mkdirs(dir))
  return dir
end

function T.write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

function T.sh(cmd)
  local ok = os.execute(cmd)
  assert(ok, "command failed: " .. cmd)
end

function T.done()
  return T.failures == 0 and 0 or 1
end

return T
