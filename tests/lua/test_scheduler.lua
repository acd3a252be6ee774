-- The scheduler's policy (lua/moonbak/scheduler.lua) on a clock and a
-- supervisor the test drives: which fire times are claimed, skipped or
-- caught up, the queue, retries; and the state migration it needs.  The
-- real processes are tests/e2e/test_daemon.sh's.
local T = dofile("tests/lua/testlib.lua")
local mb = require "moonbak"
local scheduler = require "moonbak.scheduler"
local schedule = require "moonbak.schedule"
local sqlite = require "moonbak.sqlite"

local function at(iso) return assert(schedule.parse_iso(iso)) end

-- A supervisor that starts nothing: spawn records, wait returns what the
-- test queued, exit() ends a "process".
local function fake_supervisor()
  local sup = { spawned = {}, events = {}, next_pid = 1000 }
  function sup:spawn(argv, env)
    self.next_pid = self.next_pid + 1
    self.spawned[#self.spawned + 1] = { pid = self.next_pid, argv = argv, env = env }
    return self.next_pid
  end
  function sup:kill() return true end
  function sup:wait()
    local e = self.events
    self.events = {}
    return e
  end
  return sup
end

-- A daemon over dir/jobs with the given job files, its clock at `now`.
local function daemon(dir, jobs, now, opts)
  os.execute("mkdir -p " .. dir .. "/jobs")
  for name, body in pairs(jobs) do
    T.write(("%s/jobs/%s.lua"):format(dir, name), ([[return { name = %q, %s,
      source = { type = "command", argv = { "true" } }, storage = { { type = "local", path = %q } } }]])
      :format(name, body, dir .. "/store"))
  end
  local st = assert(mb.state.open(dir .. "/state"))
  local clock = { t = at(now) }
  local d = scheduler.new {
    state = st, state_dir = dir .. "/state", jobs_dir = dir .. "/jobs", supervisor = fake_supervisor(),
    now = function() return clock.t end, max_parallel = opts and opts.max_parallel,
  }
  d.log = function() end
  d:load_jobs()
  return d, st, clock
end

local function rows(st, job)
  return st.db:query("SELECT * FROM executions WHERE job = ? ORDER BY scheduled_for, id", job)
end

-- One step of the loop at the clock's time.
local function tick(d)
  d:fire_due(d.now())
  d:start_queued()
end

T.test("a job never scheduled before waits for its next fire time", function()
  local d, st, clock = daemon(T.tempdir(), { a = 'schedule = "0 * * * *"' }, "2026-03-02T10:30:00Z")
  tick(d)
  T.eq(#rows(st, "a"), 0, "nothing run at start")
  clock.t = at("2026-03-02T11:00:00Z")
  tick(d)
  local r = rows(st, "a")
  T.eq(#r, 1, "one claim at 11:00")
  T.eq(r[1].scheduled_for, "2026-03-02T11:00:00Z", "for its fire time")
  T.eq(r[1].status, "pending", "claimed, handed to a run process")
  T.eq(d.sup.spawned[1].env.MOONBAK_EXECUTION, tostring(r[1].id), "the run takes over that execution")
end)

T.test("a fire time is claimed once, even by a second scheduler on the same state", function()
  local dir = T.tempdir()
  local d1, st, clock = daemon(dir, { a = 'schedule = "* * * * *"' }, "2026-03-02T10:00:30Z")
  local d2 = daemon(dir, {}, "2026-03-02T10:00:30Z")
  d2.now = d1.now
  clock.t = at("2026-03-02T10:01:00Z")
  tick(d1)
  tick(d2)
  T.eq(#rows(st, "a"), 1, "one execution for 10:01")
  T.eq(#d1.sup.spawned + #d2.sup.spawned, 1, "one run started")
end)

T.test("a fire time that comes while the job runs is recorded skipped", function()
  local d, st, clock = daemon(T.tempdir(), { a = 'schedule = "* * * * *"' }, "2026-03-02T10:00:30Z")
  clock.t = at("2026-03-02T10:01:00Z")
  tick(d)
  clock.t = at("2026-03-02T10:02:00Z")
  tick(d)
  local r = rows(st, "a")
  T.eq(#r, 2, "two fire times, two rows")
  T.eq(r[2].status, "skipped", "the second is skipped")
  T.eq(r[2].error, ("job still running (execution %d)"):format(r[1].id), "naming the run")
  T.eq(#d.sup.spawned, 1, "one process")
end)

T.test("after downtime: one catch-up, the older missed times skipped; catchup = false runs none", function()
  local dir = T.tempdir()
  local d, st, clock = daemon(dir, { a = 'schedule = "0 * * * *"', b = 'schedule = "0 * * * *", catchup = false',
                                     c = 'schedule = "0 * * * *", catchup = 3600' },
                              "2026-03-02T09:30:00Z")
  -- the daemon goes down at 09:30 having scheduled all three; back at 15:20
  st:close()
  local d2, st2 = daemon(dir, {}, "2026-03-02T15:20:00Z")
  tick(d2)
  local a = rows(st2, "a")
  T.eq(#a, 6, "10:00 to 15:00: six fire times")
  for i = 1, 5 do T.eq(a[i].status, "skipped", "older missed time " .. a[i].scheduled_for) end
  T.matches(a[1].error, "^missed", "recorded as missed")
  T.eq(a[6].scheduled_for .. " " .. a[6].status, "2026-03-02T15:00:00Z pending", "the newest runs")
  local b = rows(st2, "b")
  T.eq(b[#b].status, "skipped", "catchup = false: not even the newest")
  local c = rows(st2, "c")
  T.eq(c[#c].status, "pending", "within a one-hour catch-up window: runs")
  T.eq(#d2.sup.spawned, 2, "two runs: a and c")
  local _ = d
end)

T.test("after a downtime of more than 100 fire times, the newest missed one is the catch-up", function()
  -- review12: fire_due collects only the first missed_max + 1 fire times after
  -- e.next and runs the last of those, not the newest; the newer ones are never recorded
  local dir = T.tempdir()
  local _, st = daemon(dir, { a = 'schedule = "* * * * *"' }, "2026-03-02T10:00:30Z")
  st:close()
  -- back three hours later: 180 missed minutes
  local d2, st2 = daemon(dir, {}, "2026-03-02T13:00:30Z")
  tick(d2)
  local r = rows(st2, "a")
  local newest = r[#r]
  T.eq(newest.scheduled_for .. " " .. newest.status, "2026-03-02T13:00:00Z pending", "the newest missed time runs")
  for i = 1, #r - 1 do T.eq(r[i].status, "skipped", "older missed time " .. r[i].scheduled_for) end
  -- a year later: the newest missed time is within the catch-up window, so it runs
  st2:close()
  local d3, st3 = daemon(dir, {}, "2027-03-02T13:00:30Z")
  tick(d3)
  local y = st3.db:query("SELECT * FROM executions WHERE job = 'a' AND status = 'pending' AND scheduled_for > '2027'")
  T.eq(#y, 1, "one catch-up run a year later")
  T.eq(y[1] and y[1].scheduled_for, "2027-03-02T13:00:00Z", "for the newest missed time")
end)

T.test("max_parallel bounds the runs; the rest wait in order", function()
  local d, st, clock = daemon(T.tempdir(), { a = 'schedule = "0 * * * *"', b = 'schedule = "0 * * * *"',
                                             c = 'schedule = "0 * * * *"' },
                              "2026-03-02T09:30:00Z", { max_parallel = 2 })
  clock.t = at("2026-03-02T10:00:00Z")
  tick(d)
  T.eq(#d.sup.spawned, 2, "two started")
  T.eq(#d.queue, 1, "one waits")
  local first = d.sup.spawned[1].pid
  local ex = d.running[first].execution
  st:finish_execution(ex, "success")
  d:on_exit { pid = first, code = 0 }
  d:start_queued()
  T.eq(#d.sup.spawned, 3, "the third starts when a slot frees")
end)

T.test("a failed run is retried as its own execution, linked to the first", function()
  local d, st, clock = daemon(T.tempdir(), { a = 'schedule = "0 * * * *", retry = { attempts = 2, delay = 60 }' },
                              "2026-03-02T09:30:00Z")
  clock.t = at("2026-03-02T10:00:00Z")
  tick(d)
  local run = d.sup.spawned[1]
  local first = d.running[run.pid].execution
  st:finish_execution(first, "failed", "boom")
  d:on_exit { pid = run.pid, code = 1 }
  tick(d)
  T.eq(#d.sup.spawned, 1, "not before the delay")
  clock.t = clock.t + 61
  tick(d)
  T.eq(#d.sup.spawned, 2, "after it")
  local r = rows(st, "a")
  T.eq(r[2].attempt, 2, "attempt 2")
  T.eq(r[2].retry_of, first, "linked to the first")
  st:finish_execution(r[2].id, "failed", "boom")
  d:on_exit { pid = d.sup.spawned[2].pid, code = 1 }
  clock.t = clock.t + 120
  tick(d)
  T.eq(#d.sup.spawned, 2, "no third attempt")
end)

T.test("a run process that dies without a result is recorded interrupted with its signal", function()
  local d, st, clock = daemon(T.tempdir(), { a = 'schedule = "0 * * * *"' }, "2026-03-02T09:30:00Z")
  clock.t = at("2026-03-02T10:00:00Z")
  tick(d)
  local run = d.sup.spawned[1]
  d:on_exit { pid = run.pid, signal = "SEGV" }
  local r = rows(st, "a")
  T.eq(r[1].status, "interrupted", "interrupted")
  T.eq(r[1].error, "the run process was killed by SIGSEGV", "with its signal")
end)

T.test("a paused job is not run; resumed, it runs from its next fire time", function()
  local d, st, clock = daemon(T.tempdir(), { a = 'schedule = "0 * * * *"' }, "2026-03-02T09:30:00Z")
  st:pause("a", "maintenance")
  clock.t = at("2026-03-02T10:00:00Z")
  tick(d)
  T.eq(#rows(st, "a"), 0, "not run while paused")
  st:resume("a")
  clock.t = at("2026-03-02T11:00:00Z")
  tick(d)
  T.eq(#rows(st, "a"), 1, "runs again after resume")
  T.eq(rows(st, "a")[1].scheduled_for, "2026-03-02T11:00:00Z", "from its next fire time, no catch-up")
end)

-- Verify and drill schedules: each kind has fire times of its own.

T.test("a verify schedule is claimed once per fire time, kind verify, and runs `moonbak verify FILE`", function()
  local dir = T.tempdir()
  local d1, st, clock = daemon(dir, { a = 'schedule = "0 3 * * *", verify = { schedule = "30 * * * *" }' },
                               "2026-03-02T10:00:00Z")
  local d2 = daemon(dir, {}, "2026-03-02T10:00:00Z")
  d2.now = d1.now
  clock.t = at("2026-03-02T10:30:00Z")
  tick(d1)
  tick(d2)
  local r = rows(st, "a")
  T.eq(#r, 1, "one execution for 10:30, though two daemons saw it")
  T.eq(r[1].kind .. " " .. r[1].trigger .. " " .. r[1].status .. " " .. r[1].scheduled_for,
       "verify schedule pending 2026-03-02T10:30:00Z", "a verify fire time, claimed")
  T.eq(#d1.sup.spawned + #d2.sup.spawned, 1, "one process")
  local run = d1.sup.spawned[1]
  T.eq(table.concat(run.argv, " ", 2), ("--state %s/state --jobs %s/jobs verify %s/jobs/a.lua"):format(dir, dir, dir),
       "moonbak verify on the job file")
  T.eq(run.env.MOONBAK_EXECUTION, tostring(r[1].id), "taking over the claimed execution")
  T.eq(st:take_claim(r[1].id, "a"), nil, "a backup run cannot take a verification's claim")
  T.matches(select(2, st:take_claim(r[1].id, "a")), "claimed for a verify, not a backup", "and says why")
  T.eq(st:execution(r[1].id).status, "pending", "nor spoil it")
  T.eq(st:take_claim(r[1].id, "a", "verify").status, "running", "verify can")
end)

T.test("backups = \"all\" verifies with --all; a drill schedule runs `moonbak drill FILE`", function()
  local dir = T.tempdir()
  local d, st, clock = daemon(dir, { a = 'verify = { schedule = "0 * * * *", backups = "all" }, drill = { schedule = "0 * * * *" }' },
                              "2026-03-02T09:30:00Z")
  clock.t = at("2026-03-02T10:00:00Z")
  tick(d)
  local r = rows(st, "a")
  T.eq(#r, 2, "a job with no backup schedule: its verify and drill fire times still run")
  local kinds = {}
  for _, e in ipairs(r) do kinds[#kinds + 1] = e.kind end
  table.sort(kinds)
  T.eq(table.concat(kinds, ","), "drill,verify", "one of each kind")
  local argv = {}
  for _, p in ipairs(d.sup.spawned) do argv[#argv + 1] = table.concat(p.argv, " ", 6) end
  table.sort(argv)
  T.eq(table.concat(argv, " | "), ("drill %s/jobs/a.lua | verify %s/jobs/a.lua --all"):format(dir, dir), "their commands")
end)

T.test("a backup and a verification at the same fire time both run; each skips only its own kind's overlap", function()
  local d, st, clock = daemon(T.tempdir(), { a = 'schedule = "0 * * * *", verify = { schedule = "0 * * * *" }' },
                              "2026-03-02T09:30:00Z")
  clock.t = at("2026-03-02T10:00:00Z")
  tick(d)
  T.eq(#d.sup.spawned, 2, "both started, neither waits for the other")
  local first = {}
  for _, e in ipairs(rows(st, "a")) do first[e.kind] = e.id end
  clock.t = at("2026-03-02T11:00:00Z")
  tick(d)
  local skipped = st.db:query("SELECT kind, error FROM executions WHERE status = 'skipped' ORDER BY kind")
  T.eq(#skipped, 2, "11:00 comes while both run: one skipped of each kind")
  T.eq(skipped[1].kind .. ": " .. skipped[1].error, ("backup: job still running (execution %d)"):format(first.backup),
       "the backup's names the running backup")
  T.eq(skipped[2].kind .. ": " .. skipped[2].error, ("verify: verification still running (execution %d)"):format(first.verify),
       "the verification's the running verification")
  -- the verification ends; the backup goes on: the next verify fire time runs
  local vpid
  for pid, run in pairs(d.running) do if run.kind == "verify" then vpid = pid end end
  st:finish_execution(first.verify, "success")
  d:on_exit { pid = vpid, code = 0 }
  clock.t = at("2026-03-02T12:00:00Z")
  tick(d)
  local noon = st.db:query("SELECT kind, status FROM executions WHERE scheduled_for = '2026-03-02T12:00:00Z' ORDER BY kind")
  T.eq(noon[1].kind .. " " .. noon[1].status .. ", " .. noon[2].kind .. " " .. noon[2].status,
       "backup skipped, verify pending", "a running backup does not hold back the verification")
end)

T.test("max_parallel bounds backups and verifications together", function()
  local d, _, clock = daemon(T.tempdir(), { a = 'schedule = "0 * * * *", verify = { schedule = "0 * * * *" }',
                                            b = 'schedule = "0 * * * *"' },
                             "2026-03-02T09:30:00Z", { max_parallel = 2 })
  clock.t = at("2026-03-02T10:00:00Z")
  tick(d)
  T.eq(#d.sup.spawned, 2, "two processes")
  T.eq(#d.queue, 1, "the third waits")
end)

T.test("after downtime each kind catches up its own newest fire time; the older ones are skipped", function()
  local dir = T.tempdir()
  local _, st = daemon(dir, { a = 'schedule = "0 3 * * *", verify = { schedule = "0 * * * *" }' }, "2026-03-02T09:30:00Z")
  st:close()
  local d2, st2 = daemon(dir, {}, "2026-03-02T15:20:00Z")
  tick(d2)
  local r = st2.db:query("SELECT * FROM executions WHERE kind = 'verify' ORDER BY scheduled_for")
  T.eq(#r, 6, "10:00 to 15:00")
  for i = 1, 5 do T.eq(r[i].status, "skipped", "older missed verification " .. r[i].scheduled_for) end
  T.eq(r[6].scheduled_for .. " " .. r[6].status, "2026-03-02T15:00:00Z pending", "the newest runs")
  T.eq(#st2.db:query("SELECT * FROM executions WHERE kind = 'backup'"), 0, "the backup's 03:00 was not due")
  T.eq(st2:job_schedule("a", "verify").last_fire, "2026-03-02T15:00:00Z", "the verify schedule's own bookkeeping")
  T.eq(st2:job_schedule("a").last_fire, nil, "apart from the backup's")
end)

T.test("a paused job runs no verification; resumed, from its next fire time", function()
  local d, st, clock = daemon(T.tempdir(), { a = 'verify = { schedule = "0 * * * *" }' }, "2026-03-02T09:30:00Z")
  st:pause("a", "maintenance")
  T.eq(mb.schedule.state_of(d.jobs.a.job, st), "paused", "a job with a verify schedule only is paused too")
  clock.t = at("2026-03-02T10:00:00Z")
  tick(d)
  T.eq(#rows(st, "a"), 0, "not verified while paused")
  st:resume("a")
  clock.t = at("2026-03-02T11:00:00Z")
  tick(d)
  T.eq(#rows(st, "a"), 1, "verified again after resume")
  T.eq(rows(st, "a")[1].scheduled_for, "2026-03-02T11:00:00Z", "from its next fire time, no catch-up")
end)

T.test("a state database of schema 3 migrates with its executions, logs and catalog", function()
  local dir = T.tempdir()
  os.execute("mkdir -p " .. dir .. "/state")
  local db = assert(sqlite.open(dir .. "/state/moonbak.db"))
  db:exec([[
    CREATE TABLE jobs (name TEXT PRIMARY KEY, file TEXT, schedule TEXT, updated_at TEXT);
    CREATE TABLE executions (id INTEGER PRIMARY KEY, job TEXT NOT NULL, status TEXT NOT NULL
      CHECK (status IN ('pending','running','success','partial','failed','cancelled','interrupted')),
      trigger TEXT NOT NULL, pid INTEGER, host TEXT, started_at TEXT NOT NULL,
      finished_at TEXT, error TEXT, metadata TEXT, pid_start TEXT, backup_id TEXT);
    CREATE INDEX executions_by_job ON executions (job, id);
    CREATE TABLE execution_logs (id INTEGER PRIMARY KEY, execution_id INTEGER NOT NULL REFERENCES executions (id),
      time TEXT NOT NULL, level TEXT NOT NULL, step TEXT, message TEXT NOT NULL);
    CREATE TABLE catalog (job TEXT NOT NULL, backup_id TEXT NOT NULL, storage TEXT NOT NULL, path TEXT NOT NULL,
      size INTEGER, logical_size INTEGER, sha256 TEXT, plain_sha256 TEXT,
      execution_id INTEGER REFERENCES executions (id), created_at TEXT, PRIMARY KEY (job, backup_id, storage));
    CREATE TABLE secrets (name TEXT PRIMARY KEY, sealed BLOB NOT NULL, created_at TEXT, updated_at TEXT);
    INSERT INTO executions (id, job, status, trigger, started_at, backup_id) VALUES (7, 'a', 'success', 'manual', 'x', 'b1');
    INSERT INTO execution_logs (execution_id, time, level, message) VALUES (7, 'x', 'info', 'hello');
    INSERT INTO catalog (job, backup_id, storage, path, execution_id) VALUES ('a', 'b1', 'local', 'p', 7);
    PRAGMA user_version = 3;]])
  db:close()
  local st = assert(mb.state.open(dir .. "/state"))
  T.eq(st:execution(7).backup_id, "b1", "the execution kept its id")
  T.eq(st:logs(7)[1].message, "hello", "its log still refers to it")
  T.eq(st:catalog("a")[1].execution_id, 7, "and the catalog")
  T.eq(st.db:query("PRAGMA foreign_key_check")[1], nil, "no dangling reference")
  local id = st:skip("a", "2026-03-02T10:00:00Z", "why")
  T.eq(st:execution(id).status, "skipped", "skipped is a status now")
  T.eq(st:skip("a", "2026-03-02T10:00:00Z", "why"), nil, "and a fire time is taken once")
end)

T.done()
