-- Retention, checked against a reference: thousands of random histories
-- (timestamps spread over years, both id forms, locks, undated ids),
-- random policies (zeros included) and a random `now`, each planned by
-- retention.plan and by a brute-force reference written here with its own
-- calendar arithmetic (no os.date): for each rule, every period that has a
-- backup, the N newest periods, the newest backup of each.
-- Deterministic: the seed is fixed (MOONBAK_PROPERTY_SEED replays another)
-- and printed, so that a failure can be replayed.
local T = dofile("tests/lua/testlib.lua")
local retention = require "moonbak.retention"

local SEED = tonumber(os.getenv("MOONBAK_PROPERTY_SEED")) or 20261129
local CASES = tonumber(os.getenv("MOONBAK_PROPERTY_CASES")) or 3000
print(("# seed %d, %d cases (MOONBAK_PROPERTY_SEED=%d replays them)"):format(SEED, CASES, SEED))

-- The reference's calendar: days since 1970-01-01 <-> proleptic Gregorian
-- dates (H. Hinnant's civil_from_days / days_from_civil).
local function civil_from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  return yoe + era * 400 + (m <= 2 and 1 or 0), m, d
end

local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

-- ISO 8601 week: the week (Monday to Sunday) belongs to the year of its Thursday.
local function iso_week(days)
  local monday_based = (days + 3) % 7 -- 1970-01-01 was a Thursday
  local thursday = days - monday_based + 3
  local year = civil_from_days(thursday)
  return year, (thursday - days_from_civil(year, 1, 1)) // 7 + 1
end

local function periods_of(t)
  local days = math.floor(t) // 86400
  local y, m, d = civil_from_days(days)
  local wy, w = iso_week(days)
  return { daily = ("%04d-%02d-%02d"):format(y, m, d), weekly = ("%04d-W%02d"):format(wy, w),
           monthly = ("%04d-%02d"):format(y, m), yearly = ("%04d"):format(y) }
end

-- The reference's own id reader: both forms, and nil for anything else.
local function time_of(id)
  local y, mo, d, h, mi, s, rest = id:match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)(.*)$")
  if not y then return nil end
  local ms = 0
  if rest ~= "Z" then
    local digits = rest:match("^%.(%d%d%d)Z%-%x%x%x%x%x%x$")
    if not digits then return nil end
    ms = tonumber(digits)
  end
  return days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
         + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) + ms / 1000
end

