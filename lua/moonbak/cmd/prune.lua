-- moonbak prune JOB [--dry-run]: remove the backups the job's retention no
-- longer keeps, and what killed runs left on the storages.
local mb = require "moonbak"
local lib = require "moonbak.clilib"

-- Leftovers of runs killed before they finished (mb.leftovers), by the
-- rules of a run starting now; say(message) for each; returns how many.
local function sweep_leftovers(job, st, dry_run, failures, say)
  local rules = mb.leftovers.rules(st, job.name, mb.state.timestamp())
  local count = 0
  for _, spec in ipairs(job.storage) do
    local handle <close>, err = mb.storage.open(spec)
    local problems = { err }
    if handle then
      local removed
      removed, problems = mb.leftovers.sweep(job.name, spec.name, handle, rules,
                                             function(_, message) say(message) end, { dry_run = dry_run })
      count = count + #removed
    end
    table.move(problems, 1, #problems, #failures + 1, failures)
  end
  return count
end

-- One line per backup: whether it stays and which rules keep it.
local function explain(decisions)
  for _, d in ipairs(decisions) do
    if d.keep then
      print(("keep          %s on %s: %s"):format(d.backup_id, d.storage, table.concat(d.reasons, ", ")))
    else
      print(("would remove  %s on %s"):format(d.backup_id, d.storage))
    end
  end
end

-- Without a retention policy, prune only sweeps what killed runs left.
local function run(cfg, args, opts)
  local job = lib.load_resolved_job(cfg, args[1])
  local st <close> = lib.open_state(cfg)
  local dry_run, json = opts["dry-run"], opts.json
  -- what a copy under way has written is not a leftover: never beside one
  local lock <close> = not dry_run and lib.lock_job(st, job) or nil
  local removed, failures, decisions = {}, {}, {}
  local said = {}
  local function say(message)
    if json then said[#said + 1] = message else print(message) end
  end
  if job.retention then
    removed, failures, decisions = mb.retention.prune(job, { dry_run = dry_run, state = st })
  else
    say(("job %s has no retention policy: only leftovers of killed runs are swept"):format(job.name))
  end
  if dry_run and not json then
    explain(decisions)
  elseif not json then
    for _, meta in ipairs(removed) do print(("removed %s on %s"):format(meta.backup_id, meta.storage)) end
  end
  local swept = sweep_leftovers(job, st, dry_run, failures, say)
  for _, f in ipairs(failures) do lib.eprint("moonbak: %s", f) end
  if json then
    local gone = {}
    for _, meta in ipairs(removed) do gone[#gone + 1] = { backup_id = meta.backup_id, storage = meta.storage } end
    lib.json_out({ dry_run = dry_run == true, backups = decisions, removed = gone, leftovers = said,
                   failures = failures })
  elseif #removed == 0 and swept == 0 then
    print("nothing to remove")
  end
  return #failures == 0 and 0 or 1
end

return {
  usage = { { "prune JOB [--dry-run] [--json]", "remove the backups the job's retention no longer keeps" } },
  description = [[
Applies the job's retention now, and removes what runs killed before they
finished left on the storages (temporary uploads, artifacts without a sidecar).
With --dry-run, says for every backup whether it stays and which rules keep it
(keep_last, daily 2026-11-28, weekly 2026-W48, monthly 2026-11, yearly 2026,
locked, newest, future, ...); the newest backup and locked ones always stay.]],
  options = {
    { "dry-run", help = "print what would be removed and why the rest stays, remove nothing" },
    lib.JSON,
  },
  max_args = 1,
  exit = "0 success, 1 something could not be removed or listed, 2 bad usage or a bad job file",
  examples = {
    { "moonbak prune shop --dry-run", "what the job's retention would remove now" },
    { "moonbak prune shop", "remove it" },
  },
  run = run,
}
