-- email_deliver.lua SPEC.json [NOTICE.json] — hands one notice to the
-- email notifier (moonbak.notifier.deliver) and prints its answer as JSON.
-- SPEC.json is the notifier's table; "password_env" names an environment
-- variable holding the password (kept out of files and argv); "seconds"
-- bounds the delivery (default 30).  NOTICE.json overrides fields of the
-- sample notice below.
local cjson = require "cjson"
local notifier = require "moonbak.notifier"

local function read_json(path)
  local f = assert(io.open(path))
  local t = cjson.decode(f:read("a"))
  f:close()
  return t
end

local spec = read_json(arg[1])
for k, v in pairs(spec) do -- JSON numbers decode as floats; a job file's are integers
  if math.type(v) == "float" and math.tointeger(v) then spec[k] = math.tointeger(v) end
end
if spec.password_env then
  spec.password = assert(os.getenv(spec.password_env), "the password's variable is not set")
  spec.password_env = nil
end
local seconds = spec.seconds or 30
spec.seconds = nil

local notice = {
  event = "failure",
  status = "failed",
  job = "shop",
  title = "[moonbak] shop: failed",
  summary = "The backup of shop failed in 03-upload: storage s3: HTTP 503",
  fields = {
    { "Trigger", "schedule" },
    { "Duration", "3.2 s" },
    { "Host", "db1.example.com" },
  },
  log = table.concat({
    "[4 earlier lines cut]",
    "03:00:00 info dump: pg_dump started",
    ".",
    "03:00:02 warning dump: Größe überschritten — ошибка ✓",
    "03:00:03 error upload: storage s3: HTTP 503",
  }, "\n"),
  json = "{}",
  run_id = "0f8e2c4a-7d3b-4b1e-9c55-2a6f0d9e1b77",
  host = "db1.example.com",
  time = 1764644400, -- Tue, 02 Dec 2025 03:00:00 +0000
}
if arg[2] then
  for k, v in pairs(read_json(arg[2])) do notice[k] = v end
end

local answer = notifier.deliver(spec, notice, seconds)
answer.seconds = nil -- not a fact the tests may depend on
print(cjson.encode(answer))
