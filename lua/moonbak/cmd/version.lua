-- moonbak version: print the version.
local mb = require "moonbak"

return {
  usage = { { "version", "print the version" } },
  max_args = 0,
  exit = "0",
  run = function()
    print("moonbak " .. mb.version)
    return 0
  end,
}
