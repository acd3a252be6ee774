-- What the commands of the command line (lua/moonbak/cmd/*.lua) share:
-- exits with a status, messages on stderr, settings, the state database,
-- loading jobs, tables and JSON for listings.
local mb = require "moonbak"
local sys = require "moonbak.sys"

local lib = {}

-- Raised to stop a command with a message and an exit status.
lib.Exit = {}

function lib.exit_with(status, fmt, ...)
  error(setmetatable({ status = status, message = fmt:format(...) }, lib.Exit), 0)
end

function lib.usage_error(fmt, ...)
  lib.exit_with(2, fmt, ...)
end

-- Every value a command resolved from a reference (env, secret, file):
-- nothing written to stderr shows one.
local redactor

function lib.redact(text)
  return redactor and redactor.redact(text) or text
end

function lib.eprint(fmt, ...)
  io.stderr:write(lib.redact(fmt:format(...)), "\n")
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
  if value == "" then lib.usage_error("--%s: expected a directory, got an empty string", name) end
  if value then return value end
  value = os.getenv(variable)
  if value == "" then lib.usage_error("%s is set but empty: unset it or give a directory", variable) end
  return value or default()
end

-- The settings every command gets: { state_dir, jobs_dir }.
function lib.settings(opts)
  return {
    state_dir = directory_setting(opts, "state", "MOONBAK_STATE", default_state_dir),
    jobs_dir = directory_setting(opts, "jobs", "MOONBAK_JOBS", function() return "jobs" end),
  }
end

-- Opens the state database; executions whose process died (killed, power
-- loss) are marked "interrupted" on the way, so none stays "running".
function lib.open_state(cfg)
  local st, err = mb.state.open(cfg.state_dir)
  if not st then lib.exit_with(1, "%s", err) end
  local ok, merr = pcall(st.mark_interrupted, st)
  if not ok then
    st:close()
    lib.exit_with(1, "%s", mb.state.explain(cfg.state_dir .. "/moonbak.db", merr))
  end
  return st
end

-- Loads JOB or exits 2 with the validation message (or the other job file
-- that declares the same name).  A command that only reads backups may be
-- given a copy of a job by path (restore onto another server, say): that
-- copy shares its name with the original on purpose.
function lib.load_job(cfg, name, reads_only)
  if not name or name == "" then lib.usage_error("missing JOB") end
  local job, err
  if reads_only and mb.job.find(name, cfg.jobs_dir) == name then
    job, err = mb.job.load(name)
  else
    job, err = mb.job.open(name, cfg.jobs_dir)
  end
  if not job then lib.exit_with(2, "%s", err) end
  return job
end

-- The job of an execution the daemon claimed for a fire time (a run, a
-- drill): a job file that no longer loads fails that execution, saying
-- why, and exits 2.
function lib.load_claimed_job(cfg, file, claimed)
  local job, err = mb.job.open(file, cfg.jobs_dir)
  if job then return job end
  local st <close> = lib.open_state(cfg)
  st:finish_execution(claimed, "failed", "the job file could not be loaded: " .. tostring(err))
  lib.exit_with(2, "%s", err)
end

-- The job's lock on this state, for a command that changes what the
-- storages hold (copy, prune, lock): never beside a run of the job or
-- another such command, whose files it could take for leftovers or whose
-- sidecars it could write over.  Busy: exit 1, naming who holds it.
function lib.lock_job(st, job)
  local lock, err, holder = st:lock_job(job.name)
  if lock then return lock end
  if holder then
    lib.exit_with(1, "job %s is busy: a run, a copy, a prune or a lock holds it (%s)", job.name,
                  holder ~= "" and (holder:gsub("%s+$", "")) or "starting")
  end
  lib.exit_with(1, "job %s: %s", job.name, err)
end

-- A job whose storage settings may hold references (env "X", secret "y"),
-- resolved for commands that read the storages directly.  These commands
-- read the storages, not the state database: when it cannot be opened
-- they say so and go on (only a secret "x" reference needs it).
function lib.load_resolved_job(cfg, name, reads_only)
  local job = lib.load_job(cfg, name, reads_only)
  local st <close>, serr = mb.state.open(cfg.state_dir)
  if not st then lib.eprint("moonbak: warning: %s", serr) end
  redactor = redactor or mb.ref.redactor()
  local resolved, err = mb.ref.resolve(job, st, redactor.add)
  if not resolved then
    if not st then lib.exit_with(1, "%s: %s (the state database could not be opened)", job.name, err) end
    lib.exit_with(1, "%s: %s", job.name, err)
  end
  return resolved
end

-- Keys for encrypted backups: --identity FILE and the job's passphrase.
function lib.backup_keys(job, opts)
  local identities
  if opts.identity then
    local err
    identities, err = mb.artifact.read_identities(opts.identity)
    if not identities then lib.exit_with(2, "%s", err) end
  end
  return mb.backups.keys(job, identities)
end

lib.human_size = require("moonbak.units").size

-- The text of an aligned table: the header, then a line per row, columns
-- two spaces apart (the last not padded); a nil cell reads "-".  Shared by
-- the commands' listings and the console's (lua/moonbak/console/show.lua).
function lib.format_table(header, rows)
  local widths, cells = {}, {}
  for i, h in ipairs(header) do widths[i] = #h end
  for r, row in ipairs(rows) do
    cells[r] = {}
    for i = 1, #header do
      -- values may come from a hand-edited sidecar: no control characters
      -- reach the terminal
      local c = tostring(row[i] == nil and "-" or row[i]):gsub("%c", "?")
      cells[r][i] = c
      widths[i] = math.max(widths[i], #c)
    end
  end
  local lines = {}
  local function line(row)
    local out = {}
    for i, c in ipairs(row) do
      out[i] = i < #row and c .. (" "):rep(widths[i] - #c) or c
    end
    lines[#lines + 1] = table.concat(out, "  ")
  end
  line(header)
  for _, row in ipairs(cells) do line(row) end
  return table.concat(lines, "\n")
end

function lib.print_table(header, rows)
  print(lib.format_table(header, rows))
end

-- JSON for --json output (see lua/moonbak/json.lua: sorted keys, an empty
-- table is an empty list).
lib.json_text = require("moonbak.json").encode

function lib.json_out(value)
  print(lib.json_text(value))
end

-- An execution row with its metadata as JSON, not as a string of JSON.
function lib.execution_json(e)
  local copy = {}
  for k, v in pairs(e) do copy[k] = v end
  copy.metadata = e.metadata and require("cjson.safe").decode(e.metadata) or nil
  return copy
end

-- How long an execution took, in seconds; nil while it runs.
function lib.elapsed(e)
  local function parse_ts(ts) -- UTC; os.time would read local time (DST)
    if not ts then return nil end
    local y, mo, d, h, mi, s, ms = ts:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)%.?(%d*)Z$")
    local t = y and mb.retention.backup_time(("%s%s%sT%s%s%sZ"):format(y, mo, d, h, mi, s))
    return t and t + (tonumber("0." .. (ms ~= "" and ms or "0")))
  end
  local a, b = parse_ts(e.started_at), parse_ts(e.finished_at)
  return a and b and b - a or nil
end

-- How long an execution took ("12.3s"), "-" while it runs.
function lib.duration(e)
  local took = lib.elapsed(e)
  return took and ("%.1fs"):format(took) or "-"
end

-- A progress line (bytes, rate, elapsed) only when a person watches.
function lib.progress_label(opts, label)
  if opts.quiet or not sys.isatty(1) then return nil end
  return label
end

-- Option entries several commands share (see lua/moonbak/cli.lua for the form).
lib.JSON = { "json", help = "print JSON, for scripts" }
lib.QUIET = { "quiet", help = "no progress line (there is none when stdout is not a terminal)" }
lib.IDENTITY = { "identity", value = "FILE",
                 help = "an age identity file (as keygen writes it), to decrypt backups encrypted to it" }

return lib
