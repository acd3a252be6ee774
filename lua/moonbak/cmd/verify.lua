-- moonbak verify JOB [BACKUP|--all]: re-read backups and check both checksums.
local mb = require "moonbak"
local sys = require "moonbak.sys"
local lib = require "moonbak.clilib"

local function run(cfg, args, opts)
  if opts.all and args[2] then lib.usage_error("verify: a BACKUP and --all exclude each other: give one") end
  sys.catch_interrupts()
  local job = lib.load_resolved_job(cfg, args[1], true)
  local keys = lib.backup_keys(job, opts)
  local targets, problems = {}, {}
  if opts.all then
    targets, problems = mb.backups.list(job, opts.storage)
    -- an unlistable storage or a sidecar without its artifact is a failure too
    for _, p in ipairs(problems) do lib.eprint("FAILED  %s", p) end
    if #targets == 0 and #problems == 0 then lib.eprint("moonbak: job %s has no backups", job.name); return 1 end
  else
    local meta, err = mb.backups.find(job, args[2], opts.storage)
    if not meta then lib.eprint("moonbak: %s", err); return 1 end
    targets[1] = meta
  end
  local failed = #problems
  for _, meta in ipairs(targets) do
    local result, err = mb.backups.verify(job, meta, keys, lib.progress_label(opts, "verify " .. meta.backup_id))
    if result and result.plain_checked then
      print(("ok      %s on %s: %s stored, %s dump, sha256 %s"):format(meta.backup_id, meta.storage,
        lib.human_size(result.bytes_in), lib.human_size(result.bytes_out), result.sha256_out))
    elseif result then
      print(("ok      %s on %s: %s stored bytes intact (encrypted: pass --identity FILE to check the dump too)")
        :format(meta.backup_id, meta.storage, lib.human_size(result.bytes_in)))
    else
      failed = failed + 1
      print(lib.redact(("FAILED  %s on %s: %s"):format(meta.backup_id, meta.storage, err)))
    end
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
  run = run,
}
