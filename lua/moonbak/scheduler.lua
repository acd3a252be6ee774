-- The scheduler: what the daemon does with each fire time of each job.
-- The cron arithmetic is C (moonbak.cron), the processes and events are C
-- (moonbak.supervisor); every decision is here, in one place:
--
--  * once per fire time: a fire time is claimed in the state database (a
--    unique index) before its run starts, so that a restart, a second
--    daemon or a clock step never runs it twice;
--  * no overlap: a fire time that comes while the job still runs (or waits
--    in the queue) is recorded "skipped", with why;
--  * catch-up: fire times that went by while the daemon was down (or the
--    clock jumped forward) run once, the newest, if within the job's
--    catchup window; the older ones are recorded "skipped" as missed.  A
--    job the daemon never scheduled before waits for its next fire time;
--  * every run is a child process (this binary: `moonbak run FILE`), at
--    most max_parallel at once, the rest waiting in a FIFO queue;
--  * beside its backup schedule a job may have a verify schedule (a child
--    `moonbak verify FILE [--all]`) and a drill schedule (`moonbak drill
--    FILE`): each kind has fire times of its own, claimed, skipped, caught
--    up and kept from overlapping as above, but per (job, kind): a
--    verification neither waits for nor holds back the job's backup.  A
--    paused job runs none of them; max_parallel bounds them all;
--  * retry = { attempts, delay } re-runs a failed run, timeout stops a run
--    that takes too long (the run stops itself; the daemon steps in when
--    it does not);
--  * SIGHUP or a changed job file reloads; SIGTERM or SIGINT stop taking
--    work, let runs finish within the grace period, then cancel them;
--  * an outcome the daemon records itself (a skipped fire time, a run it
--    had to kill or that died) is notified like a failed run, by a child
--    process (`moonbak notify send`), so that no service holds it up.
local cron = require "moonbak.cron"
local job_mod = require "moonbak.job"
local schedule = require "moonbak.schedule"
local state_mod = require "moonbak.state"
local sys = require "moonbak.sys"

local M = {}

M.defaults = {
  max_parallel = 2,
  grace = 300,        -- seconds runs may go on after SIGTERM
  catchup = 86400,    -- a job's default catch-up window
  on_time = 60,       -- a fire time handled this late is still on time, not missed
  kill_after = 30,    -- past a run's timeout, the daemon sends SIGTERM (then SIGKILL)
  missed_max = 100,   -- missed fire times recorded one by one; older ones are counted
  poll = 60,          -- the longest wait: the wall clock is looked at again then
}

local Daemon = {}
Daemon.__index = Daemon

local function iso(t) return schedule.iso(math.floor(t)) end

local seconds = require("moonbak.units").seconds

function Daemon:log(fmt, ...)
  io.stderr:write(("moonbak daemon: " .. fmt .. "\n"):format(...))
  io.stderr:flush()
end

