-- Job files: load a Lua file that returns one table, and validate it.
-- Every error names the file, the key and what was expected.
local ref = require "moonbak.ref"
local source = require "moonbak.source"
local storage = require "moonbak.storage"

local M = {}

-- Field kinds: "string" (also accepts secret/env/file references),
-- "integer", "boolean", "strings" (a list of strings), "string|strings",
-- "table", "function".  A trailing "!" marks a required field.
local common_db = { host = "string", port = "integer", user = "string", password = "string",
                    socket = "string", extra_args = "strings", tool = "string" }

local function with(base, extra)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(extra) do t[k] = v end
  return t
end

M.sources = {
  sqlite = { path = "string!" },
  file = { path = "string!" },
  command = { argv = "strings!", env = "table" },
  postgres = with(common_db, { database = "string", format = "string", sslmode = "string" }),
  mysql = with(common_db, { database = "string|strings", tls = "boolean" }),
  mariadb = with(common_db, { database = "string|strings", tls = "boolean" }),
  redis = with(common_db, { db = "integer", tls = "boolean" }),
  mongodb = with(common_db, { uri = "string", database = "string", auth_database = "string",
                              tls = "boolean" }),
}

M.storages = {
  ["local"] = { path = "string!" },
  s3 = { endpoint = "string", region = "string", bucket = "string!", prefix = "string",
         access_key = "string", secret_key = "string", path_style = "boolean",
         part_size = "integer", retries = "integer", timeout = "integer" },
  -- remote storages: timeout (seconds a transfer may stall), retries (of
  -- small requests after connection failures)
  sftp = { host = "string!", port = "integer", user = "string", password = "string",
           private_key = "string", key_passphrase = "string", path = "string",
           known_hosts = "string", timeout = "integer", retries = "integer" },
  webdav = { url = "string!", user = "string", password = "string", ca_file = "string",
             insecure_tls = "boolean", timeout = "integer", retries = "integer" },
  ftp = { host = "string!", port = "integer", user = "string", password = "string",
          path = "string", tls = "boolean", ca_file = "string", insecure_tls = "boolean",
          timeout = "integer", retries = "integer" },
}

local top = {
  name = "string", description = "string", schedule = "string", timezone = "string",
  source = "table!", compression = "table", encryption = "table", storage = "table!",
  retention = "table", notify = "table", steps = "table", spool = "boolean",
}

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

local function check_typed(t, catalogue, where, kind_name, exists)
  if type(t.type) ~= "string" then
    fail(where, "missing required key \"type\" (a %s type: %s)", kind_name,
         table.concat((function() local n = {} for k in pairs(catalogue) do n[#n + 1] = k end
                       table.sort(n) return n end)(), ", "))
  end
  local fields = catalogue[t.type]
  if not fields then fail(where .. ".type", "unknown %s type %q", kind_name, t.type) end
  check_fields(t, fields, where, { type = true, name = true })
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

local function check_schedule(s, where)
  if s:match("^@%a+$") then
    local ok = ({ ["@hourly"] = 1, ["@daily"] = 1, ["@weekly"] = 1, ["@monthly"] = 1,
                  ["@yearly"] = 1, ["@annually"] = 1, ["@midnight"] = 1 })[s]
    if not ok then fail(where, "unknown schedule %q", s) end
    return
  end
  local n = 0
  for field in s:gmatch("%S+") do
    n = n + 1
    if not field:match("^[%d%*/,%-%a]+$") then fail(where, "bad cron field %q in %q", field, s) end
  end
  if n ~= 5 then fail(where, "expected 5 cron fields or @hourly/@daily/@weekly/@monthly, got %q", s) end
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

local function validate_table(job, where)
  check_fields(job, top, where)
  if job.name ~= nil and (type(job.name) ~= "string" or not job.name:match("^[%w][%w._-]*$")) then
    fail(where .. ".name", "expected letters, digits, '.', '_' or '-', got %s", describe(job.name))
  end
  if job.schedule then check_schedule(job.schedule, where .. ".schedule") end
  check_typed(job.source, M.sources, where .. ".source", "source", source.exists)
  check_list(job.storage, where .. ".storage", function(st, w)
    check_typed(st, M.storages, w, "storage", storage.exists)
  end)
  name_storages(job.storage, where .. ".storage")
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
  local src = job.source
  if src.type == "postgres" and src.format and src.format ~= "plain" and src.format ~= "custom" then
    fail(where .. ".source.format", "expected \"plain\" or \"custom\", got %q", src.format)
  end
  if src.type == "command" then
    for i, a in ipairs(src.argv) do
      if type(a) == "string" and a:find("\n") then
        fail(("%s.source.argv[%d]"):format(where, i), "an argument cannot hold a newline")
      end
    end
  end
  if job.notify then fail(where .. ".notify", "notifications are not available in this build of moonbak yet") end
  if job.steps then check_steps(job.steps, where .. ".steps") end
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
  job.timezone = job.timezone or "UTC"
  return job
end

-- The environment a job file runs in: the usual globals plus the reference
-- constructors.  Job files are trusted configuration, like a crontab.
local function job_env()
  local env = { secret = ref.secret, env = ref.env, file = ref.file }
  return setmetatable(env, { __index = _G })
end

-- job.load(path) -> job | nil, message.  Loaded as text only, never bytecode.
function M.load(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, ("%s: cannot read job file (%s)"):format(path, err) end
  local text = f:read("a")
  f:close()
  local chunk, syntax = load(text, "@" .. path, "t", job_env())
  if not chunk then return nil, syntax end
  local ok, job = pcall(chunk)
  if not ok then return nil, ("%s: error while loading: %s"):format(path, tostring(job)) end
  local valid, verr = M.validate(job, path)
  if not valid then return nil, verr end
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

-- job.load_dir(dir) -> { job, ... }, { { file =, error = }, ... }
function M.load_dir(dir)
  local sys = require "moonbak.sys"
  local names, err = sys.listdir(dir)
  if not names then return nil, err end
  local jobs, broken = {}, {}
  for _, name in ipairs(names) do
    if name:match("%.lua$") then
      local path = dir .. "/" .. name
      local job, jerr = M.load(path)
      if job then jobs[#jobs + 1] = job else broken[#broken + 1] = { file = path, error = jerr } end
    end
  end
  return jobs, broken
end

return M
