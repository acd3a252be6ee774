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
  T.eq(job.timezone, nil, "no timezone given: none filled in (the daemon's --timezone, else UTC, applies)")
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
    storage = { { type = "local", path = "/y" } } }]], "schedule: expected 5 fields")
end)

-- the scheduler's parser (moonbak.cron) reads the schedule: the message
-- names the file, the key and the cron field
local function with_schedule(schedule, timezone)
  return ([[return { schedule = %q, timezone = %s, source = { type = "sqlite", path = "/x" },
    storage = { { type = "local", path = "/y" } } }]]):format(schedule, timezone or "nil")
end

T.test("a schedule the cron parser refuses is refused, naming the cron field", function()
  fails_with("cronwords", with_schedule("foo bar baz qux quux"),
             'schedule: minute field "foo": expected a number, got "foo"')
  fails_with("cron99", with_schedule("99 99 99 99 99"), 'schedule: minute field "99": 99 is out of range %(0%-59%)')
  fails_with("cronhour", with_schedule("0 99 * * *"), 'schedule: hour field "99": 99 is out of range %(0%-23%)')
  fails_with("cronstep", with_schedule("*/0 * * * *"), 'schedule: minute field "%*/0": a step must be 1 or more')
  fails_with("cronfeb", with_schedule("0 0 30 2 *"), 'schedule: day%-of%-month field "30": .*can never fire')
  fails_with("cronat", with_schedule("@fortnightly"), 'schedule: unknown schedule "@fortnightly"')
  fails_with("cronref", [[return { schedule = env "X", source = { type = "sqlite", path = "/x" },
    storage = { { type = "local", path = "/y" } } }]], "schedule: expected a cron expression")
end)

T.test("schedules cron accepts load", function()
  for _, s in ipairs { "@daily", "1-5/2,30 * * jan-jun mon-fri", "0 0 29 2 *", "*/7 * * * 7" } do
    assert(mb.job.load(job_file("cronok", with_schedule(s))))
  end
end)

