-- Restore drill of a Redis backup: the RDB file restored into a scratch
-- directory, loaded by a throwaway redis-server (a child of the drill, on
-- a free loopback port, password in its 0600 config file, no persistence),
-- checked with commands, stopped and removed.
--
-- The scratch directory is <state temp dir>/<d.name>: a later drill finds
-- a dead drill's there (sweep).  It holds dump.rdb, redis.conf, redis.log
-- and server.json (pid, start time, port and password of the server, mode
-- 0600), which lets sweep stop that very server and no other.
local backups = require "moonbak.backups"
local cjson = require "cjson.safe"
local crypto = require "moonbak.crypto"
local drill = require "moonbak.drill"
local scratch = require "moonbak.drills.scratch"
local source = require "moonbak.source"
local sys = require "moonbak.sys"

local M = {}

-- How long a server may take to load its data set and answer.
M.ready_timeout = 600
-- Attempts at a port (another program may take the one the kernel chose).
M.port_attempts = 5

local function scratch_base(d)
  if d.spec and d.spec.temp_dir then return d.spec.temp_dir end
  return (assert(d.temp_dir, "drill: no temp_dir"):match("^(.*)/[^/]+/*$"))
end

-- redis-server beside the job's redis-cli (option tool) when there is one.
local function server_program(spec)
  local dir = spec.tool and spec.tool:match("^(.*)/[^/]*$")
  local beside = dir and dir .. "/redis-server"
  if beside and sys.stat(beside) then return beside end
  return "redis-server"
end

local function server_spec(port, password)
  return { type = "redis", host = "127.0.0.1", port = port, password = password }
end

