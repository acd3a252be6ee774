-- JSON as moonbak writes it (--json output, the webhook's body): lua-cjson
-- for every value, with two decisions of ours on top.  An empty table is
-- an empty list (a listing with nothing in it, an execution without logs;
-- lua-cjson would write {}), and object keys come out sorted, so the same
-- value is always the same text.  cjson.null writes null.
local cjson = require "cjson"

local M = {}

function M.encode(value)
  if type(value) ~= "table" then return cjson.encode(value) end
  local parts = {}
  if next(value) == nil or #value > 0 then
    for i, item in ipairs(value) do parts[i] = M.encode(item) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(value) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local v = value[k]
    if v == nil then v = value[tonumber(k)] end
    parts[i] = cjson.encode(k) .. ":" .. M.encode(v)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

return M
