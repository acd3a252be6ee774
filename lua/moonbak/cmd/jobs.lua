-- moonbak jobs: the jobs of the jobs directory, their schedule and last result.
local mb = require "moonbak"
local lib = require "moonbak.clilib"

-- The jobs of cfg.jobs_dir with their state -> list, broken, known
-- (known: the state database could be read; when not, a warning is on
-- stderr and the last results are unknown); nil, message when the jobs
-- directory cannot be read.  The console's jobs() is this too.
local function collect(cfg)
  local jobs, broken = mb.job.load_dir(cfg.jobs_dir)
  if not jobs then return nil, broken end
  -- the jobs are listed from their files even when the state database
  -- that knows their last results cannot be opened
  local st <close>, serr = mb.state.open(cfg.state_dir)
  if st then st:mark_interrupted() else lib.eprint("moonbak: warning: %s", serr) end
  local list = {}
  local now = os.time()
  for _, job in ipairs(jobs) do
    local last = st and st:last_execution(job.name)
    local state, reason = mb.schedule.state_of(job, st)
    local next_run = state == "active" and mb.schedule.next_run(job, now)
    next_run = next_run and mb.schedule.iso(next_run) or nil
    list[#list + 1] = { name = job.name, file = job.file, schedule = job.schedule, timezone = job.timezone,
                        next_run = next_run, state = state, paused_reason = reason,
                        last_status = last and last.status, last_started_at = last and last.started_at }
  end
  return list, broken, st ~= nil
end

local function run(cfg, _, opts)
  local list, broken, known = collect(cfg)
  if not list then lib.eprint("moonbak: %s", broken); return 2 end
  if opts.json then
    lib.json_out { jobs = list, broken = broken }
  else
    local rows = {}
    for _, j in ipairs(list) do
      rows[#rows + 1] = { j.name, j.schedule or "(manual)",
                          j.last_status or (known and "never run" or "unknown"), j.last_started_at,
                          j.next_run or (j.state ~= "manual" and j.state or nil), j.file }
    end
    lib.print_table({ "JOB", "SCHEDULE", "LAST RESULT", "LAST RUN", "NEXT RUN", "FILE" }, rows)
    for _, b in ipairs(broken) do lib.eprint("broken job file: %s", b.error) end
  end
  return #broken > 0 and 2 or 0
end

return {
  usage = { { "jobs", "list the jobs, their schedule and last result" } },
  description = [[
Every job file of the jobs directory; a broken one (a syntax error, an unknown
key, a name another file declares) is reported on stderr, and the others are
still listed.]],
  options = { lib.JSON },
  max_args = 0,
  exit = "0 all job files are good, 2 a job file is broken (or bad usage)",
  examples = {
    { "moonbak jobs",
      "every job, its schedule, its last result and next run; broken files on stderr" },
  },
  run = run,
  collect = collect,
}
