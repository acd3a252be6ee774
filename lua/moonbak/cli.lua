-- The command line: one function per subcommand, dispatched from one table.
-- Exit status: 0 success, 1 a failed run (or check), 2 bad usage or a bad job file.
local mb = require "moonbak"
local cjson = require "cjson"
local sys = require "moonbak.sys"

local M = {}
local commands = {}

local USAGE = [[
usage: moonbak [--state DIR] [--jobs DIR] COMMAND [ARGS]

  run JOB                       run a job once, now
  jobs                          list the jobs, their schedule and last result
  history [JOB]                 executions, newest first
  log EXECUTION                 the log of one execution
  backups JOB                   backups on the job's storages (from their sidecars)
  verify JOB [BACKUP|--all] [--identity FILE]
                                re-read backups and check both checksums
  restore JOB [BACKUP] --output FILE [--force] [--identity FILE]
                                restore a backup's dump into FILE
  restore JOB [BACKUP] --to DATABASE [--create] [--identity FILE]
                                load a backup into a database of the job's server
                                ('*': into the database(s) it came from)
  prune JOB [--dry-run]         remove the backups the job's retention no longer keeps
  cron next EXPR [--timezone ZONE] [--after TIME] [--count N]
                                the next N fire times of a cron expression, in UTC
  keygen [--output FILE]        make an age identity (like age-keygen)
  secret set NAME               store a secret read from standard input
  secret list | secret rm NAME  list or remove stored secrets
  script FILE.lua [ARGS]        run a Lua script with the moonbak API
  version                       print the version

JOB is a job name from the jobs directory or a path to a job file.
Listings take --json.  Environment: MOONBAK_STATE, MOONBAK_JOBS.
]]

-- Raised to stop a command with a message and an exit status.
local Exit = {}

local function exit_with(status, fmt, ...)
  error(setmetatable({ status = status, message = fmt:format(...) }, Exit), 0)
end

local function usage_error(fmt, ...)
  exit_with(2, fmt, ...)
end

-- Every value a command resolved from a reference (env, secret, file):
-- nothing written to stderr shows one.
local redactor

local function eprint(fmt, ...)
  local text = fmt:format(...)
  io.stderr:write(redactor and redactor.redact(text) or text, "\n")
end

-- Splits argv into the command, its positional arguments and its options.
-- Options may come before or after the command.
local value_options = { state = true, jobs = true, output = true, storage = true, to = true,
                        identity = true, timezone = true, after = true, count = true }
local flag_options = { json = true, all = true, force = true, help = true, quiet = true,
                       create = true, ["dry-run"] = true }

local short_options = { h = "help", o = "output" } -- -o as age-keygen spells it

-- Positional arguments each command takes at most (script: any).
local max_args = { run = 1, jobs = 0, history = 1, log = 1, backups = 1, verify = 2,
                   restore = 2, prune = 1, keygen = 0, secret = 2, version = 0, help = 0 }

