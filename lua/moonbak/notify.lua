-- moonbak.notify: who hears about a run, and what they are told.
--
-- An event is one table (the webhook's body, schema below, and what a Lua
-- notifier receives); a notice is that event in words, which the C
-- adapters (adapters/notify/, through moonbak.notifier) fit to their
-- service.  The wording is here; the adapters only shape and deliver it.
-- A delivery never raises and never changes a run's outcome: it answers
-- { sent =, code =, attempts =, answer =, error =, seconds = }.
--
-- The event, schema version 1 (README "Notifications" documents it):
--   version, event ("start" | "success" | "partial" | "failure" | "test" |
--   "drill_success" | "drill_failed" | "verify_failed"), kind ("backup" |
--   "drill" | "verify"),
--   job, execution, status, trigger, scheduled_for, attempt, started_at,
--   finished_at, duration (seconds), bytes_dumped, bytes_stored, backup,
--   storages = { { name, type, status ("stored" | "failed" | "not written"),
--   error, bytes } }, error, log = { lines = { ... }, cut = N }, host,
--   moonbak_version, run_id, time, drill = { storage, restore_seconds,
--   bytes, checks = { { name, ok, detail } } } (drills only).
local crypto = require "moonbak.crypto"
local json = require "moonbak.json"
local cjson = require "cjson"
local notifier = require "moonbak.notifier"
local ref = require "moonbak.ref"
local state_mod = require "moonbak.state"
local sys = require "moonbak.sys"
local units = require "moonbak.units"

local M = {}

M.schema_version = 1
-- The events a notifier's `on` may list.
M.events = { "start", "success", "partial", "failure", "drill_success", "drill_failed", "verify_failed" }
-- The events a notifier hears of by default when it hears of failed runs:
-- a backup that does not restore, or no longer reads back, is as bad news
-- as one not made.
M.failure_events = { "drill_failed", "verify_failed" }
-- Seconds all the notifiers of one event may take together, retries
-- included: completion ends within it however the services behave.  The
-- start event holds the backup back, so it gets less.
M.budget = { start = 20, default = 60 }
M.reserve = 10
-- The log an event carries: its newest lines, each cut to a length.
M.log_lines = 40
M.line_bytes = 500

-- What each execution status is, as an event: the scheduler's skipped
-- fire times and the runs it had to kill are failures too.  A
-- verification (kind "verify") that did not succeed is "verify_failed".
local event_of_status = {
  running = "start", pending = "start", success = "success", partial = "partial",
  failed = "failure", cancelled = "failure", interrupted = "failure", skipped = "failure",
}

-- kind: the execution's ("backup" by default; a drill's events are
-- drill_success and drill_failed, a cancelled drill failed too; a
-- verification that did not succeed is verify_failed).
function M.event_name(status, kind)
  if kind == "drill" then return status == "success" and "drill_success" or "drill_failed" end
  local name = event_of_status[status] or "failure"
  if kind == "verify" and name ~= "start" and name ~= "success" then return "verify_failed" end
  return name
end

