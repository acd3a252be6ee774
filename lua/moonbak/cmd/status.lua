-- moonbak status: is a daemon running on this state, what runs, what comes next.
local mb = require "moonbak"
local lib = require "moonbak.clilib"
local scheduler = require "moonbak.scheduler"
local sys = require "moonbak.sys"

-- The daemon holding the state's daemon lock: { pid =, since = } or nil.
local function daemon_of(state_dir)
  local path = scheduler.lock_path(state_dir)
  local holders = mb.state.lock_holders(path)
  if #holders == 0 then return nil end
  local f = io.open(path, "r")
  local text = f and f:read("a") or ""
  if f then f:close() end
  return { pid = tonumber(text:match("pid (%d+)")) or holders[1], since = text:match("since (%S+)") }
end

local function run(cfg, _, opts)
  local daemon = daemon_of(cfg.state_dir)
  local st <close> = lib.open_state(cfg)
  local running = st.db:query([[SELECT * FROM executions WHERE status IN ('running', 'pending')
                                ORDER BY id]])
  local jobs, broken = mb.job.load_dir(cfg.jobs_dir)
  if not jobs then lib.exit_with(2, "%s", broken) end
  local now = math.floor(sys.now())
  local upcoming = {}
  for _, job in ipairs(jobs) do
    local state, reason = mb.schedule.state_of(job, st)
    local nxt = state == "active" and mb.schedule.next_run(job, now)
    local u = { job = job.name, schedule = job.schedule, timezone = job.timezone,
                state = state, next_run = nxt and mb.schedule.iso(nxt) or nil,
                paused_reason = reason }
    -- its verify and drill schedules: { schedule, next_run } each
    for _, kind in ipairs(mb.schedule.kinds) do
      local expr = kind ~= "backup" and mb.schedule.schedule_of(job, kind)
      if expr then
        local t = state == "active" and mb.schedule.next_run(job, now, nil, kind)
        u[kind] = { schedule = expr, next_run = t and mb.schedule.iso(t) or nil }
      end
    end
    upcoming[#upcoming + 1] = u
  end
  table.sort(upcoming, function(a, b)
    if (a.next_run ~= nil) ~= (b.next_run ~= nil) then return a.next_run ~= nil end
    return (a.next_run or a.job) < (b.next_run or b.job)
  end)
  if opts.json then
    local list = {}
    for _, e in ipairs(running) do list[#list + 1] = lib.execution_json(e) end
    lib.json_out { daemon = daemon or false, state = cfg.state_dir, running = list, jobs = upcoming }
    return 0
  end
  if daemon then
    print(("daemon: running on %s, pid %d%s"):format(cfg.state_dir, daemon.pid,
                                                   daemon.since and (", since " .. daemon.since) or ""))
  else
    print(("daemon: not running on %s"):format(cfg.state_dir))
  end
  print()
  if #running == 0 then
    print("running: none")
  else
    local rows = {}
    for _, e in ipairs(running) do
      rows[#rows + 1] = { e.id, e.job, e.kind, e.status, e.trigger, e.scheduled_for or "-", e.started_at, e.pid }
    end
    lib.print_table({ "EXECUTION", "JOB", "KIND", "STATUS", "TRIGGER", "SCHEDULED FOR", "STARTED", "PID" }, rows)
  end
  print()
  local rows = {}
  for _, u in ipairs(upcoming) do
    local state = u.state .. (u.paused_reason and (" (" .. u.paused_reason .. ")") or "")
    rows[#rows + 1] = { u.job, "backup", u.schedule or "(manual)", u.timezone or "UTC", state, u.next_run or "-" }
    for _, kind in ipairs(mb.schedule.kinds) do
      if u[kind] and kind ~= "backup" then
        rows[#rows + 1] = { u.job, kind, u[kind].schedule, u.timezone or "UTC", state, u[kind].next_run or "-" }
      end
    end
  end
  lib.print_table({ "JOB", "KIND", "SCHEDULE", "TIMEZONE", "STATE", "NEXT RUN" }, rows)
  for _, b in ipairs(broken) do lib.eprint("broken job file: %s", b.error) end
  return 0
end

return {
  usage = { { "status", "whether a daemon runs on this state, what runs now, the next runs" } },
  options = { lib.JSON },
  max_args = 0,
  exit = "0 shown (whether a daemon runs or not), 1 the state could not be opened, 2 bad usage",
  examples = {
    { "moonbak status", "is a daemon running, what runs now, what runs next" },
    { "moonbak status --json", "the same, for a script" },
  },
  run = run,
}
