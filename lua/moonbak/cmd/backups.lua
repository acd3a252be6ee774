-- moonbak backups JOB: the backups on the job's storages, from their sidecars.
local mb = require "moonbak"
local lib = require "moonbak.clilib"

-- The backups of job name (on its storage storage_name, or on all) ->
-- list, problems (storages or sidecars that could not be read).
local function list_backups(cfg, name, storage_name)
  local job = lib.load_resolved_job(cfg, name, true)
  return mb.backups.list(job, storage_name)
end

local function run(cfg, args, opts)
  local list, problems = list_backups(cfg, args[1], opts.storage)
  for _, p in ipairs(problems) do lib.eprint("warning: %s", p) end
  if opts.json then lib.json_out(list) return 0 end
  local rows = {}
  for _, b in ipairs(list) do
    local lock = b.locked and ("locked" .. (b.lock_reason and (" (" .. b.lock_reason .. ")") or "")) or nil
    rows[#rows + 1] = { b.backup_id, b.storage, lib.human_size(b.size), lib.human_size(b.logical_size),
                        b.finished_at, b.path, lock }
  end
  lib.print_table({ "BACKUP", "STORAGE", "SIZE", "DUMP SIZE", "FINISHED", "PATH", "LOCK" }, rows)
  return 0
end

return {
  usage = { { "backups JOB", "backups on the job's storages (from their sidecars)" } },
  description = [[
Lists what the storages hold, read from the sidecars (BACKUP.meta.json), newest
first, with their locks (moonbak lock); a storage that cannot be listed is a
warning on stderr.]],
  options = {
    lib.JSON,
    { "storage", value = "NAME", help = "only the job's storage named NAME" },
  },
  max_args = 1,
  exit = "0 success, 1 a reference (env, secret) cannot be resolved, 2 bad usage or a bad job file",
  examples = {
    { "moonbak backups shop",
      "the backups of the job shop on all its storages, newest first" },
    { "moonbak backups shop --storage s3 --json", "those on its storage named s3, as JSON" },
  },
  run = run,
  list = list_backups,
}
