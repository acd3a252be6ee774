-- The console's helpers (lua/moonbak/console/helpers.lua), each against a
-- real job: an SQLite database backed up to local storage in a temporary
-- directory, a state directory of its own.
local T = dofile("tests/lua/testlib.lua")
local helpers = require "moonbak.console.helpers"
local show = require "moonbak.console.show"
local ref = require "moonbak.ref"
local mb = require "moonbak"

local SECRET = "tok-Zq8vV3-never-shown"

local function fixture()
  local dir = T.tempdir()
  local jobs = dir .. "/jobs"
  assert(require("moonbak.sys").mkdirs(jobs))
  T.sh(("sqlite3 %s/shop.db 'CREATE TABLE orders(id, total); INSERT INTO orders VALUES (1, 9.5), (2, 20);'")
    :format(dir))
  T.write(jobs .. "/shop.lua", ([[return { name = "shop", schedule = "0 3 * * *", timezone = "Europe/Berlin",
    source = { type = "sqlite", path = %q },
    storage = { { type = "local", path = %q } } }]]):format(dir .. "/shop.db", dir .. "/backups"))
  -- the command prints the token's length, never the token
  T.write(jobs .. "/token.lua", ([[return { name = "token",
    source = { type = "command", argv = { "sh", "-c", 'printf %%s "$TOKEN" | wc -c' },
               env = { TOKEN = secret "tok" } },
    storage = { { type = "local", path = %q } } }]]):format(dir .. "/backups"))
  T.write(jobs .. "/broken.lua", ([[return { name = "broken", source = { type = "sqlite", path = %q },
    storage = { { type = "local", path = %q } } }]]):format(dir .. "/missing/x.db", dir .. "/backups"))
  local cfg = { state_dir = dir .. "/state", jobs_dir = jobs }
  local st = assert(mb.state.open(cfg.state_dir))
  st:set_secret("tok", SECRET)
  st:close()
  return helpers.globals(cfg), dir, cfg
end

local g, dir = fixture()

