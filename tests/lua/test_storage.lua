-- The storage handle as scripts use it.
local T = dofile("tests/lua/testlib.lua")
local storage = require "moonbak.storage"
local sys = require "moonbak.sys"

local function open_descriptors()
  local names = assert(sys.listdir("/proc/self/fd"))
  return #names
end

T.test("storage:get closes what it opened before it returns, not when the collector runs", function()
  local st = assert(storage.open { type = "local", path = T.tempdir() })
  for i = 1, 300 do assert(st:put(("j/%d.meta.json"):format(i), "{}")) end
  local before = open_descriptors()
  collectgarbage("stop")
  for i = 1, 300 do T.eq(st:get(("j/%d.meta.json"):format(i)), "{}", "content") end
  local after = open_descriptors()
  collectgarbage("restart")
  assert(after - before < 10, ("300 gets left %d descriptors open"):format(after - before))
  st:close()
end)

T.test("a pump refuses the same writer twice (it would write every byte twice)", function()
  local dir = T.tempdir()
  T.write(dir .. "/in", "hello\n")
  local s = require("moonbak.stream").new(assert(require("moonbak.source").open { type = "file", path = dir .. "/in" }))
  local w = assert(storage.file_writer(dir .. "/out"))
  local ok, err = pcall(s.pump, s, { w, w })
  T.eq(ok, false, "refused")
  T.matches(err, "the same writer is given twice", "saying why")
  T.eq(sys.stat(dir .. "/out"), nil, "nothing written")
  w:close()
  s:close()
end)

return T.done()
