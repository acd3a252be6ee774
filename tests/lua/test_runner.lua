-- The runner pipeline: step order, custom steps, failures and cleanup.
local T = dofile("tests/lua/testlib.lua")
local mb = require "moonbak"

local function fixture()
  local dir = T.tempdir()
  T.sh(("sqlite3 %s/src.db 'CREATE TABLE t(x); INSERT INTO t VALUES (1),(2),(3);'"):format(dir))
  local st = assert(mb.state.open(dir .. "/state"))
  local function job(extra)
    local j = { name = "runner", source = { type = "sqlite", path = dir .. "/src.db" },
                storage = { { type = "local", path = dir .. "/backups" } } }
    for k, v in pairs(extra or {}) do j[k] = v end
    return assert(mb.job.validate(j))
  end
  return dir, st, job
end

local function files_under(dir)
  local p = io.popen(("find %s -type f 2>/dev/null | sort"):format(dir))
  local list = {}
  for line in p:lines() do list[#list + 1] = line end
  p:close()
  return list
end

T.test("the default pipeline runs and records a success", function()
  local dir, st, job = fixture()
  local ok, ctx = mb.runner.run(job(), { state = st })
  assert(ok, ctx.error)
  T.eq(ctx.status, "success")
  T.eq(st:execution(ctx.execution.id).status, "success", "recorded status")
  local files = files_under(dir .. "/backups")
  T.eq(#files, 2, "artifact and sidecar")
  T.matches(files[2], "%.sqlite3%.zst%.meta%.json$")
  T.eq(#st:catalog("runner"), 1, "catalog entries")
end)

T.test("custom steps run in the order the job lists them", function()
  local _, st, job = fixture()
  local order = {}
  local function mark(name) return function(ctx) order[#order + 1] = name .. ":" .. ctx.status end end
  local ok, ctx = mb.runner.run(job { steps = { mark("first"), "initialize", "dump", mark("middle"),
                                                "upload", mark("last"), "completion" } }, { state = st })
  assert(ok, ctx.error)
  T.eq(table.concat(order, ","), "first:running,middle:running,last:running")
end)

T.test("a custom step can read the context and log into the execution", function()
  local _, st, job = fixture()
  local seen
  local ok, ctx = mb.runner.run(job { steps = { "initialize", "dump", "upload", function(ctx)
    seen = ctx.artifacts["local"] and ctx.artifacts["local"].sha256
    ctx:log("info", "custom step saw " .. tostring(seen))
  end } }, { state = st })
  assert(ok, ctx.error)
  T.matches(seen, "^%x+$", "artifact sha256")
  local logs = st:logs(ctx.execution.id)
  local found = false
  for _, l in ipairs(logs) do
    if l.step == "custom" and l.message:find("custom step saw", 1, true) then found = true end
  end
  assert(found, "the custom step's log line is in the execution log")
end)

T.test("a failing step fails the run, is logged with its step, and completion still cleans up", function()
  local dir, st, job = fixture()
  local cleaned, after = false, false
  local ok, ctx = mb.runner.run(job { steps = { "initialize", "dump", function(ctx)
    ctx:defer(function() cleaned = true end)
    error("disk on fire")
  end, function() after = true end, "upload" } }, { state = st })
  assert(not ok)
  T.eq(ctx.status, "failed")
  T.eq(ctx.failed_step, "custom")
  assert(cleaned, "the deferred cleanup ran")
  assert(not after, "steps after the failure did not run")
  local e = st:execution(ctx.execution.id)
  T.eq(e.status, "failed", "recorded status")
  T.matches(e.error, "disk on fire")
  local logged = false
  for _, l in ipairs(st:logs(e.id)) do
    if l.level == "error" and l.step == "custom" and l.message:find("disk on fire") then logged = true end
  end
  assert(logged, "the error is in the log with its step")
  T.eq(#files_under(dir .. "/backups"), 0, "nothing stored")
end)

T.test("a source that vanishes before the dump fails the dump step and stores nothing", function()
  local dir, st, job = fixture()
  -- A source path that vanishes between initialize and dump: dump fails.
  local ok, ctx = mb.runner.run(job { steps = { "initialize", function(ctx)
    os.remove(ctx.resolved.source.path)
  end, "dump", "upload" } }, { state = st })
  assert(not ok)
  T.eq(ctx.failed_step, "dump")
  T.matches(ctx.error, "src%.db")
  T.eq(#files_under(dir .. "/backups"), 0, "no artifact, no sidecar, no temporary file")
  T.eq(#st:catalog("runner"), 0, "nothing catalogued")
end)

T.test("a read error in the middle of the upload leaves no artifact, sidecar or temporary file", function()
  local dir, st, job = fixture()
  T.sh(("mkdir -p %s/a-directory"):format(dir))
  local j = job()
  j.source = { type = "file", path = dir .. "/a-directory" } -- opens, then read() fails
  local ok, ctx = mb.runner.run(j, { state = st })
  assert(not ok)
  T.eq(ctx.failed_step, "upload")
  T.matches(ctx.error, "a%-directory")
  T.eq(#files_under(dir .. "/backups"), 0, "nothing left in the storage")
  T.eq(#st:catalog("runner"), 0, "nothing catalogued")
end)

T.test("spool mode exposes the transformed dump as ctx.temp_file and removes it afterwards", function()
  local _, st, job = fixture()
  local seen_size, temp
  local ok, ctx = mb.runner.run(job { spool = true, steps = { "initialize", "dump", function(ctx)
    temp = ctx.temp_file
    seen_size = require("moonbak.sys").stat(ctx.temp_file).size
  end, "upload" } }, { state = st })
  assert(ok, ctx.error)
  assert(seen_size and seen_size > 0, "the custom step saw the spooled file")
  T.eq(seen_size, ctx.metadata.size, "the spooled file is the stored artifact")
  assert(not io.open(temp, "rb"), "the temporary file is gone")
  local meta = assert(mb.backups.find(job(), ctx.backup_id))
  T.eq(meta.plain_sha256, ctx.metadata.plain_sha256, "plaintext checksum from the dump")
  assert(mb.backups.verify(job(), meta))
end)

T.test("an unreachable source fails in initialize with a message naming it", function()
  local _, st, job = fixture()
  local j = job()
  j.source.path = "/nonexistent/db.sqlite"
  local ok, ctx = mb.runner.run(j, { state = st })
  assert(not ok)
  T.eq(ctx.failed_step, "initialize")
  T.matches(ctx.error, "/nonexistent/db%.sqlite")
end)

T.test("a storage that cannot be written to fails the run, naming the storage", function()
  local _, st, job = fixture()
  local j = job()
  j.storage[1].path = "/proc/moonbak-cannot-write-here"
  local ok, ctx = mb.runner.run(j, { state = st })
  assert(not ok)
  T.matches(ctx.error, "storage local")
end)

T.test("one good storage and one bad storage make a partial run", function()
  local dir, st, job = fixture()
  local j = job { storage = { { type = "local", path = dir .. "/good" },
                              { type = "local", name = "broken", path = "/proc/moonbak-nope" } } }
  local ok, ctx = mb.runner.run(j, { state = st })
  assert(not ok)
  T.eq(ctx.status, "partial")
  T.matches(ctx.status_message, "broken")
  T.eq(st:execution(ctx.execution.id).status, "partial")
  T.eq(#files_under(dir .. "/good"), 2, "the good storage has the backup")
end)

T.test("secret values never reach the execution log or the error", function()
  local dir, st, job = fixture()
  local value = "s3cr3t-" .. tostring(os.time())
  T.write(dir .. "/secret", value .. "\n")
  local j = job { steps = { "initialize", function(ctx)
    ctx:log("info", "about to use " .. ctx.resolved.source.password)
    error("leaked " .. ctx.resolved.source.password)
  end } }
  j.source.password = mb.ref.file(dir .. "/secret") -- any option may hold a reference
  local ok, ctx = mb.runner.run(j, { state = st })
  assert(not ok)
  assert(not ctx.error:find(value, 1, true), "the error is redacted")
  T.matches(ctx.error, "leaked %*%*%*")
  for _, l in ipairs(st:logs(ctx.execution.id)) do
    assert(not l.message:find(value, 1, true), "log line leaks the secret: " .. l.message)
  end
  local e = st:execution(ctx.execution.id)
  assert(not (e.error or ""):find(value, 1, true), "the recorded error is redacted")
  assert(not (e.metadata or ""):find(value, 1, true), "the metadata is clean")
end)

T.test("a partial run's message hides values that came from references", function()
  local dir, st, job = fixture()
  local hidden = "/proc/moonbak-hidden-" .. tostring(os.time())
  T.write(dir .. "/where", hidden .. "\n")
  local j = job { storage = { { type = "local", path = dir .. "/good" },
                              { type = "local", name = "broken", path = mb.ref.file(dir .. "/where") } } }
  local ok, ctx = mb.runner.run(j, { state = st })
  assert(not ok)
  T.eq(ctx.status, "partial")
  assert(not ctx.status_message:find(hidden, 1, true), "partial message leaks: " .. ctx.status_message)
  local e = st:execution(ctx.execution.id)
  assert(not (e.error or ""):find(hidden, 1, true), "the recorded error leaks the value")
end)

T.test("a secret inside a longer secret is hidden whole", function()
  local r = mb.ref.redactor()
  r.add("s3cr")
  r.add("s3cr3t-key-9")
  T.eq(r.redact("key s3cr3t-key-9 and s3cr"), "key *** and ***")
end)

-- The console's hook (it raises once Ctrl-C is pressed) is set aside before
-- the execution is recorded running: raising between the two would leave
-- the execution "running" under a live console, for good.
T.test("the caller's hook cannot raise once the execution is recorded running", function()
  local _, st, job = fixture()
  local function running()
    return #st.db:query("SELECT id FROM executions WHERE status = 'running'") > 0
  end
  debug.sethook(function()
    if running() then debug.sethook(); error("the caller's hook ran inside the run", 2) end
  end, "", 1)
  local ok, done, ctx = pcall(mb.runner.run, job(), { state = st })
  debug.sethook()
  assert(ok, done)
  assert(done, ctx.error)
  T.eq(running(), false, "no execution left running")
end)

-- copy_to: the storages named get the backup copied from the first that
-- stored it, never uploaded to directly; a failed copy is a partial run.
local function copy_job(dir, job)
  return job { copy_to = { "offsite" },
               storage = { { type = "local", path = dir .. "/backups" },
                           { type = "local", name = "offsite", path = dir .. "/offsite" } } }
end

T.test("a run with copy_to copies its backup, checked, to the storage named, and catalogs both", function()
  local dir, st, job = fixture()
  local ok, ctx = mb.runner.run(copy_job(dir, job), { state = st })
  assert(ok, ctx.error)
  local here, there = files_under(dir .. "/backups"), files_under(dir .. "/offsite")
  T.eq(#there, 2, "artifact and sidecar on offsite")
  local function sha(path)
    local p = io.popen("sha256sum < " .. path)
    local out = p:read("a")
    p:close()
    return out:match("^%x+")
  end
  T.matches(here[1], "%.zst$")
  T.matches(there[1], "%.zst$")
  T.eq(sha(there[1]), sha(here[1]), "the same stored bytes")
  T.eq(ctx.artifacts.offsite.sha256, ctx.artifacts["local"].sha256, "ctx.artifacts has the copy")
  T.eq(#st:catalog("runner"), 2, "catalog entries: one per storage")
  local copied = false
  for _, l in ipairs(st:logs(ctx.execution.id)) do
    if l.message:find("copied runner/.* from local to offsite") then copied = true end
  end
  assert(copied, "the log says it copied")
end)

T.test("a copy_to copy that fails makes the run partial and keeps the stored backup", function()
  local dir, st, job = fixture()
  T.sh(("mkdir -p %s/offsite && echo not-a-directory > %s/offsite/runner"):format(dir, dir))
  local ok, ctx = mb.runner.run(copy_job(dir, job), { state = st })
  assert(not ok, "the run is not a success")
  T.eq(ctx.status, "partial")
  T.matches(ctx.status_message, "offsite")
  T.eq(#files_under(dir .. "/backups"), 2, "the backup stays on local")
  T.eq(#files_under(dir .. "/offsite"), 1, "nothing more on offsite")
end)


return T.done()
