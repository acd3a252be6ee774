-- The console's helpers for operators: jobs(), job "x", run "x",
-- history "x", log(id), backups "x", verify "x", restore("x", { output = }),
-- cron.next(...), secrets(), help(), show(...).  Each is a thin wrapper over
-- the code the command of the same name runs (lua/moonbak/cmd/*.lua): the
-- same functions, the same messages.
--
--   helpers.globals([cfg]) -> { name = value }  cfg: { state_dir =, jobs_dir = }
--                                              (as clilib.settings gives it;
--                                              default: from the environment)
--   helpers.docs                              what help() says, one entry a helper
--
-- A helper raises with a clear message when it cannot do what was asked
-- (no such job, no such backup, bad arguments); a run or a verify that
-- fails returns its result (status, error), for the operator to read.
-- Lists come back marked for the console (see moonbak.console.show); they
-- stay plain lists.  Nothing a helper returns holds a resolved secret: a job
-- shows its references (secret "name"), never their values.
--
-- Ctrl-C is the console's: the helpers arm no signal handler (the CLI's
-- commands call sys.catch_interrupts; the console decides when it does).
local mb = require "moonbak"
local lib = require "moonbak.clilib"
local show = require "moonbak.console.show"

local M = {}

-- help's entries, in the order help() lists them.
M.docs = {
  { name = "jobs", usage = [[jobs()]],
    summary = "the jobs, their schedule, last result, next run",
    text = [[The jobs of the jobs directory: schedule (and time zone), last result, next run, file. A
broken job file is reported on stderr; the others are still listed. Each entry is a table
(name, schedule, timezone, state, next_run, last_status, last_started_at, file).]],
    example = [[jobs()[1].next_run]] },
  { name = "job", usage = [[job "NAME"]],
    summary = "the job's validated table (references, not values)",
    text = [[The job NAME (a name in the jobs directory or a path to a job file), loaded and validated as
a run would: the table the runner gets. References show as secret "name", env "NAME",
file "/path"; their values are never read here. A bad job file raises its message.]],
    example = [[job("shop").storage[1].path]] },
  { name = "run", usage = [[run("NAME" [, OPTIONS])]],
    summary = "run the job now; returns its outcome",
    text = [[Runs the job now, as moonbak run does, recorded in the state database; on a terminal with
the progress line and the log. Returns its outcome (status, execution, backup_id, size,
logical_size, took, step, error): a failed run is a result to read, not an error.
OPTIONS: quiet = true (no progress line, no log lines but errors).]],
    example = [[r = run "shop"; if r.status ~= "success" then log(r) end]] },
  { name = "history", usage = [[history(["NAME"])]],
    summary = "the last 100 executions (of one job, or all)",
    text = [[The last 100 executions of the job NAME (without it, of every job), newest first, as a
table: id, job, status, trigger, started, how long it took, error. Each is the execution's
row, its metadata decoded.]],
    example = [[history("shop")[1].metadata.size]] },
  { name = "log", usage = [[log(EXECUTION)]],
    summary = "the log of one execution, and its notifications",
    text = [[The log of one execution (an id as history() shows, or what run returned): its steps'
lines, then the notifications sent and what each service answered.]],
    example = [[log(history("shop")[1].id)]] },
  { name = "backups", usage = [[backups("NAME" [, OPTIONS])]],
    summary = "the backups on the job's storages",
    text = [[The backups on the job's storages, read from their sidecars, newest first: id, storage,
size, dump size, when it was made, path. A storage that cannot be listed is a warning on
stderr. OPTIONS: storage = "NAME" (only that storage of the job).]],
    example = [[#backups "shop"]] },
  { name = "verify", usage = [[verify("NAME" [, BACKUP] [, OPTIONS])]],
    summary = "re-read a backup and check both checksums",
    text = [[Reads a backup (BACKUP, an id or an entry of backups(); without it, the newest) back from
its storage and checks both checksums, as moonbak verify does; all = true checks every
backup. Returns one result per backup (ok, error, size, sha256); .ok is true when all are.
OPTIONS: all = true, storage = "NAME", identity = "FILE" (an age identity, for encrypted
backups), quiet = true.]],
    example = [[verify("shop", { all = true }).ok]] },
  { name = "restore", usage = [[restore("NAME" [, BACKUP], OPTIONS)]],
    summary = "restore a backup into a file or a database",
    text = [[Restores a backup (BACKUP, or the newest) into the file output (force = true replaces it),
or into the database to on the job's server (create = true makes it; "*": as named in the
dump). OPTIONS: output = "FILE" or to = "DATABASE", force, create, and storage, identity,
quiet as for verify. Both checksums are checked before anything is written. Returns
backup_id, storage, into, size, sha256; a failure raises.]],
    example = [[restore("shop", { output = "/tmp/shop.sql" })]] },
  { name = "cron.next", usage = [[cron.next("EXPR" [, OPTIONS])]],
    summary = "the next fire times of a cron expression",
    text = [[The next fire times of a cron expression (5 fields, or @daily and the like) as UTC times,
as the daemon fires them, daylight saving included. OPTIONS: timezone = "ZONE" (the zone
the expression is read in, default UTC), count = N (default 1), after = a UTC time such as
"2026-03-28T12:00:00Z" or epoch seconds (the times come strictly after it; default now).]],
    example = [[cron.next("0 3 * * *", { timezone = "Europe/Berlin", count = 5 })]] },
  { name = "cron.parse", usage = [[cron.parse("EXPR")]],
    summary = "a cron expression, parsed",
    text = [[The expression parsed (a moonbak.Cron: .expression, .fixed_time, :next(opts)); a bad one
raises its message.]],
    example = [[cron.parse("30 2 * * 1-5").fixed_time]] },
  { name = "secrets", usage = [[secrets()]],
    summary = "the stored secrets' names and dates (no value)",
    text = [[The names of the secrets in the store, with when each was stored and changed: never a
value (moonbak secret set NAME stores one).]],
    example = [[secrets()]] },
  { name = "show", usage = [[show(VALUE [, OPTIONS])]],
    summary = "VALUE as the console prints it, other limits",
    text = [[VALUE as the console prints it, with other limits. OPTIONS: depth = N (nested tables,
default 5), items = N (entries per table, rows per list, default 100), string = N (bytes of
a string, default 4096), width = N (a table fits on one line up to it, default 78).]],
    example = [[show(job "shop", { depth = 10 })]] },
  { name = "help", usage = [[help([HELPER])]],
    summary = "what the helpers do",
    text = [[What the helpers do: without an argument, one line each; help(run) or help "run" says
what one does, with an example.]],
    example = [[help "restore"]] },
}

-- A CLI function stops with lib.Exit (a status and a message); a helper
-- raises the message.  Errors are redacted like the commands' stderr.
local function raising(fn)
  return function(...)
    local result = table.pack(pcall(fn, ...))
    if result[1] then return table.unpack(result, 2, result.n) end
    local err = result[2]
    if getmetatable(err) == lib.Exit then err = err.message end
    if type(err) == "string" then err = lib.redact(err) end
    error(err, 0)
  end
end

local function fail(fmt, ...)
  error(fmt:format(...), 0)
end

-- A job argument: a name, a path, or a table job() returned (its file).
local function job_argument(helper, value)
  if type(value) == "table" and type(value.file) == "string" then return value.file end
  if type(value) ~= "string" or value == "" then
    fail('%s: expected a job name, such as %s "shop" (got %s)', helper, helper, type(value))
  end
  return value
end

-- A backup argument: an id or an entry of backups().
local function backup_argument(value)
  if type(value) == "table" then return value.backup_id end
  return value
end

local function check_options(helper, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail("%s: expected a table of options, got %s", helper, type(opts)) end
  for k in pairs(opts) do
    if not allowed[k] then
      local names = {}
      for name in pairs(allowed) do names[#names + 1] = name end
      table.sort(names)
      fail("%s: unknown option %s (it takes %s)", helper, tostring(k), table.concat(names, ", "))
    end
  end
  return opts
end

local function set(...)
  local s = {}
  for _, k in ipairs { ... } do s[k] = true end
  return s
end

local function doc_named(name)
  for _, d in ipairs(M.docs) do
    if d.name == name then return d end
  end
end

-- The helpers' text for help(): all of them, or one.
local function help_text(entries)
  if #entries == 1 then
    local d = entries[1]
    return ("%s\n\n%s\n\nexample: %s"):format(d.usage, d.text, d.example)
  end
  local out = { "Helpers (help(NAME) or help \"NAME\" says more; mb is require \"moonbak\", the Lua API):" }
  for _, d in ipairs(entries) do
    out[#out + 1] = ("  %-38s %s"):format(d.usage, d.summary)
  end
  return table.concat(out, "\n")
end

-- cfg nil: the settings of the environment (MOONBAK_STATE, MOONBAK_JOBS),
-- as a command without --state and --jobs gets them.
function M.globals(cfg)
  cfg = cfg or raising(lib.settings)({})
  if type(cfg) ~= "table" or not cfg.state_dir or not cfg.jobs_dir then
    error("helpers.globals: expected { state_dir =, jobs_dir = }", 2)
  end
  local g = {}

  function g.jobs()
    local list, broken, known = require("moonbak.cmd.jobs").collect(cfg)
    if not list then fail("jobs: %s", broken) end
    for _, b in ipairs(broken) do lib.eprint("broken job file: %s", b.error) end
    if not known then list.state_unknown = true end
    return show.mark("jobs", list)
  end

  function g.job(name)
    return lib.load_job(cfg, job_argument("job", name))
  end

  function g.run(name, opts)
    opts = check_options("run", opts, set("quiet"))
    local cmd = require "moonbak.cmd.run"
    local job = lib.load_job(cfg, job_argument("run", name))
    local _, ctx, took = cmd.run_now(cfg, job, { quiet = opts.quiet })
    return show.mark("run", cmd.outcome(job, ctx, took))
  end

  function g.history(name)
    if name ~= nil then name = job_argument("history", name) end
    if type(name) == "string" and name:find("/", 1, true) then name = lib.load_job(cfg, name, true).name end
    local list = require("moonbak.cmd.history").executions(cfg, name)
    for i, e in ipairs(list) do list[i] = lib.execution_json(e) end
    return show.mark("executions", list)
  end

  function g.log(execution)
    local id = execution
    if type(execution) == "table" then id = execution.execution or execution.id end
    id = math.tointeger(tonumber(id))
    if not id then fail("log: expected an execution id (a number, as history() shows)") end
    local e, logs, deliveries = require("moonbak.cmd.log").read(cfg, id)
    if not e then fail("log: no execution %d", id) end
    e = lib.execution_json(e)
    e.logs, e.deliveries = logs, deliveries
    return show.mark("log", e)
  end

  function g.backups(name, opts)
    opts = check_options("backups", opts, set("storage"))
    local list, problems = require("moonbak.cmd.backups").list(cfg, job_argument("backups", name), opts.storage)
    for _, p in ipairs(problems) do lib.eprint("warning: %s", p) end
    return show.mark("backups", list)
  end

  function g.verify(name, backup, opts)
    if type(backup) == "table" and backup.backup_id == nil then backup, opts = nil, backup end
    opts = check_options("verify", opts, set("all", "storage", "identity", "quiet"))
    local id = backup_argument(backup)
    if opts.all and id then fail("verify: a backup and all = true exclude each other: give one") end
    local cmd = require "moonbak.cmd.verify"
    local job, keys, targets, problems = cmd.prepare(cfg, job_argument("verify", name), id, opts)
    if not job then fail("verify: %s", keys) end
    local results, ok = {}, #problems == 0
    for _, p in ipairs(problems) do results[#results + 1] = { ok = false, problem = p, error = p } end
    for _, meta in ipairs(targets) do
      local r = cmd.check(job, meta, keys, lib.progress_label(opts, "verify " .. meta.backup_id))
      results[#results + 1] = r
      ok = ok and r.ok
    end
    results.ok = ok
    return show.mark("verify", results)
  end

  function g.restore(name, backup, opts)
    if type(backup) == "table" and backup.backup_id == nil then backup, opts = nil, backup end
    opts = check_options("restore", opts, set("output", "to", "force", "create", "storage", "identity", "quiet"))
    if not opts.output == not opts.to then
      fail('restore: give one of { output = "FILE" } or { to = "DATABASE" }')
    end
    local r, err = require("moonbak.cmd.restore").restore(cfg, job_argument("restore", name),
                                                           backup_argument(backup), opts)
    if not r then fail("%s", err) end
    return show.mark("restore", r)
  end

  g.cron = {
    next = function(expr, opts)
      if type(expr) ~= "string" then fail('cron.next: expected a cron expression, such as "0 3 * * *"') end
      opts = check_options("cron.next", opts, set("timezone", "count", "after"))
      local times, err = require("moonbak.cmd.cron").next_times(expr, opts)
      if not times then fail("cron.next: %s", err) end
      return times
    end,
    parse = function(expr)
      if type(expr) ~= "string" then fail('cron.parse: expected a cron expression, such as "0 3 * * *"') end
      local parsed, err = mb.cron.parse(expr)
      if not parsed then fail("cron.parse: %s", err) end
      return parsed
    end,
  }

  function g.secrets()
    local st <close> = lib.open_state(cfg)
    return show.mark("secrets", st:secrets())
  end

  function g.show(value, opts)
    opts = check_options("show", opts, set("depth", "items", "string", "width"))
    return show.text(show.show(value, opts))
  end

  -- help's name of each helper function: "run", "cron.next"
  local names = {}

  function g.help(what)
    if what == nil then return show.text(help_text(M.docs)) end
    local name = type(what) == "string" and what or names[what]
    if what == g.cron or name == "cron" then
      return show.text(help_text({ doc_named("cron.next") }) .. "\n\n" .. help_text({ doc_named("cron.parse") }))
    end
    local d = name and doc_named(name)
    if not d then fail("help: no helper named %s (help() lists them)", tostring(name or what)) end
    return show.text(help_text({ d }))
  end
  for name, v in pairs(g) do
    if type(v) == "function" and name ~= "help" and name ~= "show" then g[name] = raising(v) end
    if type(v) == "table" then
      for field, f in pairs(v) do v[field] = raising(f) end
    end
  end
  for name, v in pairs(g) do
    if type(v) == "function" then names[v] = name end
    if type(v) == "table" then
      for field, f in pairs(v) do names[f] = name .. "." .. field end
    end
  end
  return g
end

return M
