-- Retention: which backups a policy keeps, and pruning the rest.
--
-- Policy: { keep_last = N, daily = N, weekly = N, monthly = N, yearly = N }.
-- keep_last keeps the N newest backups.  Each period rule walks the backups
-- from the newest and keeps the newest one of each period (UTC day, ISO
-- week, month, year) until it holds N periods.  A backup kept by any rule
-- stays; a locked backup always stays, and so does the newest backup (a
-- policy can never leave a job with nothing).  Periods are counted in UTC.
local M = {}

local backup_time = require("moonbak.artifact").backup_time
M.backup_time = backup_time

-- In the order reasons are listed.
local period_rules = {
  { "daily", "!%Y-%m-%d" },
  { "weekly", "!%G-W%V" },
  { "monthly", "!%Y-%m" },
  { "yearly", "!%Y" },
}

-- retention.plan(backups, policy [, opts]) -> keep, remove (lists of the
-- same entries, newest first), and reasons[entry] = the list of why a kept
-- entry stays, in this order: "undated" or "future", "locked", "current",
-- "newest", "keep_last", "daily 2026-11-28", "weekly 2026-W48",
-- "monthly 2026-11", "yearly 2026".
-- backups: entries with backup_id (and locked), in any order.
-- opts.now (seconds; default: now): a backup dated after it was made by a
-- clock that was wrong; it is kept ("future") and not counted, so that it
-- can never push out the backups made since.  opts.protect: the id of the
-- backup of the run applying the policy, which it never removes.  The
-- newest backup not dated in the future is kept whatever the policy says
-- ("newest"): every backup in a storage is a complete one (its sidecar is
-- written last), so it is the newest successful backup.
function M.plan(backups, policy, opts)
  opts = opts or {}
  local now = opts.now or require("moonbak.sys").now()
  -- by time, newest first: ids of both forms sort as text only among
  -- themselves ("...T030405Z" is older than "...T030405.250Z-...")
  local sorted, times = {}, {}
  for _, b in ipairs(backups) do
    sorted[#sorted + 1] = b
    times[b] = backup_time(b.backup_id) or math.huge -- undated first: kept anyway
  end
  table.sort(sorted, function(a, b)
    if times[a] ~= times[b] then return times[a] > times[b] end
    return a.backup_id > b.backup_id
  end)
  local reasons = {}
  local function keep(b, why)
    reasons[b] = reasons[b] or {}
    table.insert(reasons[b], why)
  end
  local counted = {}
  for _, b in ipairs(sorted) do
    local t = backup_time(b.backup_id)
    if not t then
      keep(b, "undated") -- never delete what cannot be dated
    elseif t > now then
      keep(b, "future")
    else
      counted[#counted + 1] = b
    end
    if b.locked then keep(b, "locked") end
    if opts.protect and b.backup_id == opts.protect then keep(b, "current") end
  end
  if counted[1] then keep(counted[1], "newest") end
  for i, b in ipairs(counted) do
    if i <= (policy.keep_last or 0) then keep(b, "keep_last") end
  end
  for _, rule in ipairs(period_rules) do
    local name, format = rule[1], rule[2]
    local wanted, seen, count = policy[name] or 0, {}, 0
    for _, b in ipairs(counted) do
      if count >= wanted then break end
      local period = os.date(format, math.floor(backup_time(b.backup_id)))
      if not seen[period] then
        seen[period] = true
        count = count + 1
        keep(b, name .. " " .. period)
      end
    end
  end
  local kept, removed = {}, {}
  for _, b in ipairs(sorted) do
    if reasons[b] then kept[#kept + 1] = b else removed[#removed + 1] = b end
  end
  return kept, removed, reasons
end

-- Removes one backup from its storage: the sidecar first, so that a
-- failure half-way never leaves something that looks like a backup.
function M.remove(handle, meta)
  local ok, err = handle:remove(meta.path .. require("moonbak.artifact").sidecar_suffix)
  if not ok then return nil, err end
  ok, err = handle:remove(meta.path)
  if not ok then return nil, err end
  return true
end

-- retention.prune(job, { dry_run =, state =, log = fn, protect = id })
-- -> removed, failures, decisions
-- job must be resolved (storage credentials).  Each storage is pruned on
-- its own: a policy counts the backups that storage holds.  The locks are
-- the sidecars' (backups.list reads them).  decisions: for every backup
-- listed, storage by storage and newest first, { backup_id, storage, path,
-- keep = boolean, reasons = { ... } } (why it stays; empty when it goes).
function M.prune(job, opts)
  opts = opts or {}
  local backups = require "moonbak.backups"
  local storage = require "moonbak.storage"
  local log = opts.log or function() end
  local removed, failures, decisions = {}, {}, {}
  for _, spec in ipairs(job.storage) do
    local list, problems = backups.list(job, spec.name)
    for _, p in ipairs(problems) do failures[#failures + 1] = p end
    local _, drop, reasons = M.plan(list, job.retention, { protect = opts.protect, now = opts.now })
    for _, meta in ipairs(list) do
      decisions[#decisions + 1] = { backup_id = meta.backup_id, storage = spec.name, path = meta.path,
                                    keep = reasons[meta] ~= nil, reasons = reasons[meta] or {} }
      for _, why in ipairs(reasons[meta] or {}) do
        if why == "future" then
          log("warning", ("backup %s on %s is dated after now (made while a clock was wrong?): kept, not counted")
            :format(meta.backup_id, spec.name))
        end
      end
    end
    local handle, err = #drop > 0 and not opts.dry_run and storage.open(spec)
    if #drop > 0 and not opts.dry_run and not handle then
      failures[#failures + 1] = err
    else
      for _, meta in ipairs(drop) do
        local ok, rerr = true, nil
        if not opts.dry_run then ok, rerr = M.remove(handle, meta) end
        if ok then
          removed[#removed + 1] = meta
          if opts.state and not opts.dry_run then
            opts.state:remove_from_catalog(job.name, meta.backup_id, spec.name)
          end
          log("info", ("%s backup %s on %s"):format(opts.dry_run and "would remove" or "removed",
                                                   meta.backup_id, spec.name))
        else
          failures[#failures + 1] = rerr
          log("error", rerr)
        end
      end
      if handle then handle:close() end
    end
  end
  return removed, failures, decisions
end

return M
