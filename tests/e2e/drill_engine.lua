-- drill_engine.lua — a test harness for the restore-drill engine modules
-- (lua/moonbak/drills/<type>.lua), run by test_drill_engines.sh with
-- `moonbak script` before the drill framework exists: it builds the
-- context d the framework would and calls the module's functions.
--
--   drill_engine.lua full JOB CHECKS_JSON   start, builtin, each check, cleanup
--   drill_engine.lua hold JOB READY GO      start, write what start did (JSON) to the
--                                           fifo READY, wait for a line on the fifo
--                                           GO, cleanup
--   drill_engine.lua sweep JOB              sweep
-- Prints one JSON object.  HOST_HASH (env) is the 8 hex digits of the
-- host in scratch names.
local mb = require "moonbak"
local lib = require "moonbak.clilib"
local sys = require "moonbak.sys"
local cjson = require "cjson"

local action, jobfile, a3, a4 = ...
local cfg = lib.settings({})
local job = lib.load_resolved_job(cfg, jobfile, true)
local meta = assert(mb.backups.find(job))
local temp = mb.state.temp_dir(cfg.state_dir)
local ticks = sys.process_start_time(sys.pid()):match(":(%d+)$")
local name = ("moonbak_drill_%s_%d_%s"):format(assert(os.getenv("HOST_HASH")), sys.pid(), ticks)
local spec = {}
for k, v in pairs(job.source) do spec[k] = v end
spec.temp_dir = temp
local d = { job = job, meta = meta, spec = spec, keys = mb.backups.keys(job), name = name,
            temp_dir = temp .. "/" .. name .. ".work",
            log = function(level, message) io.stderr:write(level, ": ", message, "\n") end }
assert(sys.mkdirs(d.temp_dir, 448))
local engine = require("moonbak.drills." .. job.source.type)
local out = { name = name }

local function start()
  local ok, err = engine.start(d)
  out.start_ok, out.start_error = ok ~= nil and ok ~= false, err
  out.bytes = type(ok) == "table" and ok.bytes or nil
  out.scratch_pid = d.scratch and d.scratch.process and d.scratch.process:pid() or nil
  out.scratch_port = d.scratch and d.scratch.port or nil
  return out.start_ok
end

local function cleanup()
  local ok, err = engine.cleanup(d)
  out.cleanup_ok, out.cleanup_error = ok == true, err
  local again = engine.cleanup(d) -- idempotent
  out.cleanup_again_ok = again == true
end

if action == "full" then
  if start() then
    out.builtin = engine.builtin(d)
    out.checks = {}
    for _, c in ipairs(cjson.decode(a3)) do
      local ok, detail = engine.check(d, c)
      out.checks[#out.checks + 1] = { ok = ok, detail = detail }
    end
  end
  cleanup()
elseif action == "hold" then
  start()
  local f = assert(io.open(a3, "w")) -- a fifo: the test reads it, an event
  f:write(cjson.encode(out), "\n")
  f:close()
  local fifo = assert(io.open(a4, "r")) -- blocks until the test opens it for writing
  fifo:read("l")
  fifo:close()
  cleanup()
elseif action == "sweep" then
  local removed, problems = engine.sweep(d)
  out.removed, out.problems = removed, problems
else
  error("unknown action " .. tostring(action))
end
os.remove(d.temp_dir)
print(cjson.encode(out))
