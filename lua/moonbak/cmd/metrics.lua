-- moonbak metrics: the Prometheus metrics of every job, on stdout.
local mb = require "moonbak"
local lib = require "moonbak.clilib"

local function run(cfg)
  local jobs, broken = mb.job.load_dir(cfg.jobs_dir)
  if not jobs then lib.eprint("moonbak: %s", broken); return 2 end
  -- a job file that does not load has no metrics; the others still do
  for _, b in ipairs(broken) do lib.eprint("moonbak: warning: broken job file, left out: %s", b.error) end
  local st <close> = lib.open_state(cfg)
  io.stdout:write(mb.metrics.render(jobs, st))
  return 0
end

return {
  usage = { { "metrics", "the jobs' Prometheus metrics, on stdout" } },
  description = [[
The metrics of every job of the jobs directory, in Prometheus's text format:
the same text a job's metrics file (metrics = PATH, or MOONBAK_METRICS, or
the daemon's --metrics) holds after each run, there for the jobs that go to
that file.  A broken job file is named on stderr and left out.]],
  max_args = 0,
  exit = "0 success, 1 the state database cannot be opened, 2 no jobs directory (or bad usage)",
  examples = {
    { "moonbak metrics", "every job's metrics, to scrape or to check with promtool" },
  },
  run = run,
}
