-- 04-completion: always runs.  Releases what the run holds (temporary
-- files, handles, half-written uploads), decides the outcome, applies
-- retention, and tells the notifiers (within their time budget; what they
-- answer is logged and recorded, never changes the outcome).
local notify = require "moonbak.notify"

local function cleanup(ctx)
  for i = #ctx.cleanups, 1, -1 do
    local ok, err = pcall(ctx.cleanups[i])
    if not ok then ctx:log("warning", "cleanup: " .. ctx:error_text(err)) end
  end
  ctx.cleanups = {}
end

local function outcome(ctx)
  if ctx.error then return ctx.cancelled and "cancelled" or "failed", ctx.error end
  if #ctx.failures > 0 then
    local names = {}
    for _, f in ipairs(ctx.failures) do names[#names + 1] = f.storage .. ": " .. f.error end
    return "partial", ctx.redactor.redact("some storages failed: " .. table.concat(names, "; "))
  end
  return "success"
end

-- Only a run that stored its backup everywhere prunes older ones: a failed
-- or partial run never deletes anything.
local function apply_retention(ctx)
  if ctx.status ~= "success" or not ctx.job.retention then return end
  local removed, failures = require("moonbak.retention").prune(ctx.resolved, {
    state = ctx.state, protect = ctx.backup_id,
    log = function(level, message) ctx:log(level, message) end })
  ctx.metadata.pruned = #removed
  for _, f in ipairs(failures) do ctx:log("warning", "retention: " .. f) end
end

return function(ctx)
  cleanup(ctx)
  ctx.status, ctx.status_message = outcome(ctx)
  -- the backup is stored whatever pruning does: an error there is a warning
  local ok, err = pcall(apply_retention, ctx)
  if not ok then ctx:log("warning", "retention: " .. tostring(err)) end
  -- the runner records the outcome once completion is done
  ctx:log(ctx.status == "success" and "info" or "error", ("finished: %s"):format(ctx.status))
  notify.notify_run(ctx, notify.event_name(ctx.status))
end
