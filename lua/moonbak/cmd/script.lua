-- moonbak script FILE.lua [ARGS]: run a Lua script with the moonbak API.
local lib = require "moonbak.clilib"

local function run(_, args)
  local file = args[1]
  if not file then lib.usage_error("script: expected FILE.lua") end
  local chunk, err = loadfile(file, "t")
  if not chunk then lib.eprint("moonbak: %s", err); return 2 end
  local script_args = table.move(args, 2, #args, 1, {})
  script_args[0] = file
  _G.arg = script_args
  local ok, result = xpcall(chunk, debug.traceback, table.unpack(script_args))
  if not ok then
    lib.eprint("moonbak: script %s failed: %s", file, result)
    return 1
  end
  return math.tointeger(result) or 0
end

return {
  usage = { { "script FILE.lua [ARGS]", "run a Lua script with the moonbak API" } },
  description = [[
The script gets ARGS as ... and as the global arg (arg[0] is FILE.lua), and
require "moonbak" for the API.  Every word after FILE.lua is the script's,
even one that looks like an option.]],
  passthrough = 1,
  exit = "the integer the script returns (0 when it returns none), 1 it raised an error, " ..
         "2 it cannot be loaded (or bad usage)",
  examples = {
    { "moonbak script report.lua --days 7",
      "run report.lua with the moonbak API; it gets --days 7 as arguments" },
  },
  run = run,
}
