-- The state database: jobs, executions, execution logs, the backup
-- catalog and secrets, in one SQLite file in the state directory.
local sqlite = require "moonbak.sqlite"
local sys = require "moonbak.sys"
local cjson = require "cjson"

local M = {}
local State = {}
State.__index = State

-- Each entry migrates from user_version i-1 to i.
local migrations = {
  [[
  CREATE TABLE jobs (
    name TEXT PRIMARY KEY, file TEXT, schedule TEXT, updated_at TEXT);
  CREATE TABLE executions (
    id INTEGER PRIMARY KEY, job TEXT NOT NULL, status TEXT NOT NULL
      CHECK (status IN ('pending','running','success','partial','failed','cancelled','interrupted')),
    trigger TEXT NOT NULL, pid INTEGER, host TEXT, started_at TEXT NOT NULL,
    finished_at TEXT, error TEXT, metadata TEXT);
  CREATE INDEX executions_by_job ON executions (job, id);
  CREATE TABLE execution_logs (
    id INTEGER PRIMARY KEY, execution_id INTEGER NOT NULL REFERENCES executions (id),
    time TEXT NOT NULL, level TEXT NOT NULL, step TEXT, message TEXT NOT NULL);
  CREATE INDEX execution_logs_by_execution ON execution_logs (execution_id, id);
  CREATE TABLE catalog (
    job TEXT NOT NULL, backup_id TEXT NOT NULL, storage TEXT NOT NULL, path TEXT NOT NULL,
    size INTEGER, logical_size INTEGER, sha256 TEXT, plain_sha256 TEXT,
    execution_id INTEGER REFERENCES executions (id), created_at TEXT,
    PRIMARY KEY (job, backup_id, storage));
  CREATE TABLE secrets (
    name TEXT PRIMARY KEY, sealed BLOB NOT NULL, created_at TEXT, updated_at TEXT);
  ]],
  -- the pid alone cannot tell a live run from a dead one whose pid was reused
  [[
  ALTER TABLE executions ADD COLUMN pid_start TEXT;
  ]],
  -- the backup a run was writing, so that what a dead run left can be told
  -- from what another machine's run is writing now
  [[
  ALTER TABLE executions ADD COLUMN backup_id TEXT;
  ]],
  -- the scheduler: status "skipped", the fire time a run was claimed for
  -- (once per job and fire time: the unique index is the claim), retries
  -- linked to their first attempt, and what the daemon knows of each job.
  -- SQLite cannot change a CHECK: the table is rebuilt, ids kept (the
  -- logs and the catalog refer to them; checked before the COMMIT).
  [[
  CREATE TABLE executions_v4 (
    id INTEGER PRIMARY KEY, job TEXT NOT NULL, status TEXT NOT NULL
      CHECK (status IN ('pending','running','success','partial','failed','cancelled',
                        'interrupted','skipped')),
    trigger TEXT NOT NULL, pid INTEGER, host TEXT, started_at TEXT NOT NULL,
    finished_at TEXT, error TEXT, metadata TEXT, pid_start TEXT, backup_id TEXT,
    scheduled_for TEXT, attempt INTEGER NOT NULL DEFAULT 1,
    retry_of INTEGER REFERENCES executions_v4 (id));
  INSERT INTO executions_v4 (id, job, status, trigger, pid, host, started_at, finished_at, error,
                             metadata, pid_start, backup_id)
    SELECT id, job, status, trigger, pid, host, started_at, finished_at, error, metadata,
           pid_start, backup_id FROM executions;
  DROP TABLE executions;
  ALTER TABLE executions_v4 RENAME TO executions;
  CREATE INDEX executions_by_job ON executions (job, id);
  CREATE UNIQUE INDEX executions_by_fire_time ON executions (job, scheduled_for, attempt)
    WHERE scheduled_for IS NOT NULL;
  CREATE TABLE job_schedule (
    job TEXT PRIMARY KEY, since TEXT NOT NULL, last_fire TEXT,
    paused_at TEXT, pause_reason TEXT);
  ]],
  -- what each notifier answered, per execution (moonbak log shows it)
  [[
  CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY, execution_id INTEGER NOT NULL REFERENCES executions (id),
    time TEXT NOT NULL, notifier TEXT NOT NULL, type TEXT NOT NULL, event TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('sent', 'failed')), code INTEGER, attempts INTEGER,
    seconds REAL, answer TEXT, error TEXT);
  CREATE INDEX deliveries_by_execution ON deliveries (execution_id, id);
  ]],
  -- recovery: what an execution did (a backup run, a restore drill, a
  -- scheduled verification), each kind with fire times of its own; and a
  -- backup's lock as the catalog knows it (its sidecar is the truth)
  [[
  ALTER TABLE executions ADD COLUMN kind TEXT NOT NULL DEFAULT 'backup'
    CHECK (kind IN ('backup', 'drill', 'verify'));
  DROP INDEX executions_by_fire_time;
  CREATE UNIQUE INDEX executions_by_fire_time ON executions (job, kind, scheduled_for, attempt)
    WHERE scheduled_for IS NOT NULL;
  ALTER TABLE catalog ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE catalog ADD COLUMN lock_reason TEXT;
  ]],
  -- what the daemon remembers of a job's verify and drill schedules: since
  -- when each is scheduled and the newest fire time it handled (a backup
  -- schedule's stay in job_schedule, with the job's pause)
  [[
  CREATE TABLE kind_schedule (
    job TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('drill', 'verify')),
    since TEXT NOT NULL, last_fire TEXT, PRIMARY KEY (job, kind));
  ]],
}

