-- moonbak verify JOB [BACKUP|--all]: re-read backups and check both checksums.
local mb = require "moonbak"
local sys = require "moonbak.sys"
local lib = require "moonbak.clilib"

-- What verify JOB [BACKUP|--all] reads -> job, keys, targets (sidecars),
-- problems (storages or sidecars that cannot be read: failures too), or
-- nil, message, job when there is nothing to verify.
local function prepare(cfg, name, id, opts)
  local job = lib.load_resolved_job(cfg, name, true)
  local keys = lib.backup_keys(job, opts)
  if opts.all then
    local targets, problems = mb.backups.list(job, opts.storage)
    if #targets == 0 and #problems == 0 then return nil, ("job %s has no backups"):format(job.name), job end
    return job, keys, targets, problems
  end
  local meta, err = mb.backups.find(job, id, opts.storage)
  if not meta then return nil, err, job end
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

-- The record of a verification in the state database (kind "verify"):
-- the daemon's claim (MOONBAK_EXECUTION) taken over, else an execution of
-- its own (trigger "manual"), so that history shows every check.  A state
-- that cannot be opened or written does not stop a verification: verify
-- says it could not record it and goes on (restore and verify work on a
-- machine with the storages alone).
-- -> record { st, execution }, or nil and why; refused (true) when the
-- daemon's claim cannot be taken (not pending any more, or not a
-- verification's).
local function open_record(cfg, job, claimed)
  local st, err = mb.state.open(cfg.state_dir)
  if not st then return nil, err end
  local ok, ex, why = pcall(function()
    if claimed then return st:take_claim(claimed, job.name, "verify") end
    return st:start_execution(job.name, "manual", "verify")
  end)
  if not ok or not ex then
    local message = ok and why or st:explain(ex, "the verification could not be recorded")
    st:close()
    return nil, message, ok and claimed ~= nil
  end
  return { st = st, execution = ex }
end

