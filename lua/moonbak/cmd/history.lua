-- moonbak history [JOB]: executions, newest first.
local lib = require "moonbak.clilib"

-- The last 100 executions of job_name (nil: of every job), newest first.
local function executions(cfg, job_name)
  local st <close> = lib.open_state(cfg)
  return st:history(job_name, 100)
end

local function run(cfg, args, opts)
  local list = executions(cfg, args[1])
  if opts.json then
    for i, e in ipairs(list) do list[i] = lib.execution_json(e) end
    lib.json_out(list)
    return 0
  end
  local rows = {}
  for _, e in ipairs(list) do
    rows[#rows + 1] = { e.id, e.job, e.status, e.kind, e.trigger, e.started_at, lib.duration(e), e.error }
  end
  lib.print_table({ "ID", "JOB", "STATUS", "KIND", "TRIGGER", "STARTED", "TOOK", "ERROR" }, rows)
  return 0
end

return {
  usage = { { "history [JOB]", "executions, newest first" } },
  description = "The last 100 executions (of JOB, or of every job) from the state database.",
  options = { lib.JSON },
  max_args = 1,
  exit = "0 success, 1 the state database cannot be read, 2 bad usage",
  run = run,
  executions = executions,
}
