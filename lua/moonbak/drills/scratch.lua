-- What the engine drills share beyond moonbak.drill (scratch names, who
-- owns one, judging a check): the dead drills' scratch targets among a
-- server's, and the databases a backup holds.
local drill = require "moonbak.drill"

local M = {}

-- The scratch targets among names (databases, directories) that a dead
-- drill of this host left: never this drill's own (d.name), never a live
-- drill's, never another host's (moonbak.drill.abandoned).
function M.leftovers(d, names)
  local found = {}
  for _, name in ipairs(names) do
    -- a scratch name itself, not a name made from one ("NAME.work")
    if name ~= d.name and not name:find("[^%w_]") and drill.parse_scratch(name) and drill.abandoned(name) then
      found[#found + 1] = name
    end
  end
  return found
end

-- The databases a sidecar says its backup holds (meta.source.databases: a
-- list, or older, a text one a line), as a list; nil when it says nothing.
function M.databases(meta)
  local v = meta.source and meta.source.databases
  if type(v) == "string" then
    local list = {}
    for name in v:gmatch("[^\n]+") do list[#list + 1] = name end
    return list
  end
  if type(v) == "table" then return v end
end

return M
