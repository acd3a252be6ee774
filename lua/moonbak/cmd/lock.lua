-- moonbak lock JOB BACKUP [--reason TEXT] (and unlock, lua/moonbak/cmd/unlock.lua):
-- a lock in the backup's sidecar on every storage that holds it, which no
-- retention rule removes.  The sidecar is the truth; the catalog follows.
local mb = require "moonbak"
local lib = require "moonbak.clilib"

-- The catalog follows the sidecars; a state database that cannot be
-- written is a warning: the lock is in the sidecars all the same.
local function record(cfg, results)
  local st, err = mb.state.open(cfg.state_dir)
  if not st then lib.eprint("moonbak: warning: the catalog is not updated: %s", err); return end
  for _, r in ipairs(results) do
    if r.meta then
      local ok, cerr = pcall(st.add_to_catalog, st, mb.backups.catalog_entry(r.meta))
      if not ok then lib.eprint("moonbak: warning: the catalog is not updated: %s", st:explain(cerr)) end
    end
  end
  st:close()
end

local function set_lock(locked)
  return function(cfg, args, opts)
    if not args[2] then lib.usage_error("missing BACKUP (see moonbak backups %s)", args[1] or "JOB") end
    local job = lib.load_resolved_job(cfg, args[1])
    -- never beside a run's retention or a prune of the job, which could
    -- remove the backup between the reading of its sidecar and its rewrite
    local st <close> = lib.open_state(cfg)
    local lock <close> = lib.lock_job(st, job)
    local results, err = mb.backups.set_lock(job, args[2], { locked = locked, reason = opts.reason,
                                                             at = mb.state.timestamp() })
    if not results then lib.exit_with(1, "%s", err) end
    record(cfg, results)
    local failed = 0
    for _, r in ipairs(results) do
      if r.ok then
        print(("%s %s on %s%s"):format(locked and "locked" or "unlocked", args[2], r.storage,
                                       locked and opts.reason and (" (" .. opts.reason .. ")") or ""))
      else
        failed = failed + 1
        lib.eprint("moonbak: %s on %s: not %s: %s", args[2], r.storage, locked and "locked" or "unlocked", r.error)
      end
    end
    return failed == 0 and 0 or 1
  end
end

local M = {
  usage = { { "lock JOB BACKUP [--reason TEXT]", "keep a backup whatever the retention says" } },
  description = [[
Writes locked = true (with the reason and the time) into the backup's sidecar
on every storage of the job that holds it, and into the catalog.  No retention
rule removes a locked backup; `moonbak unlock JOB BACKUP` undoes it.]],
  options = { { "reason", value = "TEXT", help = "why, shown by backups" } },
  max_args = 2,
  exit = "0 locked on every storage that holds it, 1 not on one of them (or no such backup), " ..
         "2 bad usage or a bad job file",
  examples = {
    { "moonbak lock shop 20261128T030000Z --reason 'audit 2026'", "keep that backup until it is unlocked" },
  },
  run = set_lock(true),
}

-- The unlock command, in the same file: the two differ by one flag.
M.unlock = {
  usage = { { "unlock JOB BACKUP", "let retention remove a locked backup again" } },
  description = [[
Writes locked = false into the backup's sidecar on every storage of the job
that holds it (the reason goes), and into the catalog.]],
  max_args = 2,
  exit = "0 unlocked on every storage that holds it, 1 not on one of them (or no such backup), " ..
         "2 bad usage or a bad job file",
  examples = {
    { "moonbak unlock shop 20261128T030000Z", "let the retention remove it again" },
  },
  run = set_lock(false),
}

return M
