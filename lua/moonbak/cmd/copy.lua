-- moonbak copy JOB [BACKUP|--all] --from A --to B: copy stored bytes from
-- one storage of the job to another, as they are (no decryption), checked
-- by their sha256 before the copy is committed, its sidecar written last.
local mb = require "moonbak"
local sys = require "moonbak.sys"
local lib = require "moonbak.clilib"

local function storage_named(job, name, option)
  for _, spec in ipairs(job.storage) do
    if spec.name == name then return spec end
  end
  local names = {}
  for _, spec in ipairs(job.storage) do names[#names + 1] = spec.name end
  lib.usage_error("copy: --%s %s: job %s has no such storage (its storages: %s)", option, name, job.name,
                  table.concat(names, ", "))
end

-- The backups to copy from storage from: the one named, the newest, or
-- (--all) every one, oldest first.
local function sources(job, id, from, all)
  if all then
    local list, problems = mb.backups.list(job, from)
    table.sort(list, function(a, b) return a.backup_id < b.backup_id end)
    if #list == 0 and #problems == 0 then lib.exit_with(1, "job %s has no backups on %s", job.name, from) end
    return list, problems
  end
  local meta, err = mb.backups.find(job, id, from)
  if not meta then lib.exit_with(1, "%s", err) end
  return { meta }, {}
end

-- What an interrupted copy (or run) left on the target: for the backups
-- about to be copied at once (this command holds the job's lock), the
-- rest by the rules of a run.
local function sweep_target(job, st, to, handle, list)
  local rules = mb.leftovers.rules(st, job.name, mb.state.timestamp())
  for _, meta in ipairs(list) do rules.dead[meta.backup_id] = true end
  local _, problems = mb.leftovers.sweep(job.name, to, handle, rules, function(_, message)
    lib.eprint("moonbak: %s", message)
  end)
  for _, p in ipairs(problems) do lib.eprint("moonbak: warning: could not sweep leftovers: %s", p) end
end

local function copy_one(job, st, meta, to, sizes, opts)
  local r, err = mb.backups.copy(job, meta, to, { sizes = sizes, state = st,
    progress = lib.progress_label(opts, "copy " .. meta.backup_id) })
  local entry = { backup_id = meta.backup_id, from = meta.storage, to = to, sha256 = meta.sha256 }
  if not r then
    local signal = sys.interrupted()
    if signal and not err:find("interrupted by signal", 1, true) then
      err = ("interrupted by signal %d: %s"):format(signal, err)
    end
    entry.status, entry.error = "failed", lib.redact(err)
    return entry
  end
  entry.status, entry.size, entry.seconds = r.status, r.size, r.seconds
  if r.catalog_error then lib.eprint("moonbak: warning: %s", r.catalog_error) end
  return entry
end

local function line(e)
  if e.status == "copied" then
    return ("copied         %s from %s to %s: %s, sha256 %s"):format(e.backup_id, e.from, e.to,
      lib.human_size(e.size), e.sha256)
  elseif e.status == "present" then
    return ("already there  %s on %s (sha256 %s)"):format(e.backup_id, e.to, e.sha256)
  end
  return lib.redact(("FAILED         %s from %s to %s: %s (nothing committed on %s)")
    :format(e.backup_id, e.from, e.to, e.error, e.to))
end

local function run(cfg, args, opts)
  if opts.all and args[2] then lib.usage_error("copy: a BACKUP and --all exclude each other: give one") end
  if not opts.from or not opts.to then lib.usage_error("copy: --from STORAGE and --to STORAGE are both needed") end
  if opts.from == opts.to then lib.usage_error("copy: --from and --to name the same storage (%s)", opts.from) end
  local job = lib.load_resolved_job(cfg, args[1], true)
  storage_named(job, opts.from, "from")
  local to_spec = storage_named(job, opts.to, "to")
  local st <close> = lib.open_state(cfg)
  -- one copy at a time, and never beside a run, a prune or a lock of the job
  local lock = lib.lock_job(st, job)
  sys.catch_interrupts()
  local list, problems = sources(job, args[2], opts.from, opts.all)
  for _, p in ipairs(problems) do lib.eprint("FAILED  %s", p) end
  local failed = #problems
  local handle <close>, herr = mb.storage.open(to_spec)
  local sizes
  if handle then
    sweep_target(job, st, opts.to, handle, list)
    sizes, herr = mb.backups.present(job, handle)
  end
  local results = {}
  for _, meta in ipairs(list) do
    local e
    if sizes then
      e = copy_one(job, st, meta, opts.to, sizes, opts)
    else
      e = { backup_id = meta.backup_id, from = meta.storage, to = opts.to, sha256 = meta.sha256,
            status = "failed", error = lib.redact(herr) }
    end
    results[#results + 1] = e
    if e.status == "failed" then failed = failed + 1 end
    if not opts.json then print(line(e)) end
    if sys.interrupted() then break end
  end
  lock:release()
  if opts.json then lib.json_out(results) end
  return failed == 0 and 0 or 1
end

return {
  usage = { { "copy JOB [BACKUP|--all] --from STORAGE --to STORAGE",
              "copy backups between the job's storages, as stored (no decryption)" } },
  description = [[
Copies a backup (BACKUP, or the newest on --from not dated in the future)
from one of the job's storages to another: its stored bytes as they are,
checked against the sha256 of its sidecar before the copy is committed, then
its sidecar.  A backup --to holds already (same sha256, artifact of the same
size) is not copied again: an interrupted copy resumes where it stopped.  A
source whose bytes do not match its sidecar is refused and nothing is left
on --to.  --all copies every backup on --from, oldest first: a storage added
to a job later catches up.]],
  options = {
    { "all", help = "every backup on --from (those --to holds already are skipped)" },
    { "from", value = "STORAGE", help = "the job's storage to read from (required)" },
    { "to", value = "STORAGE", help = "the job's storage to copy to (required)" },
    lib.JSON,
    lib.QUIET,
  },
  max_args = 2,
  exit = "0 every backup is on --to, 1 one could not be copied (or read, or found), " ..
         "2 bad usage or a bad job file",
  examples = {
    { "moonbak copy shop --from local --to offsite", "copy the newest backup of shop to its storage offsite" },
    { "moonbak copy shop --all --from local --to offsite", "a storage added later catches up (what it has is skipped)" },
  },
  run = run,
}
