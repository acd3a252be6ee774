-- The state database when it fails under a run, executions whose process
-- is gone, and redaction of a secret's other spellings.
local T = dofile("tests/lua/testlib.lua")
local mb = require "moonbak"
local sqlite = require "moonbak.sqlite"
local sys = require "moonbak.sys"

local function fixture(name)
  local dir = T.tempdir()
  T.write(dir .. "/data.txt", "some data\n")
  local st = assert(mb.state.open(dir .. "/state"))
  local job = assert(mb.job.validate { name = name, source = { type = "file", path = dir .. "/data.txt" },
                                      storage = { { type = "local", path = dir .. "/backups" } } })
  return dir, st, job
end

local function sidecars(dir, name)
  local list = {}
  for _, f in ipairs(sys.listdir(dir .. "/backups/" .. name) or {}) do
    if f:match("%.meta%.json$") then list[#list + 1] = f end
  end
  return list
end

-- A step placed after upload that makes the state database fail as it
-- would under the run: the catalog entry, the logs and the outcome can no
-- longer be written.
T.test("a state database locked after the upload: the sidecar is written, the error names the database", function()
  local dir, st, job = fixture("locked")
  st.db:exec("PRAGMA busy_timeout = 50")
  local other
  job.steps = { "initialize", "dump", function()
    other = assert(sqlite.open(st.path))
    other:exec("BEGIN EXCLUSIVE")
  end, "upload", "completion" }
  local ok, ctx = mb.runner.run(job, { state = st })
  other:exec("ROLLBACK")
  other:close()
  T.eq(#sidecars(dir, "locked"), 1, "sidecars written")
  T.eq(ok, true, "the backup is stored: " .. tostring(ctx.error))
  T.matches(ctx.state_error, "could not be recorded: state database " .. st.path:gsub("%p", "%%%0") .. " is locked")
  local logged = false
  for _, l in ipairs(ctx.logs) do
    if l.message:find("catalog entry of backup " .. ctx.backup_id, 1, true) then logged = true end
  end
  assert(logged, "the missing catalog entry is named in the log")
  st:close()
end)

T.test("a full state database: the run still stores its backup and says the disk is full", function()
  local dir, st, job = fixture("full")
  job.steps = { "initialize", "dump", function(ctx)
    -- no page may be added, and the pages of the log and catalog tables
    -- are filled: every later log line and catalog entry finds the disk full
    local pages = st.db:query("PRAGMA page_count")[1].page_count
    st.db:exec(("PRAGMA max_page_count = %d"):format(pages))
    for _, size in ipairs { 1000, 100, 10, 1 } do
      while pcall(st.db.run, st.db, [[INSERT INTO execution_logs (execution_id, time, level, message)
                                      VALUES (?, '', 'info', ?)]], ctx.execution.id, ("x"):rep(size)) do end
      while pcall(st.db.run, st.db, [[INSERT INTO catalog (job, backup_id, storage, path)
                                      VALUES ('filler', ?, 'x', ?)]], tostring(sys.now()) .. math.random(), ("x"):rep(size)) do end
    end
  end, "upload", "completion" }
  local ok, ctx = mb.runner.run(job, { state = st })
  T.eq(#sidecars(dir, "full"), 1, "sidecars written")
  assert(ok, ctx.error)
  T.matches(ctx.state_error or ctx.log_error, "the disk is full")
  st:close()
end)

T.test("an execution whose pid now belongs to another process is marked interrupted", function()
  local _, st = fixture("reused")
  assert(sys.process_start_time, "sys.process_start_time exists")
  -- our own pid is alive, but the process that started this execution
  -- started at another time: it is gone and its pid was reused
  local _, id = st.db:run([[INSERT INTO executions (job, status, trigger, pid, pid_start, host, started_at)
                            VALUES ('reused', 'running', 'manual', ?, 'other-boot:1', ?, ?)]],
                          sys.pid(), sys.hostname(), mb.state.timestamp())
  local _, live = st.db:run([[INSERT INTO executions (job, status, trigger, pid, pid_start, host, started_at)
                              VALUES ('reused', 'running', 'manual', ?, ?, ?, ?)]],
                            sys.pid(), sys.process_start_time(sys.pid()), sys.hostname(), mb.state.timestamp())
  st:mark_interrupted()
  T.eq(st:execution(id).status, "interrupted", "the execution of the reused pid")
  T.eq(st:execution(live).status, "running", "the execution of the live process")
  st:close()
end)

T.test("a resolved password is redacted in every common spelling", function()
  local r = mb.ref.redactor()
  local pw = "Pa55/w0rd Sec"
  local store = { get_secret = function() return pw end }
  assert(mb.ref.resolve({ user = "alice", password = mb.ref.secret("db") }, store, r.add))
  local b64 = require("moonbak.crypto").base64
  local text = table.concat({ pw, pw:upper(), pw:lower(),
    (pw:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)),
    (pw:gsub("[^%w]", function(c) return ("%%%02x"):format(c:byte()) end)),
    "Basic " .. b64("alice:" .. pw), b64(pw),
    (pw:gsub("[^%w/]", function(c) return ("%%%02X"):format(c:byte()) end)), -- a URL path
    require("cjson").encode(pw) }, " | ")                                      -- JSON
  local redacted = r.redact(text)
  T.eq(redacted, "*** | *** | *** | *** | *** | Basic *** | *** | *** | \"***\"")
end)

T.test("finished_executions: ended runs by status, due since a time (fire time, else start), latest first", function()
  local _, st = fixture("report")
  local function add(status, started_at, scheduled_for)
    local e = st:start_execution("report", "manual")
    st:finish_execution(e.id, status, nil, { size = e.id })
    st.db:run("UPDATE executions SET started_at = ?, scheduled_for = ? WHERE id = ?", started_at, scheduled_for, e.id)
    return e.id
  end
  local old = add("success", "2026-03-01T03:00:00.000Z")
  local late = add("skipped", "2026-03-20T12:00:00.000Z", "2026-03-02T03:00:00Z") -- recorded late, due early
  local failed = add("failed", "2026-03-10T03:00:00.000Z")
  local newest = add("success", "2026-03-11T03:00:00.000Z")
  st:start_execution("report", "manual") -- still running: not listed
  add("success", "2026-03-12T03:00:00.000Z")
  st.db:run("UPDATE executions SET job = 'other' WHERE id = (SELECT max(id) FROM executions)")
  local function ids(list)
    local out = {}
    for i, e in ipairs(list) do out[i] = e.id end
    return table.concat(out, ",")
  end
  T.eq(ids(st:finished_executions("report")), ("%d,%d,%d,%d"):format(newest, failed, late, old))
  T.eq(ids(st:finished_executions("report", { statuses = { "success" } })), ("%d,%d"):format(newest, old))
  T.eq(ids(st:finished_executions("report", { statuses = { "success" }, limit = 1 })), tostring(newest))
  T.eq(ids(st:finished_executions("report", { since = "2026-03-02T00:00:00.000Z" })),
       ("%d,%d,%d"):format(newest, failed, late))
  T.eq(ids(st:finished_executions("report", { since = "2026-03-05T00:00:00.000Z",
                                              statuses = { "skipped", "failed" } })), tostring(failed))
  st:close()
end)

T.test("executions of other kinds (drill, verify) have fire times of their own and are not backup runs", function()
  local _, st = fixture("kinds")
  local fire = "2026-03-01T03:00:00Z"
  local backup = st:claim("kinds", fire)
  T.eq(backup ~= nil, true, "the backup run claims the fire time")
  T.eq(st:claim("kinds", fire), nil, "a second claim of the same kind is refused")
  local drill = st:claim("kinds", fire, { kind = "drill" })
  T.eq(drill ~= nil, true, "a drill claims the same fire time for itself")
  T.eq(drill.kind, "drill")
  T.eq(st:claim("kinds", fire, { kind = "drill" }), nil, "and only once")
  T.eq(backup.kind, "backup")
  local v = st:start_execution("kinds", "manual", "verify")
  T.eq(v.kind, "verify")
  st:finish_execution(v.id, "failed", "backup damaged")
  st:finish_execution(drill.id, "success")
  T.eq(st:last_finished("kinds"), nil, "no backup run has ended")
  T.eq(st:last_finished("kinds", nil, "verify").id, v.id)
  T.eq(next(st:runs_by_status("kinds")), nil)
  T.eq(st:runs_by_status("kinds", "drill").success, 1)
  T.eq(#st:finished_executions("kinds"), 0)
  T.eq(st:finished_executions("kinds", { kind = "verify" })[1].id, v.id)
  local running = st:start_execution("kinds", "manual", "drill")
  T.eq(st:running_execution("kinds"), nil, "a drill in progress is not a backup run in progress")
  T.eq(st:running_execution("kinds", "drill").id, running.id)
  T.eq(pcall(st.start_execution, st, "kinds", "manual", "restore"), false, "an unknown kind is refused")
  st:close()
end)

T.test("rebuild_catalog replaces a job's rows in one transaction, keeping unreachable storages' rows", function()
  local st = assert(mb.state.open(T.tempdir()))
  local e = st:start_execution("shop", "manual")
  local function row(id, storage, extra)
    local r = { job = "shop", backup_id = id, storage = storage, path = "shop/" .. id, size = 1 }
    for k, v in pairs(extra or {}) do r[k] = v end
    return r
  end
  st:add_to_catalog(row("old", "a"))
  st:add_to_catalog(row("old", "far"))
  st:add_to_catalog { job = "other", backup_id = "x", storage = "a", path = "other/x" }
  local added, removed = st:rebuild_catalog("shop", {
    row("new", "a", { locked = true, lock_reason = "audit", execution_id = e.id }),
    row("new2", "a", { execution_id = 999 }) }, { far = true })
  T.eq(added, 2, "added")
  T.eq(removed, 1, "removed: old on a")
  local rows = {}
  for _, r in ipairs(st:catalog("shop")) do rows[#rows + 1] = ("%s/%s/%d/%s/%s"):format(r.backup_id, r.storage,
    r.locked, r.lock_reason or "-", tostring(r.execution_id)) end
  T.eq(table.concat(rows, " "), ("old/far/0/-/nil new2/a/0/-/nil new/a/1/audit/%d"):format(e.id),
       "an execution id this state does not know is stored as NULL")
  T.eq(#st:catalog("other"), 1, "another job's rows stay")
  local ok = pcall(st.rebuild_catalog, st, "shop", { row("z", "a"), { job = "shop" } })
  T.eq(ok, false, "a bad entry fails the rebuild")
  T.eq(#st:catalog("shop"), 3, "...and changes nothing")
  st:close()
end)

return T.done()