-- Every string reachable from value (keys, values, metatables' fields not).
local function strings_in(value, out, seen)
  out, seen = out or {}, seen or {}
  if type(value) == "string" then out[#out + 1] = value end
  if type(value) == "table" and not seen[value] then
    seen[value] = true
    for k, v in pairs(value) do strings_in(k, out, seen); strings_in(v, out, seen) end
  end
  return out
end

local function holds_no_secret(value, what)
  for _, s in ipairs(strings_in(value)) do
    assert(not s:find(SECRET, 1, true), what .. " holds the secret's value")
  end
  assert(not show(value):find(SECRET, 1, true), what .. " shows the secret's value")
end

local function raises(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error matching " .. pattern)
  T.eq(type(err), "string", "the error is a message")
  T.matches(err, pattern, "error")
  return err
end

local function file_sha256(path)
  local p = io.popen("sha256sum " .. path)
  local sum = p:read("a"):match("^(%x+)")
  p:close()
  return sum
end

T.test("jobs() lists the jobs of the jobs directory, as a list the console shows as a table", function()
  local list = g.jobs()
  T.eq(show.kind(list), "jobs")
  local names = {}
  for _, j in ipairs(list) do names[#names + 1] = j.name end
  T.eq(table.concat(names, ","), "broken,shop,token")
  T.eq(list[2].schedule, "0 3 * * *")
  T.eq(list[2].state, "active")
  T.matches(list[2].next_run, "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$")
  T.matches(show(list), "\nshop +0 3 %* %* %* Europe/Berlin +never run")
end)

T.test("job \"NAME\" is the validated job, its references shown as written, never resolved", function()
  local job = g.job("shop")
  T.eq(job.name, "shop")
  T.eq(job.storage[1].name, "local", "validated: storages are named")
  T.eq(job.compression.type, "zstd", "validated: defaults filled in")
  local token = g.job("token")
  assert(ref.is(token.source.env.TOKEN), "the reference stays a reference")
  T.matches(show(token), 'TOKEN = secret "tok"')
  holds_no_secret(token, "job \"token\"")
  raises("nope%.lua", g.job, "nope")
  raises('job: expected a job name, such as job "shop"', g.job, 42)
end)

local first -- the first run of shop

T.test("run \"NAME\" runs the job now and returns its outcome", function()
  first = g.run("shop")
  T.eq(show.kind(first), "run")
  T.eq(first.status, "success")
  T.eq(first.job, "shop")
  assert(math.type(first.execution) == "integer" and first.execution > 0, "an execution id")
  T.matches(first.backup_id, "^%d+T")
  assert(first.size > 0 and first.logical_size > 0, "sizes")
  T.matches(show(first), ("^shop: success, backup %s %%(%%d+ B stored, [%%d.]+ KiB dumped%%) in execution %d$")
    :format(first.backup_id:gsub("%p", "%%%0"), first.execution))
end)

T.test("a failed run is returned, not raised, with its error", function()
  local r = g.run("broken", { quiet = true })
  T.eq(r.status, "failed")
  T.eq(r.step, "initialize")
  T.matches(r.error, "unable to open database file")
  T.matches(show(r), ("broken: failed in step initialize: .*%%(execution %d%%)\n%%(log%%(%d%%) shows its log%%)")
    :format(r.execution, r.execution))
  raises("run: unknown option quite", g.run, "shop", { quite = true })
end)

T.test("history \"NAME\" lists the job's executions, newest first, as an aligned table", function()
  local h = g.history("shop")
  T.eq(show.kind(h), "executions")
  T.eq(#h, 1)
  T.eq(h[1].id, first.execution)
  T.eq(h[1].status, "success")
  T.eq(type(h[1].metadata), "table", "the metadata is decoded")
  T.eq(h[1].metadata.size, first.size)
  local l = show(h)
  T.matches(l, "^ID +JOB +STATUS +KIND +TRIGGER +STARTED %(UTC%) +TOOK +RESTORE +ERROR\n")
  T.matches(l, ("\n%d +shop +success +backup +manual +%%d%%d%%d%%d%%-%%d%%d%%-%%d%%d %%d%%d:%%d%%d:%%d%%d +[%%d.]+ s +%%- +%%-$")
    :format(first.execution))
  local all = g.history()
  T.eq(#all, 2, "history() lists every job's")
  T.eq(all[1].job, "broken")
end)

T.test("log(id) is the execution's log and deliveries, as the log command prints it", function()
  local e = g.log(first.execution)
  T.eq(show.kind(e), "log")
  T.eq(e.id, first.execution)
  T.eq(type(e.deliveries), "table")
  local finished = false
  for _, l in ipairs(e.logs) do finished = finished or l.message == "finished: success" end
  assert(finished, "the log holds the completion line")
  local text = show(e)
  T.matches(text, ("^execution %d of shop: success %%(manual, started "):format(first.execution))
  T.matches(text, "\n[%dT:.Z-]+ info +completion finished: success")
  T.eq(g.log(first).id, first.execution, "log(what run returned)")
  raises("log: no execution 9999", g.log, 9999)
  raises("log: expected an execution id", g.log, "x")
end)

T.test("backups \"NAME\" lists what the storage holds, with sizes for people", function()
  local list = g.backups("shop")
  T.eq(show.kind(list), "backups")
  T.eq(#list, 1)
  T.eq(list[1].backup_id, first.backup_id)
  T.eq(list[1].storage, "local")
  T.eq(list[1].size, first.size)
  T.matches(show(list), "\n" .. first.backup_id:gsub("%p", "%%%0") .. "  local    %d+ B +[%d.]+ KiB  ")
  raises("backups: unknown option stor", g.backups, "shop", { stor = "x" })
end)

T.test("verify \"NAME\" checks the newest backup; a damaged one is a result, not an error", function()
  local second = g.run("shop", { quiet = true })
  T.eq(second.status, "success")
  local r = g.verify("shop")
  T.eq(show.kind(r), "verify")
  T.eq(#r, 1)
  T.eq(r.ok, true)
  T.eq(r[1].backup_id, second.backup_id, "the newest")
  T.eq(r[1].plain_checked, true)
  T.matches(show(r), "^ok      " .. second.backup_id:gsub("%p", "%%%0") .. " on local: ")
  T.eq(g.verify("shop", first.backup_id)[1].backup_id, first.backup_id, "verify(NAME, BACKUP)")
  T.eq(g.verify("shop", g.backups("shop")[2])[1].backup_id, first.backup_id, "verify(NAME, an entry of backups())")
  -- damage the first backup's stored bytes
  local meta = g.verify("shop", first.backup_id)
  assert(meta.ok)
  local path = dir .. "/backups/" .. g.backups("shop")[2].path
  local f = assert(io.open(path, "r+b"))
  local size = f:seek("end")
  f:seek("set", size // 2)
  local byte = f:read(1)
  f:seek("set", size // 2)
  f:write(string.char(byte:byte() ~ 1))
  f:close()
  local all = g.verify("shop", { all = true })
  T.eq(#all, 2)
  T.eq(all.ok, false)
  T.eq(all[1].ok, true)
  T.eq(all[2].ok, false)
  T.matches(all[2].error, "^backup " .. first.backup_id:gsub("%p", "%%%0") .. " on local: ")
  T.matches(show(all), "\nFAILED  " .. first.backup_id:gsub("%p", "%%%0") .. " on local: ")
  raises("verify: job shop has no backup 19990101T000000Z", g.verify, "shop", "19990101T000000Z")
  raises("verify: a backup and all = true exclude each other", g.verify, "shop", first.backup_id, { all = true })
end)

T.test("restore(NAME, { output = FILE }) writes the newest backup's dump, checked, into FILE", function()
  local out = dir .. "/restored.db"
  local r = g.restore("shop", { output = out })
  T.eq(show.kind(r), "restore")
  T.eq(r.backup_id, g.backups("shop")[1].backup_id)
  T.eq(r.into, out)
  T.eq(r.sha256, file_sha256(out), "the result names what was written")
  T.eq(r.sha256, g.backups("shop")[1].plain_sha256, "the dump the backup holds")
  local p = io.popen(("sqlite3 %s 'SELECT id, total FROM orders ORDER BY id'"):format(out))
  T.eq(p:read("a"), "1|9.5\n2|20\n", "the restored database holds the rows")
  p:close()
  T.matches(show(r), "^restored backup " .. r.backup_id:gsub("%p", "%%%0") .. " from local into ")
  raises("already exists %(use %-%-force", g.restore, "shop", { output = out })
  T.eq(g.restore("shop", { output = out, force = true }).into, out, "force = true replaces it")
  local damaged = dir .. "/damaged.db"
  raises("^restore failed: ", g.restore, "shop", g.backups("shop")[2].backup_id, { output = damaged })
  assert(not io.open(damaged), "a damaged backup writes nothing")
  raises('restore: give one of { output = "FILE" } or { to = "DATABASE" }', g.restore, "shop", {})
  raises("restore: unknown option ouput", g.restore, "shop", { ouput = out })
end)

T.test("cron.next gives UTC times of a schedule read in a zone, across the spring-forward change", function()
  local function next_of(expr, opts)
    return table.concat(g.cron.next(expr, opts), " ")
  end
  -- 03:00 in Berlin is 02:00Z in winter (CET) and 01:00Z from 2026-03-29 on (CEST)
  T.eq(next_of("0 3 * * *", { timezone = "Europe/Berlin", count = 3, after = "2026-03-27T12:00:00Z" }),
       "2026-03-28T02:00:00Z 2026-03-29T01:00:00Z 2026-03-30T01:00:00Z")
  -- 02:30 does not exist on 2026-03-29: a fixed-time job runs at the jump (03:00 CEST)
  T.eq(next_of("30 2 * * *", { timezone = "Europe/Berlin", count = 3, after = "2026-03-27T12:00:00Z" }),
       "2026-03-28T01:30:00Z 2026-03-29T01:00:00Z 2026-03-30T00:30:00Z")
  -- a wildcard job follows real time through the missing hour
  T.eq(next_of("*/30 * * * *", { timezone = "Europe/Berlin", count = 3, after = "2026-03-29T00:40:00Z" }),
       "2026-03-29T01:00:00Z 2026-03-29T01:30:00Z 2026-03-29T02:00:00Z")
  T.eq(next_of("0 3 * * *", { after = 0 }), "1970-01-01T03:00:00Z", "UTC by default; after as epoch seconds")
  T.eq(#g.cron.next("@hourly"), 1, "one, after now, by default")
  raises("^cron%.next: time zone \"Nowhere/X\"", g.cron.next, "0 3 * * *", { timezone = "Nowhere/X" })
  raises("^cron%.next: count 0: expected a number from 1 to 1000", g.cron.next, "0 3 * * *", { count = 0 })
  raises("^cron%.next: after \"soon\"", g.cron.next, "0 3 * * *", { after = "soon" })
  raises("^cron%.next: expected 5 fields", g.cron.next, "0 3 *")
  T.eq(g.cron.parse("0 3 * * *").fixed_time, true)
  raises("^cron%.parse: ", g.cron.parse, "61 * * * *")
end)

T.test("secrets() lists names and dates, never a value", function()
  local list = g.secrets()
  T.eq(show.kind(list), "secrets")
  T.eq(#list, 1)
  T.eq(list[1].name, "tok")
  local fields = {}
  for k in pairs(list[1]) do fields[#fields + 1] = k end
  table.sort(fields)
  T.eq(table.concat(fields, ","), "created_at,name,updated_at")
  holds_no_secret(list, "secrets()")
end)

T.test("nothing a helper returns after a run that used a secret holds its value", function()
  local r = g.run("token", { quiet = true })
  T.eq(r.status, "success", r.error)
  holds_no_secret(r, "run \"token\"")
  holds_no_secret(g.log(r.execution), "log")
  holds_no_secret(g.history("token"), "history")
  holds_no_secret(g.backups("token"), "backups")
  holds_no_secret(g.verify("token"), "verify")
  holds_no_secret(g.job("token"), "job")
  holds_no_secret(g.jobs(), "jobs")
  local out = dir .. "/token.out"
  holds_no_secret(g.restore("token", { output = out }), "restore")
  T.eq(io.open(out):read("a"), #SECRET .. "\n", "the dump is the token's length")
end)

T.test("help() names every helper, each helper has help, and help(x) says what it does", function()
  local documented = {}
  for _, d in ipairs(helpers.docs) do
    documented[d.name] = true
    local owner, field = d.name:match("^(%w+)%.(%w+)$")
    local fn = owner and g[owner] and g[owner][field] or g[d.name]
    T.eq(type(fn), "function", "help names " .. d.name .. ", which")
    local text = show(g.help(fn))
    T.matches(text, "^" .. d.usage:gsub("%p", "%%%0") .. "\n\n", "help(" .. d.name .. ")")
    T.matches(text, "\n\nexample: ", "help(" .. d.name .. ")")
    T.eq(show(g.help(d.name)), text, "help \"" .. d.name .. "\"")
    T.matches(show(g.help()), "\n  " .. d.usage:gsub("%p", "%%%0") .. " +" .. d.summary:gsub("%p", "%%%0"))
  end
  for name, v in pairs(g) do
    if type(v) == "table" then
      for field in pairs(v) do assert(documented[name .. "." .. field], name .. "." .. field .. " has no help") end
    else
      assert(documented[name], name .. " has no help")
    end
  end
  T.matches(show(g.help(g.cron)), "^cron%.next.*\n\ncron%.parse")
  raises("help: no helper named nope", g.help, "nope")
end)

T.test("show(value, opts) gives the console's text with other limits", function()
  local shown = g.show({ a = { b = { c = 1 } } }, { depth = 1 })
  T.eq(show(shown), "{ a = { ... 1 entry } }", "shown as it is, not quoted")
  T.eq(tostring(shown), "{ a = { ... 1 entry } }", "print() shows it too")
end)

os.exit(T.done())
