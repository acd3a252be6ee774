-- Notifications as policy (lua/moonbak/notify.lua): the event a run makes,
-- its wording, `on` filters, the shared time budget, Lua notifiers, and
-- what is recorded.  The C adapters have their own tests (tests/e2e/
-- test_notify_*.sh); here every notifier is a Lua function, which the
-- runner treats exactly like a built-in one.
local T = dofile("tests/lua/testlib.lua")
local mb = require "moonbak"
local cjson = require "cjson"

local function fixture(extra)
  local dir = T.tempdir()
  T.sh(("sqlite3 %s/src.db 'CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);'"):format(dir))
  local st = assert(mb.state.open(dir .. "/state"))
  local j = { name = "shop", source = { type = "sqlite", path = dir .. "/src.db" },
              storage = { { type = "local", path = dir .. "/backups" } } }
  for k, v in pairs(extra or {}) do j[k] = v end
  return dir, st, assert(mb.job.validate(j))
end

-- A Lua notifier that keeps what it hears.
local function recorder(on)
  local heard = {}
  return { type = "lua", on = on, fn = function(e) heard[#heard + 1] = e; return "kept" end }, heard
end

T.test("a run tells start, success and failure to the notifiers whose `on` wants them", function()
  local all, heard_all = recorder { "start", "success", "partial", "failure" }
  local default, heard_default = recorder(nil)
  local _, st, job = fixture { notify = { all, default } }
  local ok, ctx = mb.runner.run(job, { state = st })
  assert(ok, ctx.error)
  T.eq(#heard_all, 2, "start and success")
  T.eq(heard_all[1].event, "start")
  T.eq(heard_all[1].status, "running")
  T.eq(heard_all[2].event, "success")
  T.eq(#heard_default, 0, "the default `on` is failures and partial runs only")
  T.eq(heard_all[1].run_id, heard_all[2].run_id, "start and end share a run id")

  local e = heard_all[2]
  T.eq(e.version, 1, "schema version")
  T.eq(e.job, "shop")
  T.eq(e.execution, ctx.execution.id)
  T.eq(e.status, "success")
  T.eq(e.trigger, "manual")
  T.eq(e.backup, ctx.backup_id, "the backup id")
  T.eq(e.bytes_dumped, ctx.metadata.logical_size, "bytes dumped")
  T.eq(e.bytes_stored, ctx.metadata.size, "bytes stored")
  assert(type(e.duration) == "number" and e.duration >= 0, "a duration")
  T.eq(e.storages[1].name, "local")
  T.eq(e.storages[1].status, "stored")
  T.eq(e.host, mb.sys.hostname())
  T.eq(e.moonbak_version, mb.version)
  T.eq(e.log.lines[#e.log.lines]:match("finished: success") ~= nil, true, "the log ends with the outcome")
end)

T.test("a failed run is a failure event with its error; a throwing notifier changes nothing", function()
  local rec, heard = recorder(nil)
  local _, st, job = fixture { notify = { function() error("the service is down") end, rec } }
  job.source.path = "/nonexistent/src.db"
  local ok, ctx = mb.runner.run(job, { state = st })
  assert(not ok)
  T.eq(ctx.status, "failed", "still failed, not something else")
  T.eq(#heard, 1, "the second notifier still heard it")
  T.eq(heard[1].event, "failure")
  T.matches(heard[1].error, "nonexistent", "the error")
  T.eq(heard[1].backup, nil, "no backup")
  T.eq(heard[1].storages[1].status, "not written")
  local d = st:deliveries(ctx.execution.id)
  T.eq(#d, 2, "both deliveries recorded")
  T.eq(d[1].status, "failed")
  T.matches(d[1].error, "the service is down")
  T.eq(d[1].notifier, "lua")
  T.eq(d[2].status, "sent")
  T.eq(d[2].answer, "kept")
  T.eq(st:execution(ctx.execution.id).status, "failed", "the recorded outcome is the run's")
end)

T.test("a successful run stays successful when every notifier fails", function()
  local _, st, job = fixture { notify = {
    { type = "lua", on = { "start", "success" }, fn = function() error("no") end } } }
  local ok, ctx = mb.runner.run(job, { state = st })
  assert(ok, ctx.error)
  T.eq(st:execution(ctx.execution.id).status, "success")
  local warned = 0
  for _, l in ipairs(st:logs(ctx.execution.id)) do
    if l.level == "warning" and l.message:find("notifier lua", 1, true) then warned = warned + 1 end
  end
  T.eq(warned, 2, "each failed delivery is a warning in the execution log")
end)

T.test("a notifier whose secret is missing fails its delivery, not the run", function()
  local rec, heard = recorder { "success" }
  local _, st, job = fixture { notify = {
    { type = "lua", on = { "success" }, fn = function() end, name = "with-secret" }, rec } }
  job.notify[1].token = mb.ref.secret("nope") -- a Lua notifier ignores it, but it must resolve
  local ok, ctx = mb.runner.run(job, { state = st })
  assert(ok, ctx.error)
  local d = st:deliveries(ctx.execution.id)
  T.eq(d[1].status, "failed")
  T.matches(d[1].error, 'secret "nope"', "names the reference")
  T.eq(#heard, 1, "the next notifier still heard")
end)

T.test("the log an event carries is bounded: newest lines kept, the cut counted", function()
  local entries = {}
  for i = 1, 10000 do
    entries[i] = { time = "2026-12-02T03:00:00.000Z", level = "info", step = "dump",
                   message = ("line %d %s"):format(i, ("é"):rep(400)) }
  end
  entries[10000].message = "pg_dump said: first\nsecond\nthird"
  local tail = mb.notify.log_tail(entries)
  T.eq(#tail.lines, mb.notify.log_lines, "at most log_lines lines")
  T.eq(tail.cut, 10000 + 2 - mb.notify.log_lines, "the cut counted (a message of 3 lines is 3)")
  T.eq(tail.lines[#tail.lines], "  third", "the newest line last; continuation lines indented")
  for _, l in ipairs(tail.lines) do
    assert(#l <= mb.notify.line_bytes + 3, "a line is cut: " .. #l)
    assert(utf8.len(l), "cut on a character boundary")
  end
end)

T.test("wording: titles and summaries say job and outcome", function()
  local e = { event = "failure", status = "failed", job = "shop", duration = 3.2, host = "db1",
              error = "pg_dump exited with status 1", storages = {}, log = { lines = {}, cut = 0 } }
  local n = mb.notify.notice(e)
  T.eq(n.title, "[moonbak] shop: failed")
  T.matches(n.summary, "shop failed after 3%.2 s: pg_dump exited with status 1")
  e.status = "skipped"; e.scheduled_for = "2026-12-02T03:00:00Z"; e.error = "job still running (execution 4)"
  n = mb.notify.notice(e)
  T.eq(n.title, "[moonbak] shop: skipped")
  T.matches(n.summary, "scheduled for 2026%-12%-02T03:00:00Z was skipped: job still running")
  local body = cjson.decode(n.json)
  T.eq(body.backup, cjson.null, "documented keys are null when unknown")
  T.eq(body.event, "failure")
end)

T.test("deliver shares its budget: a hanging notifier leaves the next one its reserve", function()
  local rec, heard = recorder(nil)
  local hang = { type = "lua", fn = function() while true do end end }
  local started = mb.sys.monotonic()
  local results = mb.notify.deliver({ hang, rec }, { event = "failure", status = "failed", job = "x" },
                                    { budget = 2 })
  T.eq(results[1].sent, false, "the hanging one failed")
  T.matches(results[1].error, "did not return within")
  T.eq(results[2].sent, true, "the next one was still sent")
  T.eq(#heard, 1)
  -- bounded: the loop was stopped by the deadline, not by luck
  assert(mb.sys.monotonic() - started < 60, "within a bounded time")
end)

T.test("a Lua notifier that catches the deadline's error (a retry loop) is still stopped", function()
  -- Each pcall catches one error; without a hook that keeps raising, the
  -- loop would go on for its 30 s and return.
  local escaped = false
  local retrying = { type = "lua", fn = function()
    local t0 = mb.sys.monotonic()
    while mb.sys.monotonic() - t0 < 30 do
      pcall(function() for _ = 1, 1e6 do end end)
    end
    escaped = true
    return "escaped"
  end }
  local results = mb.notify.deliver({ retrying }, { event = "failure", status = "failed", job = "x" },
                                    { budget = 1 })
  T.eq(results[1].sent, false, "stopped, not returned")
  T.matches(results[1].error, "did not return within")
  T.eq(escaped, false)
  -- a __tostring of the answer is the notifier's code, under its deadline too
  local slow_answer = { type = "lua", fn = function()
    return setmetatable({}, { __tostring = function()
      local t0 = mb.sys.monotonic()
      while mb.sys.monotonic() - t0 < 30 do end
      return "late"
    end })
  end }
  results = mb.notify.deliver({ slow_answer }, { event = "failure", status = "failed", job = "x" },
                              { budget = 1 })
  T.eq(results[1].sent, false)
  T.matches(results[1].error, "did not return within")
end)

T.test("what a Lua notifier sends itself gets no more than the time it has left", function()
  local inner_result
  local outer = { type = "lua", fn = function(e)
    -- 30 s of work, given the default budget unless the outer deadline bounds it
    inner_result = mb.notify.send(function()
      local t0 = mb.sys.monotonic()
      while mb.sys.monotonic() - t0 < 30 do end
      return "finished"
    end, e)
    return "outer"
  end }
  mb.notify.deliver({ outer }, { event = "failure", status = "failed", job = "x" }, { budget = 1 })
  T.eq(inner_result.sent, false, "the inner notifier was stopped by the outer deadline")
  T.matches(inner_result.error, "did not return within")
end)

T.test("a Lua notifier that says it failed is recorded failed, not sent", function()
  local event = { event = "failure", status = "failed", job = "x" }
  local function one(fn) return mb.notify.deliver({ { type = "lua", fn = fn } }, event, { budget = 5 })[1] end
  -- passing on what a built-in notifier answered (here one whose secret is missing)
  local r = one(function(e) return mb.notify.send({ type = "webhook", url = mb.ref.env("MOONBAK_REVIEW_NO_SUCH_VARIABLE") }, e) end)
  T.eq(r.sent, false, "a notify.send result that was not sent")
  T.matches(r.error, "^lua notifier: ")
  r = one(function() return nil, "refused by the relay" end)
  T.eq(r.sent, false, "nil and a reason")
  T.eq(r.error, "lua notifier: refused by the relay")
  r = one(function() return false end)
  T.eq(r.sent, false, "false")
  r = one(function() return { sent = true, answer = "HTTP 204" } end)
  T.eq(r.sent, true)
  T.eq(r.answer, "HTTP 204")
  r = one(function() end)
  T.eq(r.sent, true, "returning nothing is sent")
  T.eq(r.answer, "returned")
end)

T.test("credentials in a notifier's URL path and its auth headers are hidden from messages", function()
  local redactor = mb.ref.redactor()
  local r = mb.notify.send({ type = "webhook", url = "http://127.0.0.1:1/hooks/tok3n-in-path", retries = 0,
                             headers = { Authorization = "Bearer s3kr1t-bearer", ["X-Team"] = "dbteam" } },
                           { event = "failure", job = "shop" }, { redactor = redactor, seconds = 5 })
  T.eq(r.sent, false, "nothing listens on port 1")
  T.eq(redactor.redact("at /hooks/tok3n-in-path"), "at ***", "the URL's path")
  T.eq(redactor.redact("echo: s3kr1t-bearer"), "echo: ***", "the bearer token")
  T.eq(redactor.redact("team dbteam"), "team dbteam", "an ordinary header stays readable")
end)

T.test("job files: notify entries validate from the adapters' schemas and `on`", function()
  local function load(notify)
    return mb.job.validate({ name = "x", source = { type = "sqlite", path = "/x" },
                             storage = { { type = "local", path = "/y" } }, notify = notify })
  end
  local job = assert(load { function() end, { type = "lua", fn = function() end } })
  T.eq(job.notify[1].name, "lua")
  T.eq(job.notify[2].name, "lua-2", "names like storages")
  local _, err = load { { type = "lua", fn = function() end, on = { "sucess" } } }
  T.matches(err, 'notify%[1%]%.on%[1%]: unknown event "sucess"')
  _, err = load { { type = "pager" } }
  T.matches(err, 'notify%[1%]%.type: unknown notifier type "pager"')
  _, err = load { { type = "lua" } }
  T.matches(err, 'missing required key "fn"')
  _, err = load { "x" }
  T.matches(err, "expected a table or a function")
  _, err = load { { type = "lua", fn = function() end, name = "a" }, { type = "lua", fn = function() end, name = "a" } }
  T.matches(err, 'duplicate notifier name "a"')
end)

T.test("a failed verification is the event verify_failed, which notifiers hear of where they hear of failures", function()
  T.eq(mb.notify.event_name("failed", "verify"), "verify_failed", "a failed verification")
  T.eq(mb.notify.event_name("skipped", "verify"), "verify_failed", "a verification the daemon skipped")
  T.eq(mb.notify.event_name("failed"), "failure", "a failed backup is still a failure")
  local function wants(n) return mb.notify.wants(n, "verify_failed") end
  T.eq(wants { type = "webhook", url = "http://x" }, true, "webhook: by default")
  T.eq(wants { type = "healthchecks", url = "http://x" }, false, "healthchecks: not by default (the backup job's dead man's switch)")
  T.eq(wants { type = "webhook", url = "http://x", on = { "failure" } }, false, "not when `on` leaves it out")
  T.eq(wants { type = "webhook", url = "http://x", on = { "verify_failed" } }, true, "`on` may list it")
  local n = mb.notify.notice(mb.notify.event { event = "verify_failed", job = "shop", status = "failed",
                                               error = "backup 20260302T100000Z on local: sha256 mismatch" })
  T.eq(n.title, "[moonbak] shop: verification failed", "title")
  T.eq(n.summary, "shop: verification failed: backup 20260302T100000Z on local: sha256 mismatch", "summary")
end)

T.done()