local function id_at(seconds, millis, old_form)
  local y, m, d = civil_from_days(seconds // 86400)
  local r = seconds % 86400
  local stamp = ("%04d%02d%02dT%02d%02d%02d"):format(y, m, d, r // 3600, r % 3600 // 60, r % 60)
  if old_form then return stamp .. "Z" end
  return ("%s.%03dZ-%06x"):format(stamp, millis, math.random(0, 0xffffff))
end

local rules = { "daily", "weekly", "monthly", "yearly" }

-- The reference plan: entry -> its reasons (a list), nil for one that goes.
local function reference(backups, policy, now, protect)
  local reasons, counted = {}, {}
  local function keep(b, why)
    reasons[b] = reasons[b] or {}
    table.insert(reasons[b], why)
  end
  for _, b in ipairs(backups) do
    local t = time_of(b.backup_id)
    if not t then keep(b, "undated") elseif t > now then keep(b, "future") else counted[#counted + 1] = b end
    if b.locked then keep(b, "locked") end
    if protect == b.backup_id then keep(b, "current") end
  end
  local function newer(a, b)
    local ta, tb = time_of(a.backup_id), time_of(b.backup_id)
    if ta ~= tb then return ta > tb end
    return a.backup_id > b.backup_id
  end
  -- the newest by pairwise comparison, not by sorting
  local newest
  for _, b in ipairs(counted) do
    if not newest or newer(b, newest) then newest = b end
  end
  if newest then keep(newest, "newest") end
  -- keep_last: a backup is kept when fewer than N counted backups are newer
  for _, b in ipairs(counted) do
    local newer_count = 0
    for _, o in ipairs(counted) do
      if o ~= b and newer(o, b) then newer_count = newer_count + 1 end
    end
    if newer_count < (policy.keep_last or 0) then keep(b, "keep_last") end
  end
  for _, rule in ipairs(rules) do
    local best, periods = {}, {}
    for _, b in ipairs(counted) do
      local p = periods_of(time_of(b.backup_id))[rule]
      if not best[p] then periods[#periods + 1] = p end
      if not best[p] or newer(b, best[p]) then best[p] = b end
    end
    table.sort(periods, function(a, b) return a > b end) -- zero-padded: text order is time order
    for i = 1, math.min(policy[rule] or 0, #periods) do
      keep(best[periods[i]], rule .. " " .. periods[i])
    end
  end
  return reasons, newest
end

-- A random history: a span (hours to decades), a density, both id forms,
-- some locks, now and then an undated id; times from 1990 to 2060.
local function random_case()
  local start = math.random(days_from_civil(1990, 1, 1), days_from_civil(2040, 1, 1)) * 86400
  local span = ({ 3600 * 6, 86400 * 3, 86400 * 40, 86400 * 400, 86400 * 365 * 6, 86400 * 365 * 20 })[math.random(6)]
  local backups, seen = {}, {}
  for _ = 1, math.random(0, 40) do
    local seconds = start + math.random(0, span)
    local id = math.random() < 0.03 and ("junk-%d"):format(math.random(1e6))
               or id_at(seconds, math.random(0, 999), math.random() < 0.2)
    if not seen[id] then
      seen[id] = true
      backups[#backups + 1] = { backup_id = id, locked = math.random() < 0.1 }
    end
  end
  local policy = {}
  for _, k in ipairs { "keep_last", "daily", "weekly", "monthly", "yearly" } do
    local r = math.random()
    if r < 0.35 then policy[k] = nil elseif r < 0.55 then policy[k] = 0 else policy[k] = math.random(1, 8) end
  end
  local now = start + math.random(-span // 4, span + span // 4)
  local protect = #backups > 0 and math.random() < 0.2 and backups[math.random(#backups)].backup_id or nil
  return backups, policy, now, protect
end

local function describe(backups, policy, now, protect)
  local ids = {}
  for _, b in ipairs(backups) do ids[#ids + 1] = b.backup_id .. (b.locked and "(locked)" or "") end
  local p = {}
  for k, v in pairs(policy) do p[#p + 1] = k .. "=" .. v end
  table.sort(p)
  return ("policy {%s}, now %d, protect %s, backups %s"):format(table.concat(p, ","), now, tostring(protect),
                                                                table.concat(ids, " "))
end

-- One case: every property, or an error naming the case.
local function check_case(n, backups, policy, now, protect)
  local keep, remove, reasons = retention.plan(backups, policy, { now = now, protect = protect })
  local expected, newest = reference(backups, policy, now, protect)
  local function fail(fmt, ...)
    error(("case %d (seed %d): %s\n%s"):format(n, SEED, fmt:format(...), describe(backups, policy, now, protect)), 0)
  end
  local where = {}
  for _, b in ipairs(keep) do
    if where[b] then fail("%s listed twice", b.backup_id) end
    where[b] = "keep"
  end
  for _, b in ipairs(remove) do
    if where[b] then fail("%s both kept and removed", b.backup_id) end
    where[b] = "remove"
  end
  if #keep + #remove ~= #backups then fail("%d kept + %d removed, %d given", #keep, #remove, #backups) end
  for _, b in ipairs(backups) do
    if not where[b] then fail("%s neither kept nor removed", b.backup_id) end
    if b.locked and where[b] ~= "keep" then fail("locked %s removed", b.backup_id) end
    if expected[b] and where[b] ~= "keep" then
      fail("%s removed, the reference keeps it (%s)", b.backup_id, table.concat(expected[b], ", "))
    end
    local got, want = table.concat(reasons[b] or {}, ", "), table.concat(expected[b] or {}, ", ")
    if got ~= want then fail("%s: reasons [%s], the reference's [%s]", b.backup_id, got, want) end
  end
  if newest and where[newest] ~= "keep" then fail("the newest, %s, removed", newest.backup_id) end
end

T.test("the reference's calendar agrees with known dates", function()
  T.eq(periods_of(0).weekly, "1970-W01", "1970-01-01 (a Thursday)")
  T.eq(periods_of(days_from_civil(2026, 11, 29) * 86400).weekly, "2026-W48", "a Sunday ends its ISO week")
  T.eq(periods_of(days_from_civil(2021, 1, 3) * 86400).weekly, "2020-W53", "early January in the last year's week")
  T.eq(periods_of(days_from_civil(2024, 12, 30) * 86400).weekly, "2025-W01", "late December in the next year's week")
  T.eq(periods_of(days_from_civil(2000, 2, 29) * 86400 + 86399).daily, "2000-02-29", "a leap day")
  T.eq(time_of("20261129T030405.250Z-a1b2c3"), retention.backup_time("20261129T030405.250Z-a1b2c3"))
end)

T.test("a policy of zeros still keeps the newest backup", function()
  local list = { { backup_id = "20261128T030000Z" }, { backup_id = "20261129T030000Z" } }
  local keep, remove, reasons = retention.plan(list, { keep_last = 0, daily = 0 },
                                               { now = retention.backup_time("20261130T000000Z") })
  T.eq(#keep, 1)
  T.eq(keep[1].backup_id, "20261129T030000Z")
  T.eq(table.concat(reasons[keep[1]], ","), "newest")
  T.eq(#remove, 1)
end)

T.test("an old-form id is older than a new-form id of the same second", function()
  local old, new = { backup_id = "20261129T030405Z" }, { backup_id = "20261129T030405.250Z-a1b2c3" }
  local keep = retention.plan({ old, new }, { keep_last = 1 }, { now = retention.backup_time("20261130T000000Z") })
  T.eq(#keep, 1)
  T.eq(keep[1], new)
end)

T.test(("random histories, policies and nows agree with the reference (%d cases)"):format(CASES), function()
  math.randomseed(SEED)
  for n = 1, CASES do
    check_case(n, random_case())
  end
end)

return T.done()
