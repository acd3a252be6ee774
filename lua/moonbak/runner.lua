-- The runner: passes one context through the job's steps, records it all.
--
-- The execution row is created here, before the first step, rather than in
-- 01-initialize: a job may replace initialize with steps of its own, and a
-- failure in any step must still be recorded.  Every step runs under a
-- protected call; on the first error the remaining steps are skipped, but
-- completion (cleanup, the final status) always runs.
local preflight = require "moonbak.preflight"
local ref = require "moonbak.ref"
local state_mod = require "moonbak.state"
local sys = require "moonbak.sys"

local M = {}

M.default_steps = { "initialize", "dump", "upload", "completion" }

local step_modules = {
  initialize = "moonbak.steps.01-initialize",
  dump = "moonbak.steps.02-dump",
  upload = "moonbak.steps.03-upload",
  completion = "moonbak.steps.04-completion",
}

local Context = {}
Context.__index = Context

-- ctx:log(level, message): into the execution log, redacted, and to the
-- console when the run is interactive.
-- A log line the state database refused is still shown and kept in
-- ctx.logs; the first such failure is reported once.
function Context:log(level, message)
  message = self.redactor.redact(message)
  local entry = { time = state_mod.timestamp(), level = level, step = self.step, message = message }
  self.logs[#self.logs + 1] = entry
  if self.state and self.execution and not self.log_error then
    local ok, err = pcall(self.state.add_log, self.state, self.execution.id, level, self.step, message)
    if not ok then
      self.log_error = self.state:explain(err, ("the log of execution %d could not be recorded")
        :format(self.execution.id))
      self:log("error", self.log_error)
    end
  end
  if self.on_log then self.on_log(entry) end
end

-- What the dump tool said on stderr, into the execution log (redacted like
-- every log line).  Called once its stream has been pumped.
function Context:log_dump_stderr()
  local said = self.dump_source and self.dump_source:metadata().stderr
  if said and said:match("%S") then
    self:log("warning", ("%s said: %s"):format(self.job.source.type, (said:gsub("%s+$", ""))))
  end
end

-- The source's options for the C adapter (moonbak.preflight.source_spec),
-- with the run's private temporary directory.
function Context:source_spec()
  return preflight.source_spec(self.resolved.source, self.state and self.state:temp_dir())
end

-- Registers a function that completion calls, newest first, whatever happened.
function Context:defer(fn)
  self.cleanups[#self.cleanups + 1] = fn
end

local function new_context(job, opts)
  return setmetatable({
    job = job,
    trigger = opts.trigger or "manual",
    claimed = opts.claimed, -- the daemon's claim (an execution id) this run takes over
    state = opts.state,
    on_log = opts.on_log,
    progress_label = opts.progress,
    logs = {},
    metadata = {},
    artifacts = {},
    failures = {},
    cleanups = {},
    redactor = ref.redactor(),
    status = "running",
  }, Context)
end

-- Step functions in order; completion is taken out and always runs last.
local function resolve_steps(job)
  local list, completion = {}, require(step_modules.completion)
  for _, step in ipairs(job.steps or M.default_steps) do
    if type(step) == "function" then
      list[#list + 1] = { name = "custom", fn = step }
    elseif step ~= "completion" then
      list[#list + 1] = { name = step, fn = require(step_modules[step]) }
    end
  end
  return list, { name = "completion", fn = completion }
end

-- What a step raised, as a message: error("text"), error({ message = }),
-- or anything else said plainly instead of "table: 0x...".
local function error_message(err)
  if type(err) == "string" then return err end
  local mt = getmetatable(err)
  if mt and mt.__tostring then
    local ok, text = pcall(tostring, err) -- its __tostring may fail too
    if ok and type(text) == "string" then return text end
  end
  if type(err) == "table" and type(err.message) == "string" then return err.message end
  if type(err) == "number" or type(err) == "boolean" then return ("error %s"):format(tostring(err)) end
  return ("a step raised a %s value instead of a message (use error(\"what went wrong\"))"):format(type(err))
end

-- ctx:error_text(err): what a step or a cleanup raised, as a message.
function Context:error_text(err) return error_message(err) end

local function traceback(err)
  local message = error_message(err)
  return { message = message, traceback = debug.traceback(message, 2) }
end

local SIGALRM = 14 -- the signal the time limit cancels with (sys.cancel_after)

local function run_step(ctx, step)
  ctx.step = step.name
  local started = sys.monotonic()
  -- A step busy in Lua (a custom step's loop) still stops when the run is
  -- cancelled or times out; completion itself always runs to its end.
  if step.name ~= "completion" then
    debug.sethook(function()
      local signal = sys.interrupted()
      if signal then
        debug.sethook()
        error(("interrupted by signal %d"):format(signal), 2)
      end
    end, "", 1000000)
  end
  local ok, err = xpcall(step.fn, traceback, ctx)
  debug.sethook()
  ctx.metadata.durations = ctx.metadata.durations or {}
  ctx.metadata.durations[step.name] = sys.monotonic() - started
  if not ok then
    ctx.error = ctx.redactor.redact(err.message)
    ctx.failed_step = step.name
    local signal = sys.interrupted()
    if signal == SIGALRM then
      -- the job's time limit: a failure, not an operator's cancel
      local why = ctx.error:find("signal 14", 1, true) and "" or (": " .. ctx.error)
      ctx.error = ("timed out after %d s (the job's timeout)%s"):format(ctx.job.timeout, why)
    else
      ctx.cancelled = signal ~= nil
    end
    ctx:log("error", err.message)
    if os.getenv("MOONBAK_DEBUG") then ctx:log("debug", err.traceback) end
  end
  return ok
end

-- A step that calls os.exit would end the process with status 0, the
-- execution left "running" and the dump tool behind: inside a run, os.exit
-- raises instead, so the run fails and completion cleans up.
local function forbid_exit(ctx)
  local real_exit = os.exit
  os.exit = function()
    error(("os.exit called in step %s: a step cannot end the process (raise an error to fail the run)")
      :format(ctx.step or "?"), 2)
  end
  return function() os.exit = real_exit end
end

-- One run of a job at a time on one state: the job's lock, or nil and a
-- message naming the run that holds it.
local function lock_job(job, state)
  local lock, err, holder = state:lock_job(job.name)
  if lock then return lock end
  if holder then
    local running = state:running_execution(job.name)
    if running then
      return nil, ("job %s is already running: execution %d (pid %s, started %s)")
        :format(job.name, running.id, tostring(running.pid), running.started_at)
    end
    return nil, ("job %s is already running (%s)"):format(job.name, holder ~= "" and holder or "starting")
  end
  return nil, ("job %s: %s"):format(job.name, err)
end

local function start(ctx)
  local st = ctx.state
  if not st then
    ctx.execution = { id = 0, started_at = state_mod.timestamp() }
    return true
  end
  local lock, err = lock_job(ctx.job, st)
  if not lock then
    -- a fire time the daemon claimed while the job runs elsewhere
    -- (a manual run): recorded, not dropped
    if ctx.claimed then pcall(st.finish_execution, st, ctx.claimed, "skipped", err) end
    return nil, err
  end
  ctx.lock = lock
  local taken
  local ok, serr = pcall(function()
    st:remember_job(ctx.job)
    if ctx.claimed then
      ctx.execution, taken = st:take_claim(ctx.claimed, ctx.job.name)
    else
      ctx.execution = st:start_execution(ctx.job.name, ctx.trigger)
    end
  end)
  if not ok or not ctx.execution then
    lock:release()
    return nil, ok and taken or st:explain(serr, "the execution could not be recorded")
  end
  lock:update(("pid %d, execution %d, started %s\n"):format(sys.pid(), ctx.execution.id,
                                                          ctx.execution.started_at))
  return true
end

-- Records the outcome; a state database that fails now must not hide that
-- the backup itself is stored (the sidecars are written): the message says
-- which record is missing.
local function record_outcome(ctx)
  if not ctx.state then return end
  local ok, err = pcall(ctx.state.finish_execution, ctx.state, ctx.execution.id, ctx.status,
                        ctx.status_message or ctx.error, ctx.metadata)
  if not ok then
    ctx.state_error = ctx.state:explain(err, ("the result of execution %d (%s) could not be recorded")
      :format(ctx.execution.id, ctx.status))
    ctx:log("error", ctx.state_error)
  end
end

-- The metrics file of the job (metrics = PATH, or MOONBAK_METRICS), once
-- the outcome is recorded.  The run is over: a file that cannot be written
-- is a warning on stderr, and changes neither the run's status nor its
-- exit status.  Without jobs_dir (nor MOONBAK_JOBS) the file holds this
-- job only.
local function update_metrics(ctx, jobs_dir)
  local metrics = require "moonbak.metrics"
  if not ctx.state or not metrics.path_of(ctx.job) then return end
  local env_dir = os.getenv("MOONBAK_JOBS")
  local ok, done, err = pcall(metrics.update, ctx.state, {
    jobs_dir = jobs_dir or (env_dir ~= "" and env_dir or nil), jobs = { ctx.job } })
  if not ok or not done then
    io.stderr:write(("moonbak: warning: %s: the metrics file was not updated: %s\n")
      :format(ctx.job.name, ctx.redactor.redact(tostring(ok and err or done))))
  end
end

-- runner.run(job, { state =, trigger =, claimed =, on_log =, progress = label,
--                   jobs_dir = }) -> ok, ctx
-- A run refused before it started (the job is already running, the state
-- database cannot record it) returns false with ctx.status = "refused".
function M.run(job, opts)
  opts = opts or {}
  -- The caller's hook (the console's, which stops a statement on Ctrl-C)
  -- is set aside from the start, before the execution is recorded running
  -- (raising after that would leave it so): the steps have their own, and
  -- completion runs to its end.
  local caller_hook = table.pack(debug.gethook())
  debug.sethook()
  local function restore_caller_hook()
    if type(caller_hook[1]) == "function" then debug.sethook(table.unpack(caller_hook, 1, 3)) end
  end
  local ctx = new_context(job, opts)
  local started, why = start(ctx)
  if not started then
    ctx.status, ctx.error = "refused", why
    restore_caller_hook()
    return false, ctx
  end
  ctx.started_at = ctx.execution.started_at
  local allow_exit = forbid_exit(ctx)
  if job.timeout then
    sys.catch_interrupts()
    local armed, terr = sys.cancel_after(job.timeout)
    if not armed then
      -- the run goes on without its own limit (the daemon still enforces it)
      ctx:log("warning", ("timeout = %d cannot be enforced by the run itself: %s"):format(job.timeout, terr))
    end
  end
  local steps, completion = resolve_steps(job)
  for _, step in ipairs(steps) do
    if not run_step(ctx, step) then break end
  end
  if not run_step(ctx, completion) then
    -- completion itself failed, perhaps before it recorded anything
    ctx.status = "failed"
  end
  if job.timeout then sys.cancel_after(0) end
  allow_exit()
  record_outcome(ctx)
  if ctx.lock then ctx.lock:release() end
  update_metrics(ctx, opts.jobs_dir)
  restore_caller_hook()
  return ctx.status == "success", ctx
end

return M
