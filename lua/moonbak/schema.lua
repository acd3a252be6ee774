-- What every source, storage and notifier accepts, as their C adapters
-- describe it (moonbak.source.schema, moonbak.storage.schema,
-- moonbak.notifier.schema): for the README's field table now, for help and
-- templates later.
local notifier = require "moonbak.notifier"
local source = require "moonbak.source"
local storage = require "moonbak.storage"

local M = {}

-- { { kind = "source", type = "sqlite", extension = "sqlite3", options = {...} }, ... }:
-- sources, storages, then notifiers, each in the registry's order.
function M.all()
  local list = {}
  for _, part in ipairs { { "source", source }, { "storage", storage }, { "notifier", notifier } } do
    for _, type in ipairs(part[2].types()) do
      local schema = part[2].schema(type)
      schema.kind = part[1]
      list[#list + 1] = schema
    end
  end
  return list
end

local kind_words = {
  string = "string", integer = "integer", boolean = "boolean", strings = "list of strings",
  ["string|strings"] = "string or list of strings", table = "table",
}

-- An integer's range or a string's choices: "1 to 65535", "`"plain"` or `"custom"`".
local function rule_words(o)
  if o.min and o.max then return ("%d to %d"):format(o.min, o.max) end
  if o.min then return ("%d or more"):format(o.min) end
  if o.choices then
    local quoted = {}
    for i, c in ipairs(o.choices) do quoted[i] = ("`%q`"):format(c) end
    return "one of " .. table.concat(quoted, ", ")
  end
end

local function value_cell(o)
  local words = { kind_words[o.kind] }
  words[#words + 1] = rule_words(o)
  if o.required then words[#words + 1] = "required" end
  if o.secret then words[#words + 1] = "secret" end
  return table.concat(words, ", ")
end

local function default_cell(o)
  if o.default == nil then return "" end
  if type(o.default) == "string" then return ("`%q`"):format(o.default) end
  return ("`%s`"):format(tostring(o.default))
end

-- The rows of one schema's options, without the type.
local function rows(schema)
  local list = {}
  for _, o in ipairs(schema.options) do
    list[#list + 1] = ("`%s` | %s | %s | %s |"):format(o.name, value_cell(o), default_cell(o), o.help)
  end
  return list
end

-- The README's table: one row per option, the type named on its first;
-- types whose options are the same (mysql, mariadb) share their rows.
function M.markdown()
  local lines = { "| type | key | value | default | what it is |", "|---|---|---|---|---|" }
  local all = M.all()
  local i = 1
  while i <= #all do
    local body = table.concat(rows(all[i]), "\n")
    local names = { ("`%s`"):format(all[i].type) }
    while all[i + 1] and all[i + 1].kind == all[i].kind and table.concat(rows(all[i + 1]), "\n") == body do
      i = i + 1
      names[#names + 1] = ("`%s`"):format(all[i].type)
    end
    for n, row in ipairs(rows(all[i])) do
      lines[#lines + 1] = ("| %s | %s"):format(n == 1 and all[i].kind .. " " .. table.concat(names, ", ") or "", row)
    end
    i = i + 1
  end
  return table.concat(lines, "\n") .. "\n"
end

return M
