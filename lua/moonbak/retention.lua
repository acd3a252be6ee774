-- Retention: which backups a policy keeps, and pruning the rest.
--
-- Policy: { keep_last = N, daily = N, weekly = N, monthly = N, yearly = N }.
-- keep_last keeps the N newest backups.  Each period rule walks the backups
-- from the newest and keeps the newest one of each period (UTC day, ISO
-- week, month, year) until it holds N periods.  A backup kept by any rule
-- stays; a locked backup always stays.  Periods are counted in UTC.
local M = {}

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
-- days_from_civil): os.time would read the fields as local time.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

-- The UTC time of a backup id (YYYYMMDDTHHMMSSZ).
local function backup_time(id)
  local y, mo, d, h, mi, s = id:match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)Z$")
  if not y then return nil end
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
         + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
end
M.backup_time = backup_time

local period_formats = {
  daily = "!%Y-%m-%d",
  weekly = "!%G-W%V",
  monthly = "!%Y-%m",
  yearly = "!%Y",
}

-- retention.plan(backups, policy) -> keep, remove (lists of the same
-- entries), and reasons[entry] = { "last", "daily", ... } for kept ones.
-- backups: entries with backup_id (and locked), in any order.
function M.plan(backups, policy)
  local sorted = {}
  for _, b in ipairs(backups) do sorted[#sorted + 1] = b end
  table.sort(sorted, function(a, b) return a.backup_id > b.backup_id end)
  local reasons = {}
  local function keep(b, why)
    reasons[b] = reasons[b] or {}
    table.insert(reasons[b], why)
  end
  for i, b in ipairs(sorted) do
    if i <= (policy.keep_last or 0) then keep(b, "last") end
    if b.locked then keep(b, "locked") end
  end
  for rule, format in pairs(period_formats) do
    local wanted, seen, count = policy[rule] or 0, {}, 0
    for _, b in ipairs(sorted) do
      if count >= wanted then break end
      local t = backup_time(b.backup_id)
      local period = t and os.date(format, t)
      if period and not seen[period] then
        seen[period] = true
        count = count + 1
        keep(b, rule)
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

-- retention.prune(job, { dry_run =, state =, log = fn }) -> removed, failures
-- job must be resolved (storage credentials).  Each storage is pruned on
-- its own: a policy counts the backups that storage holds.
function M.prune(job, opts)
  opts = opts or {}
  local backups = require "moonbak.backups"
  local storage = require "moonbak.storage"
  local log = opts.log or function() end
  local removed, failures = {}, {}
  for _, spec in ipairs(job.storage) do
    local list, problems = backups.list(job, spec.name)
    for _, p in ipairs(problems) do failures[#failures + 1] = p end
    local _, drop = M.plan(list, job.retention)
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
  return removed, failures
end

return M