-- A log line: into the execution log (record may be nil: kept only for
-- the notification); a state that fails now is said once, on stderr.
local function log(record, lines, level, message)
  message = lib.redact(message)
  lines[#lines + 1] = { time = mb.state.timestamp(), level = level, step = "verify", message = message }
  if not record or record.broken then return end
  local ok, err = pcall(record.st.add_log, record.st, record.execution.id, level, "verify", message)
  if not ok then
    record.broken = true
    lib.eprint("moonbak: warning: %s", record.st:explain(err, "the verification's log could not be recorded"))
  end
end

-- The error of a failed verification: the backups that failed, by name.
local function failure_text(results, problems, prepare_error)
  if prepare_error then return prepare_error end
  local parts = {}
  for _, p in ipairs(problems) do parts[#parts + 1] = p end
  for _, r in ipairs(results) do
    if not r.ok then
      -- verify's own messages name the backup already
      local named = tostring(r.error):find(r.backup_id, 1, true)
      parts[#parts + 1] = named and r.error or ("backup %s on %s: %s"):format(r.backup_id, r.storage, r.error)
    end
  end
  return lib.redact(table.concat(parts, "; "))
end

-- The job's notifiers hear of a failed verification (event verify_failed),
-- each delivery recorded and logged with the execution.
local function notify_failure(job, record, lines, outcome)
  if not job.notify or #job.notify == 0 then return end
  local event
  if record then
    event = mb.notify.execution_event(record.st, record.st:execution(record.execution.id))
  else
    event = mb.notify.event { event = "verify_failed", job = job.name, status = outcome.status,
                              trigger = "manual", started_at = outcome.started_at,
                              finished_at = mb.state.timestamp(), error = outcome.error,
                              log = mb.notify.log_tail(lines) }
  end
  local ok, err = pcall(mb.notify.deliver, job.notify, event, {
    state = record and record.st,
    log = function(level, message) log(record, lines, level, message) end,
    record = record and function(_, r)
      local fine, derr = pcall(record.st.add_delivery, record.st, record.execution.id, r)
      if not fine then lib.eprint("moonbak: warning: %s", record.st:explain(derr, "the delivery could not be recorded")) end
    end,
  })
  if not ok then lib.eprint("moonbak: warning: notifications: %s", lib.redact(tostring(err))) end
end

-- Loads the job; started by the daemon, a job that no longer loads fails
-- the claimed execution, saying why.
local function prepare_claimed(cfg, args, opts, claimed)
  local ok, job, keys, targets, problems = pcall(prepare, cfg, args[1], args[2], opts)
  if ok then return job, keys, targets, problems end
  if claimed and getmetatable(job) == lib.Exit then
    local st <close> = mb.state.open(cfg.state_dir)
    local why = lib.redact(job.message)
    if st then
      pcall(st.finish_execution, st, claimed, "failed",
            job.status == 2 and "the job file could not be loaded: " .. why or why)
    end
  end
  error(job, 0)
end

local function run(cfg, args, opts)
  if opts.all and args[2] then lib.usage_error("verify: a BACKUP and --all exclude each other: give one") end
  sys.catch_interrupts()
  local claimed = math.tointeger(tonumber(os.getenv("MOONBAK_EXECUTION") or ""))
  local job, keys, targets, problems = prepare_claimed(cfg, args, opts, claimed)
  local prepare_error
  if not job then
    job, prepare_error, keys, targets, problems = targets, keys, nil, {}, {}
  end
  local record, rerr, refused = open_record(cfg, job, claimed)
  if refused then lib.eprint("moonbak: %s", rerr); return 1 end
  if not record then lib.eprint("moonbak: warning: this verification is not recorded: %s", rerr) end
  local started_at = record and record.execution.started_at or mb.state.timestamp()
  local lines, results = {}, {}
  if prepare_error then
    lib.eprint("moonbak: %s", prepare_error)
    log(record, lines, "error", prepare_error)
  end
  -- an unlistable storage or a sidecar without its artifact is a failure too
  for _, p in ipairs(problems) do
    lib.eprint("FAILED  %s", p)
    log(record, lines, "error", p)
  end
  local failed = #problems
  for _, meta in ipairs(targets) do
    if sys.interrupted() then break end
    local r = check(job, meta, keys, lib.progress_label(opts, "verify " .. meta.backup_id))
    results[#results + 1] = r
    print(line(r))
    log(record, lines, r.ok and "info" or "error", line(r))
    if not r.ok then failed = failed + 1 end
  end
  local signal = sys.interrupted()
  local outcome = { started_at = started_at, status = "success" }
  if signal then
    outcome.status, outcome.error = "cancelled", ("interrupted by signal %d"):format(signal)
  elseif failed > 0 or prepare_error then
    outcome.status, outcome.error = "failed", failure_text(results, problems, prepare_error)
  end
  log(record, lines, outcome.status == "success" and "info" or "error",
      ("finished: %s, %d backup(s) checked, %d failed"):format(outcome.status, #results, failed))
  if record then
    local list = {}
    for i, r in ipairs(results) do
      list[i] = { backup_id = r.backup_id, storage = r.storage, ok = r.ok, error = r.error }
    end
    local ok, err = pcall(record.st.finish_execution, record.st, record.execution.id, outcome.status,
                          outcome.error, { backups = list, checked = #results, failed = failed })
    if not ok then
      lib.eprint("moonbak: %s", record.st:explain(err, ("the result of verification %d could not be recorded")
        :format(record.execution.id)))
    end
  end
  if outcome.status ~= "success" then
    notify_failure(job, record, lines, outcome)
  end
  if record then record.st:close() end
  return outcome.status == "success" and 0 or 1
end

return {
  usage = { { "verify JOB [BACKUP|--all] [--identity FILE]", "re-read backups and check both checksums" } },
  description = [[
Reads a backup (BACKUP, or the newest not dated in the future) back from its
storage and checks the sha256 of the stored bytes and, when it can decrypt
them, of the dump.  Each verification is recorded in the state database
(history shows it, kind verify) and a failed one is notified (event
verify_failed); without a usable state database it still runs, and says it
could not record.  The daemon runs it on the job's verify schedule.]],
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
