-- moonbak.cron from Lua: parse, next, timezone.
local T = dofile("tests/lua/testlib.lua")
local cron = require("moonbak").cron
local schedule = require("moonbak").schedule

local function iso_list(times)
  local out = {}
  for i, t in ipairs(times) do out[i] = schedule.iso(t) end
  return table.concat(out, " ")
end

T.test("next takes an expression or a parsed Cron, a zone, an instant and a count", function()
  local after = assert(schedule.parse_iso("2026-03-27T12:00:00Z"))
  local times = assert(cron.next("30 2 * * *", { after = after, timezone = "Europe/Berlin", count = 3 }))
  T.eq(iso_list(times), "2026-03-28T01:30:00Z 2026-03-29T01:00:00Z 2026-03-30T00:30:00Z")
  local c = assert(cron.parse("30 2 * * *"))
  T.eq(c.expression, "30 2 * * *")
  T.eq(c.fixed_time, true)
  T.eq(cron.parse("*/30 * * * *").fixed_time, false)
  T.eq(iso_list(assert(c:next { after = after, timezone = "Europe/Berlin", count = 3 })), iso_list(times))
  T.eq(iso_list(assert(cron.next(c, { after = after }))), "2026-03-28T02:30:00Z", "UTC by default")
  T.matches(tostring(c), "moonbak.Cron%(30 2 %* %* %*%)")
end)

T.test("a bad expression or zone is nil and a message", function()
  local c, err = cron.parse("0 0 30 2 *")
  T.eq(c, nil)
  T.matches(err, 'day%-of%-month field "30"')
  local times, terr = cron.next("@daily", { timezone = "Nowhere/Land" })
  T.eq(times, nil)
  T.matches(terr, 'time zone "Nowhere/Land": no such zone')
  T.eq(cron.timezone("America/New_York"), "America/New_York")
  T.eq(select(2, cron.timezone("../etc/passwd")):match("expected an IANA zone name"), "expected an IANA zone name")
end)

T.test("misuse raises", function()
  T.eq(pcall(cron.next, "@daily", { count = 0 }), false)
  T.eq(pcall(cron.next, "@daily", { after = 1.5 }), false)
  T.eq(pcall(cron.next, 42), false)
end)

T.test("the default instant is now", function()
  local before = os.time()
  local t = assert(cron.next("* * * * *"))[1]
  local after = os.time()
  assert(t > before and t <= after + 60 and t % 60 == 0, "the first whole minute after the call")
end)

T.test("schedule.parse_iso reads UTC times and refuses dates that do not exist", function()
  T.eq(schedule.parse_iso("1970-01-01T00:00:00Z"), 0)
  T.eq(schedule.parse_iso("2028-02-29T12:30Z"), 1835440200)
  T.eq(schedule.parse_iso("2026-02-29T00:00:00Z"), nil)
  T.eq(schedule.parse_iso("2026-03-28 12:00"), nil)
end)

return T.done()
