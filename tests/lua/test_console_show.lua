-- How the console shows a result (lua/moonbak/console/show.lua): scalars as
-- Lua writes them, tables nested and sorted, cycles and bounds marked, lists
-- of records as aligned tables with sizes and times for people.
local T = dofile("tests/lua/testlib.lua")
local show = require "moonbak.console.show"
local ref = require "moonbak.ref"

local function contains(text, piece, what)
  if not text:find(piece, 1, true) then
    error(("%s: %q not in\n%s"):format(what or "text", piece, text), 2)
  end
end

local function lines(text)
  local out = {}
  for l in (text .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
  return out
end

T.test("scalars are shown as Lua writes them, strings quoted and escaped", function()
  T.eq(show(42), "42")
  T.eq(show(1.5), "1.5")
  T.eq(show(true), "true")
  T.eq(show(nil), "nil")
  T.eq(show("shop"), '"shop"')
  T.eq(show('a "b"\n\tc\\'), [["a \"b\"\n\tc\\"]])
  T.eq(show("\27[31mred"), [["\027[31mred"]], "no control character reaches the terminal")
  T.eq(load("return " .. show('x\0y\1z"\n'))(), 'x\0y\1z"\n', "what is shown reads back as the same string")
end)

T.test("a small table fits on one line, a larger one is nested and indented", function()
  T.eq(show({}), "{}")
  T.eq(show({ 1, 2, 3 }), "{ 1, 2, 3 }")
  T.eq(show({ name = "shop", port = 5432 }), '{ name = "shop", port = 5432 }')
  local text = show({ name = "shop", storage = { { type = "local", path = ("/var/backups/"):rep(3) } } })
  T.eq(text, table.concat({
    "{",
    '  name = "shop",',
    "  storage = {",
    '    { path = "' .. ("/var/backups/"):rep(3) .. '", type = "local" }',
    "  }",
    "}" }, "\n"))
end)

T.test("keys are sorted: numbers first in order, then strings, then the rest", function()
  local text = show({ zeta = 1, alpha = 2, [3] = "c", [1] = "a", [-5] = "n", [2.5] = "f", ["two words"] = 3,
                      ["end"] = 4, [true] = 5 }, { width = 0 })
  local order = {}
  for _, l in ipairs(lines(text)) do
    local k = l:match("^  (.-) = ") or l:match("^  (\"%a\"),?$")
    if k then order[#order + 1] = k end
  end
  T.eq(table.concat(order, " "), '[-5] "a" [2.5] [3] alpha ["end"] ["two words"] zeta [true]')
end)

T.test("a sequence is shown without its keys; what follows a gap keeps its key", function()
  T.eq(show({ "a", "b", [4] = "d" }), '{ "a", "b", [4] = "d" }')
  local t = { "a", "b", x = 1 }
  T.eq(load("return " .. show(t))().x, 1, "it reads back as Lua")
end)

T.test("a table met again on its own path is a cycle marker, not followed", function()
  local t = { name = "loop" }
  t.self = t
  t.child = { parent = t }
  local text = show(t)
  contains(text, ("self = <cycle: table: %p>"):format(t))
  contains(text, ("parent = <cycle: table: %p>"):format(t))
  local shared = { 1 }
  T.eq(show({ a = shared, b = shared }), "{ a = { 1 }, b = { 1 } }", "a table seen twice but not in a cycle is shown twice")
end)

T.test("tables deeper than the depth limit are cut with a marker counting what is inside", function()
  local deep = { a = { b = { c = { d = { e = { f = { g = 1 } } } } } } }
  contains(show(deep), "e = { ... 1 entry }")
  T.eq(show(deep, { depth = 2 }), "{ a = { b = { ... 1 entry } } }")
  T.eq(show({ x = { 1, 2, 3 } }, { depth = 1 }), "{ x = { ... 3 entries } }")
  T.eq(show({ x = {} }, { depth = 1 }), "{ x = {} }", "an empty table is no cut")
end)

T.test("entries past the items limit are cut with a marker saying how many", function()
  local list = {}
  for i = 1, 1000 do list[i] = i end
  local text = show(list, { items = 5 })
  T.eq(text, "{ 1, 2, 3, 4, 5, ... 995 more }")
  T.eq(#lines(show(list)), 103, "the default limit: 100 entries, a marker line and the braces")
  contains(show(list), "... 900 more")
  local mixed = { b = 2, a = 1, c = 3, 1 }
  T.eq(show(mixed, { items = 2 }), "{ 1, a = 1, ... 2 more }", "the cut keeps the sorted head")
end)

T.test("a long string is cut with a marker saying how many bytes were left out", function()
  T.eq(show(("x"):rep(10), { string = 4 }), '"xxxx" ...(6 more bytes)')
end)

T.test("a reference shows as the job file writes it, never as a value", function()
  T.eq(show(ref.secret("shop-db")), 'secret "shop-db"')
  T.eq(show({ password = ref.secret("shop-db"), token = ref.env("TOKEN") }),
       '{ password = secret "shop-db", token = env "TOKEN" }')
end)

T.test("a value a command resolved is redacted wherever it appears", function()
  local lib = require "moonbak.clilib"
  local dir = T.tempdir()
  local st = assert(require("moonbak").state.open(dir .. "/state"))
  st:set_secret("s3key", "very-secret-value-17")
  st:close()
  T.write(dir .. "/job.lua", ([[return { name = "r", source = { type = "file", path = "/etc/hostname" },
    storage = { { type = "s3", endpoint = "http://127.0.0.1:9", bucket = "b", region = "r",
                  access_key = "AK", secret_key = secret "s3key" } } }]]))
  lib.load_resolved_job({ state_dir = dir .. "/state", jobs_dir = dir }, dir .. "/job.lua", true)
  T.eq(show({ leaked = "very-secret-value-17" }), '{ leaked = "***" }')
end)

T.test("userdata and functions show as tostring does", function()
  local c = require("moonbak.cron").parse("0 3 * * *")
  T.eq(show(c), "moonbak.Cron(0 3 * * *)")
  T.matches(show(print), "^function: ")
end)

local executions = {
  { id = 14, job = "shop", status = "success", kind = "drill", trigger = "manual",
    started_at = "2026-03-29T02:00:00.000Z", finished_at = "2026-03-29T02:00:03.000Z",
    metadata = { restore_seconds = 2.5 } },
  { id = 12, job = "shop", status = "success", kind = "backup", trigger = "schedule",
    started_at = "2026-03-29T01:00:00.250Z", finished_at = "2026-03-29T01:02:05.750Z" },
  { id = 3, job = "inventory", status = "failed", kind = "backup", trigger = "manual", started_at = "2026-03-28T12:00:00.000Z",
    finished_at = "2026-03-28T12:00:01.500Z", error = "sqlite /x.db: unable to open database file" },
}

T.test("a list of executions is an aligned table with times and durations for people", function()
  local text = show(show.mark("executions", executions))
  T.eq(text, table.concat({
    "ID  JOB        STATUS   KIND    TRIGGER   STARTED (UTC)        TOOK       RESTORE  ERROR",
    "14  shop       success  drill   manual    2026-03-29 02:00:00  3.0 s      2.5 s    -",
    "12  shop       success  backup  schedule  2026-03-29 01:00:00  2 min 6 s  -        -",
    "3   inventory  failed   backup  manual    2026-03-28 12:00:00  1.5 s      -        sqlite /x.db: unable to open database file" },
    "\n"))
  T.eq(#executions, 3, "a marked list is still a list")
  T.eq(executions[1].id, 14)
  T.eq(tostring(executions), text, "print() of a marked list shows it too")
end)

T.test("a plain table of the same records is shown as a table", function()
  local plain = { { id = 1, job = "shop", status = "success" } }
  T.eq(show(plain), '{ { id = 1, job = "shop", status = "success" } }')
end)

T.test("a list of backups is an aligned table with human sizes", function()
  local list = show.mark("backups", {
    { backup_id = "20260329T010000.250Z-a1b2c3", storage = "local", size = 1536, logical_size = 5 * 1024 * 1024,
      finished_at = "2026-03-29T01:00:02.000Z", path = "shop/20260329T010000.250Z-a1b2c3.sql.zst" },
    { backup_id = "20260328T010000.100Z-d4e5f6", storage = "s3-offsite", size = 800, logical_size = 3 * 1024 ^ 3,
      finished_at = "2026-03-28T01:00:09.000Z", path = "shop/20260328T010000.100Z-d4e5f6.sql.zst", locked = true },
  })
  local l = lines(show(list))
  T.eq(l[1], "BACKUP                                STORAGE     SIZE     DUMP SIZE  CREATED (UTC)        PATH")
  T.eq(l[2], "20260329T010000.250Z-a1b2c3           local       1.5 KiB  5.0 MiB    2026-03-29 01:00:02  "
             .. "shop/20260329T010000.250Z-a1b2c3.sql.zst")
  T.eq(l[3], "20260328T010000.100Z-d4e5f6 (locked)  s3-offsite  800 B    3.0 GiB    2026-03-28 01:00:09  "
             .. "shop/20260328T010000.100Z-d4e5f6.sql.zst")
  local columns = {}
  for _, line in ipairs(l) do columns[#columns + 1] = (line:find(" CREATED", 1, true)) or line:find(" 2026%-03%-2%d ") end
  T.eq(columns[1], columns[2], "aligned")
  T.eq(columns[2], columns[3], "aligned")
end)

T.test("a list of jobs and a list of secrets are aligned tables", function()
  local jobs = show(show.mark("jobs", {
    { name = "shop", schedule = "0 3 * * *", timezone = "Europe/Berlin", state = "active",
      next_run = "2026-03-30T01:00:00Z", last_status = "success", last_started_at = "2026-03-29T01:00:00.250Z",
      file = "jobs/shop.lua" },
    { name = "adhoc", state = "manual", file = "jobs/adhoc.lua" } }))
  T.eq(jobs, table.concat({
    "JOB    SCHEDULE                 LAST RESULT  LAST RUN (UTC)       NEXT RUN (UTC)       FILE",
    "shop   0 3 * * * Europe/Berlin  success      2026-03-29 01:00:00  2026-03-30 01:00:00  jobs/shop.lua",
    "adhoc  (manual)                 never run    -                    -                    jobs/adhoc.lua" }, "\n"))
  local secrets = show(show.mark("secrets", { { name = "shop-db", created_at = "2026-03-01T10:00:00.000Z",
                                                 updated_at = "2026-03-02T11:00:00.000Z" } }))
  T.eq(secrets, "NAME     CREATED (UTC)        UPDATED (UTC)\nshop-db  2026-03-01 10:00:00  2026-03-02 11:00:00")
end)

T.test("a long list of records is cut at the items limit with a marker", function()
  local many = {}
  for i = 1, 30 do many[i] = { id = i, job = "j", status = "success", trigger = "manual" } end
  local l = lines(show(show.mark("executions", many), { items = 10 }))
  T.eq(#l, 12, "header, 10 rows, marker")
  T.eq(l[12], "... 20 more")
end)

T.test("a marked list inside a table is shown as its table, indented", function()
  local text = show({ recent = show.mark("secrets", { { name = "a" } }) })
  T.eq(text, "{\n  recent = NAME  CREATED (UTC)  UPDATED (UTC)\n  a     -              -\n}")
end)

T.test("show.mark refuses an unknown kind, and show.kind reads the mark", function()
  T.eq(show.kind(show.mark("backups", {})), "backups")
  T.eq(show.kind({}), nil)
  T.eq(show.kind(setmetatable({}, { kind = "backups" })), nil, "a look-alike metatable is no mark")
  assert(not pcall(show.mark, "nonsense", {}))
end)

os.exit(T.done())
