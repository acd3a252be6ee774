-- The runner: passes one context through the job's steps, records it all.
--
-- The execution row is created here, before the first step, rather than in
-- 01-initialize: a job may replace initialize with steps of its own, and a
-- failure in any step must still be recorded.  Every step runs under a
-- protected call; on the first error the remaining steps are skipped, but
-- completion (cleanup, the final status) always runs.
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
function Context:log(level, message)
  message = self.redactor.redact(message)
  local entry = { time = state_mod.timestamp(), level = level, step = self.step, message = message }
  self.logs[#self.logs + 1] = entry
  if self.state and self.execution then
    self.state:add_log(self.execution.id, level, self.step, message)
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

-- The source's options for the C adapter: resolved, with the run's private
-- temporary directory (option files with passwords go there) and the
-- command's env table as "NAME=value" lines.
function Context:source_spec()
  local spec = {}
  for k, v in pairs(self.resolved.source) do spec[k] = v end
  if type(spec.env) == "table" then
    local lines = {}
    for name, value in pairs(spec.env) do lines[#lines + 1] = name .. "=" .. tostring(value) end
    table.sort(lines)
    spec.env = lines
  end
  if self.state then spec.temp_dir = self.state:temp_dir() end
  return spec
end

-- Registers a function that completion calls, newest first, whatever happened.
function Context:defer(fn)
  self.cleanups[#self.cleanups + 1] = fn
end

local function new_context(job, opts)
  return setmetatable({
    job = job,
    trigger = opts.trigger or "manual",
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

local function traceback(err)
  if type(err) ~= "string" then err = tostring(err) end
  return { message = err, traceback = debug.traceback(err, 2) }
end

local function run_step(ctx, step)
  ctx.step = step.name
  local started = sys.monotonic()
  local ok, err = xpcall(step.fn, traceback, ctx)
  ctx.metadata.durations = ctx.metadata.durations or {}
  ctx.metadata.durations[step.name] = sys.monotonic() - started
  if not ok then
    ctx.error = ctx.redactor.redact(err.message)
    ctx.failed_step = step.name
    ctx.cancelled = sys.interrupted() ~= nil
    ctx:log("error", err.message)
    if os.getenv("MOONBAK_DEBUG") then ctx:log("debug", err.traceback) end
  end
  return ok
end

-- runner.run(job, { state =, trigger =, on_log =, progress = label }) -> ok, ctx
function M.run(job, opts)
  opts = opts or {}
  local ctx = new_context(job, opts)
  if ctx.state then
    ctx.state:remember_job(job)
    ctx.execution = ctx.state:start_execution(job.name, ctx.trigger)
  else
    ctx.execution = { id = 0, started_at = state_mod.timestamp() }
  end
  ctx.started_at = ctx.execution.started_at
  local steps, completion = resolve_steps(job)
  for _, step in ipairs(steps) do
    if not run_step(ctx, step) then break end
  end
  if not run_step(ctx, completion) then
    -- completion itself failed, perhaps before it recorded anything
    ctx.status = "failed"
    if ctx.state then ctx.state:finish_execution(ctx.execution.id, "failed", ctx.error, ctx.metadata) end
  end
  return ctx.status == "success", ctx
end

return M
