-- moonbak pause JOB: keep a job off the schedule, without editing its file.
local lib = require "moonbak.clilib"

local function run(cfg, args, opts)
  local job = lib.load_job(cfg, args[1])
  local st <close> = lib.open_state(cfg)
  st:pause(job.name, opts.reason)
  print(("%s: paused%s; the daemon will not run it until `moonbak resume %s`"):format(
    job.name, opts.reason and (" (" .. opts.reason .. ")") or "", job.name))
  return 0
end

return {
  usage = { { "pause JOB [--reason TEXT]", "keep a job off the schedule (run still runs it)" } },
  description = [[
Recorded in the state database: a running daemon looks there before each fire
time, so it follows at once.  `moonbak run JOB` still runs a paused job.]],
  options = { { "reason", value = "TEXT", help = "why, shown by jobs and status" } },
  max_args = 1,
  exit = "0 paused, 1 the state could not be written, 2 bad usage or a bad job file",
  examples = {
    { "moonbak pause shop --reason \"disk swap\"",
      "keep the job shop off the schedule until moonbak resume shop" },
  },
  run = run,
}