T.test("the time zone must be in the system's zoneinfo", function()
  local job = assert(mb.job.load(job_file("tzok", with_schedule("0 3 * * *", '"Europe/Berlin"'))))
  T.eq(job.timezone, "Europe/Berlin")
  fails_with("tzmars", with_schedule("0 3 * * *", '"Mars/Olympus_Mons"'),
             'timezone: time zone "Mars/Olympus_Mons": no such zone')
  fails_with("tzdots", with_schedule("0 3 * * *", '"../../etc/passwd"'),
             'timezone: time zone "%.%./%.%./etc/passwd": expected an IANA zone name')
  fails_with("tzabs", with_schedule("0 3 * * *", '"/etc/localtime"'), "timezone: time zone \"/etc/localtime\"")
  fails_with("tznotzif", with_schedule("0 3 * * *", '"zone.tab"'), "timezone: .*not a TZif file")
  fails_with("tzref", with_schedule("0 3 * * *", 'secret "tz"'), "timezone: expected a time zone name")
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

-- A job file around a source and a storage, with extra top-level code.
local function job_with(prelude, source, storage)
  return ("%s\nreturn { source = %s, storage = { %s } }"):format(prelude or "",
    source or '{ type = "sqlite", path = "/x" }', storage or '{ type = "local", path = "/y" }')
end

T.test("two files in a directory that declare the same job name are both broken, each naming both", function()
  local d = T.tempdir()
  T.write(d .. "/a.lua", 'return { name = "same", source = { type = "sqlite", path = "/x" }, storage = { { type = "local", path = "/y" } } }')
  T.write(d .. "/same.lua", job_with()) -- named "same" after its file
  T.write(d .. "/other.lua", job_with())
  local jobs, broken = mb.job.load_dir(d)
  T.eq(#jobs, 1, "good jobs")
  T.eq(jobs[1].name, "other")
  T.eq(#broken, 2, "broken files")
  for _, b in ipairs(broken) do
    T.matches(b.error, "^" .. b.file:gsub("%p", "%%%0") .. ": job name \"same\" is also declared by")
    T.matches(b.error, "/a%.lua", "names a.lua")
    T.matches(b.error, "/same%.lua", "names same.lua")
  end
end)

T.test("job.open refuses a job whose name another file in the jobs directory declares", function()
  local d = T.tempdir()
  T.write(d .. "/app.lua", job_with())
  T.write(d .. "/copy.lua", 'return { name = "app", source = { type = "sqlite", path = "/x" }, storage = { { type = "local", path = "/y" } } }')
  local job, err = mb.job.open("app", d)
  assert(job == nil, "expected the job to be refused")
  T.matches(err, d:gsub("%p", "%%%0") .. "/app%.lua: job name \"app\" is also declared by .*/copy%.lua")
  -- by path, from outside the jobs directory: the jobs directory is checked too
  local outside = T.tempdir() .. "/app.lua"
  T.write(outside, job_with())
  job, err = mb.job.open(outside, d)
  assert(job == nil, "expected the outside job to be refused")
  T.matches(err, "also declared by .*/app%.lua, .*/copy%.lua")
end)

T.test("job.open loads a job despite broken files beside it, and a file is no duplicate of itself", function()
  local d = T.tempdir()
  T.write(d .. "/app.lua", job_with())
  T.write(d .. "/broken.lua", "return {")
  T.write(d .. "/spins.lua", "while true do end")
  assert(mb.job.open("app", d))
  assert(mb.job.open(d .. "/./app.lua", d), "the same file by another path")
  assert(mb.job.open(d .. "/app.lua", d .. "/missing"), "a jobs directory that does not exist")
end)

T.test("a secret reference in a command's argv is refused, pointing to env", function()
  fails_with("argvref", job_with(nil, '{ type = "command", argv = { "dump", "--token", secret "t" } }'),
    'source%.argv%[3%]: secret "t" would be visible in the process list .*env table')
  fails_with("argvenv", job_with(nil, '{ type = "command", argv = { env "TOKEN" } }'),
    'source%.argv%[1%]: env "TOKEN" would be visible')
  fails_with("argvfile", job_with(nil, '{ type = "command", argv = { "x", file "/run/t" } }'),
    'source%.argv%[2%]: file "/run/t" would be visible')
end)

T.test("a reference in a database source's extra_args is refused too", function()
  fails_with("extraref", job_with(nil, '{ type = "postgres", database = "x", extra_args = { secret "pg" } }'),
    'source%.extra_args%[1%]: secret "pg" would be visible in the process list')
end)

T.test("a reference in a command's env table is accepted", function()
  assert(mb.job.load(job_file("envref", job_with(nil,
    '{ type = "command", argv = { "dump" }, env = { TOKEN = secret "t" } }'))))
end)

T.test("a port out of range is refused at load, naming the file and the key", function()
  fails_with("port", job_with(nil, nil, '{ type = "sftp", host = "h", port = 70000 }'),
    "storage%[1%]%.port: expected a port number from 1 to 65535, got 70000")
  fails_with("srcport", job_with(nil, '{ type = "postgres", port = 0 }'),
    "source%.port: expected a port number from 1 to 65535, got 0")
end)

T.test("an s3 part_size out of S3's range is refused at load, naming the file and the key", function()
  fails_with("partsize", job_with(nil, nil, '{ type = "s3", bucket = "b", part_size = -5 }'),
    "storage%[1%]%.part_size: expected from 5242880 %(5 MiB.* got %-5")
  fails_with("partbig", job_with(nil, nil, '{ type = "s3", bucket = "b", part_size = 6 * 1024 * 1024 * 1024 }'),
    "storage%[1%]%.part_size: expected from 5242880")
  assert(mb.job.load(job_file("partok", job_with(nil, nil, '{ type = "s3", bucket = "b", part_size = 5 * 1024 * 1024 }'))))
end)

T.test("a newline in a list's string is refused at load: the adapter gets lists one item a line", function()
  fails_with("argvnl", job_with(nil, '{ type = "command", argv = { "echo", "a\\nb" } }'),
    "source%.argv%[2%]: an item cannot hold a newline")
  fails_with("extranl", job_with(nil, '{ type = "postgres", extra_args = { "--x\\n--y" } }'),
    "source%.extra_args%[1%]: an item cannot hold a newline")
  fails_with("dbnl", job_with(nil, '{ type = "mysql", database = "a\\nb" }'),
    "source%.database: cannot hold a newline")
end)

T.test("a negative timeout or retries is refused at load", function()
  fails_with("timeout", job_with(nil, nil, '{ type = "webdav", url = "http://h/", timeout = -1 }'),
    "storage%[1%]%.timeout: expected a number of seconds, 1 or more, got %-1")
  fails_with("retries", job_with(nil, nil, '{ type = "s3", bucket = "b", retries = -2 }'),
    "storage%[1%]%.retries: expected 0 or more, got %-2")
end)

-- The load limits and the restricted environment (item 12).
T.test("a job file that loops forever is stopped at the instruction limit", function()
  fails_with("spin", "while true do end", "stopped while loading: it used more than %d+ Lua instructions, the limit for loading a job file")
end)

T.test("pcall in a job file cannot catch the instruction limit", function()
  fails_with("spincatch", "while true do pcall(function() while true do end end) end",
    "stopped while loading: it used more than %d+ Lua instructions")
end)

T.test("a job file that allocates without bound is stopped at the memory limit", function()
  fails_with("grow", 'local t = {} while true do t[#t + 1] = ("x"):rep(1e6) end',
    "stopped while loading: it used more than 64 MiB of memory, the limit for loading a job file")
  fails_with("huge", 'local s = ("x"):rep(2^30)', "stopped while loading: it used more than 64 MiB")
  fails_with("huger", 'local s = ("x"):rep(2^40)', "error while loading: .*too large")
end)

T.test("the limits are gone after a load that hit them", function()
  fails_with("grow2", 'local t = {} while true do t[#t + 1] = ("x"):rep(1e6) end', "memory")
  local t = {}
  for i = 1, 100 do t[i] = ("y"):rep(1e6) .. i end -- 100 MB, above the limit
  T.eq(#t, 100)
  fails_with("spin2", "while true do end", "instructions")
  T.eq(debug.gethook(), nil, "the count hook after the load")
end)

T.test("sandbox.run passes line events on to the hook it replaced (the fuzz harnesses' coverage)", function()
  local sandbox = require "moonbak.sandbox"
  local fn = assert(load("local a = 1\nlocal b = 2\nreturn a + b", "=sandboxed"))
  local seen = {}
  local function hook(_, line)
    if debug.getinfo(2, "S").source == "=sandboxed" then seen[#seen + 1] = line end
  end
  debug.sethook(hook, "l")
  local ok, sum = sandbox.run(fn, { instructions = 1000 })
  local after = debug.gethook()
  debug.sethook()
  T.eq(ok, true)
  T.eq(sum, 3)
  T.eq(table.concat(seen, ","), "1,2,3", "lines seen inside the sandbox")
  T.eq(after, hook, "the hook restored")
end)

T.test("os.execute, io.popen and io.open for writing are refused while a file loads", function()
  local marker = dir .. "/written"
  fails_with("exec", job_with('os.execute("touch ' .. marker .. '")'), "os%.execute is not available while a job file loads")
  fails_with("popen", job_with('io.popen("true")'), "io%.popen is not available while a job file loads")
  fails_with("openw", job_with('io.open("' .. marker .. '", "w")'), 'io%.open%(%.%.%., "w"%) is not available')
  fails_with("remove", job_with('os.remove("' .. marker .. '")'), "os%.remove is not available")
  fails_with("exit", job_with("os.exit(0)"), "os%.exit is not available")
  fails_with("print", job_with('print("hello")'), "print is not available")
  assert(not mb.sys.stat(marker), "nothing was written")
end)

T.test("a job file cannot set a finalizer, which would run after the load, unsandboxed", function()
  local marker = dir .. "/finalized"
  local gc = ('function() local f = io.open(%q, "w") f:write("escaped") f:close() end'):format(marker)
  fails_with("gc", job_with("setmetatable({}, { __gc = " .. gc .. " })"),
    "a __gc metamethod is not available while a job file loads")
  fails_with("gclater", job_with("local mt = { __gc = true } setmetatable({}, mt) mt.__gc = " .. gc),
    "a __gc metamethod is not available")
  collectgarbage()
  collectgarbage()
  assert(not mb.sys.stat(marker), "no finalizer of the file ran")
  assert(mb.job.load(job_file("mtok", job_with('local t = setmetatable({}, { __index = { path = "/z" } })',
    '{ type = "sqlite", path = t.path }'))))
end)

T.test("reading files, os.getenv and the string functions work while a file loads", function()
  T.write(dir .. "/path.txt", "/var/lib/app.db\n")
  local job = assert(mb.job.load(job_file("reads", job_with(
    ('local p = io.open("%s/path.txt"):read("l"); local h = os.getenv("HOME")'):format(dir),
    '{ type = "sqlite", path = p }'))))
  T.eq(job.source.path, "/var/lib/app.db")
end)

T.test("loading bytecode is refused inside a job file too", function()
  fails_with("loadbc", job_with('local f = assert(load(string.dump(function() end), "x", "b"))'),
    "attempt to load a binary chunk")
end)

T.test("require of moonbak modules works, but their functions wait for the run", function()
  fails_with("reqcall", job_with('local sqlite = require "moonbak.sqlite"; sqlite.open("/tmp/x.db")'),
    "moonbak%.sqlite%.open is not available while a job file loads")
  fails_with("reqsys", job_with('require("moonbak").sys.create_private("/tmp/x", "y")'),
    "moonbak%.sys%.create_private is not available")
end)

T.test("require of a C module is refused; a Lua module on package.path loads restricted", function()
  fails_with("reqc", job_with('require "lfs"'), 'require "lfs": while a job file loads, only moonbak\'s modules')
  local libdir = T.tempdir()
  T.write(libdir .. "/jobhelper.lua", 'return { path = function(n) return "/srv/" .. n end, run = function() os.execute("true") end }')
  T.write(libdir .. "/jobevil.lua", 'os.execute("true") return {}')
  local saved = package.path
  package.path = libdir .. "/?.lua;" .. saved
  local ok, err = pcall(function()
    local job = assert(mb.job.load(job_file("reqlua", job_with('local h = require "jobhelper"',
      '{ type = "sqlite", path = h.path("a.db") }'))))
    T.eq(job.source.path, "/srv/a.db")
    T.write(libdir .. "/jobuser.lua", 'return { helper = require "jobhelper" }')
    assert(mb.job.load(job_file("reqonce", job_with(
      'assert(require("jobuser").helper == require("jobhelper"), "jobhelper loaded twice")'))))
    fails_with("reqluarun", job_with('require("jobhelper").run()'), "os%.execute is not available")
    fails_with("reqevil", job_with('require "jobevil"'), "jobevil%.lua:1: os%.execute is not available")
  end)
  package.path = saved
  assert(ok, err)
end)

T.test("a custom step sees the full environment when it runs", function()
  local out = dir .. "/step-output"
  local job = assert(mb.job.load(job_file("stepwrites", ([[
    local sqlite = require "moonbak.sqlite"
    local function write_marker(ctx)
      local f = assert(io.open(%q, "w"))
      f:write(type(os.execute), " ", type(sqlite.open), " ", tostring(print ~= nil))
      f:close()
    end
    return { source = { type = "sqlite", path = "/x" }, storage = { { type = "local", path = "/y" } },
             steps = { "initialize", write_marker } }]]):format(out))))
  job.steps[2]({})
  local f = assert(io.open(out))
  T.eq(f:read("a"), "function function true")
  f:close()
end)

T.test("a job file cannot change the engine's string library", function()
  assert(mb.job.load(job_file("patch", job_with('string.format = function() return "patched" end'))))
  T.eq(("%d"):format(1), "1")
  T.eq(string.format("%d", 2), "2")
end)

T.test("metamethods of what a file returns never run after it loaded", function()
  local marker = dir .. "/metamethod-ran"
  local job = assert(mb.job.load(job_file("meta", ([[
    local t = { source = { type = "sqlite", path = "/x" }, storage = { { type = "local", path = "/y" } } }
    return setmetatable(t, { __index = function() io.open(%q, "w"):close() end })]]):format(marker))))
  local _ = job.schedule, job.description
  assert(not mb.sys.stat(marker), "the __index of the file ran")
  local job2, err = mb.job.load(job_file("errobj", ([[
    error(setmetatable({}, { __tostring = function() io.open(%q, "w"):close() return "x" end }))]]):format(marker)))
  assert(not job2)
  T.matches(err, "error object is a table value")
  assert(not mb.sys.stat(marker), "the __tostring of the file ran")
end)

-- A file that starts with "#!" is a script (moonbak script FILE), not a job:
-- tests/e2e/test_examples.sh runs those.
T.test("every job file in examples/ is valid", function()
  local n = 0
  for _, name in ipairs(assert(mb.sys.listdir("examples"))) do
    local f = name:match("%.lua$") and assert(io.open("examples/" .. name))
    if f and f:read(2) ~= "#!" then
      local job, err = mb.job.load("examples/" .. name)
      assert(job, err)
      n = n + 1
    end
    if f then f:close() end
  end
  assert(n >= 3, "examples found: " .. n)
end)

-- verify = { schedule, backups }: the daemon's verification of the job
local function with_verify(verify)
  return ([[return { verify = %s, source = { type = "sqlite", path = "/x" },
    storage = { { type = "local", path = "/y" } } }]]):format(verify)
end

T.test("verify: a cron schedule, backups newest (the default) or all; anything else refused", function()
  local job = assert(mb.job.load(job_file("verifies", with_verify('{ schedule = "0 5 * * *" }'))))
  T.eq(job.verify.backups, "newest", "backups defaults to the newest")
  job = assert(mb.job.load(job_file("verifiesall", with_verify('{ schedule = "@daily", backups = "all" }'))))
  T.eq(job.verify.backups, "all", "or every backup")
  fails_with("verifykey", with_verify('{ schedule = "0 5 * * *", backup = "all" }'),
             'verify: unknown key "backup" %(expected one of: backups, schedule%)')
  fails_with("verifycron", with_verify('{ schedule = "0 25 * * *" }'),
             'verify.schedule: hour field "25": 25 is out of range')
  fails_with("verifywhich", with_verify('{ schedule = "0 5 * * *", backups = "oldest" }'),
             'verify.backups: expected "newest" or "all", got string "oldest"')
  fails_with("verifynone", with_verify('{ backups = "all" }'), 'verify: missing required key "schedule"')
  fails_with("verifytype", with_verify('"0 5 * * *"'), "verify: expected a table")
end)

T.test("drill.schedule is read by the scheduler's parser too", function()
  local job = assert(mb.job.load(job_file("drills", with_verify('nil, drill = { schedule = "0 6 * * 0" }'))))
  T.eq(job.drill.schedule, "0 6 * * 0", "kept")
  fails_with("drillcron", with_verify('nil, drill = { schedule = "every sunday" }'), "drill.schedule: expected 5 fields")
end)

-- copy_to: storages the run copies its backup to instead of uploading.
local function with_copy_to(copy_to)
  return ([[return { name = "cp", source = { type = "sqlite", path = "/x" },
    storage = { { type = "local", path = "/a" }, { type = "local", name = "offsite", path = "/b" },
                { type = "local", name = "third", path = "/c" } },
    copy_to = %s }]]):format(copy_to)
end

T.test("copy_to naming storages of the job loads as given", function()
  local job = assert(mb.job.load(job_file("copyto", with_copy_to([[{ "offsite", "third" }]]))))
  T.eq(job.copy_to[1], "offsite")
  T.eq(job.copy_to[2], "third")
  job = assert(mb.job.load(job_file("copyto_first", with_copy_to([[{ "local" }]]))))
  T.eq(job.copy_to[1], "local", "the first storage may be copied to when another is uploaded to")
end)

T.test("copy_to naming no storage of the job is refused, with the job's storage names", function()
  fails_with("copyto_unknown", with_copy_to([[{ "ofsite" }]]),
             'copy_to%[1%]: no storage of the job is named "ofsite" %(its storages: local, offsite, third%)')
end)

T.test("copy_to naming every storage is refused: one must be uploaded to", function()
  fails_with("copyto_all", with_copy_to([[{ "offsite", "local", "third" }]]),
             "copy_to: names every storage of the job: at least one must be uploaded to")
end)

T.test("copy_to naming a storage twice is refused", function()
  fails_with("copyto_twice", with_copy_to([[{ "offsite", "offsite" }]]), 'copy_to%[2%]: storage "offsite" is listed twice')
end)

T.test("copy_to must be a non-empty list of names", function()
  fails_with("copyto_string", with_copy_to([["offsite"]]), "copy_to: expected a list of strings")
  fails_with("copyto_empty", with_copy_to("{}"), "copy_to: expected a non%-empty list of storage names")
  fails_with("copyto_keys", with_copy_to("{ to = \"offsite\" }"), "copy_to")
end)

return T.done()
