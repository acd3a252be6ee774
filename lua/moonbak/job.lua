-- Job files: load a Lua file that returns one table, and validate it.
-- Every error names the file, the key and what was expected.
local cron = require "moonbak.cron"
local notifier = require "moonbak.notifier"
local ref = require "moonbak.ref"
local source = require "moonbak.source"
local storage = require "moonbak.storage"
local sandbox = require "moonbak.sandbox"
local sys = require "moonbak.sys"

local M = {}

-- Field kinds: "string" (also accepts secret/env/file references),
-- "integer", "boolean", "strings" (a list of strings), "string|strings",
-- "table", "function".  A trailing "!" marks a required field.

-- Sources and storages describe their own options (their C ops tables);
-- the catalogues here are made from those schemas: type -> { key = kind },
-- and type -> { key = the schema's option } for the rules beyond the kind
-- (ranges, choices).
local function catalogue(module)
  local c, options = {}, {}
  for _, name in ipairs(module.types()) do
    local fields, by_name = {}, {}
    for _, o in ipairs(module.schema(name).options) do
      fields[o.name] = o.kind .. (o.required and "!" or "")
      by_name[o.name] = o
    end
    c[name], options[name] = fields, by_name
  end
  return c, options
end

local source_options, storage_options, notifier_options
M.sources, source_options = catalogue(source)
M.storages, storage_options = catalogue(storage)
M.notifiers, notifier_options = catalogue(notifier)
-- a Lua function, given as such or as { type = "lua", fn = function }
M.notifiers.lua, notifier_options.lua = { fn = "function!" }, {}

local top = {
  name = "string", description = "string", schedule = "string", timezone = "string",
  source = "table!", compression = "table", encryption = "table", storage = "table!",
  retention = "table", notify = "table", steps = "table", spool = "boolean",
  enabled = "boolean", catchup = "any", retry = "table", timeout = "integer",
  metrics = "string", verify = "table", drill = "table", copy_to = "strings",
}

-- What each top-level field is, for the man page moonbak-job(5) and the
-- template of `moonbak new`: value (its form), summary (one line) and text
-- (more; paragraphs apart by a blank line).  A field added to `top` needs
-- an entry here: tests/e2e/test_help.sh fails on one without.  Entries for
-- fields this build does not have are not shown.
M.field_docs = {
  name = { value = '"NAME"', summary = "the job's name: letters, digits, '.', '_' and '-', up to 100 (default: the file's name without .lua)",
    text = [[It names the job's backups on the storages (PREFIX/NAME/BACKUP...), its executions and its metrics; two files of one jobs directory may not declare the same name.]] },
  description = { value = '"TEXT"', summary = "what the job is, for people" },
  schedule = { value = '"CRON"', summary = "when moonbak daemon runs the job: a 5-field cron expression or @hourly, @daily, @weekly, @monthly, @yearly",
    text = [[Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or jan-dec), day of week (0-7 or sun-sat; 0 and 7 are Sunday), each a list of *, N, N-M, */S or N-M/S.  When both day fields are restricted, a day that matches either fires.  Without a schedule the job runs only by hand (moonbak run).  moonbak cron next EXPR prints the next fire times.

Daylight saving follows Debian cron: a job whose minute and hour are both fixed runs at the jump when its time is skipped, and once when a time repeats; a job with a wildcard minute or hour follows the wall clock.]] },
  timezone = { value = '"ZONE"', summary = "the IANA time zone the schedule is read in (default: the daemon's --timezone, UTC)" },
  source = { value = "{ type = TYPE, ... }", summary = "what to back up: one source table (see SOURCES)" },
  compression = { value = '{ type = "zstd", level = N, workers = N }', summary = 'zstd, level 1 to 19 (default 3), workers 0 to 64 threads (default: one per core); or { type = "none" }' },
  encryption = { value = '{ type = "age", recipients = { "age1..." } }', summary = 'age encryption to public keys (moonbak keygen makes one), or passphrase = secret "NAME" (scrypt); default { type = "none" }',
    text = [[The artifact is a standard age v1 file: age -d -i key.txt BACKUP.zst.age | zstd -d restores it without moonbak.  Give recipients or a passphrase, not both.  restore and verify take --identity FILE to decrypt.]] },
  storage = { value = "{ { type = TYPE, ... }, ... }", summary = "where backups go: a list of one or more storage tables (see STORAGES), written at once",
    text = [[Each storage may have a name (default: its type, then TYPE-2, TYPE-3 ...), which --storage selects.  When one storage stores a backup and another fails, the run ends partial.]] },
  retention = { value = "{ keep_last = N, daily = N, weekly = N, monthly = N, yearly = N }", summary = "which backups stay on each storage after a successful run; the rest are removed (moonbak prune applies it by hand)",
    text = [[The N newest backups, and the newest backup of each of the last N days, ISO weeks, months and years (UTC), stay; a backup kept by any rule stays.  At least one count must be positive.]] },
  notify = { value = "{ { type = TYPE, on = { EVENT, ... }, ... }, function(event) ... end, ... }", summary = "who hears about runs: a list of notifier tables (see NOTIFIERS) or Lua functions",
    text = [[on lists the events a notifier hears: "start", "success", "partial", "failure" (default { "failure", "partial" }; healthchecks: all).  Each notifier may have a name.  A notifier never changes a run's result; moonbak notify test JOB tries them.]] },
  steps = { value = '{ "initialize", FUNCTION, "dump", "upload", "completion" }', summary = "the run's steps: the built-in ones by name, custom ones as Lua functions of the run context",
    text = [[A custom step fails the run by raising an error; completion always runs.  See docs/lua-api.md for the context.]] },
  spool = { value = "true", summary = "dump into a temporary file in the state directory first, then upload it (default false: stream straight to the storages)" },
  enabled = { value = "false", summary = "keep the job off the schedule (default true); moonbak run still runs it" },
  catchup = { value = "SECONDS | false", summary = "after downtime, run once if the newest missed fire time is this recent (default 86400, a day); false: never catch up" },
  retry = { value = "{ attempts = N, delay = SECONDS, partial = true }", summary = "a failed scheduled run runs again, up to attempts runs in all (1 to 100), delay seconds apart; partial = true retries partial runs too" },
  timeout = { value = "SECONDS", summary = "a run past this many seconds is cancelled and recorded failed; nothing of it is kept" },
  metrics = { value = '"/PATH"', summary = "a Prometheus textfile (an absolute path), rewritten after each run (default: MOONBAK_METRICS, the daemon's --metrics)" },
  verify = { value = '{ schedule = "CRON", backups = "newest" | "all" }', summary = "the daemon re-reads the newest backup (or every one) on this schedule and checks its checksums, as moonbak verify does; recorded, and notified as verify_failed" },
  drill = { value = '{ schedule = "CRON", checks = { ... } }', summary = "the daemon restores a backup into a scratch target on this schedule, runs the checks and removes the target, as moonbak drill does" },
  copy_to = { value = '{ "STORAGE", ... }', summary = "storages (by name) that are not uploaded to: each new backup's stored bytes are copied to them from the first storage that has it, checked by sha256, as moonbak copy does; a failed copy makes the run partial" },
}

-- The order the man page and `moonbak new` show the fields in; a field
-- not listed comes after these, in alphabetical order.
M.field_order = { "name", "description", "schedule", "timezone", "source", "compression", "encryption",
                  "storage", "retention", "notify", "enabled", "catchup", "retry", "timeout", "metrics",
                  "verify", "drill", "copy_to", "steps", "spool" }

-- The top-level fields: name -> kind (a copy).
function M.fields()
  local c = {}
  for k, v in pairs(top) do c[k] = v end
  return c
end

local retention_fields = { keep_last = "integer", daily = "integer", weekly = "integer",
                           monthly = "integer", yearly = "integer" }

M.builtin_steps = { initialize = true, dump = true, upload = true, completion = true }

local ValidationError = {}

local function fail(where, fmt, ...)
  error(setmetatable({ message = where .. ": " .. fmt:format(...) }, ValidationError), 0)
end

local function describe(value)
  if ref.is(value) then return tostring(value) end
  if type(value) == "string" then return ("string %q"):format(value) end
  return type(value)
end

local function is_list_of_strings(v)
  if type(v) ~= "table" or ref.is(v) then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  if n ~= #v then return false end
  for _, item in ipairs(v) do
    if type(item) ~= "string" and not ref.is(item) then return false end
  end
  return true
end

local checks = {
  string = function(v) return type(v) == "string" or ref.is(v), "a string" end,
  integer = function(v) return math.type(v) == "integer", "an integer" end,
  boolean = function(v) return type(v) == "boolean", "a boolean" end,
  any = function() return true end, -- checked by its own rule
  ["function"] = function(v) return type(v) == "function", "a function" end,
  table = function(v) return type(v) == "table" and not ref.is(v), "a table" end,
  strings = function(v) return is_list_of_strings(v), "a list of strings" end,
  ["string|strings"] = function(v)
    return type(v) == "string" or ref.is(v) or is_list_of_strings(v), "a string or a list of strings"
  end,
}

-- Checks t against fields; extra keys listed in allowed are accepted too.
local function check_fields(t, fields, where, allowed)
  for key, value in pairs(t) do
    if type(key) ~= "string" then
      fail(where, "unexpected entry [%s] (expected named keys)", tostring(key))
    end
    local kind = fields[key]
    if not kind and not (allowed and allowed[key]) then
      local known = {}
      for k in pairs(fields) do known[#known + 1] = k end
      if allowed then for k in pairs(allowed) do known[#known + 1] = k end end
      table.sort(known)
      fail(where, "unknown key %q (expected one of: %s)", key, table.concat(known, ", "))
    end
    if kind then
      local ok, expected = checks[kind:gsub("!$", "")](value)
      if not ok then fail(where .. "." .. key, "expected %s, got %s", expected, describe(value)) end
    end
  end
  for key, kind in pairs(fields) do
    if kind:sub(-1) == "!" and t[key] == nil then
      fail(where, "missing required key %q", key)
    end
  end
end

-- What a value in an option's range is: the adapter's words, else the bounds.
local function range_text(o)
  if o.expected then return o.expected end
  if o.max then return ("from %d to %d"):format(o.min, o.max) end
  return ("%d or more"):format(o.min)
end

-- "plain" or "custom"; "a", "b" or "c"
local function choices_text(choices)
  local quoted = {}
  for i, c in ipairs(choices) do quoted[i] = ("%q"):format(c) end
  if #quoted == 1 then return quoted[1] end
  return table.concat(quoted, ", ", 1, #quoted - 1) .. " or " .. quoted[#quoted]
end

local function is_choice(value, choices)
  for _, c in ipairs(choices) do
    if value == c then return true end
  end
  return false
end

-- The rules of each option's schema beyond its kind (checked already):
-- an integer's range, a string's choices (a plain word then: no
-- reference), and no newline in a list's strings, which reach the adapter
-- joined with newlines.
local function check_rules(t, options, where)
  for key, value in pairs(t) do
    local o = options[key]
    local w = where .. "." .. key
    if o and o.min and math.type(value) == "integer" and (value < o.min or (o.max and value > o.max)) then
      fail(w, "expected %s, got %d", range_text(o), value)
    end
    if o and o.choices and not is_choice(value, o.choices) then
      fail(w, "expected %s, got %s", choices_text(o.choices),
           ref.is(value) and tostring(value) or ("%q"):format(value))
    end
    if o and (o.kind == "strings" or o.kind == "string|strings") then
      if type(value) == "string" and value:find("\n") then
        fail(w, "cannot hold a newline")
      elseif type(value) == "table" and not ref.is(value) then
        for i, item in ipairs(value) do
          if type(item) == "string" and item:find("\n") then
            fail(("%s[%d]"):format(w, i), "an item cannot hold a newline")
          end
        end
      end
    end
  end
end

-- Arguments are visible to every user (ps, /proc/PID/cmdline): no secret
-- reference may become one.
local function check_no_references_in_argv(src, where)
  local hint = src.type == "command"
    and 'put it in the command source\'s env table instead (env = { TOKEN = secret "name" }) and read it from the environment'
    or "use the source's password key: moonbak passes it to the tool through its environment or a private option file"
  for _, key in ipairs { "argv", "extra_args" } do
    local list = type(src[key]) == "table" and not ref.is(src[key]) and src[key] or {}
    for i, a in ipairs(list) do
      if ref.is(a) then
        fail(("%s.%s[%d]"):format(where, key, i),
             "%s would be visible in the process list (/proc/PID/cmdline) as an argument; %s",
             tostring(a), hint)
      end
    end
  end
end

local function check_typed(t, catalogue, options, where, kind_name, exists, also)
  if type(t.type) ~= "string" then
    fail(where, "missing required key \"type\" (a %s type: %s)", kind_name,
         table.concat((function() local n = {} for k in pairs(catalogue) do n[#n + 1] = k end
                       table.sort(n) return n end)(), ", "))
  end
  local fields = catalogue[t.type]
  if not fields then fail(where .. ".type", "unknown %s type %q", kind_name, t.type) end
  local allowed = { type = true, name = true }
  for k in pairs(also or {}) do allowed[k] = true end
  check_fields(t, fields, where, allowed)
  if t.name ~= nil and (type(t.name) ~= "string" or t.name == "") then
    fail(where .. ".name", "expected a non-empty string, got %s", describe(t.name))
  end
  check_rules(t, options[t.type] or {}, where)
  if exists and not exists(t.type) then
    fail(where .. ".type", "%s type %q is not available in this build of moonbak yet", kind_name, t.type)
  end
end

local function check_compression(c, where)
  check_fields(c, { type = "string!", level = "integer", workers = "integer" }, where)
  if c.type == "none" then return end
  if c.type ~= "zstd" then fail(where .. ".type", "expected \"zstd\" or \"none\", got %q", c.type) end
  if c.level and (c.level < 1 or c.level > 19) then
    fail(where .. ".level", "expected an integer from 1 to 19, got %d", c.level)
  end
  if c.workers and (c.workers < 0 or c.workers > 64) then
    fail(where .. ".workers", "expected an integer from 0 to 64, got %d", c.workers)
  end
end

local function check_encryption(e, where)
  check_fields(e, { type = "string!", recipients = "strings", passphrase = "string" }, where)
  if e.type == "none" then return end
  if e.type ~= "age" then fail(where .. ".type", "expected \"age\" or \"none\", got %q", e.type) end
  if (e.recipients == nil) == (e.passphrase == nil) then
    fail(where, "age needs either \"recipients\" (a list of age1... public keys) or \"passphrase\", not both")
  end
  if e.recipients then
    if #e.recipients == 0 then fail(where .. ".recipients", "expected at least one recipient") end
    local crypto = require "moonbak.crypto"
    for i, r in ipairs(e.recipients) do
      if type(r) == "string" then
        local ok, err = crypto.check_recipient(r)
        if not ok then fail(("%s.recipients[%d]"):format(where, i), "%s", err) end
      end
    end
  end
end

-- The schedule is read by the scheduler's own parser (moonbak.cron), so
-- what loads is what runs; the zone must be in the system's zoneinfo.
local function check_schedule(s, where)
  if type(s) ~= "string" then fail(where, "expected a cron expression, got %s", describe(s)) end
  local ok, err = cron.parse(s)
  if not ok then fail(where, "%s", err) end
end

local function check_timezone(zone, where)
  if type(zone) ~= "string" then fail(where, "expected a time zone name such as \"Europe/Berlin\", got %s", describe(zone)) end
  local ok, err = cron.timezone(zone)
  if not ok then fail(where, "%s", err) end
end

local function check_steps(steps, where)
  for i, step in ipairs(steps) do
    if type(step) == "string" then
      if not M.builtin_steps[step] then
        fail(("%s[%d]"):format(where, i), "unknown step %q (built-in steps: initialize, dump, upload, completion)", step)
      end
    elseif type(step) ~= "function" then
      fail(("%s[%d]"):format(where, i), "expected a step name or a function, got %s", type(step))
    end
  end
end

local function check_list(list, where, each)
  if #list == 0 then fail(where, "expected a non-empty list") end
  for k in pairs(list) do
    if math.type(k) ~= "integer" then fail(where, "expected a list, found key %q", tostring(k)) end
  end
  for i, item in ipairs(list) do
    if type(item) ~= "table" or ref.is(item) then
      fail(("%s[%d]"):format(where, i), "expected a table, got %s", describe(item))
    end
    each(item, ("%s[%d]"):format(where, i))
  end
end

-- Gives each storage a unique name: its type, then type-2, type-3 ...
local function name_storages(list, where)
  local seen, count = {}, {}
  for i, st in ipairs(list) do
    if not st.name then
      count[st.type] = (count[st.type] or 0) + 1
      st.name = count[st.type] == 1 and st.type or ("%s-%d"):format(st.type, count[st.type])
    end
    if seen[st.name] then fail(("%s[%d].name"):format(where, i), "duplicate storage name %q", st.name) end
    seen[st.name] = true
  end
end

-- copy_to = { "offsite" }: storages of the job the run copies its backup
-- to from the first storage that has it, instead of uploading to them; at
-- least one storage is uploaded to.
local function check_copy_to(job, where)
  local list, named, seen = job.copy_to, {}, {}
  for k in pairs(list) do
    if math.type(k) ~= "integer" then fail(where, "expected a list of storage names, found key %q", tostring(k)) end
  end
  if #list == 0 then fail(where, "expected a non-empty list of storage names (or no copy_to)") end
  local names = {}
  for _, st in ipairs(job.storage) do named[st.name] = true; names[#names + 1] = st.name end
  for i, name in ipairs(list) do
    local w = ("%s[%d]"):format(where, i)
    if type(name) ~= "string" then fail(w, "expected a storage name, got %s", describe(name)) end
    if not named[name] then
      fail(w, "no storage of the job is named %q (its storages: %s)", name, table.concat(names, ", "))
    end
    if seen[name] then fail(w, "storage %q is listed twice", name) end
    seen[name] = true
  end
  if #list >= #job.storage then
    fail(where, "names every storage of the job: at least one must be uploaded to (the copies are made from it)")
  end
end

local function check_notifier(n, where)
  check_typed(n, M.notifiers, notifier_options, where, "notifier", nil, { on = true })
  if n.on == nil then return end
  local known = {}
  for _, e in ipairs(require("moonbak.notify").events) do known[e] = true end
  if type(n.on) ~= "table" or ref.is(n.on) or not is_list_of_strings(n.on) then
    fail(where .. ".on", "expected a list of events, got %s", describe(n.on))
  end
  for i, e in ipairs(n.on) do
    if not known[e] then
      local events = require("moonbak.notify").events
      fail(("%s.on[%d]"):format(where, i), "unknown event %q (expected %s or %s)", e,
           table.concat(events, ", ", 1, #events - 1), events[#events])
    end
  end
end

-- notify = { { type = "discord", url = secret "hook" }, function(event) ... end, ... }
local function check_notify(job, where)
  local list = job.notify
  for k in pairs(list) do
    if math.type(k) ~= "integer" then fail(where, "expected a list, found key %q", tostring(k)) end
  end
  for i, n in ipairs(list) do
    local w = ("%s[%d]"):format(where, i)
    if type(n) ~= "function" then
      if type(n) ~= "table" or ref.is(n) then fail(w, "expected a table or a function, got %s", describe(n)) end
      check_notifier(n, w)
    end
  end
  local named, i, err = require("moonbak.notify").normalize(list)
  if not named then fail(("%s[%d].name"):format(where, i), "%s", err) end
  job.notify = named
end

-- Restore drills (moonbak drill, lua/moonbak/drill.lua): SQL engines
-- check with queries, redis with commands, a file or a command's output
-- with a program (drill.check_kinds).
local function plain_string(v) return type(v) == "string" and v ~= "" end

local function check_drill_expect(v, where)
  if v ~= nil and type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
    fail(where, "expected a string, a number or a boolean (the value the check must see), got %s", describe(v))
  end
end

-- One entry of drill.checks: "SQL" or { sql =, expect =, name = } for SQL
-- engines; "COMMAND" or { command = "DBSIZE" | { "GET", "k" }, expect =,
-- name = } for redis.
local function check_drill_check(c, kind, where)
  local key = kind == "sql" and "sql" or "command"
  if type(c) == "string" then
    if c == "" or not c:match("%S") then fail(where, "expected a non-empty %s", kind == "sql" and "query" or "command") end
    return
  end
  if type(c) ~= "table" or ref.is(c) then
    fail(where, "expected a %s string or a table { %s = ..., expect = ... }, got %s",
         kind == "sql" and "query" or "command", key, describe(c))
  end
  check_fields(c, { [key] = "any", expect = "any", name = "any" }, where)
  local v = c[key]
  if kind == "sql" and not plain_string(v) then
    fail(where .. ".sql", "expected a query (a non-empty string), got %s", describe(v))
  elseif kind == "redis" and not plain_string(v) and not (is_list_of_strings(v) and #v > 0) then
    fail(where .. ".command", "expected a command: a string (\"DBSIZE\") or a list ({ \"GET\", \"key\" }), got %s",
         describe(v))
  end
  if kind == "redis" and type(v) == "table" then
    for i, item in ipairs(v) do
      if ref.is(item) then fail(("%s.command[%d]"):format(where, i), "expected a plain string, got %s", describe(item)) end
    end
  end
  check_drill_expect(c.expect, where .. ".expect")
  if c.name ~= nil and not plain_string(c.name) then
    fail(where .. ".name", "expected a non-empty string, got %s", describe(c.name))
  end
end

-- drill = { schedule =, checks =, server =, command = }
local function check_drill(job, where)
  local d, src_type = job.drill, job.source.type
  check_fields(d, { schedule = "any", checks = "any", server = "any", command = "any" }, where)
  local kind = require("moonbak.drill").check_kinds[src_type]
  if not kind then
    fail(where, "restore drills are not available for %s sources (they are for sqlite, postgres, mysql, mariadb, redis, file and command)",
         src_type)
  end
  if d.schedule ~= nil then check_schedule(d.schedule, where .. ".schedule") end
  if d.checks ~= nil then
    if kind == "command" then
      fail(where .. ".checks", "a %s source is checked by a program: give drill.command (it gets the restored file)", src_type)
    end
    if type(d.checks) ~= "table" or ref.is(d.checks) then fail(where .. ".checks", "expected a list, got %s", describe(d.checks)) end
    for k in pairs(d.checks) do
      if math.type(k) ~= "integer" then fail(where .. ".checks", "expected a list, found key %q", tostring(k)) end
    end
    for i, c in ipairs(d.checks) do check_drill_check(c, kind, ("%s.checks[%d]"):format(where, i)) end
  end
  if d.command ~= nil then
    if kind ~= "command" then
      fail(where .. ".command", "is for file and command sources; a %s drill checks with drill.checks", src_type)
    end
    if not plain_string(d.command) and not (is_list_of_strings(d.command) and #d.command > 0) then
      fail(where .. ".command", "expected a shell command (a string) or a program and its arguments (a list), got %s",
           describe(d.command))
    end
    for i, a in ipairs(type(d.command) == "table" and d.command or {}) do
      if ref.is(a) then
        fail(("%s.command[%d]"):format(where, i), "%s would be visible in the process list as an argument", tostring(a))
      end
    end
  end
  if d.server ~= nil then
    if kind ~= "sql" and kind ~= "redis" or src_type == "sqlite" then
      fail(where .. ".server", "a %s drill restores into a scratch file: server is for database servers", src_type)
    end
    if type(d.server) ~= "table" or ref.is(d.server) then
      fail(where .. ".server", "expected a %s source table (the server to restore into), got %s", src_type, describe(d.server))
    end
    if d.server.type == nil then d.server.type = src_type end
    if d.server.type ~= src_type then
      fail(where .. ".server.type", "expected %q, the type of the job's source, got %s", src_type, describe(d.server.type))
    end
    check_typed(d.server, M.sources, source_options, where .. ".server", "source", source.exists)
    check_no_references_in_argv(d.server, where .. ".server")
  end
end

-- verify = { schedule = "0 5 * * *", backups = "newest" | "all" }: the
-- daemon re-reads the newest backup (or every one) on that schedule.
local function check_verify(v, where)
  check_fields(v, { schedule = "string!", backups = "string" }, where)
  check_schedule(v.schedule, where .. ".schedule")
  if v.backups ~= nil and v.backups ~= "newest" and v.backups ~= "all" then
    fail(where .. ".backups", "expected \"newest\" or \"all\", got %s", describe(v.backups))
  end
  v.backups = v.backups or "newest"
end

local function validate_table(job, where)
  check_fields(job, top, where)
  if job.name ~= nil and (type(job.name) ~= "string" or not job.name:match("^[%w][%w._-]*$")
                          or #job.name > 100) then
    fail(where .. ".name", "expected up to 100 letters, digits, '.', '_' or '-', got %s", describe(job.name))
  end
  if job.schedule then check_schedule(job.schedule, where .. ".schedule") end
  if job.timezone then check_timezone(job.timezone, where .. ".timezone") end
  if job.verify then check_verify(job.verify, where .. ".verify") end
  if job.catchup ~= nil and job.catchup ~= false
     and not (math.type(job.catchup) == "integer" and job.catchup >= 0) then
    fail(where .. ".catchup", "expected false or a number of seconds (0 or more), got %s", describe(job.catchup))
  end
  if job.timeout and job.timeout < 1 then
    fail(where .. ".timeout", "expected a number of seconds, 1 or more, got %d", job.timeout)
  end
  if job.metrics and not job.metrics:match("^/.") then
    fail(where .. ".metrics", "expected an absolute path (a Prometheus textfile, say /var/lib/prometheus/node-exporter/moonbak.prom), got %s",
         describe(job.metrics))
  end
  if job.retry then
    check_fields(job.retry, { attempts = "integer!", delay = "integer", partial = "boolean" }, where .. ".retry")
    if job.retry.attempts < 1 or job.retry.attempts > 100 then
      fail(where .. ".retry.attempts", "expected 1 to 100 (the first run included), got %d", job.retry.attempts)
    end
    if job.retry.delay and job.retry.delay < 0 then
      fail(where .. ".retry.delay", "expected 0 or more seconds, got %d", job.retry.delay)
    end
  end
  check_typed(job.source, M.sources, source_options, where .. ".source", "source", source.exists)
  check_list(job.storage, where .. ".storage", function(st, w)
    check_typed(st, M.storages, storage_options, w, "storage", storage.exists)
  end)
  name_storages(job.storage, where .. ".storage")
  if job.copy_to then check_copy_to(job, where .. ".copy_to") end
  if job.compression then check_compression(job.compression, where .. ".compression") end
  if job.encryption then check_encryption(job.encryption, where .. ".encryption") end
  if job.retention then
    check_fields(job.retention, retention_fields, where .. ".retention")
    local any = false
    for k, v in pairs(job.retention) do
      if v < 0 then fail(where .. ".retention." .. k, "expected 0 or more, got %d", v) end
      any = any or v > 0
    end
    if not any then fail(where .. ".retention", "keeps nothing: give at least one positive count") end
  end
  check_no_references_in_argv(job.source, where .. ".source")
  if job.notify then check_notify(job, where .. ".notify") end
  if job.steps then check_steps(job.steps, where .. ".steps") end
  if job.drill then check_drill(job, where .. ".drill") end
end

-- Validates a job table in place (filling defaults).  Returns the job, or
-- nil and a message.
function M.validate(job, where)
  where = where or "job"
  if type(job) ~= "table" then
    return nil, ("%s: expected the file to return a table, got %s"):format(where, type(job))
  end
  local ok, err = pcall(validate_table, job, where)
  if not ok then
    if getmetatable(err) == ValidationError then return nil, err.message end
    error(err, 0)
  end
  job.compression = job.compression or { type = "zstd", level = 3 }
  job.encryption = job.encryption or { type = "none" }
  return job
end

-- Loading a job file describes the job; its step functions do the work when
-- the job runs.  While the file loads it runs in a restricted environment,
-- under an instruction and a memory limit (moonbak.sandbox): `moonbak jobs`
-- loads every file and must neither hang nor have side effects.  Functions
-- the file defines see the full environment when they are called later.
M.load_limits = { instructions = 50 * 1000 * 1000, memory = 64 * 1024 * 1024 }

local WHY = "loading a job file describes the job; its step functions run when the job runs"

local function refuse(name, level)
  error(("%s is not available while a job file loads (%s)"):format(name, WHY), level + 1)
end

-- A table with the functions in allowed; any other key raises, naming it.
local function only(prefix, allowed)
  return setmetatable(allowed, {
    __index = function(_, key) refuse(prefix .. tostring(key), 2) end,
    __metatable = false,
  })
end

-- A global that is not there while a file loads: calling or indexing it raises.
local function absent(name)
  return setmetatable({}, {
    __index = function(_, key) refuse(name .. "." .. tostring(key), 2) end,
    __call = function() refuse(name, 2) end,
    __metatable = false,
  })
end

-- Reading a regular file is fine; a FIFO or a terminal would block the
-- load where no instruction limit can reach it.  what names the call.
local function only_regular(path, what)
  if path == nil then refuse(what .. "() (standard input)", 3) end
  local st = type(path) == "string" and sys.stat(path)
  if st and st.type ~= "file" then
    refuse(("%s of %s, which is not a regular file,"):format(what, path), 3)
  end
end

local function read_only_open(path, mode)
  if mode ~= nil and mode ~= "r" and mode ~= "rb" then
    refuse(("io.open(..., %q)"):format(tostring(mode)), 2)
  end
  if path ~= nil then only_regular(path, "io.open") end
  return io.open(path, mode)
end

-- Modules whose functions may be called while a file loads (no side effects).
local callable_at_load = { ["cjson.decode"] = true }

-- A view of an engine module: its functions raise while the file loads
-- (`local sqlite = require "moonbak.sqlite"` at the top of a job file is
-- fine; sqlite.open is for the steps) and work normally afterwards.
local function guarded(value, name, state)
  if type(value) == "function" then
    if callable_at_load[name] then return value end
    return function(...)
      if state.loading then refuse(name, 2) end
      return value(...)
    end
  end
  if type(value) ~= "table" then return value end
  local views = {}
  return setmetatable({}, {
    __index = function(_, key)
      if views[key] == nil then views[key] = guarded(value[key], name .. "." .. tostring(key), state) end
      return views[key]
    end,
    __metatable = false,
  })
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

local job_env

-- require while a file loads: moonbak's own modules (as guarded views) and
-- Lua modules on package.path (loaded as text, restricted like the file,
-- once per job file: loaded is the file's cache); no C modules.
local function load_time_require(state, loaded)
  return function(name)
    if type(name) ~= "string" then error("require: expected a module name", 2) end
    if name == "moonbak" or name:match("^moonbak%.") or name == "cjson" then
      return guarded(require(name), name, state)
    end
    if loaded[name] ~= nil then return loaded[name] end
    local path = package.searchpath(name, package.path)
    if not path then
      error(("require %q: while a job file loads, only moonbak's modules and Lua modules on "
             .. "package.path (%s) can be required"):format(name, package.path), 2)
    end
    local chunk, err = loadfile(path, "t", job_env(state, loaded))
    if not chunk then error(err, 0) end
    local value = chunk(name, path)
    if value == nil then value = true end
    loaded[name] = value
    return value
  end
end

-- What a job file sees while it loads (env is the file's global table).
local function restricted_globals(env, state, loaded)
  local g = {}
  for _, name in ipairs { "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal",
                          "rawget", "rawlen", "rawset", "select", "tonumber",
                          "tostring", "type", "xpcall", "_VERSION" } do
    g[name] = _G[name]
  end
  -- No finalizers: Lua runs a __gc at a later collection (at exit at the
  -- latest), outside the sandbox, with hooks off (no instruction limit) and
  -- the full environment.  Lua only looks for __gc when the metatable is set.
  g.setmetatable = function(t, mt)
    if type(mt) == "table" and rawget(mt, "__gc") ~= nil then refuse("a __gc metamethod", 2) end
    return setmetatable(t, mt)
  end
  -- copies: a file that replaces string.format changes only its own
  for _, lib in ipairs { "string", "table", "math", "utf8", "coroutine" } do g[lib] = copy(_G[lib]) end
  g.os = only("os.", { clock = os.clock, date = os.date, difftime = os.difftime, getenv = os.getenv,
                       time = os.time })
  g.io = only("io.", { open = read_only_open, type = io.type,
                       lines = function(path, ...)
                         only_regular(path, "io.lines")
                         return io.lines(path, ...)
                       end })
  g.getmetatable = function(v) -- not the string library's, nor a reference's
    if type(v) == "table" and not ref.is(v) then return getmetatable(v) end
    return nil
  end
  g.load = function(chunk, name, _, chunk_env) return load(chunk, name, "t", chunk_env or env) end
  g.loadfile = function(path, _, chunk_env)
    only_regular(path, "loadfile")
    return loadfile(path, "t", chunk_env or env)
  end
  g.dofile = function(path)
    only_regular(path, "dofile")
    return assert(loadfile(path, "t", env))()
  end
  g.require = load_time_require(state, loaded)
  g._G = env
  for _, name in ipairs { "print", "collectgarbage", "debug", "package", "warn" } do
    g[name] = absent(name)
  end
  return g
end

-- A job file's global table: the reference constructors, then the
-- restricted globals while state.loading, _G afterwards.
function job_env(state, loaded)
  local env = { secret = ref.secret, env = ref.env, file = ref.file }
  local restricted = restricted_globals(env, state, loaded)
  return setmetatable(env, {
    __index = function(_, key)
      if state.loading then return restricted[key] end
      return _G[key]
    end,
    __metatable = false,
  })
end

local reference_kinds = { secret = true, env = true, file = true }

-- A copy of what the file returned made of plain tables, so that no
-- metamethod of the file's runs when the job is validated, listed or run
-- (functions, its custom steps, are kept).  References are made anew.
local function plain_copy(value, where, open)
  if ref.is(value) then
    local kind = rawget(value, "kind")
    if not reference_kinds[kind] then fail(where, "a damaged reference") end
    return ref[kind](rawget(value, "name"))
  end
  if type(value) ~= "table" then return value end
  if open[value] then fail(where, "a table that contains itself") end
  open[value] = true
  local c = {}
  for k, v in next, value do
    c[k] = plain_copy(v, ("%s.%s"):format(where, tostring(k)), open)
  end
  open[value] = nil
  return c
end

-- Runs in the sandbox: the file, then the validation of what it returned.
local function run_and_validate(path, text, state)
  local chunk, syntax = load(text, "@" .. path, "t", job_env(state, {}))
  if not chunk then return nil, syntax end
  local job = chunk()
  if type(job) == "table" then
    local ok, copied = pcall(plain_copy, job, path, {})
    if not ok then
      if getmetatable(copied) == ValidationError then return nil, copied.message end
      error(copied, 0)
    end
    job = copied
  end
  return M.validate(job, path)
end

local function limit_message(limit)
  local what = limit == "instructions"
    and ("%d Lua instructions"):format(M.load_limits.instructions)
    or ("%d MiB of memory"):format(M.load_limits.memory // (1024 * 1024))
  return ("it used more than %s, the limit for loading a job file (%s)"):format(what, WHY)
end

-- job.load(path) -> job | nil, message.  Loaded as text only, never bytecode.
function M.load(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, ("%s: cannot read job file (%s)"):format(path, err) end
  local text = f:read("a")
  f:close()
  local state = { loading = true }
  local ok, job, verr = sandbox.run(function() return run_and_validate(path, text, state) end, M.load_limits)
  state.loading = false
  if not ok then
    if verr then return nil, ("%s: stopped while loading: %s"):format(path, limit_message(verr)) end
    -- never tostring() a table the file made: its __tostring would run unsandboxed
    local shown = type(job) == "string" and job or ("(error object is a %s value)"):format(type(job))
    return nil, ("%s: error while loading: %s"):format(path, shown)
  end
  if not job then return nil, verr end
  if not job.name then
    job.name = path:match("([^/]+)%.lua$") or path:match("([^/]+)$")
  end
  job.file = path
  return job
end

-- Where the job JOB lives: a path to a file, or a name in the jobs directory.
function M.find(name_or_path, jobs_dir)
  if name_or_path:find("/", 1, true) or name_or_path:match("%.lua$") then
    return name_or_path
  end
  return ("%s/%s.lua"):format(jobs_dir, name_or_path)
end

local function job_files(dir)
  local names, err = sys.listdir(dir)
  if not names then return nil, err end
  local paths = {}
  for _, name in ipairs(names) do
    if name:match("%.lua$") then paths[#paths + 1] = dir .. "/" .. name end
  end
  return paths
end

local function duplicate_message(file, name, files)
  local others = {}
  for _, f in ipairs(files) do
    if f ~= file then others[#others + 1] = f end
  end
  return ("%s: job name %q is also declared by %s (a job's name must be unique: it names its "
          .. "backups, and the retention of one job would delete the other's)"):format(
          file, name, table.concat(others, ", "))
end

-- job.load_dir(dir) -> { job, ... }, { { file =, error = }, ... }
-- Files that declare the same job name are all broken.
function M.load_dir(dir)
  local paths, err = job_files(dir)
  if not paths then return nil, err end
  local loaded, broken, files_of = {}, {}, {}
  for _, path in ipairs(paths) do
    local job, jerr = M.load(path)
    if job then
      loaded[#loaded + 1] = job
      files_of[job.name] = files_of[job.name] or {}
      table.insert(files_of[job.name], path)
    else
      broken[#broken + 1] = { file = path, error = jerr }
    end
  end
  local jobs = {}
  for _, job in ipairs(loaded) do
    local files = files_of[job.name]
    if #files > 1 then
      broken[#broken + 1] = { file = job.file, error = duplicate_message(job.file, job.name, files) }
    else
      jobs[#jobs + 1] = job
    end
  end
  table.sort(broken, function(a, b) return a.file < b.file end)
  return jobs, broken
end

local function same_file(a, b)
  local sa, sb = sys.stat(a), sys.stat(b)
  return sa and sb and sa.dev == sb.dev and sa.ino == sb.ino
end

-- The files in jobs_dir, other than job's own, that declare job's name.
-- Broken files there do not matter; a missing jobs_dir has none.
local function same_name_files(job, jobs_dir)
  local st = jobs_dir and sys.stat(jobs_dir)
  if not (st and st.type == "directory") then return {} end
  local found = {}
  for _, path in ipairs(job_files(jobs_dir) or {}) do
    if not same_file(path, job.file) then
      local other = M.load(path)
      if other and other.name == job.name then found[#found + 1] = path end
    end
  end
  return found
end

-- job.open(JOB, jobs_dir) -> job | nil, message: the job a command acts on
-- (a name in jobs_dir or a path), refused when another file in jobs_dir
-- declares the same name.
-- The file in jobs_dir whose job is named name, when NAME.lua is not it
-- (a file may declare any name); nil when none does.
local function file_declaring(name, jobs_dir)
  for _, path in ipairs(job_files(jobs_dir) or {}) do
    local job = M.load(path)
    if job and job.name == name then return path end
  end
end

function M.open(name_or_path, jobs_dir)
  local path = M.find(name_or_path, jobs_dir)
  if path ~= name_or_path and not sys.stat(path) then
    path = file_declaring(name_or_path, jobs_dir) or path
  end
  local job, err = M.load(path)
  if not job then return nil, err end
  local others = same_name_files(job, jobs_dir)
  if #others > 0 then
    table.insert(others, 1, job.file)
    return nil, duplicate_message(job.file, job.name, others)
  end
  return job
end

return M
