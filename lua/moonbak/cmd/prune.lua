-- moonbak prune JOB [--dry-run]: remove the backups the job's retention no
-- longer keeps, and what killed runs left on the storages.
local mb = require "moonbak"
local lib = require "moonbak.clilib"

-- Leftovers of runs killed before they finished (mb.leftovers), by the
-- rules of a run starting now; prints each; returns how many.
local function sweep_leftovers(job, st, dry_run, failures)
  local rules = mb.leftovers.rules(st, job.name, mb.state.timestamp())
  local count = 0
  for _, spec in ipairs(job.storage) do
    local handle <close>, err = mb.storage.open(spec)
    local problems = { err }
    if handle then
      local removed
      removed, problems = mb.leftovers.sweep(job.name, spec.name, handle, rules,
                                             function(_, message) print(message) end, { dry_run = dry_run })
      count = count + #removed
    end
    table.move(problems, 1, #problems, #failures + 1, failures)
  end
  return count
end

-- Without a retention policy, prune only sweeps what killed runs left.
local function run(cfg, args, opts)
  local job = lib.load_resolved_job(cfg, args[1])
  local st <close> = lib.open_state(cfg)
  local removed, failures = {}, {}
  if job.retention then
    removed, failures = mb.retention.prune(job, { dry_run = opts["dry-run"], state = st })
  else
    print(("job %s has no retention policy: only leftovers of killed runs are swept"):format(job.name))
  end
  for _, meta in ipairs(removed) do
    print(("%s %s on %s"):format(opts["dry-run"] and "would remove" or "removed", meta.backup_id, meta.storage))
  end
  local swept = sweep_leftovers(job, st, opts["dry-run"], failures)
  for _, f in ipairs(failures) do lib.eprint("moonbak: %s", f) end
  if #removed == 0 and swept == 0 then print("nothing to remove") end
  return #failures == 0 and 0 or 1
end

return {
  usage = { { "prune JOB [--dry-run]", "remove the backups the job's retention no longer keeps" } },
  description = [[
Applies the job's retention now, and removes what runs killed before they
finished left on the storages (temporary uploads, artifacts without a sidecar).]],
  options = {
    { "dry-run", help = "print what would be removed, remove nothing" },
  },
  max_args = 1,
  exit = "0 success, 1 something could not be removed or listed, 2 bad usage or a bad job file",
  examples = {
    { "moonbak prune shop --dry-run", "what the job's retention would remove now" },
    { "moonbak prune shop", "remove it" },
  },
  run = run,
}
