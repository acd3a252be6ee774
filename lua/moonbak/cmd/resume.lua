-- moonbak resume JOB: put a paused job back on the schedule.
local lib = require "moonbak.clilib"

local function run(cfg, args)
  local job = lib.load_job(cfg, args[1])
  local st <close> = lib.open_state(cfg)
  if st:resume(job.name) then
    print(("%s: resumed; the daemon runs it from its next fire time"):format(job.name))
  else
    print(("%s: was not paused"):format(job.name))
  end
  return 0
end

return {
  usage = { { "resume JOB", "put a paused job back on the schedule" } },
  description = [[
Fire times that went by while the job was paused are not caught up: it runs
from its next fire time.]],
  max_args = 1,
  exit = "0 resumed (or was not paused), 1 the state could not be written, 2 bad usage or a bad job file",
  examples = {
    { "moonbak resume shop", "put the job shop back on the schedule" },
  },
  run = run,
}
