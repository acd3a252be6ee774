-- moonbak run JOB: run a job once, now.
local mb = require "moonbak"
local sys = require "moonbak.sys"
local lib = require "moonbak.clilib"

-- Runs job now, recorded in the state database -> ok, ctx, seconds it took.
-- opts: claimed (the execution the daemon claimed), quiet.  On a terminal:
-- the progress line (stdout) and the log (stderr); errors always.
local function run_now(cfg, job, opts)
  local st <close> = lib.open_state(cfg)
  local interactive = sys.isatty(2)
  local started = sys.now()
  local ok, ctx = mb.runner.run(job, {
    state = st,
    trigger = opts.claimed and "schedule" or "manual",
    claimed = opts.claimed,
    jobs_dir = cfg.jobs_dir,
    progress = lib.progress_label(opts, job.name),
    on_log = function(entry)
      if entry.level == "error" or (interactive and not opts.quiet) then
        lib.eprint("%s [%s] %s", entry.level, entry.step or "-", entry.message)
      end
    end,
  })
  return ok, ctx, sys.now() - started
end

-- What a run came to, without the context (which holds resolved secrets;
-- its error and status_message are redacted already):
-- { job, status, execution (id), backup_id, size, logical_size, took,
-- step (the one that failed), error, state_error, message }.  message is the
-- line the command prints: on stdout for a success, else on stderr (a
-- refused run's after "moonbak: ").
local function outcome(job, ctx, took)
  local r = { job = job.name, status = ctx.status, execution = ctx.execution and ctx.execution.id,
              backup_id = ctx.backup_id, size = ctx.metadata.size, logical_size = ctx.metadata.logical_size,
              took = took, step = ctx.failed_step, error = ctx.error or ctx.status_message,
              state_error = ctx.state_error }
  if ctx.status == "refused" then
    r.message = ctx.error
  elseif ctx.status == "success" then
    r.message = ("%s: success, backup %s (%s stored, %s dumped) in execution %d"):format(
      job.name, ctx.backup_id, lib.human_size(ctx.metadata.size), lib.human_size(ctx.metadata.logical_size),
      ctx.execution.id)
  elseif ctx.status == "cancelled" then
    r.message = ("%s: cancelled in step %s: %s (execution %d)"):format(job.name, ctx.failed_step, ctx.error,
                                                                        ctx.execution.id)
  elseif ctx.status == "partial" then
    r.message = ("%s: partial, backup %s: %s (execution %d)"):format(job.name, ctx.backup_id, ctx.status_message,
                                                                      ctx.execution.id)
  else
    r.message = ("%s: failed in step %s: %s (execution %d)"):format(job.name, ctx.failed_step or "completion",
                                                                     ctx.error or ctx.status_message, ctx.execution.id)
  end
  return r
end

local function run(cfg, args, opts)
  local claimed = math.tointeger(tonumber(os.getenv("MOONBAK_EXECUTION") or ""))
  local job = claimed and lib.load_claimed_job(cfg, args[1], claimed) or lib.load_job(cfg, args[1])
  sys.catch_interrupts() -- Ctrl-C cancels cleanly: uploads aborted, execution recorded
  local ok, ctx, took = run_now(cfg, job, { claimed = claimed, quiet = opts.quiet })
  local r = outcome(job, ctx, took)
  if r.status == "refused" then
    lib.eprint("moonbak: %s", r.message)
    return 1
  end
  if r.state_error then lib.eprint("moonbak: %s", r.state_error) end
  if ok then
    print(r.message)
    return 0
  end
  lib.eprint("%s", r.message)
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
  examples = {
    { "moonbak run shop", "back up the job in jobs/shop.lua now" },
    { "moonbak run /etc/moonbak/jobs/shop.lua --quiet",
      "a job file by path, printing only the outcome" },
  },
  run = run,
  run_now = run_now,
  outcome = outcome,
}
