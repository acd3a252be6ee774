-- test_api_docs.lua — docs/lua-api.md is complete and exact: every function
-- (and value) a documented module exports has an entry, every entry exists,
-- every method of a documented object type is documented, and every
-- moonbak.* module (package.preload, lua/moonbak/**.lua) and every C
-- metatable "moonbak.<Type>" is either documented or listed as internal.
-- Run from the repository root: moonbak script tests/lua/test_api_docs.lua
-- (MOONBAK_API_DOC may name another file: how the test is itself tested).
local T = dofile("tests/lua/testlib.lua")
local sys = require "moonbak.sys"

local DOC = os.getenv("MOONBAK_API_DOC") or "docs/lua-api.md"

-- The doc's layout (see its "How to read this page"):
--   ## Group          prose; "## Internal modules" lists `moonbak.x` bullets
--   ### moonbak.name  a module; ### moonbak.Name (capital) an object type
--   #### short.fn(args) / #### short.value / #### Type:method(args)
local function parse(path)
  local f = assert(io.open(path, "r"))
  local doc = { sections = {}, order = {}, internal = {}, problems = {} }
  local function problem(n, fmt, ...)
    doc.problems[#doc.problems + 1] = ("%s:%d: "):format(path, n) .. fmt:format(...)
  end
  local group, section, fenced = nil, nil, false
  local n = 0
  for line in f:lines() do
    n = n + 1
    if line:match("^```") then
      fenced = not fenced
    elseif fenced then -- luacheck: ignore (headings inside code are code)
    elseif line:match("^## ") then
      group, section = line:match("^## (.-)%s*$"), nil
    elseif line:match("^### ") then
      local name = line:match("^### (moonbak[%w_.]*)%s*$")
      if not name then
        problem(n, "%q: a ### heading must be a module or type name (### moonbak.x)", line)
        section = nil
      elseif doc.sections[name] then
        problem(n, "%s is documented twice", name)
        section = nil
      else
        local last = name:match("([^.]+)$")
        section = { name = name, line = n, entries = {}, is_type = last:match("^%u") ~= nil,
                    short = name == "moonbak" and "mb" or last }
        doc.sections[name] = section
        doc.order[#doc.order + 1] = name
      end
    elseif line:match("^#### ") then
      local text = line:match("^#### (.-)%s*$")
      local prefix, sep, member, args = text:match("^([%a_][%w_]*)([.:])([%a_][%w_]*)(%b())$")
      if not prefix then
        prefix, sep, member = text:match("^([%a_][%w_]*)(%.)([%a_][%w_]*)$")
      end
      if not section then
        problem(n, "%q is not inside a ### moonbak.x section", text)
      elseif not prefix then
        problem(n, "%q does not follow the convention (short.fn(args), short.value, Type:method(args))", text)
      elseif prefix ~= section.short then
        problem(n, "%q in %s must start with %q", text, section.name, section.short)
      elseif section.is_type and not args then
        problem(n, "%q: an object type's entries are methods (Type:name(args)); list fields in a table", text)
      elseif not section.is_type and sep == ":" then
        problem(n, "%q: a module's functions are written %s.name(args)", text, section.short)
      elseif section.entries[member] then
        problem(n, "%s.%s is documented twice", section.name, member)
      else
        section.entries[member] = { kind = args and "function" or "value", line = n, text = text }
      end
    elseif group == "Internal modules" then
      local name = line:match("^%- `(moonbak[%w_.*-]*)`")
      if name then doc.internal[#doc.internal + 1] = name end
    end
  end
  f:close()
  return doc
end

local function is_internal(doc, name)
  for _, pattern in ipairs(doc.internal) do
    if pattern == name then return true end
    local prefix = pattern:match("^(.*%.)%*$")
    if prefix and name:sub(1, #prefix) == prefix then return true end
  end
  return false
end

-- Module names of the Lua files under dir, as scripts/embed-lua.sh names them.
local function lua_modules(dir, prefix, out)
  for _, name in ipairs(sys.listdir(dir) or {}) do
    local path = dir .. "/" .. name
    local st = sys.stat(path)
    if st and st.type == "directory" then
      lua_modules(path, prefix .. name .. ".", out)
    elseif name:match("%.lua$") then
      local module = (prefix .. name:gsub("%.lua$", "")):gsub("%.init$", "")
      out[#out + 1] = module
    end
  end
  return out
end

-- Every moonbak module there is: what the binary preloads and what the
-- source tree holds (so a new file counts before it is embedded).
local function all_modules()
  local seen, list = {}, {}
  local function add(name)
    if (name == "moonbak" or name:match("^moonbak%.")) and not seen[name] then
      seen[name] = true
      list[#list + 1] = name
    end
  end
  for name in pairs(package.preload) do add(name) end
  for _, name in ipairs(lua_modules("lua/moonbak", "moonbak.", {})) do add(name) end
  add("moonbak") -- lua/moonbak/init.lua
  table.sort(list)
  return list
end

-- Raised as a table with __tostring: the harness then prints the problems
-- alone (debug.traceback passes a non-string error through unchanged).
local function fail_with(problems)
  if #problems > 0 then
    local text = table.concat(problems, "\n")
    error(setmetatable({}, { __tostring = function() return text end }), 0)
  end
end

-- What a module exports, name -> value.  The moonbak table also holds the
-- submodules it loaded on demand: those are modules, not its exports.
local function exports_of(name, module)
  local out = {}
  for k, v in pairs(module) do
    if type(k) == "string" and not (name == "moonbak" and package.loaded["moonbak." .. k] == v) then
      out[k] = v
    end
  end
  return out
end

-- Object types: how to get at their members.  A function receives the
-- documented member names and returns members (name -> value) and whether
-- that is every member (false: the type's __index is a function, so only
-- the documented names can be probed).
local function registry_methods(tname)
  return function()
    local mt = debug.getregistry()[tname]
    assert(type(mt) == "table", tname .. " has no metatable in the registry")
    assert(type(mt.__index) == "table", tname .. ": __index is not a table")
    return mt.__index, true
  end
end

local temp_root
local function tempdir()
  temp_root = temp_root or T.tempdir()
  return temp_root
end

local types = {
  ["moonbak.Source"] = registry_methods("moonbak.Source"),
  ["moonbak.Writer"] = registry_methods("moonbak.Writer"),
  ["moonbak.Stream"] = registry_methods("moonbak.Stream"),
  ["moonbak.Transform"] = registry_methods("moonbak.Transform"),
  ["moonbak.Db"] = registry_methods("moonbak.Db"),
  ["moonbak.Lock"] = registry_methods("moonbak.Lock"),
  ["moonbak.Process"] = registry_methods("moonbak.Process"),
  ["moonbak.Supervisor"] = registry_methods("moonbak.Supervisor"),
  ["moonbak.Storage"] = function()
    -- a real one, so that the methods are those an open storage has
    local s = assert(require("moonbak.storage").open { type = "local", path = tempdir() .. "/storage" })
    local mt = getmetatable(s)
    s:close()
    return mt.__index, true
  end,
  ["moonbak.State"] = function()
    local st = assert(require("moonbak.state").open(tempdir() .. "/state"))
    local mt = getmetatable(st)
    st:close()
    return mt.__index, true
  end,
  ["moonbak.Context"] = function()
    local captured
    local ok, ctx = require("moonbak.runner").run({ name = "api-docs", steps = {
      function(c) captured = c end } })
    assert(ok and captured == ctx, "a run with one custom step did not succeed: " .. tostring(ctx.error))
    return getmetatable(ctx).__index, true
  end,
  ["moonbak.Redactor"] = function()
    return require("moonbak.ref").redactor(), true
  end,
  ["moonbak.Ref"] = function()
    return getmetatable(require("moonbak.ref").secret("x")).__index, true
  end,
  ["moonbak.Cron"] = function(names)
    local c = assert(require("moonbak.cron").parse("0 3 * * *"))
    local members = {}
    for _, name in ipairs(names) do members[name] = c[name] end
    return members, false
  end,
}

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

local function check_module(doc, section)
  local problems = {}
  local ok, module = pcall(require, section.name)
  if not ok or type(module) ~= "table" then
    fail_with { ("%s (%s:%d) is documented but require gives %s"):format(
      section.name, DOC, section.line, ok and type(module) or tostring(module)) }
  end
  local exported = exports_of(section.name, module)
  for _, key in ipairs(sorted_keys(exported)) do
    local entry = section.entries[key]
    local is_function = type(exported[key]) == "function"
    if not entry then
      problems[#problems + 1] = ("%s: %s.%s is exported but not documented (add \"#### %s.%s%s\" to %s)")
        :format(section.name, section.short, key, section.short, key, is_function and "(...)" or "", DOC)
    elseif entry.kind == "function" and not is_function then
      problems[#problems + 1] = ("%s:%d: %s is documented as a function but is a %s")
        :format(DOC, entry.line, entry.text, type(exported[key]))
    elseif entry.kind == "value" and is_function then
      problems[#problems + 1] = ("%s:%d: %s is documented as a value but is a function (write %s(args))")
        :format(DOC, entry.line, entry.text, entry.text)
    end
  end
  for _, key in ipairs(sorted_keys(section.entries)) do
    if exported[key] == nil then
      local entry = section.entries[key]
      problems[#problems + 1] = ("%s:%d: %s is documented but %s exports no %q")
        :format(DOC, entry.line, entry.text, section.name, key)
    end
  end
  fail_with(problems)
end

local function check_type(doc, section)
  local make = types[section.name]
  if not make then
    fail_with { ("%s (%s:%d) is documented but tests/lua/test_api_docs.lua has no way to make one: add it to `types`")
      :format(section.name, DOC, section.line) }
  end
  local names = sorted_keys(section.entries)
  local members, complete = make(names)
  local problems = {}
  if complete then
    for _, key in ipairs(sorted_keys(members)) do
      if type(key) == "string" and not key:match("^__") and type(members[key]) == "function"
         and not section.entries[key] then
        problems[#problems + 1] = ("%s: method %s is not documented (add \"#### %s:%s(...)\" to %s)")
          :format(section.name, key, section.short, key, DOC)
      end
    end
  end
  for _, key in ipairs(names) do
    if type(members[key]) ~= "function" then
      local entry = section.entries[key]
      problems[#problems + 1] = ("%s:%d: %s is documented but a %s has no method %q")
        :format(DOC, entry.line, entry.text, section.name, key)
    end
  end
  fail_with(problems)
end

local doc = parse(DOC)

-- moonbak.Config's metatable is made on first use: use it once, so that the
-- registry holds every type the checks below look for.
require("moonbak.storage").config { type = "local", path = "/nonexistent" }

T.test("the reference follows its layout (every heading parses)", function()
  fail_with(doc.problems)
  assert(#doc.order > 0, DOC .. " documents no module")
  assert(#doc.internal > 0, DOC .. " lists no internal module")
end)

T.test("every moonbak module is documented or listed as internal", function()
  local problems = {}
  local modules = all_modules()
  for _, name in ipairs(modules) do
    local documented = doc.sections[name] ~= nil
    if documented and is_internal(doc, name) then
      problems[#problems + 1] = ("%s is both documented and listed as internal in %s"):format(name, DOC)
    elseif not documented and not is_internal(doc, name) then
      problems[#problems + 1] = ("%s is neither documented in %s (### %s) nor listed under \"## Internal modules\"")
        :format(name, DOC, name)
    end
  end
  -- an internal entry that names nothing is a stale one
  local registry = debug.getregistry()
  for _, pattern in ipairs(doc.internal) do
    local found = false
    for _, name in ipairs(modules) do found = found or is_internal({ internal = { pattern } }, name) end
    found = found or type(registry[pattern]) == "table"
    if not found then
      problems[#problems + 1] = ("%s lists %s as internal, but there is no such module or type"):format(DOC, pattern)
    end
  end
  fail_with(problems)
end)

T.test("every moonbak.<Type> metatable is documented or listed as internal", function()
  local problems = {}
  for key, value in pairs(debug.getregistry()) do
    if type(key) == "string" and key:match("^moonbak%.%u") and type(value) == "table"
       and not doc.sections[key] and not is_internal(doc, key) then
      problems[#problems + 1] = ("object type %s is neither documented in %s (### %s) nor listed as internal")
        :format(key, DOC, key)
    end
  end
  table.sort(problems)
  fail_with(problems)
end)

for _, name in ipairs(doc.order) do
  local section = doc.sections[name]
  if section.is_type then
    T.test(name .. ": every method is documented, every entry exists", function() check_type(doc, section) end)
  else
    T.test(name .. ": every export is documented, every entry exists", function() check_module(doc, section) end)
  end
end

return T.done()