local function log_tail(dir)
  local f = io.open(dir .. "/redis.log", "rb")
  if not f then return "" end
  local text = f:read("a") or ""
  f:close()
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return table.concat(lines, "\n", math.max(1, #lines - 2))
end

local function write_config(path, dir, port, password)
  os.remove(path) -- create_private never replaces: a new port, a new file
  return sys.create_private(path, table.concat({
    "bind 127.0.0.1", "port " .. port, "protected-mode yes", "daemonize no",
    "dir " .. ("%q"):format(dir), "dbfilename dump.rdb", 'save ""', "appendonly no",
    'logfile ""', "requirepass " .. password, "" }, "\n"))
end

-- Waits until the server answers PING (it answers LOADING while it loads),
-- failing early when it exits.  Polls with a growing pause, bounded.
local function wait_ready(proc, spec, dir)
  local deadline, pause = sys.monotonic() + M.ready_timeout, 0.01
  while true do
    local reply, err = source.query(spec, nil, { "PING" })
    if reply == "PONG" then return true end
    local running, how = proc:running()
    if not running then return nil, ("%s: %s"):format(how, log_tail(dir)), log_tail(dir) end
    if sys.monotonic() > deadline then
      return nil, ("redis-server did not answer within %d s: %s"):format(M.ready_timeout, err)
    end
    sys.sleep(pause)
    pause = math.min(pause * 2, 0.25)
  end
end

local function start_server(d, dir)
  local password = crypto.random(24):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
  local err
  for _ = 1, M.port_attempts do
    local port, perr = sys.free_port()
    if not port then return nil, perr end
    local ok, cerr = write_config(dir .. "/redis.conf", dir, port, password)
    if not ok then return nil, cerr end
    local proc, serr = sys.spawn({ server_program(d.spec), dir .. "/redis.conf" },
      { output = dir .. "/redis.log", label = "redis-server (drill)" })
    if not proc then return nil, serr end
    d.scratch.process, d.scratch.port, d.scratch.password = proc, port, password
    local record = cjson.encode { pid = proc:pid(), start = sys.process_start_time(proc:pid()),
                                  port = port, password = password }
    local rok, rerr = sys.replace_file(dir .. "/server.json", record, 384) -- 0600
    if not rok then return nil, rerr end
    local ready, why, tail = wait_ready(proc, server_spec(port, password), dir)
    if ready then return true end
    err = why
    proc:close()
    d.scratch.process = nil
    if not (tail or ""):find("Address already in use", 1, true) then break end
  end
  return nil, "redis-server: " .. err
end

function M.start(d)
  local dir = scratch_base(d) .. "/" .. d.name
  d.scratch = { dir = dir }
  local ok, err = sys.mkdirs(dir, 448) -- 0700
  if not ok then return nil, err end
  local result, rerr = backups.restore_to_file(d.job, d.meta, dir .. "/dump.rdb", false, d.keys)
  if not result then return nil, rerr end
  local started, serr = start_server(d, dir)
  if not started then return nil, serr end
  d.log("info", ("redis-server %d loaded the backup on 127.0.0.1:%d"):format(d.scratch.process:pid(), d.scratch.port))
  return { bytes = result.bytes_out }
end

local function scratch_spec(d)
  return server_spec(d.scratch.port, d.scratch.password)
end

-- Every database's keys (DBSIZE counts the selected one only).
function M.builtin(d)
  local info, err = source.query(scratch_spec(d), nil, { "INFO", "keyspace" })
  if not info then return { { name = "keys", ok = false, detail = err or "no reply" } } end
  local keys = 0
  for n in info:gmatch("keys=(%d+)") do keys = keys + tonumber(n) end
  -- an empty data set restored is a failed drill: the snapshot lost its keys
  return { { name = "keys", ok = keys > 0, detail = ("%d keys"):format(keys) } }
end

local function words_of(command)
  if type(command) == "table" then return command end
  local words = {}
  for w in tostring(command):gmatch("%S+") do words[#words + 1] = w end
  return words
end

function M.check(d, c)
  local reply, err = source.query(scratch_spec(d), nil, words_of(c.command))
  if reply == nil then return false, err end
  if reply == false then return false, "(nil)" end
  if c.expect == nil then return reply ~= "" and reply ~= "0", reply end
  return drill.judge(reply, c.expect)
end

function M.cleanup(d)
  local s = d.scratch
  if not s then return true end
  if s.process then
    s.process:stop() -- SIGTERM: no save configured, nothing written; SIGKILL after a grace
    s.process:close()
    s.process = nil
  end
  if s.dir then
    local ok, err = sys.remove_tree(s.dir)
    if not ok then return nil, err end
    s.dir = nil
  end
  return true
end

local function read_record(dir)
  local f = io.open(dir .. "/server.json", "rb")
  if not f then return nil end
  local record = cjson.decode(f:read("a") or "")
  f:close()
  if type(record) ~= "table" then return nil end
  local pid, port = math.tointeger(record.pid), math.tointeger(record.port) -- JSON numbers may be floats
  if not pid or not port or type(record.start) ~= "string" or type(record.password) ~= "string" then return nil end
  return { pid = pid, port = port, start = record.start, password = record.password }
end

-- The recorded server, when it still runs as that very process: same
-- start time, a redis-server whose title names its port.
local function recorded_server_runs(record)
  if sys.process_start_time(record.pid) ~= record.start then return false end
  local f = io.open(("/proc/%d/cmdline"):format(record.pid), "rb")
  local cmdline = f and f:read("a") or ""
  if f then f:close() end
  return cmdline:find("redis-server", 1, true) ~= nil and cmdline:find(":" .. record.port, 1, true) ~= nil
end

-- Stops a dead drill's server through its own port and password (the
-- record's): SHUTDOWN NOSAVE reaches that server only.
local function stop_recorded(record)
  if not recorded_server_runs(record) then return true end
  source.query(server_spec(record.port, record.password), nil, { "SHUTDOWN", "NOSAVE" })
  local deadline, pause = sys.monotonic() + 30, 0.01
  while sys.process_start_time(record.pid) == record.start do
    if sys.monotonic() > deadline then
      return nil, ("redis-server %d (port %d) did not stop"):format(record.pid, record.port)
    end
    sys.sleep(pause)
    pause = math.min(pause * 2, 0.25)
  end
  return true
end

function M.sweep(d)
  local removed, problems = {}, {}
  local base = scratch_base(d)
  local names = sys.listdir(base) or {}
  for _, name in ipairs(scratch.leftovers(d, names)) do
    local dir = base .. "/" .. name
    local st = sys.stat(dir)
    if st and st.type == "directory" then
      local record = read_record(dir)
      local ok, err = true, nil
      if record then ok, err = stop_recorded(record) end
      if ok then ok, err = sys.remove_tree(dir) end
      if ok then removed[#removed + 1] = name else problems[#problems + 1] = err end
    end
  end
  return removed, problems
end

return M