-- The kinds a job's notify list may hold: the adapters' and "lua".
function M.types()
  local list = notifier.types()
  list[#list + 1] = "lua"
  return list
end

-- The events notifier n is sent when its `on` says nothing.  A notifier
-- told of failed runs is told of failed drills and verifications too,
-- except healthchecks: its check is the backup job's dead man's switch,
-- which a drill or a verification must neither trip nor reset unless the
-- job says so.
function M.default_on(n)
  local schema = n.type ~= "lua" and notifier.schema(n.type)
  local given = schema and schema.default_on or { "failure", "partial" }
  local list = table.move(given, 1, #given, 1, {})
  if n.type == "healthchecks" then return list end
  for _, e in ipairs(list) do
    if e == "failure" then return table.move(M.failure_events, 1, #M.failure_events, #list + 1, list) end
  end
  return list
end

local function listed(list, name)
  for _, e in ipairs(list) do
    if e == name then return true end
  end
  return false
end

function M.wants(n, event_name)
  if event_name == "test" then return true end
  return listed(n.on or M.default_on(n), event_name)
end

-- A notify list as a job gives it: a function is a Lua notifier.  Each
-- entry gets a unique name (its type, then type-2 ...), like storages.
function M.normalize(list)
  local out, count, seen = {}, {}, {}
  for i, n in ipairs(list) do
    if type(n) == "function" then n = { type = "lua", fn = n } end
    if not n.name then
      count[n.type] = (count[n.type] or 0) + 1
      n.name = count[n.type] == 1 and n.type or ("%s-%d"):format(n.type, count[n.type])
    end
    if seen[n.name] then return nil, i, ("duplicate notifier name %q"):format(n.name) end
    seen[n.name] = true
    out[i] = n
  end
  return out
end

-- A string cut to at most max bytes on a UTF-8 character boundary.
local function cut_bytes(s, max)
  if #s <= max then return s end
  local i = max
  while i > 1 and (s:byte(i + 1) or 0) & 0xC0 == 0x80 do i = i - 1 end
  return s:sub(1, i) .. "…"
end

-- The newest lines of a log (entries { time, level, step, message }): one
-- line per line of a message (a tool's stderr has many), each cut.
function M.log_tail(entries)
  local lines = {}
  for _, e in ipairs(entries or {}) do
    local prefix = ("%s %s %s: "):format((e.time or ""):match("T([%d:]+)") or "-", e.level or "-",
                                         e.step or "-")
    for line in tostring(e.message):gmatch("[^\n]+") do
      lines[#lines + 1] = cut_bytes(prefix .. line, M.line_bytes)
      prefix = "  "
    end
  end
  local cut = math.max(0, #lines - M.log_lines)
  return { lines = table.move(lines, cut + 1, #lines, 1, {}), cut = cut }
end

local function uuid()
  local b = { crypto.random(16):byte(1, 16) }
  b[7] = b[7] & 0x0F | 0x40 -- version 4
  b[9] = b[9] & 0x3F | 0x80 -- RFC 4122 variant
  local hex = ("%02x"):rep(16):format(table.unpack(b))
  return ("%s-%s-%s-%s-%s"):format(hex:sub(1, 8), hex:sub(9, 12), hex:sub(13, 16), hex:sub(17, 20),
                                   hex:sub(21))
end
M.uuid = uuid

-- Seconds from one state timestamp (ISO 8601 UTC, milliseconds) to another.
local function seconds_between(a, b)
  local parse_iso = require("moonbak.schedule").parse_iso
  local function parse(ts)
    if type(ts) ~= "string" then return nil end
    local whole, ms = ts:match("^(.-)%.(%d+)Z$")
    local t = parse_iso(whole and whole .. "Z" or ts)
    return t and t + tonumber("0." .. (ms or "0"))
  end
  local ta, tb = parse(a), parse(b)
  return ta and tb and tb - ta or nil
end

local function base_event(name, fields)
  local e = {
    version = M.schema_version, event = name, host = sys.hostname(), moonbak_version = sys.version,
    time = state_mod.timestamp(),
  }
  for k, v in pairs(fields) do e[k] = v end
  return e
end

-- The event of a run under way or just finished (the runner's context).
function M.run_event(ctx, name)
  local ex, m = ctx.execution or {}, ctx.metadata
  local finished = name ~= "start" and state_mod.timestamp() or nil
  local failed_on = {}
  for _, f in ipairs(ctx.failures) do failed_on[f.storage] = f.error end
  local storages = {}
  for _, spec in ipairs(ctx.job.storage or {}) do
    local stored = ctx.artifacts[spec.name]
    storages[#storages + 1] = {
      name = spec.name, type = spec.type,
      status = name == "start" and "not written" or stored and "stored" or failed_on[spec.name] and "failed"
               or "not written",
      error = failed_on[spec.name] and ctx.redactor.redact(failed_on[spec.name]) or nil,
      bytes = stored and stored.size or nil,
    }
  end
  ctx.run_id = ctx.run_id or uuid()
  return base_event(name, {
    job = ctx.job.name,
    kind = "backup",
    execution = ex.id ~= 0 and ex.id or nil,
    status = name == "start" and "running" or ctx.status,
    trigger = ex.trigger or ctx.trigger,
    scheduled_for = ex.scheduled_for,
    attempt = ex.attempt,
    started_at = ctx.started_at,
    finished_at = finished,
    duration = finished and seconds_between(ctx.started_at, finished) or nil,
    bytes_dumped = name ~= "start" and m.logical_size or nil,
    bytes_stored = name ~= "start" and m.size or nil,
    backup = next(ctx.artifacts) and ctx.backup_id or nil,
    storages = storages,
    error = name ~= "start" and (ctx.status_message or ctx.error) or nil,
    log = M.log_tail(ctx.logs),
    run_id = ctx.run_id,
  })
end

-- The event of an execution recorded in the state database (e: its row):
-- what the daemon skipped, or a run it had to kill; a verification (its
-- backup: the one it checked, when it checked one).
function M.execution_event(st, e)
  local m = e.metadata and require("cjson.safe").decode(e.metadata) or {}
  if type(m) ~= "table" then m = {} end
  local backup = e.backup_id
  if e.kind == "verify" then
    backup = type(m.backups) == "table" and #m.backups == 1 and m.backups[1].backup_id or nil
  end
  local storages = {}
  for _, c in ipairs(st:catalog(e.job)) do
    if c.execution_id == e.id then
      storages[#storages + 1] = { name = c.storage, status = "stored", bytes = c.size }
    end
  end
  if e.kind == "drill" then return M.recorded_drill_event(st, e, m) end
  return base_event(M.event_name(e.status, e.kind), {
    job = e.job, kind = e.kind or "backup", execution = e.id, status = e.status, trigger = e.trigger,
    scheduled_for = e.scheduled_for, attempt = e.attempt, started_at = e.started_at,
    finished_at = e.finished_at, duration = seconds_between(e.started_at, e.finished_at),
    bytes_dumped = m.logical_size, bytes_stored = m.size,
    backup = (#storages > 0 or e.kind == "verify") and backup or nil, storages = storages, error = e.error,
    log = M.log_tail(st:logs(e.id)),
    run_id = uuid(),
  })
end

-- The part of a drill's event that says what it did.
local function drill_part(m)
  if type(m) ~= "table" then return {} end
  local checks = {}
  for i, c in ipairs(type(m.checks) == "table" and m.checks or {}) do
    checks[i] = { name = c.name, ok = c.ok, detail = c.detail }
  end
  return { storage = m.storage, restore_seconds = m.restore_seconds, bytes = m.bytes, checks = checks }
end

-- The event of a drill (its execution row e, recorded; m: its metadata,
-- decoded), with the log of the state database.
function M.recorded_drill_event(st, e, m)
  return base_event(M.event_name(e.status, "drill"), {
    job = e.job, kind = "drill", execution = e.id, status = e.status, trigger = e.trigger,
    scheduled_for = e.scheduled_for, attempt = e.attempt, started_at = e.started_at,
    finished_at = e.finished_at, duration = seconds_between(e.started_at, e.finished_at),
    bytes_dumped = type(m) == "table" and m.bytes or nil, backup = e.backup_id, storages = {},
    error = e.error, log = M.log_tail(st:logs(e.id)), run_id = uuid(), drill = drill_part(m),
  })
end

-- A drill's result (drill.run's) to the job's notifiers, logged and
-- recorded with its execution.  opts: state, redactor, log(level,
-- message), execution (its row, recorded).  Never raises.
function M.notify_drill(job, r, opts)
  local list = job.notify
  if not list or #list == 0 or not r.execution then return {} end
  local ok, results = pcall(function()
    local e = opts.execution
    local event = base_event(M.event_name(r.status, "drill"), {
      job = job.name, kind = "drill", execution = r.execution, status = r.status,
      trigger = e and e.trigger, scheduled_for = e and e.scheduled_for, attempt = e and e.attempt,
      started_at = e and e.started_at, finished_at = e and e.finished_at,
      duration = e and seconds_between(e.started_at, e.finished_at),
      bytes_dumped = r.bytes, backup = r.backup_id, storages = {}, error = r.error,
      log = M.log_tail(r.logs), run_id = uuid(), drill = drill_part(r),
    })
    return M.deliver(list, event, {
      state = opts.state, redactor = opts.redactor, log = opts.log,
      record = opts.state and function(_, d)
        local fine, err = pcall(opts.state.add_delivery, opts.state, r.execution, d)
        if not fine and opts.log then opts.log("warning", opts.state:explain(err, "the delivery could not be recorded")) end
      end,
    })
  end)
  if not ok then
    if opts.log then opts.log("warning", "notifications: " .. tostring(results)) end
    return {}
  end
  return results
end

-- An event from what a script knows: notify.event{ event = "failure", job =
-- "shop", error = "the disk is full" }; what is missing gets its default
-- (status from the event, a run id, the host, no storages, no log).
local status_of_event = { start = "running", success = "success", partial = "partial", test = "test" }

function M.event(fields)
  local e = base_event(fields.event or "test", fields)
  e.status = e.status or status_of_event[e.event] or "failed"
  e.job = e.job or "-"
  e.storages = e.storages or {}
  e.log = e.log or { lines = {}, cut = 0 }
  e.run_id = e.run_id or uuid()
  return e
end

-- The event `moonbak notify test` sends.
function M.test_event(job)
  return base_event("test", {
    job = job.name, status = "test", trigger = "test", storages = {}, run_id = uuid(),
    log = { lines = { ("this is a test notification from moonbak for job %s"):format(job.name) }, cut = 0 },
  })
end

-- The documented keys a JSON body always has, null when unknown.
local body_keys = { "version", "event", "kind", "job", "execution", "status", "trigger", "scheduled_for",
                    "attempt", "started_at", "finished_at", "duration", "bytes_dumped",
                    "bytes_stored", "backup", "storages", "error", "log", "host",
                    "moonbak_version", "run_id", "time", "drill" }

function M.json(event)
  local body = {}
  for _, k in ipairs(body_keys) do
    local v = event[k]
    if v == nil then v = cjson.null end
    body[k] = v
  end
  return json.encode(body)
end

-- The event in words.
local title_word = {
  start = "started", success = "succeeded", partial = "partly stored", test = "test",
  drill_success = "restore drill passed", drill_failed = "restore drill failed",
  verify_failed = "verification failed",
}
local status_word = { failed = "failed", cancelled = "cancelled", interrupted = "interrupted",
                      skipped = "skipped" }

local function stored_on(event, status)
  local names = {}
  for _, s in ipairs(event.storages or {}) do
    if s.status == status then names[#names + 1] = s.name end
  end
  return table.concat(names, ", ")
end

-- A drill's checks in words: "3/4 checks passed".
local function checks_text(drill)
  local checks = drill and drill.checks or {}
  local passed = 0
  for _, c in ipairs(checks) do if c.ok then passed = passed + 1 end end
  return ("%d/%d check%s passed"):format(passed, #checks, #checks == 1 and "" or "s")
end

local function drill_summary(e)
  local d = e.drill or {}
  if e.event == "drill_success" then
    return ("%s: backup %s restored in %s from %s, %s."):format(e.job, e.backup or "-",
      units.seconds(d.restore_seconds), d.storage or "-", checks_text(d))
  end
  return ("%s: the restore drill of backup %s %s: %s"):format(e.job, e.backup or "-",
    status_word[e.status] or "failed", e.error or "no reason was recorded")
end

local function summary(e)
  if e.kind == "drill" then return drill_summary(e) end
  if e.event == "start" then
    return ("%s started on %s (%s)."):format(e.job, e.host, e.trigger or "manual")
  elseif e.event == "test" then
    return ("A test notification from moonbak for job %s on %s: this notifier works."):format(e.job, e.host)
  elseif e.event == "success" then
    return ("%s: backup %s stored on %s (%s, %s dumped) in %s."):format(e.job, e.backup or "-",
      stored_on(e, "stored"), units.size(e.bytes_stored), units.size(e.bytes_dumped), units.seconds(e.duration))
  elseif e.event == "partial" then
    return ("%s: backup %s stored on %s but not on %s.\n%s"):format(e.job, e.backup or "-",
      stored_on(e, "stored"), stored_on(e, "failed"), e.error or "")
  elseif e.event == "verify_failed" and e.status == "skipped" then
    return ("%s: the verification scheduled for %s was skipped: %s"):format(e.job, e.scheduled_for or "-",
                                                                          e.error or "")
  elseif e.event == "verify_failed" then
    return ("%s: verification %s: %s"):format(e.job, status_word[e.status] or "failed",
                                              e.error or "no reason was recorded")
  elseif e.status == "skipped" then
    return ("%s: the run scheduled for %s was skipped: %s"):format(e.job, e.scheduled_for or "-", e.error or "")
  end
  return ("%s %s after %s: %s"):format(e.job, status_word[e.status] or "failed", units.seconds(e.duration),
                                       e.error or "no reason was recorded")
end

local function fields(e)
  local f = {}
  local function add(name, value) if value ~= nil and value ~= "" then f[#f + 1] = { name, tostring(value) } end end
  add("Job", e.job)
  add("Status", e.status)
  add("Trigger", e.trigger)
  add("Scheduled for", e.scheduled_for)
  if e.attempt and e.attempt > 1 then add("Attempt", e.attempt) end
  if e.duration then add("Duration", units.seconds(e.duration)) end
  if e.bytes_dumped then add("Dumped", units.size(e.bytes_dumped)) end
  if e.bytes_stored then add("Stored", units.size(e.bytes_stored)) end
  add("Backup", e.backup)
  if e.kind == "drill" and type(e.drill) == "table" then
    if e.drill.restore_seconds then add("Restore time", units.seconds(e.drill.restore_seconds)) end
    add("Checks", checks_text(e.drill))
  end
  local st = {}
  for _, s in ipairs(e.storages or {}) do st[#st + 1] = s.name .. ": " .. s.status end
  add("Storages", table.concat(st, ", "))
  add("Execution", e.execution)
  add("Host", e.host)
  return f
end

local function log_text(e)
  local log = e.log or { lines = {}, cut = 0 }
  local text = table.concat(log.lines, "\n")
  if text ~= "" then text = text .. "\n" end
  if (log.cut or 0) > 0 then
    text = ("[%d earlier line%s cut]\n"):format(log.cut, log.cut == 1 and "" or "s") .. text
  end
  return text
end

function M.notice(e)
  local word = title_word[e.event] or status_word[e.status] or "failed"
  if e.event == "drill_failed" and e.status == "cancelled" then word = "restore drill cancelled" end
  return {
    event = e.event, status = e.status, job = e.job,
    title = ("[moonbak] %s: %s"):format(e.job, word),
    summary = summary(e), fields = fields(e), log = log_text(e), json = M.json(e),
    run_id = e.run_id, host = e.host, time = math.floor(sys.now()),
  }
end

-- A Lua notifier: called with a copy of the event, under the deadline (a
-- hook stops a function that runs past it).  Returns an answer.
local function deep_copy(v)
  if type(v) ~= "table" then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = deep_copy(x) end
  return c
end

-- When a Lua notifier is running: the monotonic time it must be done by.
-- What it sends itself (notify.send from inside it) gets no more time
-- than it has left, since the hook cannot stop a delivery under way in C.
local lua_deadline

-- What an error value says, without running any of its metamethods (the
-- notifier's time is over by then).
local function error_text(err)
  if type(err) == "string" then return err end
  if type(err) == "table" and type(rawget(err, "message")) == "string" then return rawget(err, "message") end
  if type(err) == "number" or type(err) == "boolean" or err == nil then return tostring(err) end
  return ("a %s value"):format(type(err))
end

-- What a Lua notifier's return says: a result of notify.send passed on
-- (its `sent`), false or nil with a reason (Lua's way of saying it
-- failed: `return nil, "refused"`, what os.execute returns), or anything
-- else: sent.
local function lua_answer(...)
  local first, n = (...), select("#", ...)
  if type(first) == "table" and type(rawget(first, "sent")) == "boolean" then
    local function text(k) local v = rawget(first, k); return type(v) == "string" and v or nil end
    local sent = rawget(first, "sent")
    return { sent = sent, code = math.tointeger(rawget(first, "code")), answer = text("answer"),
             error = not sent and (text("error") or "not sent") or nil }
  end
  if first == false or (first == nil and n >= 2) then
    local why = {}
    for i = 2, n do
      local v = select(i, ...)
      if type(v) == "string" or type(v) == "number" then why[#why + 1] = tostring(v) end
    end
    return { sent = false, error = #why > 0 and table.concat(why, " ") or ("returned %s"):format(tostring(first)) }
  end
  return { sent = true, answer = first ~= nil and tostring(first) or "returned" }
end

-- The function runs in a coroutine of its own whose hook, once the
-- deadline is past, raises at every instruction: a pcall (a retry loop)
-- in the notifier cannot catch the error and go on, and the code here,
-- on another thread, is not hooked.  Its answer is made text in there too
-- (a __tostring is the notifier's code).
local function call_lua(fn, event, seconds)
  local started = sys.monotonic()
  local deadline = started + seconds
  if lua_deadline and lua_deadline < deadline then deadline = lua_deadline end
  local late = ("did not return within %s"):format(units.seconds(seconds))
  local co = coroutine.create(function(e) return lua_answer(fn(e)) end)
  local function check()
    if sys.monotonic() > deadline then
      debug.sethook(check, "", 1) -- this thread (a coroutine the notifier made inherits the hook)
      debug.sethook(co, check, "", 1)
      error(late, 2)
    end
  end
  debug.sethook(co, check, "", 100000)
  local outer = lua_deadline
  lua_deadline = deadline
  local ok, answer = coroutine.resume(co, deep_copy(event))
  lua_deadline = outer
  if ok and coroutine.status(co) ~= "dead" then
    ok, answer = false, "yielded instead of returning"
  end
  local result = ok and answer or { sent = false, error = error_text(answer) }
  result.attempts, result.seconds = 1, sys.monotonic() - started
  if result.error then result.error = ("lua notifier: %s"):format(result.error) end
  return result
end

-- What the adapter is given: the options only, lists as lists, a headers
-- table as "Name: value" lines.  Nil and why when a header cannot be sent
-- (a value with a line break would be a second header).
local function adapter_spec(spec)
  local out = {}
  for k, v in pairs(spec) do
    if k ~= "name" and k ~= "on" and k ~= "fn" then out[k] = v end
  end
  if type(out.headers) == "table" then
    local lines = {}
    for name, value in pairs(out.headers) do
      if type(name) ~= "string" or not name:match("^[%w!#$%%&'*+.^_`|~-]+$") then
        return nil, ("headers: %q is not a header name"):format(tostring(name))
      end
      if type(value) ~= "string" and type(value) ~= "number" or tostring(value):find("[%c]") then
        return nil, ("headers: the value of %s must be one line of text"):format(name)
      end
      lines[#lines + 1] = ("%s: %s"):format(name, value)
    end
    table.sort(lines)
    out.headers = lines
  end
  return out
end

-- The secret options of a notifier (URLs with tokens, passwords), so that
-- whatever shows a message can hide them even when the job file gives
-- them plainly.
local function register_secrets(spec, redactor)
  local schema = notifier.schema(spec.type)
  for _, o in ipairs(schema and schema.options or {}) do
    local v = spec[o.name]
    if o.secret and type(v) == "string" then
      redactor.add(v)
      local path = v:match("^%a[%w+.-]*://[^/]*(/.+)$") -- the token part of a URL
      if path then redactor.add(path) end
    end
  end
  -- headers that carry credentials, even given plainly (a server may
  -- echo them in an error the delivery record keeps)
  if type(spec.headers) == "table" then
    for name, value in pairs(spec.headers) do
      local lower = tostring(name):lower()
      if type(value) == "string" and (lower:find("auth") or lower:find("token") or lower:find("key")
                                      or lower:find("secret") or lower:find("cookie")) then
        redactor.add(value)
        redactor.add((value:gsub("^%a+%s+", ""))) -- the credential after "Bearer "
      end
    end
  end
end

-- notify.send(n, event [, opts]) -> result: event through one notifier (a
-- job's notify entry, a table with type and options, or a function).
-- opts: seconds (the time it may take, default the budget), state (for
-- secret references), redactor (hides what was resolved; one is made
-- otherwise).
function M.send(n, event, opts)
  opts = opts or {}
  local seconds = opts.seconds or M.budget.default
  if lua_deadline then seconds = math.max(0, math.min(seconds, lua_deadline - sys.monotonic())) end
  if type(n) == "function" then n = { type = "lua", fn = n } end
  local redactor = opts.redactor or ref.redactor()
  local spec, err = ref.resolve(n, opts.state, redactor.add)
  local result
  if not spec then
    result = { sent = false, attempts = 0, seconds = 0, error = err }
  elseif spec.type == "lua" then
    result = call_lua(spec.fn, M.event(event), seconds)
  elseif not notifier.schema(spec.type) then
    result = { sent = false, attempts = 0, seconds = 0, error = ("unknown notifier type %q"):format(tostring(spec.type)) }
  else
    register_secrets(spec, redactor)
    local plain, why = adapter_spec(spec)
    if plain then
      result = notifier.deliver(plain, M.notice(M.event(event)), seconds)
    else
      result = { sent = false, attempts = 0, seconds = 0, error = ("%s notifier: %s"):format(spec.type, why) }
    end
  end
  result.error = result.error and redactor.redact(result.error)
  result.answer = result.answer and redactor.redact(result.answer)
  return result
end

-- How a delivery went, in one line.
function M.describe(result)
  local attempts = result.attempts == 1 and "1 attempt" or ("%d attempts"):format(result.attempts or 0)
  if result.sent then
    return ("sent (%s, %s, %s)"):format(result.answer or "accepted", attempts, units.seconds(result.seconds))
  end
  return ("failed after %s (%s): %s"):format(attempts, units.seconds(result.seconds), result.error or "not sent")
end

-- notify.deliver(list, event, opts) -> results: event through each notifier
-- of list whose `on` wants it, one after the other, within the budget
-- (one that hangs leaves the next ones M.reserve seconds each, or their
-- share of what is left).  opts: state, redactor,
-- budget (seconds), log(level, message), record(n, result).
function M.deliver(list, event, opts)
  opts = opts or {}
  local wanted = {}
  for _, n in ipairs(list or {}) do
    if type(n) == "function" then n = { type = "lua", name = "lua", fn = n } end
    if M.wants(n, event.event) then wanted[#wanted + 1] = n end
  end
  local budget = opts.budget or M.budget[event.event] or M.budget.default
  local deadline = sys.monotonic() + budget
  local results = {}
  for i, n in ipairs(wanted) do
    local left = math.max(0, deadline - sys.monotonic())
    local after = #wanted - i -- notifiers still to come keep a reserve each
    local seconds = math.max(left / (after + 1), left - after * M.reserve)
    local r = M.send(n, event, { seconds = seconds, state = opts.state, redactor = opts.redactor })
    r.notifier, r.type, r.event = n.name or n.type, n.type, event.event
    results[#results + 1] = r
    if opts.log then
      opts.log(r.sent and "info" or "warning",
               ("notifier %s (%s): %s"):format(r.notifier, event.event, M.describe(r)))
    end
    if opts.record then opts.record(n, r) end
  end
  return results
end

-- A run's event to the job's notifiers, logged and recorded with the
-- execution.  Never raises.
function M.notify_run(ctx, name)
  local list = ctx.job.notify
  if not list or #list == 0 then return {} end
  local ok, results = pcall(function()
    local event = M.run_event(ctx, name)
    return M.deliver(list, event, {
      state = ctx.state, redactor = ctx.redactor,
      log = function(level, message) ctx:log(level, message) end,
      record = ctx.state and ctx.execution and ctx.execution.id ~= 0 and function(_, r)
        local fine, err = pcall(ctx.state.add_delivery, ctx.state, ctx.execution.id, r)
        if not fine then ctx:log("warning", ctx.state:explain(err, "the delivery could not be recorded")) end
      end,
    })
  end)
  if not ok then
    ctx:log("warning", "notifications: " .. tostring(results))
    return {}
  end
  return results
end

return M
