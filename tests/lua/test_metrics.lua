-- Prometheus metrics (lua/moonbak/metrics.lua): the text of the exposition
-- format from the state database, the files it is written to, and the
-- daemon's rewrite after the outcomes it records itself.  promtool checks
-- the text of real runs in tests/e2e/test_metrics.sh.
local T = dofile("tests/lua/testlib.lua")
local mb = require "moonbak"
local metrics = require "moonbak.metrics"
local sys = require "moonbak.sys"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local function lines_of(text)
  local list = {}
  for line in text:gmatch("([^\n]*)\n") do list[#list + 1] = line end
  return list
end

local function has_line(text, line)
  for _, l in ipairs(lines_of(text)) do
    if l == line then return true end
  end
  error(("no line %q in:\n%s"):format(line, text), 2)
end

local function lacks(text, pattern)
  if text:find(pattern) then error(("%q found in:\n%s"):format(pattern, text), 2) end
end

local function job(name, extra)
  local j = { name = name, source = { type = "command", argv = { "true" } }, storage = { { type = "local", path = "/x" } } }
  for k, v in pairs(extra or {}) do j[k] = v end
  return j
end

-- An execution with fixed times, as a run or the daemon would leave it.
local function execution(st, name, status, started, finished)
  st.db:run([[INSERT INTO executions (job, status, trigger, started_at, finished_at)
              VALUES (?, ?, 'manual', ?, ?)]], name, status, started, finished)
end

T.test("label values escape backslash, double quote and newline, nothing else", function()
  T.eq(metrics.escape_label('a\\b"c\nd'), 'a\\\\b\\"c\\nd', "escaped")
  T.eq(metrics.escape_label("shop-db_1.x"), "shop-db_1.x", "plain")
end)

T.test("values: integers as integers, times to the millisecond", function()
  T.eq(metrics.format_value(8192), "8192", "integer")
  T.eq(metrics.format_value(1767225600.0), "1767225600", "whole float")
  T.eq(metrics.format_value(1767225600.25), "1767225600.25", "fraction")
  T.eq(metrics.format_value(0.0001), "0", "below a millisecond")
end)

T.test("a job's last success, failure, duration, status, backup and runs", function()
  local st = assert(mb.state.open(T.tempdir()))
  execution(st, "shop", "success", "2026-01-01T03:00:00.000Z", "2026-01-01T03:00:12.500Z")
  execution(st, "shop", "failed", "2026-01-02T03:00:00.000Z", "2026-01-02T03:00:01.000Z")
  execution(st, "shop", "success", "2026-01-03T03:00:00.000Z", "2026-01-03T03:00:04.250Z")
  execution(st, "shop", "partial", "2026-01-04T03:00:00.000Z", "2026-01-04T03:00:30.000Z")
  execution(st, "shop", "running", "2026-01-05T03:00:00.000Z", nil)
  for i, id in ipairs { "20260101T030000.000Z-aaaaaa", "20260104T030000.000Z-bbbbbb" } do
    for _, storage in ipairs { "local", "local-2" } do
      st:add_to_catalog { job = "shop", backup_id = id, storage = storage, path = "shop/" .. id,
                          size = 1000 * i, logical_size = 5000 * i }
    end
  end
  local text = metrics.render({ job("shop") }, st)
  has_line(text, 'moonbak_job_last_success_timestamp_seconds{job="shop"} 1767409204.25')
  has_line(text, 'moonbak_job_last_failure_timestamp_seconds{job="shop"} 1767322801')
  has_line(text, 'moonbak_job_last_run_duration_seconds{job="shop"} 30')
  has_line(text, 'moonbak_job_last_status{job="shop"} 1')
  has_line(text, 'moonbak_job_last_status_info{job="shop",status="partial"} 1')
  has_line(text, 'moonbak_job_last_backup_dumped_bytes{job="shop"} 10000')
  has_line(text, 'moonbak_job_last_backup_stored_bytes{job="shop"} 2000')
  has_line(text, 'moonbak_job_backups{job="shop"} 2')
  has_line(text, 'moonbak_job_paused{job="shop"} 0')
  has_line(text, 'moonbak_job_runs_total{job="shop",status="success"} 2')
  has_line(text, 'moonbak_job_runs_total{job="shop",status="partial"} 1')
  has_line(text, 'moonbak_job_runs_total{job="shop",status="failed"} 1')
  has_line(text, 'moonbak_job_runs_total{job="shop",status="skipped"} 0')
  lacks(text, 'status="running"')
  lacks(text, "next_run_timestamp_seconds{") -- no schedule
  st:close()
end)

T.test("a skipped fire time is the last status and a failure, not the last run's duration", function()
  local st = assert(mb.state.open(T.tempdir()))
  execution(st, "a", "success", "2026-01-01T03:00:00.000Z", "2026-01-01T03:00:02.000Z")
  execution(st, "a", "skipped", "2026-01-01T04:00:00.000Z", "2026-01-01T04:00:00.000Z")
  local text = metrics.render({ job("a") }, st)
  has_line(text, 'moonbak_job_last_status{job="a"} 5')
  has_line(text, 'moonbak_job_last_status_info{job="a",status="skipped"} 1')
  has_line(text, 'moonbak_job_last_failure_timestamp_seconds{job="a"} 1767240000')
  has_line(text, 'moonbak_job_last_run_duration_seconds{job="a"} 2')
  st:close()
end)

T.test("a job never run has its counters at 0 and no last values", function()
  local st = assert(mb.state.open(T.tempdir()))
  local text = metrics.render({ job("new") }, st)
  has_line(text, 'moonbak_job_runs_total{job="new",status="failed"} 0')
  has_line(text, 'moonbak_job_backups{job="new"} 0')
  lacks(text, 'moonbak_job_last_status{job="new"}')
  lacks(text, 'moonbak_job_last_success_timestamp_seconds{job="new"}')
  st:close()
end)

T.test("next run: from the schedule in the job's zone; none while paused", function()
  local st = assert(mb.state.open(T.tempdir()))
  local now = mb.schedule.parse_iso("2026-03-02T10:30:00Z")
  local jobs = { job("hourly", { schedule = "0 * * * *" }),
                 job("berlin", { schedule = "0 3 * * *", timezone = "Europe/Berlin" }),
                 job("held", { schedule = "0 * * * *" }) }
  st:pause("held", "maintenance")
  local text = metrics.render(jobs, st, now)
  has_line(text, 'moonbak_job_next_run_timestamp_seconds{job="hourly"} ' .. mb.schedule.parse_iso("2026-03-02T11:00:00Z"))
  has_line(text, 'moonbak_job_next_run_timestamp_seconds{job="berlin"} ' .. mb.schedule.parse_iso("2026-03-03T02:00:00Z"))
  lacks(text, 'next_run_timestamp_seconds{job="held"}')
  has_line(text, 'moonbak_job_paused{job="held"} 1')
  has_line(text, 'moonbak_job_paused{job="hourly"} 0')
  st:close()
end)

T.test("each family once, HELP and TYPE first, jobs in name order, label values escaped", function()
  local st = assert(mb.state.open(T.tempdir()))
  local text = metrics.render({ job("zeta"), job('we"ird\\job\nname'), job("alpha") }, st)
  local seen, current, order = {}, nil, {}
  for _, line in ipairs(lines_of(text)) do
    local kind, name = line:match("^# (%u+) (%S+)")
    if kind == "HELP" then
      assert(not seen[name], "family " .. name .. " twice")
      seen[name], current = "help", name
    elseif kind == "TYPE" then
      T.eq(name, current, "TYPE right after its HELP")
      seen[name] = "type"
    else
      local sample = line:match("^([%w_]+){")
      T.eq(sample, current, "sample of the family just declared")
      T.eq(seen[current], "type", "declared before its samples")
      if sample == "moonbak_job_paused" then order[#order + 1] = line:match('job="(.-)"}') end
    end
  end
  T.eq(table.concat(order, " "), 'alpha we\\"ird\\\\job\\nname zeta', "order and escaping")
  T.eq(select(2, text:gsub("\n", "\n")), #lines_of(text), "every line ends with a newline")
  has_line(text, "# TYPE moonbak_job_runs_total counter")
  T.matches(text, '\nmoonbak_build_info{version="' .. sys.version:gsub("%p", "%%%0")
            .. '",lua="5%.4[^"]*",sqlite="3[^"]+",curl="[^"]+",openssl="[^"]+",zstd="[^"]+"} 1\n', "build info")
  st:close()
end)

T.test("a job's metrics is an absolute path", function()
  assert(mb.job.validate(job("a", { metrics = "/var/lib/node-exporter/moonbak.prom" })))
  for _, bad in ipairs { "moonbak.prom", "", "/", 42 } do
    local ok, err = mb.job.validate(job("a", { metrics = bad }))
    T.eq(ok, nil, ("metrics = %q refused"):format(tostring(bad)))
    T.matches(err, "job%.metrics: expected", "names the field")
  end
end)

-- A jobs directory with the given job files (name -> extra fields text).
local function jobs_dir(dir, files)
  sys.mkdirs(dir .. "/jobs")
  for name, fields in pairs(files) do
    T.write(("%s/jobs/%s.lua"):format(dir, name), ([[return { name = %q, %s
      source = { type = "command", argv = { "true" } }, storage = { { type = "local", path = %q } } }]])
      :format(name, fields, dir .. "/store"))
  end
  return dir .. "/jobs"
end

T.test("a file holds every job that goes to it; other files are left alone", function()
  local dir = T.tempdir()
  local st = assert(mb.state.open(dir .. "/state"))
  local jobs = jobs_dir(dir, {
    a = ("metrics = %q,"):format(dir .. "/one.prom"),
    b = ("metrics = %q,"):format(dir .. "/one.prom"),
    c = ("metrics = %q,"):format(dir .. "/two.prom"),
    d = "", -- the default file
  })
  T.write(dir .. "/jobs/broken.lua", "return { name = ")
  local outside = job("e", { metrics = dir .. "/one.prom" }) -- given by path, not in the directory
  assert(metrics.update(st, { jobs_dir = jobs, jobs = { outside }, default = dir .. "/default.prom" }))
  local one = read(dir .. "/one.prom")
  has_line(one, 'moonbak_job_paused{job="a"} 0')
  has_line(one, 'moonbak_job_paused{job="b"} 0')
  has_line(one, 'moonbak_job_paused{job="e"} 0')
  lacks(one, 'job="c"')
  lacks(one, 'job="d"')
  T.eq(sys.stat(dir .. "/two.prom"), nil, "the file of other jobs")
  T.eq(sys.stat(dir .. "/default.prom"), nil, "the default file")
  T.eq(sys.stat(dir .. "/one.prom").mode, 420, "mode 0644: the exporter reads it")
  assert(metrics.update(st, { jobs_dir = jobs, names = { d = true }, default = dir .. "/default.prom" }))
  local default = read(dir .. "/default.prom")
  has_line(default, 'moonbak_job_paused{job="d"} 0')
  lacks(default, 'job="a"')
  local names = assert(sys.listdir(dir))
  T.eq(table.concat(names, " "), "default.prom jobs one.prom state", "no temporary file left")
  st:close()
end)

T.test("a file that cannot be written: an error naming it, its temporary name not *.prom, nothing left", function()
  local dir = T.tempdir()
  local st = assert(mb.state.open(dir .. "/state"))
  local target = dir .. "/out/moonbak.prom"
  assert(sys.mkdirs(target .. "/in-the-way")) -- a directory: the rename fails
  local ok, err = metrics.update(st, { jobs = { job("a", { metrics = target }) } })
  T.eq(ok, nil, "refused")
  T.matches(err, "^metrics " .. target:gsub("%p", "%%%0") .. ": cannot rename ", "names the file")
  local temp = err:match("cannot rename (%S+) to ")
  T.eq(temp:match("^(.*)/"), dir .. "/out", "the temporary file is in the same directory")
  assert(not temp:match("%.prom$"), temp .. " would be read by the textfile collector")
  T.eq(table.concat(assert(sys.listdir(dir .. "/out")), " "), "moonbak.prom", "the temporary file removed")
  st:close()
end)

-- A supervisor that starts nothing (see test_scheduler.lua).
local function fake_supervisor()
  local sup = { spawned = {}, events = {}, next_pid = 1000 }
  function sup:spawn(argv, env)
    self.next_pid = self.next_pid + 1
    self.spawned[#self.spawned + 1] = { pid = self.next_pid, argv = argv, env = env }
    return self.next_pid
  end
  function sup:kill() return true end
  function sup:wait() local e = self.events; self.events = {}; return e end
  return sup
end

T.test("the daemon: its runs get its metrics file; the outcomes it records itself rewrite it", function()
  local dir = T.tempdir()
  local jobs = jobs_dir(dir, { a = 'schedule = "* * * * *",' })
  local st = assert(mb.state.open(dir .. "/state"))
  local scheduler = require "moonbak.scheduler"
  local clock = { t = mb.schedule.parse_iso("2026-03-02T10:00:30Z") }
  local d = scheduler.new { state = st, state_dir = dir .. "/state", jobs_dir = jobs, supervisor = fake_supervisor(),
                            now = function() return clock.t end, metrics = dir .. "/daemon.prom" }
  d.log = function() end
  d:load_jobs()
  clock.t = mb.schedule.parse_iso("2026-03-02T10:01:00Z")
  d:fire_due(d.now()); d:start_queued()
  T.eq(d.sup.spawned[1].env.MOONBAK_METRICS, dir .. "/daemon.prom", "the run's default file")
  d:update_metrics()
  T.eq(sys.stat(dir .. "/daemon.prom"), nil, "a claim is no outcome: nothing written")
  clock.t = mb.schedule.parse_iso("2026-03-02T10:02:00Z") -- the run still goes: skipped
  d:fire_due(d.now()); d:start_queued()
  d:update_metrics()
  local text = read(dir .. "/daemon.prom")
  has_line(text, 'moonbak_job_runs_total{job="a",status="skipped"} 1')
  has_line(text, 'moonbak_job_last_status{job="a"} 5')
  d.sup.events = { { event = "exit", pid = d.sup.spawned[1].pid, signal = "KILL" } }
  for _, ev in ipairs(d.sup:wait()) do d:on_exit(ev) end
  d:update_metrics()
  text = read(dir .. "/daemon.prom")
  has_line(text, 'moonbak_job_runs_total{job="a",status="interrupted"} 1')
  has_line(text, 'moonbak_job_last_status{job="a"} 4')
  st:close()
end)

return T.done()
