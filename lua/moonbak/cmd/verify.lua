-- moonbak verify JOB [BACKUP|--all]: re-read backups and check both checksums.
local mb = require "moonbak"
local sys = require "moonbak.sys"
local lib = require "moonbak.clilib"

-- What verify JOB [BACKUP|--all] reads -> job, keys, targets (sidecars),
-- problems (storages or sidecars that cannot be read: failures too), or
-- nil, message when there is nothing to verify.
local function prepare(cfg, name, id, opts)
  local job = lib.load_resolved_job(cfg, name, true)
  local keys = lib.backup_keys(job, opts)
  if opts.all then
    local targets, problems = mb.backups.list(job, opts.storage)
    if #targets == 0 and #problems == 0 then return nil, ("job %s has no backups"):format(job.name) end
    return job, keys, targets, problems
  end
  local meta, err = mb.backups.find(job, id, opts.storage)
  if not meta then return nil, err end
  return job, keys, { meta }, {}
end

-- Verifies one backup -> { backup_id, storage, ok, plain_checked, size,
-- logical_size, sha256 (of the dump, when checked), error }.
local function check(job, meta, keys, progress)
  local result, err = mb.backups.verify(job, meta, keys, progress)
  if not result then
    return { backup_id = meta.backup_id, storage = meta.storage, ok = false, error = lib.redact(err) }
  end
  return { backup_id = meta.backup_id, storage = meta.storage, ok = true, plain_checked = result.plain_checked,
           size = result.bytes_in, logical_size = result.bytes_out,
           sha256 = result.plain_checked and result.sha256_out or nil }
end

-- A result of check as the command prints it.
local function line(r)
  if r.ok and r.plain_checked then
    return ("ok      %s on %s: %s stored, %s dump, sha256 %s"):format(r.backup_id, r.storage,
      lib.human_size(r.size), lib.human_size(r.logical_size), r.sha256)
  elseif r.ok then
    return ("ok      %s on %s: %s stored bytes intact (encrypted: pass --identity FILE to check the dump too)")
      :format(r.backup_id, r.storage, lib.human_size(r.size))
  end
  return lib.redact(("FAILED  %s on %s: %s"):format(r.backup_id, r.storage, r.error))
end

local function run(cfg, args, opts)
  if opts.all and args[2] then lib.usage_error("verify: a BACKUP and --all exclude each other: give one") end
  sys.catch_interrupts()
  local job, keys, targets, problems = prepare(cfg, args[1], args[2], opts)
  if not job then lib.eprint("moonbak: %s", keys); return 1 end
  -- an unlistable storage or a sidecar without its artifact is a failure too
  for _, p in ipairs(problems) do lib.eprint("FAILED  %s", p) end
  local failed = #problems
  for _, meta in ipairs(targets) do
    local r = check(job, meta, keys, lib.progress_label(opts, "verify " .. meta.backup_id))
    print(line(r))
    if not r.ok then failed = failed + 1 end
  end
  return failed == 0 and 0 or 1
end

return {
  usage = { { "verify JOB [BACKUP|--all] [--identity FILE]", "re-read backups and check both checksums" } },
  description = [[
Reads a backup (BACKUP, or the newest not dated in the future) back from its
storage and checks the sha256 of the stored bytes and, when it can decrypt
them, of the dump.]],
  options = {
    { "all", help = "every backup of the job, on every storage (or on --storage NAME)" },
    { "storage", value = "NAME", help = "read from the job's storage named NAME (default: the first that has it)" },
    lib.IDENTITY,
    lib.QUIET,
  },
  max_args = 2,
  exit = "0 every backup checked is intact, 1 one is not (or cannot be read or found), " ..
         "2 bad usage or a bad job file",
  examples = {
    { "moonbak verify shop", "re-read the newest backup of shop and check its checksums" },
    { "moonbak verify shop --all --identity key.txt",
      "every backup, decrypting each to check the dump too" },
  },
  run = run,
  prepare = prepare,
  check = check,
  line = line,
}
