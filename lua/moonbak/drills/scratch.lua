-- What the engine drills share: whose a scratch target is (its name says
-- which drill made it), and how a check's value is judged.
local sys = require "moonbak.sys"

local M = {}

-- "moonbak_drill_<host hash>_<pid>_<start time digits>" -> prefix
-- ("moonbak_drill_<host hash>_"), pid, start digits; nil when name is not
-- a drill's scratch name.
function M.parse(name)
  local prefix, pid, start = tostring(name):match("^(moonbak_drill_%x+_)(%d+)_(%d+)$")
  if not prefix then return nil end
  return prefix, math.tointeger(tonumber(pid)), start
end

-- Whether the drill that made scratch name is gone: its pid does not run,
-- or runs as another process (another start time).  sys.process_start_time
-- gives "BOOTID:TICKS"; the name holds its ticks (or, spelled otherwise,
-- every digit of it: both are taken).  A name that is not a drill's, or a
-- /proc that cannot tell, counts as alive: never removed.
function M.owner_gone(name)
  local _, pid, start = M.parse(name)
  if not pid then return false end
  local instance, err = sys.process_start_time(pid)
  if err then return false end
  if instance == nil then return true end
  return instance:match(":(%d+)$") ~= start and instance:gsub("%D", "") ~= start
end

-- The names of a dead drill's scratch targets among names, for this
-- host (the prefix of d.name).
function M.leftovers(d, names)
  local prefix = M.parse(d.name)
  local found = {}
  if not prefix then return found end
  for _, name in ipairs(names) do
    if name ~= d.name and name:sub(1, #prefix) == prefix and M.parse(name) and M.owner_gone(name) then
      found[#found + 1] = name
    end
  end
  return found
end

-- A check's verdict on value (a string, false: no row / nil reply) against
-- expect: equal to tostring(expect) (numbers compare as numbers); when
-- expect is nil, value must say yes: one of truthy (a set).
function M.judge(value, expect, truthy)
  if value == false then return false, "no value (no row / nil)" end
  if expect == nil then return truthy[value:lower()] == true, value end
  if type(expect) == "number" then return tonumber(value) == expect, value end
  if type(expect) == "boolean" then
    return (truthy[value:lower()] == true) == expect, value
  end
  return value == tostring(expect), value
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

-- Removes dir and the files directly in it (a scratch directory is flat).
function M.remove_dir(dir)
  local names = sys.listdir(dir)
  if not names then return true end -- gone already
  for _, name in ipairs(names) do
    local ok, err = os.remove(dir .. "/" .. name)
    if not ok then return nil, err end
  end
  local ok, err = os.remove(dir)
  if not ok then return nil, err end
  return true
end

return M
