-- moonbak run JOB: run a job once, now.
local mb = require "moonbak"
local sys = require "moonbak.sys"
local lib = require "moonbak.clilib"

-- Started by the daemon: the execution it claimed for a fire time.  A job
-- file that no longer loads fails that execution, saying why (exit 2).
local function load_claimed(cfg, file, claimed)
  local job, err = mb.job.open(file, cfg.jobs_dir)
  if job then return job end
  local st <close> = lib.open_state(cfg)
  st:finish_execution(claimed, "failed", "the job file could not be loaded: " .. tostring(err))
  lib.exit_with(2, "%s", err)
end

local function run(cfg, args, opts)
  local claimed = math.tointeger(tonumber(os.getenv("MOONBAK_EXECUTION") or ""))
  local job = claimed and load_claimed(cfg, args[1], claimed) or lib.load_job(cfg, args[1])
  local st <close> = lib.open_state(cfg)
  local interactive = sys.isatty(2)
  sys.catch_interrupts() -- Ctrl-C cancels cleanly: uploads aborted, execution recorded
  local ok, ctx = mb.runner.run(job, {
    state = st,
    trigger = claimed and "schedule" or "manual",
    claimed = claimed,
    jobs_dir = cfg.jobs_dir,
    progress = lib.progress_label(opts, job.name),
    on_log = function(entry)
      if entry.level == "error" or (interactive and not opts.quiet) then
        lib.eprint("%s [%s] %s", entry.level, entry.step or "-", entry.message)
      end
    end,
  })
  if ctx.status == "refused" then
    lib.eprint("moonbak: %s", ctx.error)
    return 1
  end
  if ctx.state_error then lib.eprint("moonbak: %s", ctx.state_error) end
  if ok then
    print(("%s: success, backup %s (%s stored, %s dumped) in execution %d"):format(
      job.name, ctx.backup_id, lib.human_size(ctx.metadata.size), lib.human_size(ctx.metadata.logical_size),
      ctx.execution.id))
    return 0
  end
  if ctx.status == "cancelled" then
    lib.eprint("%s: cancelled in step %s: %s (execution %d)", job.name, ctx.failed_step, ctx.error, ctx.execution.id)
  elseif ctx.status == "partial" then
    lib.eprint("%s: partial, backup %s: %s (execution %d)", job.name, ctx.backup_id, ctx.status_message,
               ctx.execution.id)
  else
    lib.eprint("%s: failed in step %s: %s (execution %d)", job.name, ctx.failed_step or "completion",
               ctx.error or ctx.status_message, ctx.execution.id)
  end
  return 1
end

return {
  usage = { { "run JOB", "run a job once, now" } },
  description = [[
Runs the job's steps (initialize, dump, upload, completion) and records the
execution in the state database.  On a terminal: a progress line and the log;
errors are always printed.  Ctrl-C or SIGTERM cancels cleanly.]],
  options = {
    { "quiet", help = "no progress line and no log lines on a terminal (errors still)" },
  },
  max_args = 1,
  exit = "0 success, 1 the run failed, was partial, cancelled or refused (the job is running), " ..
         "2 bad usage or a bad job file",
  run = run,
}
