#!/usr/bin/env -S moonbak script
-- weekly-report.lua: what the backups did this week, job by job, from the
-- state database.
--
-- For each job of the jobs directory it prints the last successful backup
-- (when, which, how big), the stored sizes of the last successful backups
-- with the change from the oldest to the newest (a database that suddenly
-- shrinks, or a dump that doubles, shows here first), the runs of the
-- period by outcome, and every missed run: fire times the daemon skipped,
-- and runs that failed, were cancelled or died.
--
-- Run it, say every Monday from cron, mailing its output:
--   moonbak script examples/weekly-report.lua --jobs /etc/moonbak/jobs --state /var/lib/moonbak
-- Options:
--   --jobs DIR     the jobs directory (default: $MOONBAK_JOBS, else ./jobs)
--   --state DIR    the state directory (default: $MOONBAK_STATE, else moonbak's default)
--   --days N       the period, in days back from now (default 7)
--   --last N       how many successful backups the size trend shows (default 5)
--   --bytes        sizes in bytes rather than KiB, MiB ...
-- Exit status: 0; 1 when a job had no successful run in the period or a job
-- file is broken (the report says which: "needs attention"); 2 bad usage.
--
-- What it needs: only moonbak and its state database (it reads, never
-- writes, and never touches the storages: the sizes are those recorded
-- when each backup was made).
local mb = require "moonbak"
local cjson = require "cjson"

local options = { jobs = "value", state = "value", days = "number", last = "number", bytes = "flag" }

local function parse(argv)
  local o, i = { days = 7, last = 5 }, 1
  while i <= #argv do
    local name = argv[i]:match("^%-%-([%w-]+)$")
    local kind = name and options[name]
    if not kind then return nil, ("unknown argument %q"):format(argv[i]) end
    if kind == "flag" then
      o[name] = true
    else
      local value = argv[i + 1]
      if value == nil then return nil, ("--%s needs a value"):format(name) end
      if kind == "number" then
        value = math.tointeger(tonumber(value))
        if not value or value < 1 then return nil, ("--%s: expected a whole number, 1 or more"):format(name) end
      end
      o[name] = value
      i = i + 1
    end
    i = i + 1
  end
  return o
end

local function size_text(o, n)
  if not n then return "-" end
  return o.bytes and ("%d B"):format(n) or mb.units.size(n)
end

local function metadata(e)
  local ok, m = pcall(cjson.decode, e.metadata or "")
  return ok and type(m) == "table" and m or {}
end

-- A time as the state database records it, to the second.
local function when(ts)
  return (tostring(ts or "-"):gsub("%.%d+Z$", "Z"))
end

local function first_line(text)
  return (tostring(text or ""):match("[^\n]*"))
end

local function print_last_success(o, st, job)
  local e = st:last_finished(job.name, { "success" })
  if not e then
    print("  last success  never")
    return
  end
  print(("  last success  %s  backup %s  %s stored"):format(when(e.finished_at), e.backup_id or "-",
                                                          size_text(o, metadata(e).size)))
end

-- The stored sizes of the last successful backups, oldest first, and the
-- change from the first to the last of them.
local function print_trend(o, st, job)
  local runs = st:finished_executions(job.name, { statuses = { "success" }, limit = o.last })
  local sizes = {}
  for i = #runs, 1, -1 do sizes[#sizes + 1] = metadata(runs[i]).size end
  if #sizes < 2 then
    print(("  size trend    %s"):format(#sizes == 1 and size_text(o, sizes[1]) .. " (one backup)" or "-"))
    return
  end
  local shown = {}
  for i, n in ipairs(sizes) do shown[i] = size_text(o, n) end
  local first, last = sizes[1], sizes[#sizes]
  local change = "-"
  if first and last then
    local delta = last - first
    change = ("%s%s"):format(delta < 0 and "-" or "+", size_text(o, math.abs(delta)))
    if first > 0 then change = change .. (" (%+.1f%%)"):format(delta * 100 / first) end
  end
  print(("  size trend    %s (oldest first): %s over %d backups"):format(table.concat(shown, ", "),
                                                                          change, #sizes))
end

local missed_statuses = { "skipped", "failed", "cancelled", "interrupted" }

-- The period's runs by outcome, then every missed one; returns the number
-- of successful runs in the period.
local function print_runs(o, st, job, since)
  local runs = st:finished_executions(job.name, { since = since, limit = 10000 })
  local counts = {}
  for _, e in ipairs(runs) do counts[e.status] = (counts[e.status] or 0) + 1 end
  local parts = {}
  for _, status in ipairs(mb.state.final_statuses) do
    if counts[status] then parts[#parts + 1] = ("%d %s"):format(counts[status], status) end
  end
  print(("  runs          %d in %d days%s"):format(#runs, o.days, #parts > 0 and ": " .. table.concat(parts, ", ") or ""))
  local missed = st:finished_executions(job.name, { statuses = missed_statuses, since = since, limit = 10000 })
  if #missed == 0 then print("  missed        none") end
  for i, e in ipairs(missed) do
    print(("  %-12s  %s  %-11s  %s"):format(i == 1 and "missed" or "", when(e.scheduled_for or e.started_at),
                                            e.status, first_line(e.error)))
  end
  return counts.success or 0
end

local function main(argv)
  local o, err = parse(argv)
  if not o then
    io.stderr:write("weekly-report: ", err, "\n",
                    "usage: moonbak script weekly-report.lua [--jobs DIR] [--state DIR] [--days N] [--last N] [--bytes]\n")
    return 2
  end
  local defaults = require("moonbak.clilib").settings({})
  local jobs_dir, state_dir = o.jobs or defaults.jobs_dir, o.state or defaults.state_dir
  local jobs, broken = mb.job.load_dir(jobs_dir)
  if not jobs then io.stderr:write("weekly-report: ", jobs_dir, ": ", broken, "\n"); return 1 end
  local st <close>, serr = mb.state.open(state_dir)
  if not st then io.stderr:write("weekly-report: ", serr, "\n"); return 1 end
  local now = mb.sys.now()
  local since = mb.state.timestamp(now - o.days * 86400)
  print(("moonbak report: %d jobs, the last %d days (since %s)"):format(#jobs, o.days, since))
  table.sort(jobs, function(a, b) return a.name < b.name end)
  local attention = {}
  for _, job in ipairs(jobs) do
    print("")
    print(job.name)
    print_last_success(o, st, job)
    print_trend(o, st, job)
    if print_runs(o, st, job, since) == 0 then attention[#attention + 1] = job.name end
  end
  for _, b in ipairs(broken) do
    print("")
    print(("broken job file %s: %s"):format(b.file, b.error))
    attention[#attention + 1] = b.file
  end
  print("")
  if #attention > 0 then
    print(("needs attention (no successful run in %d days, or a broken file): %s"):format(o.days,
          table.concat(attention, ", ")))
    return 1
  end
  print("every job has a successful run in the period")
  return 0
end

return main({ ... })
