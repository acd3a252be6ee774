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

T.test("a scratch name is this host's and process's, a valid database name", function()
  local name = mb.drill.scratch_name()
  T.matches(name, "^moonbak_drill_%x%x%x%x%x%x%x%x_" .. mb.sys.pid() .. "_%d+$")
  assert(#name <= 63 and not name:find("[^a-z0-9_]"), "at most 63 of [a-z0-9_]: " .. name)
  local s = mb.drill.parse_scratch(name .. ".sqlite3")
  T.eq(s.pid, mb.sys.pid())
  T.eq(s.host, mb.drill.host_hash())
  T.eq(mb.drill.abandoned(name), false, "a live drill's scratch is not abandoned")
end)

T.test("a dead drill's scratch is abandoned; another host's, or a reused pid's, told apart", function()
  local p = io.popen("sh -c 'echo $$'")
  local dead = math.tointeger(tonumber(p:read("l")))
  p:close()
  local host = mb.drill.host_hash()
  T.eq(mb.drill.abandoned(("moonbak_drill_%s_%d_1"):format(host, dead)), true, "its process is gone")
  T.eq(mb.drill.abandoned(("moonbak_drill_%s_%d_1"):format(host, mb.sys.pid())), true,
       "its pid runs, with another start time: another process")
  local other = host == "00000000" and "11111111" or "00000000"
  T.eq(mb.drill.abandoned(("moonbak_drill_%s_%d_1"):format(other, dead)), false, "another host's: never")
  T.eq(mb.drill.abandoned("shop"), false, "not a scratch name")
end)

T.test("drill.sweep_dirs removes dead drills' directories only", function()
  local root = T.tempdir()
  local live = mb.drill.scratch_name()
  local dead = ("moonbak_drill_%s_%d_1"):format(mb.drill.host_hash(), mb.sys.pid())
  for _, n in ipairs { live, dead, "other" } do assert(mb.sys.mkdirs(root .. "/" .. n .. "/x")) end
  local removed, problems = mb.drill.sweep_dirs(root)
  T.eq(#removed, 1)
  T.eq(removed[1], dead)
  T.eq(#problems, 0)
  T.eq(mb.sys.stat(root .. "/" .. live).type, "directory", "a live drill's stays")
  T.eq(mb.sys.stat(root .. "/other").type, "directory", "what is not a drill's stays")
end)

T.test("drill.judge: true/t/1 without expect, the same text or number with it", function()
  T.eq(mb.drill.judge(1), true)
  T.eq(mb.drill.judge("t"), true)
  T.eq(mb.drill.judge(0), false)
  T.eq(mb.drill.judge(nil), false)
  T.eq(select(2, mb.drill.judge(nil)), "NULL")
  T.eq(mb.drill.judge(3, 3), true)
  T.eq(mb.drill.judge(3.0, 3), true)
  T.eq(mb.drill.judge("v", "v"), true)
  local ok, detail = mb.drill.judge(2, 3)
  T.eq(ok, false)
  T.eq(detail, "2, expected 3")
  T.eq(mb.drill.judge(0, false), true)
end)

T.test("without an on, notifiers told of failures are told of failed drills; healthchecks is not", function()
  local notify = mb.notify
  T.eq(notify.wants({ type = "webhook" }, "drill_failed"), true)
  T.eq(notify.wants({ type = "webhook" }, "drill_success"), false)
  T.eq(notify.wants({ type = "healthchecks" }, "drill_failed"), false)
  T.eq(notify.wants({ type = "healthchecks" }, "drill_success"), false)
  T.eq(notify.wants({ type = "healthchecks", on = { "drill_failed" } }, "drill_failed"), true)
  T.eq(notify.wants({ type = "slack", on = { "failure" } }, "drill_failed"), false, "an on of its own is exact")
  T.eq(notify.event_name("cancelled", "drill"), "drill_failed")
  T.eq(notify.event_name("success", "drill"), "drill_success")
  T.eq(notify.event_name("success"), "success")
end)

T.test("a notifier's on may list drill_success and drill_failed", function()
  assert(mb.job.validate({ source = sqlite, storage = { { type = "local", path = "/x" } },
    notify = { { type = "webhook", url = "http://x", on = { "drill_failed", "drill_success" } } } }))
  local _, err = mb.job.validate({ source = sqlite, storage = { { type = "local", path = "/x" } },
    notify = { { type = "webhook", url = "http://x", on = { "drill_fail" } } } })
  T.matches(err, 'unknown event "drill_fail" %(expected start, success, partial, failure, drill_success, drill_failed or verify_failed%)')
end)

T.test("a drill event is worded as such", function()
  local e = mb.notify.event { event = "drill_failed", kind = "drill", job = "shop", status = "failed",
    backup = "20260101T000000Z", error = 'check "select 1 = 2" failed: 0',
    drill = { restore_seconds = 1.5, checks = { { name = "select 1 = 2", ok = false, detail = "0" } } } }
  local n = mb.notify.notice(e)
  T.eq(n.title, "[moonbak] shop: restore drill failed")
  T.matches(n.summary, 'the restore drill of backup 20260101T000000Z failed: check "select 1 = 2" failed: 0')
  local body = require("cjson").decode(n.json)
  T.eq(body.kind, "drill")
  T.eq(body.drill.checks[1].detail, "0")
end)

T.test("a claim is taken by an execution of its own kind only", function()
  local st <close> = assert(mb.state.open(T.tempdir()))
  local e = assert(st:claim("shop", "2026-01-04T06:00:00Z", { kind = "drill" }))
  local taken, err = st:take_claim(e.id, "shop")
  T.eq(taken, nil)
  T.eq(err, ("execution %d was claimed for a drill, not a backup"):format(e.id))
  T.eq(st:execution(e.id).status, "pending", "left to its owner")
  local drill = assert(st:take_claim(e.id, "shop", "drill"))
  T.eq(drill.status, "running")
  T.eq(drill.kind, "drill")
end)

return T.done()
