-- moonbak catalog rebuild [JOB]: the state database's catalog made again
-- from the storages' sidecars (a new machine, a lost state directory).
local mb = require "moonbak"
local lib = require "moonbak.clilib"

-- The jobs to rebuild: JOB, or every job of the jobs directory (a job file
-- that does not load is a problem, the others are rebuilt).
local function jobs_to_rebuild(cfg, name, problems)
  if name then return { lib.load_resolved_job(cfg, name) } end
  local jobs, broken = mb.job.load_dir(cfg.jobs_dir)
  if not jobs then lib.exit_with(2, "%s", broken) end
  for _, b in ipairs(broken) do problems[#problems + 1] = ("%s: %s"):format(b.file, b.error) end
  local resolved = {}
  for _, job in ipairs(jobs) do resolved[#resolved + 1] = lib.load_resolved_job(cfg, job.file) end
  return resolved
end

-- One job: its catalog rows replaced by what its storages hold -> the
-- number of backups (distinct ids) and of storages listed.
local function rebuild_job(st, job, problems)
  local list, more, unreachable = mb.backups.list(job)
  table.move(more, 1, #more, #problems + 1, problems)
  local entries, ids, backups = {}, {}, 0
  for _, meta in ipairs(list) do
    entries[#entries + 1] = mb.backups.catalog_entry(meta)
    if not ids[meta.backup_id] then ids[meta.backup_id] = true; backups = backups + 1 end
  end
  local _, removed = st:rebuild_catalog(job.name, entries, unreachable)
  local listed = 0
  for _, spec in ipairs(job.storage) do
    if not unreachable[spec.name] then listed = listed + 1 end
  end
  print(("%s: %d backup%s (%d cop%s) on %d storage%s%s"):format(job.name, backups, backups == 1 and "" or "s",
    #entries, #entries == 1 and "y" or "ies", listed, listed == 1 and "" or "s",
    removed > 0 and (", %d row%s no storage holds removed"):format(removed, removed == 1 and "" or "s") or ""))
  return backups, listed
end

local function run(cfg, args)
  if args[1] ~= "rebuild" then lib.usage_error("usage: moonbak catalog rebuild [JOB]") end
  local problems = {}
  local jobs = jobs_to_rebuild(cfg, args[2], problems)
  local st <close> = lib.open_state(cfg)
  local backups, storages = 0, 0
  for _, job in ipairs(jobs) do
    local b, s = rebuild_job(st, job, problems)
    backups, storages = backups + b, storages + s
  end
  for _, p in ipairs(problems) do lib.eprint("moonbak: %s", p) end
  print(("catalog rebuilt: %d backup%s on %d storage%s, %d problem%s"):format(backups, backups == 1 and "" or "s",
    storages, storages == 1 and "" or "s", #problems, #problems == 1 and "" or "s"))
  return #problems == 0 and 0 or 1
end

return {
  usage = { { "catalog rebuild [JOB]", "rebuild the state database's catalog from the storages' sidecars" } },
  description = [[
Reads the sidecars on every storage of JOB (default: every job of the jobs
directory) and makes the catalog what they say, locks included; rows of
backups no storage holds any more are removed (a storage that cannot be
listed keeps its rows).  Needs only the job files (and their secrets).
Sidecars that are invalid or have no artifact, and storages that cannot be
listed, are reported on stderr; the rest is rebuilt all the same.]],
  max_args = 2,
  exit = "0 rebuilt, 1 something was reported (the rest is rebuilt), 2 bad usage or a bad job file",
  examples = {
    { "moonbak catalog rebuild", "on a new machine: the catalog of every job from its storages' sidecars" },
    { "moonbak catalog rebuild shop", "one job's" },
  },
  run = run,
}
