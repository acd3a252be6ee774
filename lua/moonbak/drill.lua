-- moonbak.drill: restore drills.  A backup is restored into a scratch
-- target (a scratch database on the job's server, a scratch SQLite file,
-- a throwaway redis-server ...), checked, and thrown away, and the whole
-- of it is recorded as an execution of kind "drill".
--
-- The engine's side is a module per source type, moonbak.drills.<type>
-- (start, builtin, check, cleanup, sweep: the interface is in
-- docs/lua-api.md, "Restore drills").  The framework here makes the
-- drill's context and its scratch name, sweeps what killed drills left,
-- times the restore, runs the checks, always cleans up (a failure, an
-- error, Ctrl-C or SIGTERM included: only SIGKILL leaves the scratch
-- behind, for the next drill's sweep), records and notifies.
local backups = require "moonbak.backups"
local crypto = require "moonbak.crypto"
local ref = require "moonbak.ref"
local state_mod = require "moonbak.state"
local sys = require "moonbak.sys"

local M = {}

M.prefix = "moonbak_drill_"

-- What the checks of each source type are: queries, redis commands, or
-- a program run on the restored file.
M.check_kinds = {
  sqlite = "sql", postgres = "sql", mysql = "sql", mariadb = "sql", redis = "redis",
  file = "command", command = "command",
}

-- 8 hex digits naming this host in scratch names: a sweep never touches
-- another host's scratch (two hosts may drill on one database server).
function M.host_hash()
  return crypto.sha256(sys.hostname()):sub(1, 8)
end

-- The digits of a process's start time (ticks after boot), or nil.
local function start_digits(pid)
  local t = sys.process_start_time(pid)
  return t and t:match(":(%d+)$")
end

-- The scratch name of the drills of process pid (default: this one):
-- "moonbak_drill_<host hash>_<pid>_<start time digits>", at most 63 of
-- [a-z0-9_] (a PostgreSQL or MySQL database name, a file name).
function M.scratch_name(pid)
  pid = pid or sys.pid()
  return ("%s%s_%d_%s"):format(M.prefix, M.host_hash(), pid, start_digits(pid) or "0")
end

-- A scratch name (anything may follow it: "NAME.sqlite3") -> { host, pid,
-- start } | nil.
function M.parse_scratch(name)
  if type(name) ~= "string" then return nil end
  local host, pid, start = name:match("^" .. M.prefix .. "(%x%x%x%x%x%x%x%x)_(%d+)_(%d+)")
  if not host then return nil end
  return { host = host, pid = math.tointeger(tonumber(pid)), start = start }
end

-- Is name the scratch of a drill of this host whose process is gone (not
-- alive, or its pid now another process's)?  Never a live drill's, never
-- another host's; when /proc cannot tell, the drill is taken to be alive.
function M.abandoned(name)
  local s = M.parse_scratch(name)
  if not s or s.host ~= M.host_hash() or not s.pid then return false end
  if not sys.process_alive(s.pid) then return true end
  local now, err = sys.process_start_time(s.pid)
  if now == nil then return err == nil end
  return now:match(":(%d+)$") ~= s.start
end

-- Removes the private directories of dead drills under root (the state's
-- temporary directory) -> removed (names), problems (messages).
function M.sweep_dirs(root)
  local removed, problems = {}, {}
  for _, name in ipairs(sys.listdir(root) or {}) do
    if M.abandoned(name) then
      local ok, err = sys.remove_tree(root .. "/" .. name)
      if ok then removed[#removed + 1] = name else problems[#problems + 1] = err end
    end
  end
  return removed, problems
end

-- The job's drill checks, as the engine module gets them: { name, sql,
-- expect } or { name, command, expect }; for file and command sources,
-- drill.command.
function M.checks_of(job)
  local drill = job.drill or {}
  local kind = M.check_kinds[job.source.type]
  local list = {}
  if kind == "command" then
    if drill.command then
      local c = drill.command
      list[1] = { name = type(c) == "table" and table.concat(c, " ") or c, command = c }
    end
    return list
  end
  for i, c in ipairs(drill.checks or {}) do
    local key = kind == "sql" and "sql" or "command"
    local check = type(c) == "table" and { [key] = c[key], expect = c.expect, name = c.name } or { [key] = c }
    local what = check[key]
    check.name = check.name or (type(what) == "table" and table.concat(what, " ") or what)
    list[i] = check
  end
  return list
end

local truths = { ["true"] = true, t = true, ["1"] = true }
local falsehoods = { ["false"] = true, f = true, ["0"] = true }

-- The verdict of a check on the value it saw (the first column of the
-- first row, a redis reply; false: no row, a nil reply) -> ok, detail (the value seen, and what was expected).
-- Without expect: true, t or 1 passes; with it: the same text, or the
-- same number (3 and 3.0); expect = true or false: as without, or its
-- opposite.
function M.judge(value, expect)
  if value == false then return false, "no value (no row / nil)" end
  local seen = value == nil and "NULL" or tostring(value)
  local word = seen:lower()
  if expect == nil or expect == true then return truths[word] == true, seen end
  if expect == false then return falsehoods[word] == true, seen .. ", expected false" end
  -- 3 as given in a job or decoded from JSON (3.0) reads 3
  local want = math.tointeger(expect) and tostring(math.tointeger(expect)) or tostring(expect)
  local a, b = tonumber(seen), tonumber(want)
  local ok = seen == want or (a ~= nil and b ~= nil and a == b)
  return ok, ok and seen or ("%s, expected %s"):format(seen, want)
end

-- The engine module of a source type, or nil and why.
local function engine(source_type)
  local name = "moonbak.drills." .. source_type
  local ok, module = pcall(require, name)
  if ok then return module end
  if tostring(module):find("module '" .. name .. "' not found", 1, true) then
    return nil, ("restore drills of %s sources are not available in this build of moonbak"):format(source_type)
  end
  return nil, tostring(module)
end

-- What an error value says.
local function error_text(err)
  if type(err) == "table" and type(err.message) == "string" then return err.message end
  return tostring(err)
end

-- The source options to restore into: the job's source, with drill.server
-- over it, the state's temporary directory, a command's env as lines.
local function restore_spec(job, temp_root)
  local source = {}
  for k, v in pairs(job.source) do source[k] = v end
  for k, v in pairs((job.drill or {}).server or {}) do source[k] = v end
  return require("moonbak.preflight").source_spec(source, temp_root)
end

-- Why a drill failed, naming the checks that did.
local function failed_checks_message(checks)
  local failed = {}
  for _, c in ipairs(checks) do
    if not c.ok then failed[#failed + 1] = ("%q: %s"):format(c.name, c.detail ~= "" and c.detail or "failed") end
  end
  if #failed == 0 then return nil end
  if #failed == 1 then return (("check %s"):format(failed[1]):gsub('^(check ".-"):', "%1 failed:", 1)) end
  return ("%d checks failed: %s"):format(#failed, table.concat(failed, "; "))
end

-- A check's detail for a record: one line, bounded.
local function detail_text(v)
  local text = tostring(v == nil and "" or v):gsub("%s+$", "")
  if #text > 500 then text = "..." .. text:sub(-497) end
  return text
end

local function interrupted_error()
  local signal = sys.interrupted()
  if signal then error({ message = ("interrupted by signal %d"):format(signal) }, 0) end
end

-- Restores, then checks (inside the protected call).  Fills r.
local function restore_and_check(d, module, r)
  interrupted_error()
  local started = sys.monotonic()
  local result, err = module.start(d)
  r.restore_seconds = sys.monotonic() - started
  if not result then error({ message = "restore failed: " .. tostring(err) }, 0) end
  r.bytes = type(result) == "table" and result.bytes or nil
  d.log("info", ("restored backup %s in %.1f s%s"):format(d.meta.backup_id, r.restore_seconds,
    r.bytes and (" (" .. require("moonbak.units").size(r.bytes) .. ")") or ""))
  local function record(c)
    c.detail = d.redact(detail_text(c.detail))
    r.checks[#r.checks + 1] = { name = c.name, ok = c.ok == true, detail = c.detail }
    d.log(c.ok and "info" or "warning", ("check %q: %s%s"):format(c.name, c.ok and "ok" or "FAILED",
                                                            c.detail ~= "" and (": " .. c.detail) or ""))
  end
  for _, c in ipairs(module.builtin and module.builtin(d) or {}) do
    interrupted_error()
    record({ name = c.name, ok = c.ok, detail = c.detail })
  end
  for _, c in ipairs(M.checks_of(d.job)) do
    interrupted_error()
    local ok, passed, detail = pcall(module.check, d, c)
    interrupted_error() -- a check cut short by Ctrl-C is not a failed check
    if not ok then passed, detail = false, error_text(passed) end
    record({ name = c.name, ok = passed, detail = detail })
  end
end

-- Cleans up whatever happened: the engine's scratch target, then the
-- drill's private directory.  -> nil | message
local function clean_up(d, module)
  local problems = {}
  if module and module.cleanup then
    local ok, done, err = pcall(module.cleanup, d)
    if not ok or not done then problems[#problems + 1] = error_text(ok and err or done) end
  end
  if d.temp_dir then
    local ok, err = sys.remove_tree(d.temp_dir)
    if not ok then problems[#problems + 1] = err end
  end
  if #problems > 0 then return "the scratch was not removed: " .. table.concat(problems, "; ") end
end

-- The drill's execution: the daemon's claim (taken) or a new one.
local function start_execution(st, job, opts)
  local execution, why
  local ok, err = pcall(function()
    st:remember_job(job)
    if opts.claimed then
      execution, why = st:take_claim(opts.claimed, job.name, "drill")
    else
      execution = st:start_execution(job.name, opts.trigger or "manual", "drill")
    end
  end)
  if not ok then return nil, st:explain(err, "the drill could not be recorded") end
  return execution, why
end

-- The parts of the drill that find, resolve and prepare: -> d, module.
local function prepare(d, job, opts, st, redactor)
  local resolved, err = ref.resolve(job, st, redactor.add)
  if not resolved then error({ message = err }, 0) end
  d.job = resolved
  local meta, ferr = backups.find(resolved, opts.backup, opts.storage)
  if not meta then error({ message = ferr }, 0) end
  d.meta = meta
  d.result.backup_id, d.result.storage = meta.backup_id, meta.storage
  pcall(st.set_backup_id, st, d.execution.id, meta.backup_id)
  d.log("info", ("drill of backup %s from storage %s"):format(meta.backup_id, meta.storage))
  local module, merr = engine(job.source.type)
  if not module then error({ message = merr }, 0) end
  local temp_root = st:temp_dir()
  d.spec = restore_spec(resolved, temp_root)
  d.keys = backups.keys(resolved, opts.identities)
  local removed, problems = M.sweep_dirs(temp_root)
  local more_removed, more_problems = {}, {}
  if module.sweep then more_removed, more_problems = module.sweep(d) end
  for _, name in ipairs(removed) do d.log("info", ("removed the scratch directory %s of a dead drill"):format(name)) end
  for _, name in ipairs(more_removed or {}) do d.log("info", ("removed the scratch %s of a dead drill"):format(name)) end
  for _, p in ipairs(problems) do d.log("warning", "sweep: " .. p) end
  for _, p in ipairs(more_problems or {}) do d.log("warning", "sweep: " .. tostring(p)) end
  local dir = temp_root .. "/" .. d.name
  local ok, derr = sys.mkdirs(dir, 448)
  if not ok then error({ message = derr }, 0) end
  d.temp_dir = dir -- from here on, cleanup removes it
  return module
end

-- The context an engine module gets (see the interface in docs/lua-api.md).
local function new_context(st, execution, r, redactor, opts)
  local d = { name = M.scratch_name(), execution = execution, result = r, progress = opts.progress,
              redact = redactor.redact }
  r.logs = {}
  function d.log(level, message)
    message = redactor.redact(tostring(message))
    local entry = { time = state_mod.timestamp(), level = level, step = "drill", message = message }
    r.logs[#r.logs + 1] = entry
    pcall(st.add_log, st, execution.id, level, "drill", message)
    if opts.on_log then opts.on_log(entry) end
  end
  return d
end

local function record(st, r, d)
  -- cjson writes an empty table as {}: no checks ran (the restore
  -- failed), none are recorded
  local metadata = { backup_id = r.backup_id, storage = r.storage, restore_seconds = r.restore_seconds,
                     bytes = r.bytes, checks = #r.checks > 0 and r.checks or nil }
  local ok, err = pcall(st.finish_execution, st, r.execution, r.status, r.error, metadata)
  if not ok then
    r.state_error = st:explain(err, ("the result of drill %d (%s) could not be recorded"):format(r.execution, r.status))
    d.log("error", r.state_error)
  end
end

-- drill.run(job, opts) -> ok, result
-- opts: state (a State, required), backup (an id; default the newest not
-- dated in the future), storage (a storage name), identities (age
-- identities), trigger, claimed (the daemon's claim), on_log(entry),
-- progress (a label). result: { job, status ("success", "failed",
-- "cancelled", "refused"), execution, backup_id, storage, restore_seconds,
-- bytes, checks = { { name, ok, detail } }, error, state_error, logs }.
function M.run(job, opts)
  opts = opts or {}
  local st = assert(opts.state, "drill.run: opts.state is required")
  local r = { job = job.name, status = "running", checks = {} }
  local execution, why = start_execution(st, job, opts)
  if not execution then
    r.status, r.error = "refused", why
    return false, r
  end
  r.execution = execution.id
  local redactor = ref.redactor()
  local d = new_context(st, execution, r, redactor, opts)
  -- the caller's hook (the console's) is set aside: ours stops Lua busy
  -- in a module when the drill is interrupted; cleanup runs to its end
  local caller_hook = table.pack(debug.gethook())
  local module
  debug.sethook(function()
    if sys.interrupted() then debug.sethook(); interrupted_error() end
  end, "", 1000000)
  local ok, err = xpcall(function()
    module = prepare(d, job, opts, st, redactor)
    restore_and_check(d, module, r)
  end, function(e) return { message = error_text(e), traceback = debug.traceback(error_text(e), 2) } end)
  debug.sethook()
  if not ok then
    r.error = redactor.redact(err.message)
    d.log("error", err.message)
    if os.getenv("MOONBAK_DEBUG") then d.log("debug", err.traceback) end
  end
  local cleanup_error = clean_up(d, module)
  if cleanup_error then d.log("error", cleanup_error) end
  if sys.interrupted() then
    r.status = "cancelled"
    r.error = r.error or ("interrupted by signal %d"):format(sys.interrupted())
  elseif not ok then
    r.status = "failed"
  else
    r.error = failed_checks_message(r.checks) or (cleanup_error and redactor.redact(cleanup_error))
    r.status = r.error and "failed" or "success"
  end
  -- the command says how it ended: the log line is not an error of its own
  d.log("info", r.status == "success" and "drill passed" or ("drill %s: %s"):format(r.status, r.error))
  record(st, r, d)
  local read, row = pcall(st.execution, st, r.execution)
  require("moonbak.notify").notify_drill(job, r, { state = st, redactor = redactor, log = d.log,
                                                   execution = read and row or nil })
  if type(caller_hook[1]) == "function" then debug.sethook(table.unpack(caller_hook, 1, 3)) end
  return r.status == "success", r
end

return M
