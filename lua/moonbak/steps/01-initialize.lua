-- 01-initialize: tell the notifiers that want it that the run starts,
-- resolve references (secrets), then check that the source answers and
-- that every storage is reachable, before any byte moves.
local leftovers = require "moonbak.leftovers"
local notify = require "moonbak.notify"
local preflight = require "moonbak.preflight"

-- Notifiers resolve their own references when they send: a notifier
-- whose secret is missing fails its deliveries, never the backup.
local function resolve(ctx)
  local resolved, err = preflight.resolve(ctx.job, ctx.state, ctx.redactor.add)
  if not resolved then error(err, 0) end
  ctx.resolved = resolved -- holds secret values: never logged, never stored
end

local function open_storages(ctx)
  ctx.storages = {}
  for _, spec in ipairs(ctx.resolved.storage) do
    local handle, err = preflight.open_storage(spec)
    if handle then
      ctx.storages[#ctx.storages + 1] = { name = spec.name, spec = spec, handle = handle }
      ctx:defer(function() handle:close() end)
    else
      ctx.failures[#ctx.failures + 1] = { storage = spec.name, error = err }
      ctx:log("error", err)
    end
  end
  if #ctx.storages == 0 then error("no storage is reachable: " .. ctx.failures[1].error, 0) end
end

-- What runs of this job killed before they finished left on the storages
-- (see leftovers.rules: at once for runs of this state, after a day for
-- what another machine may still be writing).  Never fails the run.
local function sweep_leftovers(ctx)
  local ok_rules, rules = pcall(leftovers.rules, ctx.state, ctx.job.name, ctx.execution.started_at)
  if not ok_rules then
    ctx:log("warning", ("could not sweep leftovers of earlier runs: %s"):format(rules))
    return
  end
  local log = function(level, message) ctx:log(level, message) end
  for _, st in ipairs(ctx.storages) do
    local ok, removed, problems = pcall(leftovers.sweep, ctx.job.name, st.name, st.handle, rules, log)
    if not ok then problems = { removed } end
    for _, p in ipairs(problems) do
      ctx:log("warning", ("could not sweep leftovers of earlier runs: %s"):format(p))
    end
  end
end

return function(ctx)
  notify.notify_run(ctx, "start")
  resolve(ctx)
  local ok, err = preflight.check_source(ctx.resolved.source, ctx.state and ctx.state:temp_dir())
  if not ok then error(err, 0) end
  ctx:log("info", ("source %s is reachable"):format(ctx.job.source.type))
  open_storages(ctx)
  sweep_leftovers(ctx)
end