-- The fire times of timer e (a schedule in a timezone) after `after`, up
-- to and including `upto`, oldest first, found a thousand at a time.
local function fires_between(e, after, upto)
  local list = {}
  local t = math.floor(after)
  while true do
    local batch = cron.next(e.schedule, { after = t, timezone = e.timezone, count = 1000 })
    for _, n in ipairs(batch) do
      if n > upto then return list end
      list[#list + 1] = n
    end
    if #batch < 1000 then return list end
    t = batch[#batch]
  end
end

local function next_fire(e, after)
  return cron.next(e.schedule, { after = math.floor(after), timezone = e.timezone, count = 1 })[1]
end

-- M.new{ state =, state_dir =, jobs_dir =, supervisor =, lock =, argv0 =,
--        max_parallel =, grace =, timezone =, metrics = }
-- metrics: the metrics file of the jobs that name none (their runs get it
-- as MOONBAK_METRICS).
function M.new(opts)
  local d = setmetatable({
    state = opts.state,
    recorded = {},  -- job name -> true: outcomes not yet in the metrics files
    metrics = opts.metrics,
    state_dir = opts.state_dir,
    jobs_dir = opts.jobs_dir,
    sup = opts.supervisor,
    argv0 = opts.argv0 or "moonbak",
    timezone = opts.timezone or "UTC",
    max_parallel = opts.max_parallel or M.defaults.max_parallel,
    grace = opts.grace or M.defaults.grace,
    now = opts.now or sys.now,
    jobs = {},      -- name -> entry { job, file, timezone, catchup, ..., timers = { kind -> timer } }
                    -- timer: { kind, schedule, timezone, next }
    running = {},   -- pid -> run { name, kind, execution, started, deadline, attempt, first }
    by_job = {},    -- slot(name, kind) -> pid of its running run
    queue = {},     -- claimed executions waiting for a slot, FIFO
    retries = {},   -- { name, at, scheduled_for, attempt, first }
    to_notify = {}, -- execution ids whose outcome the daemon recorded
    notifying = {}, -- pid -> true: `notify send` children
  }, Daemon)
  return d
end

local function running_count(d)
  local n = 0
  for _ in pairs(d.running) do n = n + 1 end
  return n
end

-- A job's runs of one kind never overlap; its kinds run side by side.
local function slot(name, kind)
  return kind .. " " .. name
end

local function queued(d, name, kind)
  for _, q in ipairs(d.queue) do
    if q.name == name and q.kind == kind then return q end
  end
end

-- How the log names a job's run of kind: "shop", "shop (verify)".
local function label(name, kind)
  if kind == nil or kind == "backup" then return name end
  return ("%s (%s)"):format(name, kind)
end

-- What runs a job's fire time of kind, as the "still running" reason says it.
local what_runs = { backup = "job", verify = "verification", drill = "drill" }

-- The timers of job: one per kind it has a schedule of (none when it is
-- disabled), each in zone.
local function timers_of(job, zone)
  local timers = {}
  if job.enabled == false then return timers end
  for _, kind in ipairs(schedule.kinds) do
    local expr = schedule.schedule_of(job, kind)
    if expr then timers[kind] = { kind = kind, schedule = expr, timezone = zone } end
  end
  return timers
end

-- (Re)reads the jobs directory: new jobs are scheduled, removed ones
-- dropped, changed schedules computed again; runs are left alone.
function Daemon:load_jobs()
  local now = self.now()
  local list, broken = job_mod.load_dir(self.jobs_dir)
  if not list then error(broken, 0) end
  for _, b in ipairs(broken) do self:log("broken job file, not scheduled: %s", b.error) end
  local seen, count = {}, 0
  for _, job in ipairs(list) do
    local name = job.name
    local zone = job.timezone or self.timezone
    local timers = timers_of(job, zone)
    if next(timers) then
      seen[name] = true
      count = count + 1
      local old = self.jobs[name]
      local e = {
        job = job, file = job.file, name = name, timezone = zone, timers = timers,
        catchup = job.catchup, -- false: never; nil: the default window
        retry = job.retry, timeout = job.timeout,
      }
      if e.catchup == nil then e.catchup = M.defaults.catchup end
      for _, kind in ipairs(schedule.kinds) do
        local t, o = timers[kind], old and old.timers[kind]
        if t and o and o.schedule == t.schedule and o.timezone == t.timezone then
          t.next = o.next
        elseif t then
          -- Where to count from: the newest fire time handled, else since
          -- when this schedule is known; a changed schedule starts from now.
          local known = self.state:schedule_since(name, iso(now), kind)
          local from = now
          if not o then
            from = schedule.parse_iso(known.last_fire or known.since) or now
          end
          t.next = next_fire(t, math.min(from, now))
          if kind == "backup" then
            self:log("job %s: schedule %q (%s), next run %s", name, t.schedule, zone,
                     t.next and iso(t.next) or "never")
          else
            self:log("job %s: %s schedule %q (%s), next %s %s", name, kind, t.schedule, zone, kind,
                     t.next and iso(t.next) or "never")
          end
        end
      end
      self.jobs[name] = e
    elseif self.jobs[name] then
      self:log("job %s: no longer scheduled (%s)", name, job.enabled == false and "enabled = false" or "no schedule")
    end
  end
  for name in pairs(self.jobs) do
    if not seen[name] then
      self.jobs[name] = nil
    end
  end
  return count
end

-- Every outcome the daemon records itself (a skipped fire time; a run it
-- failed, found dead, timed out or never started) goes through skip or
-- finish: its job's metrics file is rewritten (update_metrics) and, unless
-- the run already told them, its notifiers hear of it (send_notifications).
-- The runs record, notify and rewrite their own.
function Daemon:recorded_outcome(name, id, notified)
  self.recorded[name] = true
  local e = self.jobs[name]
  if not notified and e and e.job.notify and #e.job.notify > 0 then
    self.to_notify[#self.to_notify + 1] = id
  end
end

function Daemon:skip(name, fire, reason, short, kind)
  local id = self.state:skip(name, fire, reason, kind)
  if id then
    self:log("skipped %s at %s: %s", label(name, kind), fire, short or reason)
    self:recorded_outcome(name, id)
  end
end

-- opts.notified: the run notified this outcome already (the daemon only
-- words it more precisely).
function Daemon:finish(name, id, status, why, opts)
  self.state:finish_execution(id, status, why)
  self:recorded_outcome(name, id, opts and opts.notified)
end

-- The notifications of what was recorded since the last call, from one
-- child: the ids on its command line.  Its answers go to the state
-- database (moonbak log shows them); a failure is logged here.
function Daemon:send_notifications()
  if #self.to_notify == 0 then return end
  local argv = { self.argv0, "--state", self.state_dir, "--jobs", self.jobs_dir, "notify", "send", "--quiet" }
  for _, id in ipairs(self.to_notify) do argv[#argv + 1] = tostring(id) end
  self.to_notify = {}
  local pid, err = self.sup:spawn(argv, {})
  if pid then
    self.notifying[pid] = #argv - 8
  else
    self:log("notifications of execution(s) %s not sent: %s", table.concat(argv, " ", 9), err)
  end
end

-- One fire time t of e's timer of kind: claimed and queued, or recorded
-- skipped with why.
function Daemon:fire(e, kind, t, why_late)
  local name = e.name
  local paused = self.state:job_schedule(name)
  if paused and paused.paused_at then
    self.state:set_last_fire(name, iso(t), kind)
    return
  end
  local pid = self.by_job[slot(name, kind)]
  local busy = pid and self.running[pid]
  local waiting = queued(self, name, kind)
  if busy or waiting then
    local reason = busy and ("%s still running (execution %d)"):format(what_runs[kind], busy.execution)
                   or ("%s still waiting for a free slot (execution %d)"):format(what_runs[kind], waiting.execution)
    self:skip(name, iso(t), reason, nil, kind)
  elseif why_late and e.catchup == false then
    local reason = why_late .. "; catchup = false"
    self:skip(name, iso(t), reason, nil, kind)
  elseif why_late and self.now() - t > e.catchup then
    local reason = ("%s, more than the catch-up window (%d s) ago"):format(why_late, e.catchup)
    self:skip(name, iso(t), reason, nil, kind)
  else
    local ex = self.state:claim(name, iso(t), { kind = kind })
    if not ex then
      self:log("%s at %s was claimed before (another daemon, or before a restart): not run again",
               label(name, kind), iso(t))
    else
      self.queue[#self.queue + 1] = { name = name, kind = kind, execution = ex.id, scheduled_for = iso(t),
                                      attempt = 1, first = ex.id, catchup = why_late ~= nil }
    end
  end
  self.state:set_last_fire(name, iso(t), kind)
end

-- Every fire time that has come: on time, or missed (downtime, a forward
-- clock step): the newest missed one runs (catch-up), older ones skipped.
-- One timer of job entry e whose fire time has come (see fire_due).
function Daemon:fire_timer(e, timer, now)
  local kind = timer.kind
  -- Only the fire times of a recent window are looked at one by one
  -- (after a year down, a per-minute job missed half a million): the
  -- catch-up window, and at least a day for the record.
  local window = math.max(e.catchup or 0, M.defaults.on_time, 86400)
  local from = math.max(timer.next - 1, now - window)
  local due = fires_between(timer, from, now)
  if #due == 0 then due = { timer.next } end -- nothing recent: the last one known
  local newest = due[#due]
  local cut = math.max(0, #due - 1 - M.defaults.missed_max)
  if from > timer.next - 1 or cut > 0 then
    self:log("job %s: fire times were missed since %s; only the %d before %s are recorded one by one",
             label(e.name, kind), iso(timer.next), math.min(#due - 1, M.defaults.missed_max), iso(newest))
  end
  for i = cut + 1, #due - 1 do
    local reason = "missed (the daemon was down, the job file could not be loaded, or the clock jumped); a newer fire time was handled instead"
    self:skip(e.name, iso(due[i]), reason, "missed", kind)
  end
  local late = now - newest > M.defaults.on_time
  self:fire(e, kind, newest, late and ("missed by %s"):format(seconds(now - newest)) or nil)
  timer.next = next_fire(timer, math.max(newest, now))
  if timer.next then
    self:log("job %s: next %s %s", e.name, kind == "backup" and "run" or kind, iso(timer.next))
  end
end

function Daemon:fire_due(now)
  for _, e in pairs(self.jobs) do
    for _, kind in ipairs(schedule.kinds) do
      local timer = e.timers[kind]
      if timer and timer.next and timer.next <= now then self:fire_timer(e, timer, now) end
    end
  end
  for i = #self.retries, 1, -1 do
    local r = self.retries[i]
    if r.at <= now then
      table.remove(self.retries, i)
      local ex = self.state:claim(r.name, r.scheduled_for, { attempt = r.attempt, retry_of = r.first })
      if ex then
        self.queue[#self.queue + 1] = { name = r.name, kind = "backup", execution = ex.id,
                                        scheduled_for = r.scheduled_for, attempt = r.attempt, first = r.first }
      end
    end
  end
end

-- The command line of the child that runs e's fire time of kind: `run`
-- for a backup, `verify` (the newest backup, or --all) or `drill`.  The
-- child takes over the claimed execution (MOONBAK_EXECUTION).
function Daemon:command(e, kind)
  if kind == "backup" then
    return { self.argv0, "--state", self.state_dir, "run", e.file }
  end
  local argv = { self.argv0, "--state", self.state_dir, "--jobs", self.jobs_dir, kind, e.file }
  if kind == "verify" and e.job.verify.backups == "all" then argv[#argv + 1] = "--all" end
  return argv
end

function Daemon:start_queued()
  while #self.queue > 0 and running_count(self) < self.max_parallel and not self.stopping do
    local q = table.remove(self.queue, 1)
    local kind = q.kind or "backup"
    local e = self.jobs[q.name]
    local busy = self.by_job[slot(q.name, kind)]
    if busy then
      local reason = ("%s still running (execution %d)"):format(what_runs[kind], self.running[busy].execution)
      self:finish(q.name, q.execution, "skipped", reason)
      self:log("skipped %s at %s: %s", label(q.name, kind), q.scheduled_for, reason)
    elseif not e or not e.timers[kind] then
      self:finish(q.name, q.execution, "skipped", not e and "the job file was removed before the run started"
                  or ("the job's %s schedule was removed before the run started"):format(kind))
    else
      local pid, err = self.sup:spawn(self:command(e, kind),
                                      { MOONBAK_EXECUTION = tostring(q.execution),
                                        MOONBAK_JOBS = self.jobs_dir, MOONBAK_METRICS = self.metrics })
      if not pid then
        self:finish(q.name, q.execution, "failed", err)
        self:log("run %s: %s", label(q.name, kind), err)
      else
        -- a job's timeout and retries are its backup's
        local backup = kind == "backup"
        local run = { name = q.name, kind = kind, pid = pid, execution = q.execution, started = sys.monotonic(),
                      scheduled_for = q.scheduled_for, attempt = q.attempt, first = q.first,
                      timeout = backup and e.timeout or nil, retry = backup and e.retry or nil }
        self.running[pid] = run
        self.by_job[slot(q.name, kind)] = pid
        self:log("run %s: started execution %d (pid %d, scheduled for %s%s%s)", label(q.name, kind), q.execution,
                 pid, q.scheduled_for, q.catchup and ", catch-up" or "",
                 q.attempt > 1 and (", attempt %d"):format(q.attempt) or "")
      end
    end
  end
end

-- A run process ended: its result is in the state database, unless it
-- died before it could write it.
function Daemon:on_exit(ev)
  local notified = self.notifying[ev.pid]
  if notified then
    self.notifying[ev.pid] = nil
    if ev.code ~= 0 then
      self:log("notifications of %d execution(s): not every notifier accepted (moonbak log shows why)", notified)
    end
    return
  end
  local run = self.running[ev.pid]
  if not run then return end
  local ex = self.state:execution(run.execution)
  local took = sys.monotonic() - run.started
  if ex and (ex.status == "running" or ex.status == "pending") then
    local why = run.timed_out and ("timed out after %s and was killed"):format(seconds(run.timeout))
      or ev.signal and ("the run process was killed by SIG%s"):format(ev.signal)
      or ("the %s process exited with status %d before recording its result")
           :format(run.kind == "backup" and "run" or run.kind, ev.code or -1)
    self:finish(run.name, run.execution, run.timed_out and "failed" or "interrupted", why)
    ex = self.state:execution(run.execution)
  end
  if ex and run.timed_out and ex.status == "cancelled" then
    -- the daemon's SIGTERM past the time limit: the run recorded a cancel
    self:finish(run.name, run.execution, "failed",
      ("timed out after %s and was stopped by the daemon: %s"):format(seconds(run.timeout), ex.error or "cancelled"),
      { notified = true })
    ex = self.state:execution(run.execution)
  end
  -- recorded: the run is over (an error above keeps it, to try again)
  self.running[ev.pid] = nil
  if self.by_job[slot(run.name, run.kind)] == ev.pid then self.by_job[slot(run.name, run.kind)] = nil end
  local status = ex and ex.status or "unknown"
  self:log("run %s: execution %d %s in %s", label(run.name, run.kind), run.execution, status, seconds(took))
  local retry = run.retry
  if status == "failed" or (status == "partial" and retry and retry.partial) then
    if retry and run.attempt < (retry.attempts or 1) and not self.stopping then
      local delay = retry.delay or 60
      self.retries[#self.retries + 1] = { name = run.name, at = self.now() + delay,
                                          scheduled_for = run.scheduled_for,
                                          attempt = run.attempt + 1, first = run.first }
      self:log("run %s: attempt %d of %d in %s", run.name, run.attempt + 1, retry.attempts, seconds(delay))
    end
  end
end

-- Runs past their timeout (plus the time they have to stop themselves).
function Daemon:check_timeouts()
  local mono = sys.monotonic()
  for pid, run in pairs(self.running) do
    if run.timeout and not run.killed then
      local over = mono - run.started - run.timeout
      -- SIGKILL only once the run could have notified, within its budget,
      -- after its own time limit stopped it
      if over > M.defaults.kill_after * 2 + require("moonbak.notify").budget.default then
        self.sup:kill(pid, "KILL")
        run.killed = true
      elseif over > M.defaults.kill_after and not run.timed_out then
        run.timed_out = true
        self:log("run %s: execution %d outlasted its timeout (%s): stopping it", run.name, run.execution,
                 seconds(run.timeout))
        self.sup:kill(pid, "TERM")
      end
    end
  end
end

-- How long to wait for the next thing to do.
function Daemon:wait_time(now)
  local t = M.defaults.poll
  for _, e in pairs(self.jobs) do
    for _, timer in pairs(e.timers) do
      if timer.next then t = math.min(t, timer.next - now) end
    end
  end
  for _, r in ipairs(self.retries) do t = math.min(t, r.at - now) end
  if next(self.running) then
    t = math.min(t, 5) -- timeouts are looked at this often
  end
  if self.stopping and not self.stopping.killed then
    local until_next = self.stopping.cancelled and (self.stopping.kill_at or 0) or self.stopping.deadline
    t = math.min(t, math.max(0, until_next - sys.monotonic()))
  end
  return math.max(t, 0)
end

function Daemon:stop(signal)
  if self.stopping then
    if self.stopping.cancelled then
      -- the runs were asked to stop and have not: the operator insists
      self:log("SIG%s again: killing the runs", signal or "TERM")
      self.stopping.kill_at = 0
    else
      self:log("SIG%s again: cancelling the runs now", signal or "TERM")
      self.stopping.deadline = 0
    end
    return
  end
  local n = running_count(self)
  self:log("SIG%s: stopping; %d run(s) going, waiting up to %s", signal or "TERM", n, seconds(self.grace))
  self.stopping = { deadline = sys.monotonic() + self.grace }
  for _, q in ipairs(self.queue) do
    local ok, err = pcall(self.finish, self, q.name, q.execution, "skipped",
                          "the daemon stopped before the run could start")
    if not ok then self:log("error: execution %d stays pending: %s", q.execution, tostring(err)) end
  end
  self.queue = {}
  -- retries wait in memory only: a stopped daemon does not make them
  for _, r in ipairs(self.retries) do
    self:log("run %s: attempt %d (a retry of execution %d) dropped: the daemon stops", r.name, r.attempt, r.first)
  end
  self.retries = {}
end

-- Past the grace period the runs are cancelled (SIGTERM: each aborts its
-- uploads and records itself); a run that does not end within kill_after
-- of that (a step looping in Lua) is killed, and recorded interrupted.
function Daemon:drain()
  local stopping = self.stopping
  if not stopping then return end
  local mono = sys.monotonic()
  if not stopping.cancelled and mono >= stopping.deadline then
    stopping.cancelled = true
    stopping.kill_at = mono + M.defaults.kill_after
    for pid, run in pairs(self.running) do
      self:log("run %s: cancelling execution %d", label(run.name, run.kind), run.execution)
      self.sup:kill(pid, "TERM")
    end
  elseif stopping.cancelled and not stopping.killed and mono >= stopping.kill_at then
    stopping.killed = true
    for pid, run in pairs(self.running) do
      self:log("run %s: execution %d did not stop: killing it", label(run.name, run.kind), run.execution)
      self.sup:kill(pid, "KILL")
    end
  end
end

-- Rewrites the metrics files of the jobs whose outcomes the daemon
-- recorded since the last time.  A file that cannot be written is logged;
-- the outcomes stay recorded (and the file is tried again with the next).
function Daemon:update_metrics()
  if not next(self.recorded) then return end
  local names = {}
  for name in pairs(self.recorded) do names[name] = true; self.recorded[name] = nil end
  local ok, done, err = pcall(require("moonbak.metrics").update, self.state,
                              { jobs_dir = self.jobs_dir, names = names, default = self.metrics })
  if not ok or not done then
    self:log("warning: the metrics file was not updated: %s", tostring(ok and err or done))
  end
end

-- The daemon's life: returns when it was told to stop and its runs ended.
-- The state database may fail for a while (locked by a long transaction,
-- the disk full): the daemon says so and tries again, it does not die.  An
-- exit event that could not be recorded is kept and handled again.
M.defaults.retry_after_error = 10

function Daemon:loop()
  local unhandled = {}
  while true do
    local ok, err = pcall(function()
      local now = self.now()
      if not self.stopping then
        self:fire_due(now)
        self:start_queued()
      end
      self:check_timeouts()
    end)
    self:drain()
    self:update_metrics()
    self:send_notifications()
    if self.stopping and not next(self.running) and not next(self.notifying) then break end
    local wait = (ok and #unhandled == 0) and self:wait_time(self.now()) or M.defaults.retry_after_error
    if not ok then
      self:log("error: %s; trying again in %d s", tostring(err), M.defaults.retry_after_error)
    end
    local events = unhandled
    unhandled = {}
    for _, ev in ipairs(self.sup:wait(wait)) do events[#events + 1] = ev end
    local reload = false
    for _, ev in ipairs(events) do
      if ev.event == "exit" then
        local fine, eerr = pcall(self.on_exit, self, ev)
        if not fine then
          self:log("error: recording the end of run process %d: %s; trying again", ev.pid, tostring(eerr))
          unhandled[#unhandled + 1] = ev
        end
      elseif ev.event == "signal" and ev.signal == "HUP" then
        reload = "SIGHUP"
      elseif ev.event == "signal" then
        self:stop(ev.signal)
      elseif ev.event == "change" and (ev.name == "" or ev.name:match("%.lua$")) then
        reload = reload or ("a change to " .. (ev.name ~= "" and ev.name or self.jobs_dir))
      end
    end
    self:send_notifications()
    if reload and not self.stopping then
      local fine, n = pcall(self.load_jobs, self)
      if fine then self:log("reloaded (%s): %d scheduled job(s)", reload, n)
      else self:log("reload (%s) failed: %s; the jobs as they were stay scheduled", reload, tostring(n)) end
    end
    self:update_metrics()
  end
  self:log("stopped")
end

-- The daemon lock of a state directory: "daemon.lock" in it, holding the
-- pid and start time of the daemon that has it.
function M.lock_path(state_dir)
  return state_dir .. "/daemon.lock"
end

-- M.daemon{ state_dir =, jobs_dir =, argv0 =, max_parallel =, grace =,
-- timezone =, metrics = } -> exit status.  The whole life of `moonbak daemon`.
function M.daemon(opts)
  local lock_mod = require "moonbak.lock"
  local say = function(fmt, ...) io.stderr:write(("moonbak daemon: " .. fmt .. "\n"):format(...)) end
  if not sys.mkdirs(opts.state_dir, 448) then
    say("cannot create the state directory %s", opts.state_dir)
    return 1
  end
  local started = state_mod.timestamp()
  local lock, lerr, holder = lock_mod.acquire(M.lock_path(opts.state_dir),
                                              ("pid %d\nsince %s\n"):format(sys.pid(), started))
  if not lock then
    if holder then
      local pid = holder:match("pid (%d+)")
      local since = holder:match("since (%S+)")
      say("another daemon runs on state %s: pid %s%s", opts.state_dir, pid or "?",
          since and (", since " .. since) or "")
      return 2
    end
    say("%s", lerr) -- the state directory cannot be used: not another daemon
    return 1
  end
  local st, serr = state_mod.open(opts.state_dir)
  if not st then
    say("%s", serr)
    lock:release()
    return 1
  end
  local sup, uerr = require("moonbak.supervisor").open { watch = opts.jobs_dir }
  if not sup then
    say("%s", uerr)
    st:close()
    lock:release()
    return 1
  end
  local d = M.new {
    state = st, state_dir = opts.state_dir, jobs_dir = opts.jobs_dir, supervisor = sup,
    argv0 = opts.argv0, max_parallel = opts.max_parallel, grace = opts.grace,
    timezone = opts.timezone, metrics = opts.metrics,
  }
  local ok, err = pcall(function()
    local n = st:mark_interrupted()
    d:log("started: pid %d, state %s, jobs %s, max_parallel %d%s", sys.pid(), opts.state_dir,
          opts.jobs_dir, d.max_parallel, n > 0 and (", %d dead run(s) marked interrupted"):format(n) or "")
    d:log("%d scheduled job(s)", d:load_jobs())
    -- runs found dead since yesterday (here, or by any command that opened
    -- the state first) that nobody was told of: a power loss mid-backup
    for _, e in ipairs(st:unnotified_interrupted(state_mod.timestamp(d.now() - 86400))) do
      d:recorded_outcome(e.job, e.id)
    end
    d:loop()
  end)
  if not ok then
    -- a daemon that cannot go on must not leave its runs behind
    d:log("fatal: %s", tostring(err))
    for pid in pairs(d.running) do sup:kill(pid, "TERM") end
  end
  sup:close()
  st:close()
  lock:release()
  return ok and 0 or 1
end

return M
