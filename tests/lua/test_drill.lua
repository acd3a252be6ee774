-- Restore drills: the drill table of a job file, and the framework's scratch names.
local T = dofile("tests/lua/testlib.lua")
local mb = require "moonbak"

local function job(source, drill)
  return { name = "shop", source = source, storage = { { type = "local", path = "/tmp/x" } }, drill = drill }
end

local sqlite = { type = "sqlite", path = "/tmp/shop.db" }
local pg = { type = "postgres", host = "127.0.0.1", database = "shop" }
local redis = { type = "redis", host = "127.0.0.1" }
local file = { type = "file", path = "/etc/hostname" }

local function valid(source, drill)
  local j, err = mb.job.validate(job(source, drill))
  assert(j, err)
  return j
end

local function refused(source, drill, pattern)
  local j, err = mb.job.validate(job(source, drill))
  assert(j == nil, "expected the drill table to be refused")
  T.matches(err, pattern)
end

T.test("a drill with a schedule and SQL checks, strings or { sql, expect }, is valid", function()
  local j = valid(sqlite, { schedule = "0 6 * * 0", checks = { "select count(*) > 0 from t",
    { sql = "select count(*) from t", expect = 3 }, { sql = "select 1", expect = "1", name = "one" } } })
  T.eq(j.drill.checks[2].expect, 3)
end)

T.test("drill.schedule is read by moonbak.cron: a bad one is refused with cron's message", function()
  refused(sqlite, { schedule = "61 * * * *" }, "job%.drill%.schedule: .*")
  refused(sqlite, { schedule = 5 }, "job%.drill%.schedule: expected a cron expression")
end)

T.test("an unknown key in drill is refused, naming the keys it takes", function()
  refused(sqlite, { schedul = "@daily" },
          'job%.drill: unknown key "schedul" %(expected one of: checks, command, schedule, server%)')
end)

T.test("an unknown key in a check is refused", function()
  refused(sqlite, { checks = { { sql = "select 1", expected = 1 } } },
          'job%.drill%.checks%[1%]: unknown key "expected" %(expected one of: expect, name, sql%)')
end)

T.test("a check must be a query string or a table with sql", function()
  refused(sqlite, { checks = { 42 } }, "job%.drill%.checks%[1%]: expected a query string")
  refused(sqlite, { checks = { "" } }, "job%.drill%.checks%[1%]: expected a non%-empty query")
  refused(sqlite, { checks = { { expect = 1 } } }, "job%.drill%.checks%[1%]%.sql: expected a query")
  refused(sqlite, { checks = { { sql = "select 1", expect = {} } } }, "checks%[1%]%.expect: expected a string, a number")
  refused(sqlite, { checks = "select 1" }, "job%.drill%.checks: expected a list")
  refused(sqlite, { checks = { x = "select 1" } }, "job%.drill%.checks: expected a list, found key \"x\"")
end)

T.test("redis checks are commands: a string or { command = list, expect }", function()
  valid(redis, { checks = { "DBSIZE", { command = { "GET", "k" }, expect = "v" }, { command = "PING", expect = "PONG" } } })
  refused(redis, { checks = { { sql = "select 1" } } }, 'checks%[1%]: unknown key "sql"')
  refused(redis, { checks = { { command = {} } } }, "checks%[1%]%.command: expected a command")
end)

T.test("server is a source table of the job's type, validated like the source", function()
  local j = valid(pg, { server = { host = "10.0.0.9", port = 5433 } })
  T.eq(j.drill.server.type, "postgres", "the type defaults to the source's")
  refused(pg, { server = { type = "mysql", host = "x" } }, 'job%.drill%.server%.type: expected "postgres"')
  refused(pg, { server = { hots = "x" } }, 'job%.drill%.server: unknown key "hots"')
  refused(pg, { server = { port = "5432" } }, "job%.drill%.server%.port: expected an integer")
  refused(pg, { server = { extra_args = { mb.ref.secret("x") } } }, "process list")
  refused(sqlite, { server = { path = "/x" } }, "job%.drill%.server: a sqlite drill restores into a scratch file")
end)

T.test("file and command sources are checked by drill.command, a string or an argv list", function()
  valid(file, { command = "test -s \"$1\"" })
  valid(file, { command = { "/usr/bin/test", "-d", "/" } })
  refused(file, { command = {} }, "job%.drill%.command: expected a shell command")
  refused(file, { command = { mb.ref.secret("x") } }, "job%.drill%.command%[1%]: .*process list")
  refused(file, { checks = { "select 1" } }, "job%.drill%.checks: a file source is checked by a program")
  refused(sqlite, { command = "true" }, "job%.drill%.command: is for file and command sources")
end)

T.test("a source without drills (mongodb) refuses a drill table", function()
  refused({ type = "mongodb", uri = "mongodb://x" }, {}, "restore drills are not available for mongodb sources")
end)

return T.done()
