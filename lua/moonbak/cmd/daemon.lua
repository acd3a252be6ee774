-- moonbak daemon: run every job on its schedule (lua/moonbak/scheduler.lua).
local lib = require "moonbak.clilib"
local scheduler = require "moonbak.scheduler"

local function positive(opts, name, default)
  if opts[name] == nil then return default end
  local n = math.tointeger(tonumber(opts[name]))
  if not n or n < 0 or (name == "max-parallel" and n < 1) then
    lib.usage_error("--%s: expected a %s number, got %q", name,
                    name == "max-parallel" and "positive" or "non-negative", opts[name])
  end
  return n
end

local function run(cfg, _, opts)
  local zone = opts.timezone
  if zone then
    local ok, err = require("moonbak.cron").timezone(zone)
    if not ok then lib.usage_error("--timezone: %s", err) end
  end
  -- --metrics before MOONBAK_METRICS, as --state before MOONBAK_STATE;
  -- a job's own metrics = PATH before both
  local metrics = opts.metrics or require("moonbak.metrics").default_path()
  if metrics and not metrics:match("^/.") then
    lib.usage_error("--metrics: expected an absolute path, got %q", metrics)
  end
  return scheduler.daemon {
    metrics = metrics,
    state_dir = cfg.state_dir,
    jobs_dir = cfg.jobs_dir,
    argv0 = "moonbak",
    max_parallel = positive(opts, "max-parallel", scheduler.defaults.max_parallel),
    grace = positive(opts, "grace", scheduler.defaults.grace),
    timezone = zone or "UTC",
  }
end

return {
  usage = { { "daemon [--max-parallel N] [--grace SECONDS] [--timezone ZONE] [--metrics PATH]",
              "run every job on its schedule, until SIGTERM" } },
  description = [[
One daemon per state directory (a second one exits 2 naming the first).  Each
fire time of each job is claimed in the state database and runs once, in a
process of its own; a fire time that comes while the job still runs is
recorded "skipped"; after downtime, each job runs once to catch up (within its
catchup window).  A job's verify and drill schedules (verify = { schedule },
drill = { schedule }) run moonbak verify and moonbak drill the same way, with
fire times of their own: they neither wait for the job's backup nor hold it
back.  SIGHUP or a change in the jobs directory reloads the jobs;
SIGTERM or SIGINT lets running backups finish (up to --grace), then cancels
them.  Logs one line per event on stderr.  With --metrics (or MOONBAK_METRICS),
the metrics of every job without a metrics = PATH of its own go to that file
(see moonbak metrics).]],
  options = {
    { "max-parallel", value = "N", help = "runs at once, at most (default 2); the rest wait in a queue" },
    { "grace", value = "SECONDS", help = "on SIGTERM, how long runs may go on before they are cancelled (default 300)" },
    { "timezone", value = "ZONE", help = "the time zone of jobs that name none (default UTC)" },
    { "metrics", value = "PATH",
      help = "the Prometheus textfile of jobs that name none (default: MOONBAK_METRICS), rewritten after each run" },
  },
  max_args = 0,
  exit = "0 stopped by SIGTERM or SIGINT, 1 the state could not be opened, 2 another daemon runs on this state (or bad usage)",
  examples = {
    { "moonbak daemon", "run every job of the jobs directory on its schedule, until SIGTERM" },
    { "moonbak --state /var/lib/moonbak --jobs /etc/moonbak/jobs daemon --max-parallel 4",
      "as the systemd unit runs it, with four runs at once" },
  },
  run = run,
}
