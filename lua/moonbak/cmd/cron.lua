-- moonbak cron next EXPR [--timezone ZONE] [--after TIME] [--count N]: the
-- next fire instants of a cron expression, in UTC, one a line.
local cron = require "moonbak.cron"
local schedule = require "moonbak.schedule"

local function refuse(fmt, ...)
  io.stderr:write("moonbak: cron ", fmt:format(...), "\n")
  return 2
end

-- The next count (default 1) fire times of expr, strictly after after (a
-- UTC time YYYY-MM-DDTHH:MM:SSZ or epoch seconds, as text; default now),
-- read in timezone (default UTC) -> { "YYYY-MM-DDTHH:MM:SSZ", ... } | nil,
-- message.  dash ("--" for the command line) goes before an option's name
-- in a message.
local function next_times(expr, opts, dash)
  dash = dash or ""
  local after = os.time()
  if opts.after then
    after = schedule.parse_iso(tostring(opts.after))
    if not after or after < -62135596800 or after > 253402300799 then -- the years 1 to 9999
      return nil, ("%safter %q: expected a UTC time such as 2026-03-28T12:00:00Z"):format(dash, opts.after)
    end
  end
  local count = 1
  if opts.count then
    count = math.tointeger(tonumber(opts.count))
    if not count or count < 1 or count > 1000 then
      return nil, ("%scount %q: expected a number from 1 to 1000"):format(dash, opts.count)
    end
  end
  local times, err = cron.next(expr, { after = after, timezone = opts.timezone or "UTC", count = count })
  if not times then return nil, err end
  for i, t in ipairs(times) do times[i] = schedule.iso(t) end
  return times
end

local function run(_, args, opts)
  if args[1] ~= "next" then
    return refuse("%s: expected \"next\": moonbak cron next EXPR [--timezone ZONE] [--after TIME] [--count N]",
                  args[1] and ("%q"):format(args[1]) or "(nothing)")
  end
  -- the expression as one quoted argument, or its fields as several
  local expr = table.concat(args, " ", 2)
  if expr == "" then return refuse("next: expected a cron expression, such as \"30 2 * * *\" (quoted)") end
  local times, err = next_times(expr, opts, "--")
  if not times then return refuse("next: %s", err) end
  for _, t in ipairs(times) do print(t) end
  return 0
end

return {
  usage = { { "cron next EXPR [--timezone ZONE] [--after TIME] [--count N]",
              "the next N fire times of a cron expression, in UTC" } },
  description = [[
EXPR is a 5-field cron expression or @hourly, @daily, @midnight, @weekly,
@monthly, @yearly, @annually, read in ZONE (an IANA name; default UTC) as
the daemon reads a job's schedule, daylight saving included.  The times are
strictly after TIME (YYYY-MM-DDTHH:MM:SSZ; default now), one a line.]],
  options = {
    { "timezone", value = "ZONE", help = "read the expression in this zone (default UTC)" },
    { "after", value = "TIME", help = "times strictly after this UTC time (default now)" },
    { "count", value = "N", help = "how many times to print, 1 to 1000 (default 1)" },
  },
  exit = "0 success, 2 a bad expression, zone, time or count (the message says which)",
  examples = {
    { "moonbak cron next \"30 2 * * *\" --timezone Europe/Berlin --count 3",
      "the next three times 02:30 Berlin time comes, in UTC" },
  },
  run = run,
  next_times = next_times,
}
