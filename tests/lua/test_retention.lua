-- Retention policies: which backups are kept.
local T = dofile("tests/lua/testlib.lua")
local retention = require "moonbak.retention"

-- Backups every `step` hours for `count` steps back from 2026-11-29 03:00 UTC.
local function history(count, step)
  local list, t0 = {}, retention.backup_time("20261129T030000Z")
  for i = 0, count - 1 do
    list[#list + 1] = { backup_id = os.date("!%Y%m%dT%H%M%SZ", t0 - i * step * 3600) }
  end
  return list
end

local function ids(list)
  local out = {}
  for _, b in ipairs(list) do out[#out + 1] = b.backup_id end
  return table.concat(out, ",")
end

T.test("backup ids read as UTC times", function()
  T.eq(retention.backup_time("19700101T000000Z"), 0)
  T.eq(retention.backup_time("20000301T000000Z"), 951868800, "a leap year's March")
  T.eq(os.date("!%Y%m%dT%H%M%SZ", retention.backup_time("20261129T030405Z")), "20261129T030405Z")
end)

T.test("keep_last keeps the newest N", function()
  local keep, drop = retention.plan(history(10, 1), { keep_last = 3 })
  T.eq(#keep, 3)
  T.eq(#drop, 7)
  T.eq(ids(keep), "20261129T030000Z,20261129T020000Z,20261129T010000Z")
end)

T.test("daily keeps the newest backup of each of the last N days", function()
  local keep = retention.plan(history(72, 6), { daily = 4 }) -- 4 a day for 18 days
  T.eq(ids(keep), "20261129T030000Z,20261128T210000Z,20261127T210000Z,20261126T210000Z")
end)

T.test("weekly, monthly and yearly count ISO weeks, months and years", function()
  local list = history(800, 24) -- daily for 800 days
  local keep = retention.plan(list, { weekly = 3 })
  T.eq(ids(keep), "20261129T030000Z,20261122T030000Z,20261115T030000Z", "Sundays end ISO weeks")
  keep = retention.plan(list, { monthly = 2 })
  T.eq(ids(keep), "20261129T030000Z,20261031T030000Z")
  keep = retention.plan(list, { yearly = 3 })
  T.eq(ids(keep), "20261129T030000Z,20251231T030000Z,20241231T030000Z")
end)

T.test("rules add up: a backup kept by any rule stays", function()
  local keep, drop = retention.plan(history(800, 24), { keep_last = 2, daily = 7, weekly = 4, monthly = 12, yearly = 3 })
  -- 7 days (Nov 23-29, the 2 last among them); 4 weeks: Nov 29 is one of
  -- those days, Nov 22, 15 and 8 are 3 more; 12 months: Nov is kept, Oct
  -- 2026 back to Dec 2025 are 11 more; 3 years: 2026 and 2025 are kept,
  -- 2024 is 1 more.
  T.eq(#keep, 7 + 3 + 11 + 1, "kept: " .. ids(keep))
  T.eq(#keep + #drop, 800)
end)

T.test("locked backups are always kept", function()
  local list = history(10, 24)
  list[10].locked = true
  local keep = retention.plan(list, { keep_last = 1 })
  T.eq(#keep, 2)
  T.eq(keep[2].backup_id, list[10].backup_id)
end)

T.test("the newest backup is kept by every positive rule", function()
  for _, rule in ipairs { "keep_last", "daily", "weekly", "monthly", "yearly" } do
    local keep = retention.plan(history(50, 24), { [rule] = 1 })
    T.eq(keep[1].backup_id, "20261129T030000Z", rule)
  end
end)

T.test("new backup ids (milliseconds and a random suffix) read as UTC times", function()
  local artifact = require "moonbak.artifact"
  T.eq(retention.backup_time("20261129T030405.250Z-a1b2c3"), retention.backup_time("20261129T030405Z") + 0.25)
  T.eq(retention.backup_time("20261129T030405.250Z"), nil, "no suffix: not an id")
  T.eq(retention.backup_time("20261329T030405Z"), nil, "month 13")
  T.eq(retention.backup_time(20261129), nil, "a number")
  local t = retention.backup_time("20261129T030405Z") + 0.5
  local a, b = artifact.backup_id(t), artifact.backup_id(t)
  T.matches(a, "^20261129T030405%.500Z%-%x%x%x%x%x%x$", "format")
  assert(a ~= b, "two ids made in the same millisecond differ: " .. a)
  T.eq(artifact.id_of_name("shop/" .. a .. ".sql.zst"), a, "id from a file name")
  T.eq(artifact.id_of_name("shop/20261129T030405Z.sql.zst.meta.json"), "20261129T030405Z", "old id from a name")
end)

T.test("a backup dated in the future is kept and does not count as the newest", function()
  local list = history(5, 24)
  local now = retention.backup_time("20261129T040000Z")
  table.insert(list, { backup_id = "20990101T000000Z" })
  local keep, drop, reasons = retention.plan(list, { keep_last = 1 }, { now = now })
  T.eq(ids(keep), "20990101T000000Z,20261129T030000Z")
  T.eq(reasons[keep[1]][1], "future")
  T.eq(#drop, 4)
end)

T.test("the backup of the run applying the policy is never removed", function()
  local list = history(5, 24)
  local now = retention.backup_time("20261129T040000Z")
  -- its id sorts below another one (a clock that went back)
  local current = { backup_id = "20261127T030000.000Z-abcdef" }
  table.insert(list, current)
  local keep, _, reasons = retention.plan(list, { keep_last = 1 }, { now = now, protect = current.backup_id })
  T.eq(#keep, 2, "kept: " .. ids(keep))
  T.eq(reasons[current][1], "current")
end)

return T.done()
