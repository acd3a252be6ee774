-- moonbak drill JOB [BACKUP]: restore a backup into a scratch target,
-- check it, throw it away; recorded as an execution of kind "drill".
local mb = require "moonbak"
local sys = require "moonbak.sys"
local lib = require "moonbak.clilib"
local units = require "moonbak.units"

local function identities(opts)
  if not opts.identity then return nil end
  local list, err = mb.artifact.read_identities(opts.identity)
  if not list then lib.exit_with(2, "%s", err) end
  return list
end

-- Drills job now -> ok, result (drill.run's).  opts: backup, storage,
-- identity, claimed, quiet.  On a terminal the log goes to stderr
-- (errors always).
local function drill_now(cfg, job, opts)
  local st <close> = lib.open_state(cfg)
  local interactive = sys.isatty(2)
  return mb.drill.run(job, {
    state = st, backup = opts.backup, storage = opts.storage, identities = identities(opts),
    claimed = opts.claimed, trigger = opts.claimed and "schedule" or "manual",
    progress = lib.progress_label(opts, "drill " .. job.name),
    on_log = function(entry)
      if entry.level == "error" or (interactive and not opts.quiet) then
        lib.eprint("%s [drill] %s", entry.level, entry.message)
      end
    end,
  })
end

-- A check's result as the command prints it.
local function check_line(c)
  return ("%s  %s%s"):format(c.ok and "ok    " or "FAILED", c.name, c.detail ~= "" and (": " .. c.detail) or "")
end

-- The line that sums a drill up.
local function summary(r)
  if r.status == "refused" then return r.error end
  local passed = 0
  for _, c in ipairs(r.checks) do if c.ok then passed = passed + 1 end end
  if r.status == "success" then
    return ("%s: drill passed: backup %s from %s restored in %s (%s), %d/%d checks passed (execution %d)")
      :format(r.job, r.backup_id, r.storage, units.seconds(r.restore_seconds), units.size(r.bytes), passed,
              #r.checks, r.execution)
  end
  return ("%s: drill %s%s: %s (execution %d)"):format(r.job, r.status,
    r.backup_id and (" on backup " .. r.backup_id) or "", r.error, r.execution)
end

-- What the command prints with --json: the result without its log.
local function json_result(r)
  local out = {}
  for k, v in pairs(r) do if k ~= "logs" then out[k] = v end end
  return out
end

local function run(cfg, args, opts)
  local claimed = math.tointeger(tonumber(os.getenv("MOONBAK_EXECUTION") or ""))
  local job = claimed and lib.load_claimed_job(cfg, args[1], claimed) or lib.load_job(cfg, args[1])
  sys.catch_interrupts() -- Ctrl-C or SIGTERM: the scratch is removed, the drill recorded cancelled
  local ok, r = drill_now(cfg, job, { backup = args[2], storage = opts.storage, identity = opts.identity,
                                       claimed = claimed, quiet = opts.quiet or opts.json })
  if opts.json then
    lib.json_out(json_result(r))
    return ok and 0 or 1
  end
  for _, c in ipairs(r.checks) do print(lib.redact(check_line(c))) end
  if r.state_error then lib.eprint("moonbak: %s", r.state_error) end
  if ok then print(summary(r)); return 0 end
  lib.eprint("%s%s", r.status == "refused" and "moonbak: " or "", summary(r))
  return 1
end

return {
  usage = { { "drill JOB [BACKUP] [--identity FILE]", "restore a backup into a scratch target, check it, remove it" } },
  description = [[
Restores a backup (BACKUP, or the newest not dated in the future) into a
scratch target: a scratch SQLite file, a scratch database on the job's
server (or on drill.server), a throwaway redis-server, a scratch file.  Both
checksums are checked on the way; then the engine's own checks (SQLite:
PRAGMA integrity_check) and the job's drill.checks (or drill.command) run on
it, and the scratch is removed, whatever happened (Ctrl-C and SIGTERM too).
What a killed drill left is removed by the next one.  The drill is recorded
as an execution of kind "drill" (moonbak history), with the restore time and
each check, and notified as drill_success or drill_failed.]],
  options = {
    { "storage", value = "NAME", help = "read from the job's storage named NAME (default: the first that has it)" },
    lib.IDENTITY,
    lib.JSON,
    { "quiet", help = "no progress line and no log lines on a terminal (errors still)" },
  },
  max_args = 2,
  exit = "0 the drill passed, 1 it failed (a check, the restore, the cleanup), was cancelled or refused, " ..
         "2 bad usage or a bad job file",
  examples = {
    { "moonbak drill shop", "restore the newest backup of shop into a scratch target, run its checks, remove it" },
    { "moonbak drill shop 20261128T030000Z --identity key.txt --json", "drill one backup, the result as JSON" },
  },
  run = run,
  summary = summary,
  check_line = check_line,
  json_result = json_result,
}
