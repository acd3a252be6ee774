-- moonbak log EXECUTION: the log of one execution and what each notifier
-- answered.
local lib = require "moonbak.clilib"
local notify = require "moonbak.notify"

-- Execution id with its log and deliveries -> e, logs, deliveries, or nil
-- when there is no such execution.
local function read(cfg, id)
  local st <close> = lib.open_state(cfg)
  local e = st:execution(id)
  if not e then return nil end
  return e, st:logs(id), st:deliveries(id)
end

-- The log as the command prints it (and the console shows it).
local function text(e, logs, deliveries)
  local out = { ("execution %d of %s: %s (%s, started %s, took %s)"):format(e.id, e.job, e.status, e.trigger,
    e.started_at, lib.duration(e)) }
  for _, l in ipairs(logs) do
    out[#out + 1] = ("%s %-7s %-10s %s"):format(l.time, l.level, l.step or "-", l.message)
  end
  if #deliveries > 0 then out[#out + 1] = "notifications:" end
  for _, d in ipairs(deliveries) do
    local result = { sent = d.status == "sent", attempts = d.attempts, seconds = d.seconds,
                     answer = d.answer, error = d.error }
    out[#out + 1] = ("%s %s %s (%s): %s"):format(d.time, d.notifier, d.type, d.event, notify.describe(result))
  end
  return table.concat(out, "\n")
end

local function run(cfg, args, opts)
  local id = math.tointeger(tonumber(args[1]))
  if not id then lib.usage_error("log: expected an execution id") end
  local e, logs, deliveries = read(cfg, id)
  if not e then lib.eprint("moonbak: no execution %d", id); return 1 end
  if opts.json then
    e = lib.execution_json(e)
    e.logs = logs
    e.deliveries = deliveries
    lib.json_out(e)
    return 0
  end
  print(text(e, logs, deliveries))
  return 0
end

return {
  usage = { { "log EXECUTION", "the log of one execution" } },
  description = [[
EXECUTION is an id that history prints.  After the log come the
notifications sent for it, each with what the service answered (or why it
was not sent).  --json adds the execution's metadata.]],
  options = { lib.JSON },
  max_args = 1,
  exit = "0 success, 1 no such execution (or the state database cannot be read), 2 bad usage",
  examples = {
    { "moonbak log 42", "the log of execution 42 (an id that history prints)" },
  },
  run = run,
  read = read,
  text = text,
}
