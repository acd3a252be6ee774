-- moonbak log EXECUTION: the log of one execution.
local lib = require "moonbak.clilib"

local function run(cfg, args, opts)
  local id = math.tointeger(tonumber(args[1]))
  if not id then lib.usage_error("log: expected an execution id") end
  local st <close> = lib.open_state(cfg)
  local e = st:execution(id)
  if not e then lib.eprint("moonbak: no execution %d", id); return 1 end
  local logs = st:logs(id)
  if opts.json then
    e = lib.execution_json(e)
    e.logs = logs
    lib.json_out(e)
    return 0
  end
  print(("execution %d of %s: %s (%s, started %s, took %s)"):format(e.id, e.job, e.status, e.trigger,
    e.started_at, lib.duration(e)))
  for _, l in ipairs(logs) do
    print(("%s %-7s %-10s %s"):format(l.time, l.level, l.step or "-", l.message))
  end
  return 0
end

return {
  usage = { { "log EXECUTION", "the log of one execution" } },
  description = "EXECUTION is an id that history prints.  --json adds the execution's metadata.",
  options = { lib.JSON },
  max_args = 1,
  exit = "0 success, 1 no such execution (or the state database cannot be read), 2 bad usage",
  run = run,
}
