-- The source bindings as scripts use them.
local T = dofile("tests/lua/testlib.lua")
local source = require "moonbak.source"
local storage = require "moonbak.storage"

-- A binding copies the job's options (resolved passwords included) into a
-- C box; it must wipe that copy before it returns, not when the collector
-- runs.  The box's __close is what wipes it (mb_config_free), so the test
-- counts its calls, with the collector stopped so that only a return can
-- have closed it.  The bindings look the metatable up in the registry
-- each time, and Lua finds __close when it closes, so wrapping it there
-- sees every box the bindings make.
local function count_closes(fn)
  source.check { type = "file", path = "/" } -- makes the metatable
  local mt = debug.getregistry()["moonbak.Config"]
  assert(mt and mt.__close, "no moonbak.Config metatable")
  local original, closes = mt.__close, 0
  mt.__close = function(box, e) closes = closes + 1; return original(box, e) end
  collectgarbage("stop")
  local ok, err = pcall(fn)
  collectgarbage("restart")
  mt.__close = original
  assert(ok, err)
  return closes
end

T.test("source.check wipes its copy of the options before it returns", function()
  T.eq(count_closes(function() source.check { type = "file", path = "/", password = "pw" } end), 1, "boxes closed")
end)

T.test("source.check wipes its copy also when the check fails", function()
  T.eq(count_closes(function()
    assert(not source.check { type = "file", path = "/nonexistent/x", password = "pw" })
  end), 1, "boxes closed")
end)

T.test("source.open wipes its copy of the options before it returns", function()
  T.eq(count_closes(function()
    local src <close> = assert(source.open { type = "file", path = "/etc/hostname", password = "pw" })
  end), 1, "boxes closed")
end)

T.test("source.restore_writer wipes its copy of the options before it returns", function()
  T.eq(count_closes(function()
    assert(not source.restore_writer({ type = "redis", password = "pw" }, nil, false))
  end), 1, "boxes closed")
end)

T.test("storage.open wipes its copy of the options before it returns", function()
  T.eq(count_closes(function()
    local st <close> = assert(storage.open { type = "local", path = T.tempdir(), password = "pw" })
  end), 1, "boxes closed")
end)

T.test("an option that is not plain data is refused and the copy made so far is wiped", function()
  T.eq(count_closes(function()
    local ok, err = pcall(source.check, { type = "file", path = "/", password = function() end })
    assert(not ok)
    T.matches(err, "not plain data", "message")
  end), 1, "boxes closed")
end)

-- Without a path, errno holds whatever the last failed call left there:
-- the message must say what is wrong, not a stale reason.
T.test("a file source without a path says the path is required, without a stale errno", function()
  io.open("/nonexistent/moonbak-test") -- leaves ENOENT in errno
  local ok, err = source.check { type = "file" }
  T.eq(ok, nil, "check")
  T.eq(err, 'file source: "path" is required', "check's message")
  ok, err = source.open { type = "file" }
  T.eq(ok, nil, "open")
  T.eq(err, 'file source: "path" is required', "open's message")
end)

T.test("a file source whose file is missing says so", function()
  local missing = T.tempdir() .. "/missing.sql"
  local ok, err = source.check { type = "file", path = missing }
  T.eq(ok, nil, "check")
  T.eq(err, "file " .. missing .. ": cannot read: No such file or directory", "check's message")
  ok, err = source.open { type = "file", path = missing }
  T.eq(ok, nil, "open")
  T.eq(err, "cannot open " .. missing .. ": No such file or directory", "open's message")
end)

return T.done()
