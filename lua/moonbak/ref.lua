-- References to values known only at run time: secret "name", env "NAME",
-- file "/path".  A job file holds the reference; 01-initialize resolves it.
-- Resolved values are registered with the redactor so that no log line or
-- error message can show them.
local M = {}

local Ref = {}
Ref.__index = Ref
Ref.__tostring = function(r) return ("%s %q"):format(r.kind, r.name) end

local function constructor(kind)
  return function(name)
    if type(name) ~= "string" or name == "" then
      error(("%s: expected a name (a non-empty string), got %s"):format(kind, type(name)), 2)
    end
    return setmetatable({ kind = kind, name = name }, Ref)
  end
end

M.secret = constructor("secret")
M.env = constructor("env")
M.file = constructor("file")

function M.is(value)
  return getmetatable(value) == Ref
end

local resolvers = {
  env = function(name)
    local v = os.getenv(name)
    if v == nil then return nil, ("environment variable %s is not set"):format(name) end
    return v
  end,
  file = function(path)
    local f, err = io.open(path, "rb")
    if not f then return nil, ("cannot read secret file: %s"):format(err) end
    local v = f:read("a")
    f:close()
    return (v:gsub("\r?\n$", ""))
  end,
  secret = function(name, store)
    if not (store and store.get_secret) then return nil, "no secret store is open" end
    return store:get_secret(name)
  end,
}

-- Returns a deep copy of value with every reference replaced by its value,
-- or nil and a message naming the reference (never its value).
-- on_value(v) is called for every resolved value (to register redactions).
function M.resolve(value, store, on_value)
  if M.is(value) then
    local v, err = resolvers[value.kind](value.name, store)
    if v == nil then return nil, ("%s: %s"):format(tostring(value), err) end
    if on_value then on_value(v) end
    return v
  end
  if type(value) ~= "table" or getmetatable(value) ~= nil then return value end
  local copy = {}
  for k, v in pairs(value) do
    local resolved, err = M.resolve(v, store, on_value)
    if resolved == nil and err then return nil, err end
    copy[k] = resolved
  end
  -- a password travels as base64("user:password") in Basic auth headers
  if on_value and type(copy.password) == "string" and type(copy.user) == "string"
     and M.is(value.password) then
    on_value(copy.password, copy.user)
  end
  return copy
end

-- A value as it appears in a URL (percent-encoded, any hex case: the
-- redactor matches without case).
local function url_encoded(v)
  return (v:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- Replaces every registered secret in text by "***": as it is, in any
-- letter case, percent-encoded (as in a URL or a form), in base64, and
-- base64("user:password") as a Basic auth header spells it.
-- redactor.add(value [, user]) registers a value (and its user).
function M.redactor()
  local spellings, known = {}, {}
  local function remember(text)
    text = text:lower()
    if #text < 3 or known[text] then return end
    known[text] = true
    spellings[#spellings + 1] = text
    -- longest first: a secret inside a longer one must not leave the rest showing
    table.sort(spellings, function(a, b) return #a > #b end)
  end
  local r = {}
  function r.add(v, user)
    if type(v) ~= "string" or #v < 3 then return end
    local base64 = require("moonbak.crypto").base64
    remember(v)
    remember(url_encoded(v))
    remember((url_encoded(v):gsub("%%20", "+")))
    remember((url_encoded(v):gsub("%%2F", "/"))) -- a path in a URL keeps its slashes
    remember(require("cjson").encode(v):sub(2, -2)) -- inside a JSON string
    remember(base64(v))
    if type(user) == "string" then remember(base64(user .. ":" .. v)) end
  end
  function r.redact(text)
    text = tostring(text)
    local lower = text:lower() -- same length as text: byte-wise
    for _, v in ipairs(spellings) do
      local from = 1
      while true do
        local i, j = lower:find(v, from, true)
        if not i then break end
        text = text:sub(1, i - 1) .. "***" .. text:sub(j + 1)
        lower = lower:sub(1, i - 1) .. "***" .. lower:sub(j + 1)
        from = i + 3
      end
    end
    return text
  end
  return r
end

return M
