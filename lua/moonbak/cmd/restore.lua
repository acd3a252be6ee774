-- moonbak restore JOB [BACKUP] (--output FILE | --to DATABASE): a backup's
-- dump into a file, or loaded into a database of the job's server.
local mb = require "moonbak"
local sys = require "moonbak.sys"
local lib = require "moonbak.clilib"

-- Restores backup id (nil: the newest not dated in the future) of job name
-- into opts.output (a file; opts.force replaces it) or opts.to (a database
-- of the job's server; opts.create makes it) -> { backup_id, storage, into,
-- size, sha256 } | nil, message.  Bad usage raises (lib.usage_error).
local function restore(cfg, name, id, opts)
  if opts.output and opts.to then lib.usage_error("restore: --output and --to exclude each other: give one") end
  local job = lib.load_resolved_job(cfg, name, true)
  if not opts.output and not opts.to then lib.usage_error("restore: --output FILE or --to DATABASE is required") end
  local meta, err = mb.backups.find(job, id, opts.storage)
  if not meta then return nil, err end
  local keys = lib.backup_keys(job, opts)
  local progress = lib.progress_label(opts, "restore " .. meta.backup_id)
  local result, rerr, where
  if opts.to then
    local spec = {}
    for k, v in pairs(job.source) do spec[k] = v end
    spec.temp_dir = mb.state.temp_dir(cfg.state_dir)
    -- "*": into the database(s) the backup came from
    local target = opts.to ~= "*" and opts.to or nil
    result, rerr = mb.backups.restore_to_database(job, meta, spec, target, opts.create, keys, progress)
    where = ("database %s"):format(opts.to)
  else
    result, rerr = mb.backups.restore_to_file(job, meta, opts.output, opts.force, keys, progress)
    where = opts.output
  end
  if not result then return nil, "restore failed: " .. lib.redact(rerr) end
  return { backup_id = meta.backup_id, storage = meta.storage, into = where, size = result.bytes_out,
           sha256 = result.sha256_out }
end

-- A restore's result as the command prints it.
local function summary(r)
  return ("restored backup %s from %s into %s (%s, sha256 %s)"):format(r.backup_id, r.storage,
    r.into, lib.human_size(r.size), r.sha256)
end

local function run(cfg, args, opts)
  sys.catch_interrupts() -- an interrupted restore leaves nothing behind
  local r, err = restore(cfg, args[1], args[2], opts)
  if not r then lib.eprint("moonbak: %s", err); return 1 end
  print(summary(r))
  return 0
end

return {
  usage = {
    { "restore JOB [BACKUP] --output FILE [--force] [--identity FILE]", "restore a backup's dump into FILE" },
    { "restore JOB [BACKUP] --to DATABASE [--create] [--identity FILE]",
      "load a backup into a database of the job's server\n('*': into the database(s) it came from)" },
  },
  description = [[
BACKUP is a backup id (moonbak backups JOB lists them); without it, the newest
backup not dated in the future.  Both checksums are checked before the file or
the database is written; an interrupted restore leaves nothing behind.]],
  options = {
    { "output", value = "FILE", short = "o", help = "write the dump into FILE" },
    { "force", help = "with --output: replace FILE when it exists" },
    { "to", value = "DATABASE", help = "load the dump into DATABASE on the job's server ('*': as named in the dump)" },
    { "create", help = "with --to: create DATABASE first" },
    { "storage", value = "NAME", help = "read from the job's storage named NAME (default: the first that has it)" },
    lib.IDENTITY,
    lib.QUIET,
  },
  max_args = 2,
  exit = "0 restored, 1 the restore failed (nothing is left behind), 2 bad usage or a bad job file",
  examples = {
    { "moonbak restore shop --output shop.sql",
      "the newest backup's dump of shop into shop.sql" },
    { "moonbak restore shop 20261129T030000Z --to shop_copy --create",
      "that backup into a new database shop_copy on the job's server" },
  },
  run = run,
  restore = restore,
  summary = summary,
}