M.schema_version = #migrations

-- ISO 8601 UTC with milliseconds: sorts as text, reads as time.
function M.timestamp(t)
  t = t or sys.now()
  local seconds = math.floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. (".%03dZ"):format(math.floor((t - seconds) * 1000))
end

-- The other way: a timestamp as written above (or without fractions) ->
-- epoch seconds, with fractions; nil for anything else.
function M.parse_timestamp(ts)
  if type(ts) ~= "string" then return nil end
  local y, mo, d, h, mi, s, ms = ts:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)%.?(%d*)Z$")
  if not y then return nil end
  local t = require("moonbak.schedule").parse_iso(("%s-%s-%sT%s:%s:%sZ"):format(y, mo, d, h, mi, s))
  if not t then return nil end
  if ms ~= "" then t = t + tonumber("0." .. ms) end
  return t
end

local function schema_version(db, path)
  local version = db:query("PRAGMA user_version")[1].user_version
  if version > #migrations then
    error(("state database %s has schema version %d, newer than this moonbak knows (%d)")
      :format(path, version, #migrations), 0)
  end
  return version
end

-- Several processes may open a new state at once (the daemon's runs, two
-- commands): the version is read again once the write lock is held, so
-- each migration runs once.
-- Foreign keys are off while a migration rebuilds a table (SQLite's
-- recipe: the pragma cannot change inside a transaction), and checked
-- before the COMMIT.
local function migrate(db, path)
  if schema_version(db, path) == #migrations then return end
  db:exec("PRAGMA foreign_keys = OFF")
  db:exec("BEGIN IMMEDIATE")
  local ok, err = pcall(function()
    for v = schema_version(db, path) + 1, #migrations do
      db:exec(migrations[v] .. ("; PRAGMA user_version = %d"):format(v))
    end
    local dangling = db:query("PRAGMA foreign_key_check")[1]
    if dangling then
      error(("migration left a reference from %s to a missing row of %s"):format(dangling.table, dangling.parent), 0)
    end
  end)
  if not ok then
    db:exec("ROLLBACK")
    db:exec("PRAGMA foreign_keys = ON")
    error(err, 0)
  end
  db:exec("COMMIT")
  db:exec("PRAGMA foreign_keys = ON")
end

-- The processes that hold a POSIX lock on path (or its -wal, -shm), from
-- /proc/locks: SQLite's own locks, for "locked by pid N".
local function lock_holders(path, only)
  local inodes = {}
  for _, p in ipairs(only and { path } or { path, path .. "-wal", path .. "-shm" }) do
    local st = sys.stat(p)
    if st and st.ino then inodes[st.ino] = true end
  end
  local f = io.open("/proc/locks", "r")
  if not f then return {} end
  local pids, seen = {}, {}
  for line in f:lines() do
    local pid, inode = line:match("^%d+:%s+%S+%s+%S+%s+%S+%s+(%d+)%s+%x+:%x+:(%d+)")
    pid, inode = tonumber(pid), tonumber(inode)
    if pid and inodes[inode] and pid ~= sys.pid() and not seen[pid] then
      seen[pid] = true
      pids[#pids + 1] = pid
    end
  end
  f:close()
  table.sort(pids)
  return pids
end

-- A state database error as the operator needs it: what could not be
-- done, the database's path, what went wrong and what to do about it.
-- The processes that hold a lock (flock or POSIX) on the file path.
function M.lock_holders(path)
  return lock_holders(path, true)
end

local function explain(path, err, what)
  err = tostring(err):gsub("^state database: ", "")
  local prefix = (what and what .. ": " or "") .. "state database " .. path
  local lower = err:lower()
  if lower:find("locked", 1, true) or lower:find("busy", 1, true) then
    local pids = lock_holders(path)
    local by = #pids > 0 and (" by pid " .. table.concat(pids, ", pid ")) or ""
    return ("%s is locked%s and stayed locked past the busy timeout: try again when that process is done"):format(prefix, by)
  elseif lower:find("full", 1, true) then
    return ("%s: the disk is full (%s): free space on its file system"):format(prefix, err)
  elseif lower:find("malformed", 1, true) or lower:find("not a database", 1, true) then
    return ("%s is malformed (%s): move it aside (mv %s %s.bad); backups are still listed from the storages, and the next run creates a new state database")
      :format(prefix, err, path, path)
  elseif lower:find("readonly", 1, true) or lower:find("unable to open", 1, true) then
    return ("%s cannot be written (%s): check the permissions of it and of %s"):format(prefix, err, path:match("^(.*)/") or ".")
  end
  return ("%s: %s"):format(prefix, err)
end
M.explain = explain

function State:explain(err, what)
  return explain(self.path, err, what)
end

-- state.open(dir) -> State | nil, message
function M.open(dir)
  if type(dir) ~= "string" or dir == "" then return nil, "state directory: empty path" end
  local ok, err = sys.mkdirs(dir, 448) -- 0700: it holds sealed secrets and logs
  if not ok then return nil, err end
  local path = dir .. "/moonbak.db"
  -- created 0600 before SQLite opens it (its -wal and -shm take its mode)
  if not sys.stat(path) then sys.create_private(path, "") end
  local db, derr = sqlite.open(path)
  if not db then return nil, explain(path, derr, "cannot open") end
  local fine, merr = pcall(function()
    db:exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON")
    migrate(db, path)
  end)
  if not fine then
    db:close()
    return nil, explain(path, merr, "cannot open")
  end
  return setmetatable({ db = db, dir = dir, path = path }, State)
end

function State:close()
  if self.db then self.db:close() end
  self.db = nil
end
State.__close = State.close

-- A private temporary directory under the state directory; needs no
-- database, so that restore works with a broken one.
function M.temp_dir(state_dir)
  local dir = state_dir .. "/tmp"
  assert(sys.mkdirs(dir, 448))
  return dir
end

function State:temp_dir()
  return M.temp_dir(self.dir)
end

-- state:lock_job(name) -> lock | nil, message, holder: one run of a job at
-- a time on this state (see moonbak.lock; the kernel drops it on death).
function State:lock_job(name)
  local dir = self.dir .. "/locks"
  local ok, err = sys.mkdirs(dir, 448)
  if not ok then return nil, err end
  return require("moonbak.lock").acquire(("%s/%s.lock"):format(dir, name), ("pid %d\n"):format(sys.pid()))
end

function State:set_backup_id(execution_id, backup_id)
  self.db:run("UPDATE executions SET backup_id = ? WHERE id = ?", backup_id, execution_id)
end

-- The backup ids of this job's runs that ended without making their
-- backup (killed, failed, cancelled): what they left is nobody's work.
function State:dead_backup_ids(job_name)
  local ids = {}
  for _, row in ipairs(self.db:query([[SELECT backup_id FROM executions WHERE job = ? AND backup_id IS NOT NULL
                                       AND kind = 'backup' AND status IN ('interrupted', 'failed', 'cancelled')]], job_name)) do
    ids[row.backup_id] = true
  end
  return ids
end

-- The job's backup run in progress (kind: another kind), or nil.
function State:running_execution(job_name, kind)
  return self.db:query([[SELECT * FROM executions WHERE job = ? AND status = 'running' AND kind = ?
                         ORDER BY id DESC LIMIT 1]], job_name, kind or "backup")[1]
end

function State:remember_job(job)
  self.db:run([[INSERT INTO jobs (name, file, schedule, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET file = excluded.file,
                  schedule = excluded.schedule, updated_at = excluded.updated_at]],
              job.name, job.file, job.schedule, M.timestamp())
end

-- kind: "backup" (the default), "drill" or "verify".
function State:start_execution(job_name, trigger, kind)
  local _, id = self.db:run([[INSERT INTO executions (job, status, trigger, pid, pid_start, host, started_at, kind)
                              VALUES (?, 'running', ?, ?, ?, ?, ?, ?)]],
                            job_name, trigger or "manual", sys.pid(), sys.process_start_time(sys.pid()),
                            sys.hostname(), M.timestamp(), kind or "backup")
  return self:execution(id)
end

-- The scheduler's claim on one fire time of a job (scheduled_for, ISO
-- UTC), made atomically by the unique index: the execution (status
-- "pending", trigger "schedule") or nil when that fire time (that attempt)
-- was claimed before, by this daemon or another.  opts: attempt, retry_of,
-- kind (default "backup": each kind has fire times of its own).
function State:claim(job_name, scheduled_for, opts)
  opts = opts or {}
  local changes, id = self.db:run([[INSERT INTO executions (job, status, trigger, pid, pid_start,
                                      host, started_at, scheduled_for, attempt, retry_of, kind)
                                    VALUES (?, 'pending', 'schedule', ?, ?, ?, ?, ?, ?, ?, ?)
                                    ON CONFLICT DO NOTHING]],
                                  job_name, sys.pid(), sys.process_start_time(sys.pid()),
                                  sys.hostname(), M.timestamp(), scheduled_for,
                                  opts.attempt or 1, opts.retry_of, opts.kind or "backup")
  if changes ~= 1 then return nil end
  return self:execution(id)
end

-- A fire time that was not run: claimed and recorded "skipped" with why,
-- in one statement: its execution id, or nil when it was claimed before.
-- kind: whose fire time (default "backup").
function State:skip(job_name, scheduled_for, reason, kind)
  local now = M.timestamp()
  local changes, id = self.db:run([[INSERT INTO executions (job, status, trigger, host, started_at,
                                  finished_at, scheduled_for, error, kind)
                                VALUES (?, 'skipped', 'schedule', ?, ?, ?, ?, ?, ?)
                                ON CONFLICT DO NOTHING]],
                              job_name, sys.hostname(), now, now, scheduled_for, reason, kind or "backup")
  return changes == 1 and id or nil
end

-- The run process takes over the execution the daemon claimed for it:
-- the execution, or nil and why (it is not pending any more, or it was
-- claimed for another kind of execution).  kind: "backup" (the default),
-- "drill" or "verify", what the process taking it does.
function State:take_claim(id, job_name, kind)
  kind = kind or "backup"
  local changes = self.db:run([[UPDATE executions SET status = 'running', pid = ?, pid_start = ?,
                                  started_at = ? WHERE id = ? AND status = 'pending' AND job = ?
                                  AND kind = ?]],
                              sys.pid(), sys.process_start_time(sys.pid()), M.timestamp(), id, job_name, kind)
  if changes ~= 1 then
    local e = self:execution(id)
    if e and e.status == "pending" and e.kind ~= kind then
      -- a drill's claim taken by a backup run (or the other way round)
      -- would run the wrong thing for that fire time: left to its owner
      return nil, ("execution %d was claimed for a %s, not a %s"):format(id, e.kind, kind)
    end
    if e and e.status == "pending" then
      -- the job file now declares another job: its claim is not this run's
      local why = ("the job file now declares job %s, not %s"):format(job_name, e.job)
      self:finish_execution(id, "failed", why)
      return nil, ("execution %d: %s"):format(id, why)
    end
    return nil, e and ("execution %d is %s, not pending"):format(id, e.status)
                  or ("execution %d does not exist"):format(id)
  end
  return self:execution(id)
end

-- What the daemon remembers of a job: since when it schedules it, the
-- newest fire time it handled, and whether it is paused.  kind: of its
-- verify or drill schedule instead (since and last_fire only; the pause
-- is the job's).
function State:job_schedule(job_name, kind)
  if kind and kind ~= "backup" then
    return self.db:query("SELECT * FROM kind_schedule WHERE job = ? AND kind = ?", job_name, kind)[1]
  end
  return self.db:query("SELECT * FROM job_schedule WHERE job = ?", job_name)[1]
end

function State:schedule_since(job_name, since, kind)
  if kind and kind ~= "backup" then
    self.db:run("INSERT INTO kind_schedule (job, kind, since) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                job_name, kind, since)
  else
    self.db:run("INSERT INTO job_schedule (job, since) VALUES (?, ?) ON CONFLICT DO NOTHING",
                job_name, since)
  end
  return self:job_schedule(job_name, kind)
end

function State:set_last_fire(job_name, fire, kind)
  if kind and kind ~= "backup" then
    self.db:run([[UPDATE kind_schedule SET last_fire = ?
                  WHERE job = ? AND kind = ? AND (last_fire IS NULL OR last_fire < ?)]], fire, job_name, kind, fire)
    return
  end
  self.db:run([[UPDATE job_schedule SET last_fire = ?
                WHERE job = ? AND (last_fire IS NULL OR last_fire < ?)]], fire, job_name, fire)
end

function State:pause(job_name, reason)
  self.db:run([[INSERT INTO job_schedule (job, since, paused_at, pause_reason) VALUES (?, ?, ?, ?)
                ON CONFLICT (job) DO UPDATE SET paused_at = excluded.paused_at,
                  pause_reason = excluded.pause_reason]],
              job_name, os.date("!%Y-%m-%dT%H:%M:%SZ"), M.timestamp(), reason)
end

function State:resume(job_name)
  -- what went by while it was paused is not caught up, by a daemon
  -- running now or one started later
  local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local changes = self.db:run([[UPDATE job_schedule SET paused_at = NULL, pause_reason = NULL,
                                  last_fire = max(coalesce(last_fire, ''), ?)
                                WHERE job = ? AND paused_at IS NOT NULL]], now, job_name)
  if changes == 1 then
    self.db:run("UPDATE kind_schedule SET last_fire = max(coalesce(last_fire, ''), ?) WHERE job = ?",
                now, job_name)
  end
  return changes == 1
end

function State:finish_execution(id, status, err, metadata)
  self.db:run([[UPDATE executions SET status = ?, error = ?, metadata = ?, finished_at = ?
                WHERE id = ?]],
              status, err, metadata and cjson.encode(metadata) or nil, M.timestamp(), id)
end

function State:execution(id)
  return self.db:query("SELECT * FROM executions WHERE id = ?", id)[1]
end

-- Executions, newest first; job may be nil for all jobs.
function State:history(job_name, limit)
  if job_name then
    return self.db:query("SELECT * FROM executions WHERE job = ? ORDER BY id DESC LIMIT ?",
                         job_name, limit or 50)
  end
  return self.db:query("SELECT * FROM executions ORDER BY id DESC LIMIT ?", limit or 50)
end

function State:last_execution(job_name)
  return self:history(job_name, 1)[1]
end

-- The statuses an execution ends with (running and pending have not ended).
M.final_statuses = { "success", "partial", "failed", "cancelled", "interrupted", "skipped" }

-- How many backup runs (kind: executions of another kind) of the job ended
-- with each status: { status = n }.
function State:runs_by_status(job_name, kind)
  local counts = {}
  for _, row in ipairs(self.db:query([[SELECT status, count(*) AS n FROM executions WHERE job = ?
                                       AND kind = ? AND finished_at IS NOT NULL GROUP BY status]],
                                     job_name, kind or "backup")) do
    counts[row.status] = row.n
  end
  return counts
end

-- The backup run (kind: execution of another kind) of the job that ended
-- last with one of statuses (a list; nil: any), or nil.
function State:last_finished(job_name, statuses, kind)
  statuses = statuses or M.final_statuses
  local marks = ("?,"):rep(#statuses):sub(1, -2)
  return self.db:query(([[SELECT * FROM executions WHERE job = ? AND kind = ? AND finished_at IS NOT NULL
                          AND status IN (%s) ORDER BY finished_at DESC, id DESC LIMIT 1]]):format(marks),
                       job_name, kind or "backup", table.unpack(statuses))[1]
end

-- Backup runs of the job that have ended, the latest due first (reports,
-- trends).  An execution is due at its fire time (scheduled_for) when the
-- daemon claimed it, else when it started.  opts.statuses: a list (default:
-- every final status); opts.since: only those due at or after this time
-- (ISO 8601 UTC); opts.limit: at most this many (default 50); opts.kind:
-- executions of another kind ("drill", "verify").
function State:finished_executions(job_name, opts)
  opts = opts or {}
  local statuses = opts.statuses or M.final_statuses
  local marks = ("?,"):rep(#statuses):sub(1, -2)
  local args = { job_name, opts.kind or "backup", table.unpack(statuses) }
  args[#args + 1] = opts.since or ""
  args[#args + 1] = opts.limit or 50
  return self.db:query(([[SELECT * FROM executions WHERE job = ? AND kind = ? AND finished_at IS NOT NULL
                          AND status IN (%s) AND coalesce(scheduled_for, started_at) >= ?
                          ORDER BY coalesce(scheduled_for, started_at) DESC, id DESC LIMIT ?]]):format(marks),
                       table.unpack(args))
end

-- What the catalog holds of the job: { backups = the number of backups
-- (on any storage), newest = { backup_id, size, logical_size } or nil }.
function State:catalog_summary(job_name)
  local count = self.db:query("SELECT count(DISTINCT backup_id) AS n FROM catalog WHERE job = ?", job_name)[1].n
  local newest = self.db:query([[SELECT backup_id, max(size) AS size, max(logical_size) AS logical_size
                                 FROM catalog WHERE job = ? GROUP BY backup_id
                                 ORDER BY backup_id DESC LIMIT 1]], job_name)[1]
  return { backups = count, newest = newest }
end

function State:add_log(execution_id, level, step, message)
  self.db:run([[INSERT INTO execution_logs (execution_id, time, level, step, message)
                VALUES (?, ?, ?, ?, ?)]], execution_id, M.timestamp(), level, step, message)
end

function State:logs(execution_id)
  return self.db:query("SELECT * FROM execution_logs WHERE execution_id = ? ORDER BY id",
                       execution_id)
end

-- One notifier's answer (moonbak.notify's result) for an execution.
function State:add_delivery(execution_id, r)
  self.db:run([[INSERT INTO deliveries (execution_id, time, notifier, type, event, status, code,
                  attempts, seconds, answer, error) VALUES (?,?,?,?,?,?,?,?,?,?,?)]],
              execution_id, M.timestamp(), r.notifier, r.type, r.event, r.sent and "sent" or "failed",
              r.code, r.attempts, r.seconds, r.answer, r.error)
end

-- Executions found dead (interrupted) since `since` (ISO UTC) that no
-- notifier was told of: a machine that lost power during a run.
function State:unnotified_interrupted(since)
  return self.db:query([[SELECT id, job FROM executions e WHERE status = 'interrupted'
                           AND finished_at >= ?
                           AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.execution_id = e.id)
                         ORDER BY id]], since)
end

function State:deliveries(execution_id)
  return self.db:query("SELECT * FROM deliveries WHERE execution_id = ? ORDER BY id", execution_id)
end

-- An execution id this database does not hold for the job (a sidecar
-- written on another machine, read by catalog rebuild) is stored as NULL.
function State:add_to_catalog(entry)
  self.db:run([[INSERT OR REPLACE INTO catalog (job, backup_id, storage, path, size, logical_size,
                  sha256, plain_sha256, execution_id, created_at, locked, lock_reason)
                VALUES (?,?,?,?,?,?,?,?,(SELECT id FROM executions WHERE id = ? AND job = ?),?,?,?)]],
              entry.job, entry.backup_id, entry.storage, entry.path, entry.size,
              entry.logical_size, entry.sha256, entry.plain_sha256, entry.execution_id, entry.job,
              entry.created_at, entry.locked and 1 or 0, entry.lock_reason)
end

-- Makes the job's catalog what the storages hold, in one transaction:
-- entries (catalog rows, as add_to_catalog takes them) are added or
-- replaced, and every other row of the job is removed, except those of
-- the storages named in keep (name -> true: storages that could not be
-- listed, whose rows stay as they were).  -> added, removed (counts).
function State:rebuild_catalog(job_name, entries, keep)
  keep = keep or {}
  local wanted = {}
  for _, e in ipairs(entries) do wanted[e.backup_id .. "\0" .. e.storage] = true end
  self.db:exec("BEGIN IMMEDIATE")
  local ok, result = pcall(function()
    local removed = 0
    for _, row in ipairs(self.db:query("SELECT backup_id, storage FROM catalog WHERE job = ?", job_name)) do
      if not keep[row.storage] and not wanted[row.backup_id .. "\0" .. row.storage] then
        self:remove_from_catalog(job_name, row.backup_id, row.storage)
        removed = removed + 1
      end
    end
    for _, e in ipairs(entries) do
      assert(e.job == job_name, "rebuild_catalog: an entry of another job")
      self:add_to_catalog(e)
    end
    return removed
  end)
  if not ok then
    self.db:exec("ROLLBACK")
    error(result, 0)
  end
  self.db:exec("COMMIT")
  return #entries, result
end

function State:catalog(job_name)
  return self.db:query("SELECT * FROM catalog WHERE job = ? ORDER BY backup_id DESC", job_name)
end

function State:remove_from_catalog(job_name, backup_id, storage_name)
  self.db:run("DELETE FROM catalog WHERE job = ? AND backup_id = ? AND storage = ?",
              job_name, backup_id, storage_name)
end

-- The master key seals the secrets at rest: MOONBAK_MASTER_KEY_FILE, or
-- master.key in the state directory, created (mode 0600) on first use.
-- The file holds 64 hex digits.
function State:master_key()
  if self.key then return self.key end
  local crypto = require "moonbak.crypto"
  local path = os.getenv("MOONBAK_MASTER_KEY_FILE")
  if not path or path == "" then
    path = self.dir .. "/master.key"
    if not sys.stat(path) then
      -- a new key would leave every sealed secret unreadable, and seal new
      -- ones under a key the old ones do not share
      local sealed = self.db:query("SELECT count(*) AS n FROM secrets")[1].n
      if sealed > 0 then
        error(("master key %s is missing, and %d secret%s in %s %s sealed under it: put the file back (or remove the secrets with moonbak secret rm)")
          :format(path, sealed, sealed == 1 and "" or "s", self.path, sealed == 1 and "is" or "are"), 0)
      end
      local hex = crypto.random(32):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
      local ok, err = sys.create_private(path, hex .. "\n")
      if not ok and not sys.stat(path) then error(err, 0) end -- lost a race: fine
    end
  end
  local f, err = io.open(path, "rb")
  if not f then error(("master key: %s"):format(err), 0) end
  local hex = (f:read("a") or ""):match("^%s*(%x+)%s*$")
  f:close()
  if not hex or #hex ~= 64 then error(("master key %s: expected 64 hex digits"):format(path), 0) end
  self.key = hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  return self.key
end

-- A secret is sealed only under the key that opens the ones already
-- stored: a replaced master.key would otherwise split the store in two.
local function check_key_opens_store(self, key)
  local row = self.db:query("SELECT name, sealed FROM secrets LIMIT 1")[1]
  if row and not require("moonbak.crypto").unseal(key, row.name, row.sealed) then
    local n = self.db:query("SELECT count(*) AS n FROM secrets")[1].n
    error(("the master key (%s) does not open the %d secret%s already in %s (secret %q): it is not the key they were sealed under; put that key back")
      :format(os.getenv("MOONBAK_MASTER_KEY_FILE") or self.dir .. "/master.key", n, n == 1 and "" or "s",
              self.path, row.name), 0)
  end
end

function State:set_secret(name, value)
  check_key_opens_store(self, self:master_key())
  local sealed = require("moonbak.crypto").seal(self:master_key(), name, value)
  local now = M.timestamp()
  self.db:run([[INSERT INTO secrets (name, sealed, created_at, updated_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at]],
              name, sealed, now, now)
end

-- state:get_secret(name) -> value | nil, message
function State:get_secret(name)
  local row = self.db:query("SELECT sealed FROM secrets WHERE name = ?", name)[1]
  if not row then return nil, "no such secret in the store (moonbak secret set " .. name .. ")" end
  return require("moonbak.crypto").unseal(self:master_key(), name, row.sealed)
end

function State:secrets()
  return self.db:query("SELECT name, created_at, updated_at FROM secrets ORDER BY name")
end

function State:remove_secret(name)
  return self.db:run("DELETE FROM secrets WHERE name = ?", name) > 0
end

-- Is the process that started execution e still running it?  A pid can be
-- reused: the process's start time (and boot) must match too.
local function still_running(e)
  if not sys.process_alive(e.pid) then return false end
  if e.pid_start == nil then return true end -- recorded before pid_start existed
  local start, err = sys.process_start_time(e.pid)
  if start == nil and err then return true end -- /proc cannot tell: assume it runs
  return start == e.pid_start
end

-- Executions left "running" by a process that no longer exists.
function State:mark_interrupted()
  local host = sys.hostname()
  local n = 0
  for _, e in ipairs(self.db:query([[SELECT id, status, pid, pid_start FROM executions
                                      WHERE status IN ('running', 'pending') AND host = ?]], host)) do
    if not still_running(e) then
      self:finish_execution(e.id, "interrupted", e.status == "pending"
        and "the daemon that claimed it ended before starting it"
        or "the process running it ended unexpectedly")
      n = n + 1
    end
  end
  return n
end

return M