local function parse(argv)
  local opts, args = {}, {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^%-%-([%w-]+)=(.*)$")
    name = name or a:match("^%-%-([%w-]+)$")
    local scripts_own = args[1] == "script" and #args >= 2 -- all after the script file
    if not name and not scripts_own and a:match("^%-.") then
      name = short_options[a:sub(2)] or usage_error("unknown option %s", a)
    end
    if scripts_own then
      args[#args + 1] = a
    elseif name and value_options[name] then
      if inline == nil then
        i = i + 1
        if argv[i] == nil then usage_error("--%s needs a value", name) end
        inline = argv[i]
      end
      opts[name] = inline
    elseif name and flag_options[name] then
      opts[name] = true
    elseif name then
      usage_error("unknown option --%s", name)
    else
      args[#args + 1] = a
    end
    i = i + 1
  end
  local command = table.remove(args, 1)
  local max = max_args[command]
  if max and #args > max then
    usage_error("%s: unexpected argument %q (see moonbak --help)", command, args[max + 1])
  end
  return command, args, opts
end

local function default_state_dir()
  local xdg = os.getenv("XDG_STATE_HOME")
  if xdg and xdg ~= "" then return xdg .. "/moonbak" end
  local home = os.getenv("HOME")
  if home and home ~= "" and home ~= "/" then return home .. "/.local/state/moonbak" end
  return "/var/lib/moonbak"
end

-- A directory from --NAME or the environment; set but empty is an error,
-- not "the current directory".
local function directory_setting(opts, name, variable, default)
  local value = opts[name]
  if value == "" then usage_error("--%s: expected a directory, got an empty string", name) end
  if value then return value end
  value = os.getenv(variable)
  if value == "" then usage_error("%s is set but empty: unset it or give a directory", variable) end
  return value or default()
end

local function settings(opts)
  return {
    state_dir = directory_setting(opts, "state", "MOONBAK_STATE", default_state_dir),
    jobs_dir = directory_setting(opts, "jobs", "MOONBAK_JOBS", function() return "jobs" end),
  }
end

-- Opens the state database; executions whose process died (killed, power
-- loss) are marked "interrupted" on the way, so none stays "running".
local function open_state(cfg)
  local st, err = mb.state.open(cfg.state_dir)
  if not st then exit_with(1, "%s", err) end
  local ok, merr = pcall(st.mark_interrupted, st)
  if not ok then
    st:close()
    exit_with(1, "%s", mb.state.explain(cfg.state_dir .. "/moonbak.db", merr))
  end
  return st
end

-- Loads JOB or exits 2 with the validation message (or the other job file
-- that declares the same name).  A command that only reads backups may be
-- given a copy of a job by path (restore onto another server, say): that
-- copy shares its name with the original on purpose.
local function load_job(cfg, name, reads_only)
  if not name or name == "" then usage_error("missing JOB") end
  local job, err
  if reads_only and mb.job.find(name, cfg.jobs_dir) == name then
    job, err = mb.job.load(name)
  else
    job, err = mb.job.open(name, cfg.jobs_dir)
  end
  if not job then exit_with(2, "%s", err) end
  return job
end

-- A job whose storage settings may hold references (env "X", secret "y"),
-- resolved for commands that read the storages directly.  These commands
-- read the storages, not the state database: when it cannot be opened
-- they say so and go on (only a secret "x" reference needs it).
local function load_resolved_job(cfg, name, reads_only)
  local job = load_job(cfg, name, reads_only)
  local st <close>, serr = mb.state.open(cfg.state_dir)
  if not st then eprint("moonbak: warning: %s", serr) end
  redactor = redactor or mb.ref.redactor()
  local resolved, err = mb.ref.resolve(job, st, redactor.add)
  if not resolved then
    if not st then exit_with(1, "%s: %s (the state database could not be opened)", job.name, err) end
    exit_with(1, "%s: %s", job.name, err)
  end
  return resolved
end

local function human_size(n)
  if not n then return "-" end
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local u = 1
  while n >= 1024 and u < #units do n = n / 1024; u = u + 1 end
  return u == 1 and ("%d B"):format(n) or ("%.1f %s"):format(n, units[u])
end

local function print_table(header, rows)
  local widths = {}
  for i, h in ipairs(header) do widths[i] = #h end
  for _, row in ipairs(rows) do
    for i = 1, #header do
      -- values may come from a hand-edited sidecar: no control characters
      -- reach the terminal
      row[i] = tostring(row[i] == nil and "-" or row[i]):gsub("%c", "?")
      widths[i] = math.max(widths[i], #row[i])
    end
  end
  local function line(cells)
    local out = {}
    for i, c in ipairs(cells) do
      out[i] = i < #cells and c .. (" "):rep(widths[i] - #c) or c
    end
    print((table.concat(out, "  ")))
  end
  line(header)
  for _, row in ipairs(rows) do line(row) end
end

-- JSON for --json output.  lua-cjson writes an empty table as {}; in our
-- output an empty table is always an empty list (a listing with nothing in
-- it, an execution without logs).  Object keys come out sorted.
local function json_text(value)
  if type(value) ~= "table" then return cjson.encode(value) end
  local parts = {}
  if next(value) == nil or #value > 0 then
    for i, item in ipairs(value) do parts[i] = json_text(item) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(value) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local v = value[k]
    if v == nil then v = value[tonumber(k)] end
    parts[i] = cjson.encode(k) .. ":" .. json_text(v)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function json_out(value)
  print(json_text(value))
end

-- An execution row with its metadata as JSON, not as a string of JSON.
local function execution_json(e)
  local copy = {}
  for k, v in pairs(e) do copy[k] = v end
  copy.metadata = e.metadata and require("cjson.safe").decode(e.metadata) or nil
  return copy
end

local function duration(e)
  local function parse_ts(ts) -- UTC; os.time would read local time (DST)
    if not ts then return nil end
    local y, mo, d, h, mi, s, ms = ts:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)Z$")
    local t = y and mb.retention.backup_time(("%s%s%sT%s%s%sZ"):format(y, mo, d, h, mi, s))
    return t and t + (tonumber("0." .. (ms ~= "" and ms or "0")))
  end
  local a, b = parse_ts(e.started_at), parse_ts(e.finished_at)
  return a and b and ("%.1fs"):format(b - a) or "-"
end

-- A progress line (bytes, rate, elapsed) only when a person watches.
local function progress_label(opts, label)
  if opts.quiet or not sys.isatty(1) then return nil end
  return label
end

function commands.version()
  print("moonbak " .. mb.version)
  return 0
end

function commands.help()
  io.write(USAGE)
  return 0
end

function commands.run(cfg, args, opts)
  local job = load_job(cfg, args[1])
  local st <close> = open_state(cfg)
  local interactive = sys.isatty(2)
  sys.catch_interrupts() -- Ctrl-C cancels cleanly: uploads aborted, execution recorded
  local ok, ctx = mb.runner.run(job, {
    state = st,
    trigger = "manual",
    progress = progress_label(opts, job.name),
    on_log = function(entry)
      if entry.level == "error" or (interactive and not opts.quiet) then
        eprint("%s [%s] %s", entry.level, entry.step or "-", entry.message)
      end
    end,
  })
  if ctx.status == "refused" then
    eprint("moonbak: %s", ctx.error)
    return 1
  end
  if ctx.state_error then eprint("moonbak: %s", ctx.state_error) end
  if ok then
    print(("%s: success, backup %s (%s stored, %s dumped) in execution %d"):format(
      job.name, ctx.backup_id, human_size(ctx.metadata.size), human_size(ctx.metadata.logical_size),
      ctx.execution.id))
    return 0
  end
  if ctx.status == "cancelled" then
    eprint("%s: cancelled in step %s: %s (execution %d)", job.name, ctx.failed_step, ctx.error, ctx.execution.id)
  elseif ctx.status == "partial" then
    eprint("%s: partial, backup %s: %s (execution %d)", job.name, ctx.backup_id, ctx.status_message, ctx.execution.id)
  else
    eprint("%s: failed in step %s: %s (execution %d)", job.name, ctx.failed_step or "completion",
           ctx.error or ctx.status_message, ctx.execution.id)
  end
  return 1
end

function commands.jobs(cfg, _, opts)
  local jobs, broken = mb.job.load_dir(cfg.jobs_dir)
  if not jobs then eprint("moonbak: %s", broken); return 2 end
  -- the jobs are listed from their files even when the state database
  -- that knows their last results cannot be opened
  local st <close>, serr = mb.state.open(cfg.state_dir)
  if st then st:mark_interrupted() else eprint("moonbak: warning: %s", serr) end
  local rows, list = {}, {}
  local now = os.time()
  for _, job in ipairs(jobs) do
    local last = st and st:last_execution(job.name)
    local next_run = mb.schedule.next_run(job, now)
    next_run = next_run and mb.schedule.iso(next_run)
    list[#list + 1] = { name = job.name, file = job.file, schedule = job.schedule, timezone = job.timezone,
                        next_run = next_run,
                        last_status = last and last.status, last_started_at = last and last.started_at }
    rows[#rows + 1] = { job.name, job.schedule or "(manual)",
                        last and last.status or (st and "never run" or "unknown"), last and last.started_at,
                        next_run, job.file }
  end
  if opts.json then
    json_out { jobs = list, broken = broken }
  else
    print_table({ "JOB", "SCHEDULE", "LAST RESULT", "LAST RUN", "NEXT RUN", "FILE" }, rows)
    for _, b in ipairs(broken) do eprint("broken job file: %s", b.error) end
  end
  return #broken > 0 and 2 or 0
end

function commands.history(cfg, args, opts)
  local st <close> = open_state(cfg)
  local list = st:history(args[1], 100)
  if opts.json then
    for i, e in ipairs(list) do list[i] = execution_json(e) end
    json_out(list)
    return 0
  end
  local rows = {}
  for _, e in ipairs(list) do
    rows[#rows + 1] = { e.id, e.job, e.status, e.trigger, e.started_at, duration(e), e.error }
  end
  print_table({ "ID", "JOB", "STATUS", "TRIGGER", "STARTED", "TOOK", "ERROR" }, rows)
  return 0
end

function commands.log(cfg, args, opts)
  local id = math.tointeger(tonumber(args[1]))
  if not id then usage_error("log: expected an execution id") end
  local st <close> = open_state(cfg)
  local e = st:execution(id)
  if not e then eprint("moonbak: no execution %d", id); return 1 end
  local logs = st:logs(id)
  if opts.json then
    e = execution_json(e)
    e.logs = logs
    json_out(e)
    return 0
  end
  print(("execution %d of %s: %s (%s, started %s, took %s)"):format(e.id, e.job, e.status, e.trigger,
    e.started_at, duration(e)))
  for _, l in ipairs(logs) do
    print(("%s %-7s %-10s %s"):format(l.time, l.level, l.step or "-", l.message))
  end
  return 0
end

function commands.backups(cfg, args, opts)
  local job = load_resolved_job(cfg, args[1], true)
  local list, problems = mb.backups.list(job, opts.storage)
  for _, p in ipairs(problems) do eprint("warning: %s", p) end
  if opts.json then json_out(list) return 0 end
  local rows = {}
  for _, b in ipairs(list) do
    rows[#rows + 1] = { b.backup_id, b.storage, human_size(b.size), human_size(b.logical_size),
                        b.finished_at, b.path }
  end
  print_table({ "BACKUP", "STORAGE", "SIZE", "DUMP SIZE", "FINISHED", "PATH" }, rows)
  return 0
end

-- Keys for encrypted backups: --identity FILE and the job's passphrase.
local function backup_keys(job, opts)
  local identities
  if opts.identity then
    local err
    identities, err = mb.artifact.read_identities(opts.identity)
    if not identities then exit_with(2, "%s", err) end
  end
  return mb.backups.keys(job, identities)
end

function commands.verify(cfg, args, opts)
  sys.catch_interrupts()
  local job = load_resolved_job(cfg, args[1], true)
  local keys = backup_keys(job, opts)
  local targets, problems = {}, {}
  if opts.all then
    targets, problems = mb.backups.list(job, opts.storage)
    -- an unlistable storage or a sidecar without its artifact is a failure too
    for _, p in ipairs(problems) do eprint("FAILED  %s", p) end
    if #targets == 0 and #problems == 0 then eprint("moonbak: job %s has no backups", job.name); return 1 end
  else
    local meta, err = mb.backups.find(job, args[2], opts.storage)
    if not meta then eprint("moonbak: %s", err); return 1 end
    targets[1] = meta
  end
  local failed = #problems
  for _, meta in ipairs(targets) do
    local result, err = mb.backups.verify(job, meta, keys, progress_label(opts, "verify " .. meta.backup_id))
    if result and result.plain_checked then
      print(("ok      %s on %s: %s stored, %s dump, sha256 %s"):format(meta.backup_id, meta.storage,
        human_size(result.bytes_in), human_size(result.bytes_out), result.sha256_out))
    elseif result then
      print(("ok      %s on %s: %s stored bytes intact (encrypted: pass --identity FILE to check the dump too)")
        :format(meta.backup_id, meta.storage, human_size(result.bytes_in)))
    else
      failed = failed + 1
      print(redactor.redact(("FAILED  %s on %s: %s"):format(meta.backup_id, meta.storage, err)))
    end
  end
  return failed == 0 and 0 or 1
end

function commands.restore(cfg, args, opts)
  sys.catch_interrupts() -- an interrupted restore leaves nothing behind
  local job = load_resolved_job(cfg, args[1], true)
  if not opts.output and not opts.to then usage_error("restore: --output FILE or --to DATABASE is required") end
  local meta, err = mb.backups.find(job, args[2], opts.storage)
  if not meta then eprint("moonbak: %s", err); return 1 end
  local keys = backup_keys(job, opts)
  local progress = progress_label(opts, "restore " .. meta.backup_id)
  local result, rerr, where
  if opts.to then
    local spec = {}
    for k, v in pairs(job.source) do spec[k] = v end
    spec.temp_dir = mb.state.temp_dir(cfg.state_dir)
    -- "*": into the database(s) the backup came from
    local target = opts.to ~= "*" and opts.to or nil
    result, rerr = mb.backups.restore_to_database(job, meta, spec, target, opts.create, keys, progress)
    where = ("database %s"):format(opts.to)
  else
    result, rerr = mb.backups.restore_to_file(job, meta, opts.output, opts.force, keys, progress)
    where = opts.output
  end
  if not result then eprint("moonbak: restore failed: %s", rerr); return 1 end
  print(("restored backup %s from %s into %s (%s, sha256 %s)"):format(meta.backup_id, meta.storage,
    where, human_size(result.bytes_out), result.sha256_out))
  return 0
end

-- Leftovers of runs killed before they finished (mb.leftovers), by the
-- rules of a run starting now; prints each; returns how many.
local function sweep_leftovers(job, st, dry_run, failures)
  local rules = mb.leftovers.rules(st, job.name, mb.state.timestamp())
  local count = 0
  for _, spec in ipairs(job.storage) do
    local handle <close>, err = mb.storage.open(spec)
    local problems = { err }
    if handle then
      local removed
      removed, problems = mb.leftovers.sweep(job.name, spec.name, handle, rules,
                                             function(_, message) print(message) end, { dry_run = dry_run })
      count = count + #removed
    end
    table.move(problems, 1, #problems, #failures + 1, failures)
  end
  return count
end

-- Without a retention policy, prune only sweeps what killed runs left.
function commands.prune(cfg, args, opts)
  local job = load_resolved_job(cfg, args[1])
  local st <close> = open_state(cfg)
  local removed, failures = {}, {}
  if job.retention then
    removed, failures = mb.retention.prune(job, { dry_run = opts["dry-run"], state = st })
  else
    print(("job %s has no retention policy: only leftovers of killed runs are swept"):format(job.name))
  end
  for _, meta in ipairs(removed) do
    print(("%s %s on %s"):format(opts["dry-run"] and "would remove" or "removed", meta.backup_id, meta.storage))
  end
  local swept = sweep_leftovers(job, st, opts["dry-run"], failures)
  for _, f in ipairs(failures) do eprint("moonbak: %s", f) end
  if #removed == 0 and swept == 0 then print("nothing to remove") end
  return #failures == 0 and 0 or 1
end

-- An identity file as age-keygen writes it: two comments, then the key.
function commands.keygen(_, _, opts)
  local identity, recipient = mb.crypto.keygen()
  local text = ("# created: %s\n# public key: %s\n%s\n"):format(
    os.date("!%Y-%m-%dT%H:%M:%SZ"), recipient, identity)
  if not opts.output then
    io.write(text)
    return 0
  end
  local ok, err = sys.create_private(opts.output, text)
  if not ok then exit_with(1, "%s", err) end
  eprint("Public key: %s", recipient)
  return 0
end

local function read_secret_value()
  local interactive = sys.isatty(0)
  if interactive then
    io.stderr:write("value (input hidden): ")
    os.execute("stty -echo 2>/dev/null")
  end
  local value = io.read("l")
  if interactive then
    os.execute("stty echo 2>/dev/null")
    io.stderr:write("\n")
  end
  if not value or value == "" then exit_with(2, "secret set: no value on standard input") end
  return value
end

function commands.secret(cfg, args, opts)
  local action, name = args[1], args[2]
  local st <close> = open_state(cfg)
  if action == "set" and name then
    local ok, err = pcall(st.set_secret, st, name, read_secret_value())
    if not ok then exit_with(1, "%s", tostring(err)) end
    eprint("secret %s stored", name)
  elseif action == "rm" and name then
    if not st:remove_secret(name) then exit_with(1, "no secret named %s", name) end
  elseif action == "list" then
    local list = st:secrets()
    if opts.json then json_out(list) return 0 end
    local rows = {}
    for _, s in ipairs(list) do rows[#rows + 1] = { s.name, s.created_at, s.updated_at } end
    print_table({ "NAME", "CREATED", "UPDATED" }, rows)
  else
    usage_error("usage: moonbak secret set NAME | secret list | secret rm NAME")
  end
  return 0
end

-- lua/moonbak/cmd/cron.lua, in the shape of the one-file-per-command split
function commands.cron(cfg, args, opts)
  return require("moonbak.cmd.cron").run(cfg, args, opts)
end

function commands.script(_, args)
  local file = args[1]
  if not file then usage_error("script: expected FILE.lua") end
  local chunk, err = loadfile(file, "t")
  if not chunk then eprint("moonbak: %s", err); return 2 end
  local script_args = table.move(args, 2, #args, 1, {})
  script_args[0] = file
  _G.arg = script_args
  local ok, result = xpcall(chunk, debug.traceback, table.unpack(script_args))
  if not ok then
    eprint("moonbak: script %s failed: %s", file, result)
    return 1
  end
  return math.tointeger(result) or 0
end

local not_yet = { daemon = true, console = true }

-- A failure of the state database in the middle of a command (damaged
-- past its header, full, locked) is the operator's to fix, not a bug:
-- said plainly, with the database's path and what to do, no traceback.
local state_path

local function keep_traceback(err)
  if getmetatable(err) == Exit then return err end
  if state_path and type(err) == "string" and err:find("^state database: ") then
    return setmetatable({ status = 1, message = mb.state.explain(state_path, err) }, Exit)
  end
  return debug.traceback(tostring(err), 2)
end

function M.main(argv)
  local ok, status = xpcall(function()
    local command, args, opts = parse(argv)
    if opts.help or command == nil then
      io.write(USAGE)
      return command == nil and not opts.help and 2 or 0
    end
    if not_yet[command] then
      eprint("moonbak: %q is not implemented in this build yet", command)
      return 2
    end
    local fn = commands[command]
    if not fn then usage_error("unknown command %q (see moonbak --help)", command) end
    local cfg = settings(opts)
    state_path = cfg.state_dir .. "/moonbak.db"
    return fn(cfg, args, opts)
  end, keep_traceback)
  if ok then return status end
  if getmetatable(status) == Exit then
    eprint("moonbak: %s", status.message)
    return status.status
  end
  error(status, 0)
end

return M
