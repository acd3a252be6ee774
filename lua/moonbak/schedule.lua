-- Scheduling: when a job runs next.  The cron arithmetic and the time zones
-- are C (moonbak.cron); what the daemon does with a fire time (claims,
-- overlap, catch-up) is policy, and belongs here.
local cron = require "moonbak.cron"

local M = {}

-- What the daemon runs on a job's schedules, in this order: its backup
-- (schedule), its verification (verify.schedule), its restore drill
-- (drill.schedule).  Each kind has fire times of its own.
M.kinds = { "backup", "verify", "drill" }

-- The cron expression of job's schedule of kind (default "backup"), or nil.
function M.schedule_of(job, kind)
  if kind == nil or kind == "backup" then return job.schedule end
  local part = job[kind]
  return type(part) == "table" and part.schedule or nil
end

-- The next fire instant of job (UTC epoch seconds) strictly after `after`
-- (default: now), its schedule (of kind, default "backup") read in its
-- timezone (default_zone, else UTC, when it names none).  nil for a job
-- without that schedule; nil, message when the schedule or the zone is
-- refused.
function M.next_run(job, after, default_zone, kind)
  local expr = M.schedule_of(job, kind)
  if not expr then return nil end
  local times, err = cron.next(expr, { after = after or os.time(),
                                       timezone = job.timezone or default_zone or "UTC" })
  if not times then return nil, err end
  return times[1]
end

-- What the daemon does with job: "active"; "paused" (moonbak pause, with
-- the reason given: every kind is), "disabled" (enabled = false in its
-- file) or "manual" (no schedule of any kind): never run by the daemon.
-- st: the state database, or nil.
function M.state_of(job, st)
  local scheduled = false
  for _, kind in ipairs(M.kinds) do scheduled = scheduled or M.schedule_of(job, kind) ~= nil end
  if not scheduled then return "manual" end
  if job.enabled == false then return "disabled" end
  local row = st and st:job_schedule(job.name)
  if row and row.paused_at then return "paused", row.pause_reason end
  return "active"
end

-- UTC epoch seconds as YYYY-MM-DDTHH:MM:SSZ ("!": UTC, whatever TZ says).
function M.iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

-- Days since 1970-01-01 of a proleptic Gregorian date.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * ((m + 9) % 12) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

-- YYYY-MM-DDTHH:MM[:SS]Z (UTC) or epoch seconds -> epoch seconds; nil for
-- anything else, a date that does not exist (2026-02-30) included.
function M.parse_iso(text)
  if text:match("^%-?%d+$") then return math.tointeger(tonumber(text)) end
  local y, mo, d, h, mi, s = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):?(%d?%d?)Z$")
  if not y then return nil end
  if s == "" then s = "0" elseif #s ~= 2 then return nil end
  y, mo, d, h, mi, s = tonumber(y), tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or s > 59 then return nil end
  local t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s
  if os.date("!%Y-%m-%d", t) ~= ("%04d-%02d-%02d"):format(y, mo, d) then return nil end
  return t
end

return M
