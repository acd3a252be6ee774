-- Job files: loading and validation.
local T = dofile("tests/lua/testlib.lua")
local mb = require "moonbak"

local dir = T.tempdir()

local function job_file(name, body)
  local path = ("%s/%s.lua"):format(dir, name)
  T.write(path, body)
  return path
end

local valid = [[
return {
  name = "shop",
  schedule = "0 3 * * *",
  source = { type = "sqlite", path = "/tmp/shop.db" },
  compression = { type = "zstd", level = 5 },
  storage = { { type = "local", path = "/tmp/a" }, { type = "local", path = "/tmp/b" } },
  retention = { keep_last = 3, daily = 7 },
}
]]

T.test("a valid job loads with defaults filled", function()
  local job = assert(mb.job.load(job_file("shop", valid)))
  T.eq(job.name, "shop")
  T.eq(job.compression.level, 5)
  T.eq(job.encryption.type, "none", "default encryption")
  T.eq(job.timezone, "UTC", "default timezone")
  T.eq(job.storage[1].name, "local", "first storage name")
  T.eq(job.storage[2].name, "local-2", "second storage of the same type")
end)

T.test("the name defaults to the file name", function()
  local job = assert(mb.job.load(job_file("nightly", [[
    return { source = { type = "file", path = "/etc/hostname" }, storage = { { type = "local", path = "/tmp/x" } } }]])))
  T.eq(job.name, "nightly")
  T.eq(job.compression.type, "zstd", "default compression")
end)

local function fails_with(name, body, pattern)
  local path = job_file(name, body)
  local job, err = mb.job.load(path)
  assert(job == nil, "expected the job to be rejected")
  T.matches(err, path:gsub("%p", "%%%0"), "names the file")
  T.matches(err, pattern)
end

T.test("an unknown key names the file, the key and what was expected", function()
  fails_with("typo", [[return { name = "x", sorce = {}, source = { type = "sqlite", path = "/x" },
    storage = { { type = "local", path = "/y" } } }]], 'unknown key "sorce" %(expected one of: .*source')
end)

T.test("an unknown key inside a source is refused", function()
  fails_with("srckey", [[return { source = { type = "sqlite", path = "/x", paht = 1 },
    storage = { { type = "local", path = "/y" } } }]], 'source: unknown key "paht"')
end)

T.test("a missing required field is named", function()
  fails_with("nopath", [[return { source = { type = "sqlite" }, storage = { { type = "local", path = "/y" } } }]],
    'source: missing required key "path"')
end)

T.test("a missing storage is named", function()
  fails_with("nostorage", [[return { source = { type = "sqlite", path = "/x" } }]], 'missing required key "storage"')
end)

T.test("a wrong type says what was expected and what was found", function()
  fails_with("wrongtype", [[return { source = { type = "sqlite", path = "/x" },
    compression = { type = "zstd", level = "high" }, storage = { { type = "local", path = "/y" } } }]],
    'compression%.level: expected an integer, got string "high"')
end)

T.test("an out-of-range compression level is refused", function()
  fails_with("level", [[return { source = { type = "sqlite", path = "/x" },
    compression = { type = "zstd", level = 40 }, storage = { { type = "local", path = "/y" } } }]],
    "compression%.level: expected an integer from 1 to 19")
end)

T.test("an unknown source type is refused", function()
  fails_with("oracle", [[return { source = { type = "oracle" }, storage = { { type = "local", path = "/y" } } }]],
    'source%.type: unknown source type "oracle"')
end)

T.test("a source type the schema knows but this build lacks says so", function()
  mb.job.sources.futuredb = { path = "string" } -- known to the schema, absent from the C registry
  fails_with("future", [[return { source = { type = "futuredb", path = "h" }, storage = { { type = "local", path = "/y" } } }]],
    'source type "futuredb" is not available in this build')
  mb.job.sources.futuredb = nil
end)

T.test("every source type of the schema has an adapter in this build", function()
  for name in pairs(mb.job.sources) do
    assert(mb.source.exists(name), "no adapter for source " .. name)
  end
end)

T.test("a bad schedule is refused", function()
  fails_with("cron", [[return { schedule = "every day", source = { type = "sqlite", path = "/x" },
    storage = { { type = "local", path = "/y" } } }]], "schedule: expected 5 cron fields")
end)

T.test("a syntax error is reported with the file and line", function()
  local path = job_file("syntax", "return { name = }")
  local job, err = mb.job.load(path)
  assert(job == nil)
  T.matches(err, "syntax%.lua:1:")
end)

T.test("a file that does not return a table is refused", function()
  fails_with("notable", "return 42", "expected the file to return a table, got number")
end)

T.test("an error raised while loading is reported", function()
  fails_with("raises", [[error("boom")]], "error while loading: .*boom")
end)

T.test("bytecode is refused: job files are loaded as text only", function()
  local path = dir .. "/bytecode.lua"
  T.write(path, string.dump(function() return {} end))
  local job, err = mb.job.load(path)
  assert(job == nil)
  T.matches(err, "binary")
end)

T.test("secret, env and file make references that are not resolved at load time", function()
  local job = assert(mb.job.load(job_file("refs", [[return {
    source = { type = "sqlite", path = env "MOONBAK_TEST_UNSET_VARIABLE" },
    storage = { { type = "local", path = "/tmp/x" } } }]])))
  assert(mb.ref.is(job.source.path), "path is a reference")
  local resolved, err = mb.ref.resolve(job, nil)
  assert(not resolved)
  T.matches(err, 'env "MOONBAK_TEST_UNSET_VARIABLE"')
end)

T.test("resolved values are registered for redaction", function()
  local r = mb.ref.redactor()
  local v = assert(mb.ref.resolve({ password = mb.ref.env("HOME") }, nil, r.add))
  T.eq(v.password, os.getenv("HOME"))
  T.eq(r.redact("path is " .. os.getenv("HOME")), "path is ***")
end)

T.test("custom steps must be functions or built-in step names", function()
  fails_with("steps", [[return { source = { type = "sqlite", path = "/x" },
    storage = { { type = "local", path = "/y" } }, steps = { "initialize", "frobnicate" } }]],
    'steps%[2%]: unknown step "frobnicate"')
end)

T.test("load_dir reports every broken file and keeps the good ones", function()
  local d = T.tempdir()
  T.write(d .. "/good.lua", valid)
  T.write(d .. "/bad1.lua", "return {")
  T.write(d .. "/bad2.lua", "return { source = 1 }")
  local jobs, broken = mb.job.load_dir(d)
  T.eq(#jobs, 1, "good jobs")
  T.eq(#broken, 2, "broken files")
end)

T.test("every job file in examples/ is valid", function()
  local n = 0
  for _, name in ipairs(assert(mb.sys.listdir("examples"))) do
    if name:match("%.lua$") then
      assert(mb.job.load("examples/" .. name))
      n = n + 1
    end
  end
  assert(n >= 3, "examples found: " .. n)
end)

return T.done()
