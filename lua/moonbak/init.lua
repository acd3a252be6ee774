-- moonbak — the Lua API.  Submodules load on first use: mb.job, mb.runner,
-- mb.source, mb.storage, mb.transform, mb.stream, mb.state, mb.backups, ...
local sys = require "moonbak.sys"

local mb = { version = sys.version }

return setmetatable(mb, {
  __index = function(t, key)
    local ok, module = pcall(require, "moonbak." .. key)
    if not ok then
      error(("moonbak has no module %q (%s)"):format(key, module), 2)
    end
    rawset(t, key, module)
    return module
  end,
})
