-- How the console shows a value: scalars as Lua writes them, tables nested
-- with sorted keys, cut at a depth and at a number of entries (with a marker
-- saying how much was left out), cycles named instead of followed; lists of
-- executions, jobs, backups and secrets as the aligned tables of the CLI,
-- with sizes and times for people.
--
--   show(value [, opts]) -> text (no trailing newline)
--     opts.depth  tables nested deeper are shown as { ... N entries } (default 5)
--     opts.items  entries shown per table, rows per list (default 100)
--     opts.string bytes shown of a string (default 4096)
--     opts.width  a table fits on one line up to this column (default 78)
--
-- A helper marks what it returns with show.mark(kind, value): a metatable
-- { __name = "moonbak.KIND", kind = KIND }, so a plain table is still shown
-- as a table, and the marked value stays a plain list (#, ipairs, fields).
-- No secret value is ever shown: a reference shows as `secret "name"`, and
-- the text goes through the redactor of the values the helpers resolved.
local lib = require "moonbak.clilib"
local ref = require "moonbak.ref"
local units = require "moonbak.units"

local M = {}

M.defaults = { depth = 5, items = 100, string = 4096, width = 78 }

local show -- show(value, opts), below

-- Formats of marked values: kind -> function(value, opts) -> text.
local formats = {}
local metatables = {}

-- show.mark(kind, value) -> value, marked as a kind the console formats.
function M.mark(kind, value)
  local mt = metatables[kind]
  if not mt then error(("show.mark: unknown kind %q"):format(tostring(kind)), 2) end
  return setmetatable(value, mt)
end

-- show.kind(value) -> the kind value is marked with, or nil.
function M.kind(value)
  if type(value) ~= "table" then return nil end
  local mt = getmetatable(value)
  if type(mt) ~= "table" then return nil end
  local kind = rawget(mt, "kind")
  return metatables[kind] == mt and kind or nil
end

-- A text to show as it is (help's answers).
function M.text(text)
  return M.mark("text", { text = text })
end

-- Scalars ---------------------------------------------------------------

local escapes = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- A string as Lua source writes it; control characters escaped, so none
-- reaches the terminal; cut after limit bytes.
local function quote(s, limit)
  local cut = ""
  if #s > limit then
    cut = (" ...(%d more bytes)"):format(#s - limit)
    s = s:sub(1, limit)
  end
  local body = s:gsub('[%c\\"]', function(c)
    return escapes[c] or ("\\%03d"):format(c:byte())
  end)
  return '"' .. body .. '"' .. cut
end

local function plain_tostring(v)
  local ok, text = pcall(tostring, v)
  if ok and type(text) == "string" then return (text:gsub("%c", "?")) end
  return ("<%s: its __tostring failed>"):format(type(v))
end

local reserved = {}
for word in ([[and break do else elseif end false for function goto if in local nil not or
               repeat return then true until while]]):gmatch("%a+") do reserved[word] = true end

local function key_text(k, opts)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not reserved[k] then return k end
  if type(k) == "string" then return "[" .. quote(k, opts.string) .. "]" end
  if type(k) == "number" then return "[" .. tostring(k) .. "]" end
  return "[" .. plain_tostring(k) .. "]"
end

-- Numbers first, in order; then strings; then the rest by their text.
local rank = { number = 1, string = 2 }

local function key_before(a, b)
  local ra, rb = rank[type(a)] or 3, rank[type(b)] or 3
  if ra ~= rb then return ra < rb end
  if ra < 3 then return a < b end
  return plain_tostring(a) < plain_tostring(b)
end

-- Tables ----------------------------------------------------------------

-- The keys of t (raw: no metamethod runs) to show, in order, and how many
-- there are in all.  A long list 1..n is not sorted to show its head.
local function keys_of(t, limit)
  local keys, plain_head = {}, true
  for k in next, t do
    keys[#keys + 1] = k
    if type(k) == "number" and (math.type(k) ~= "integer" or k < 1) then plain_head = false end
  end
  local total = #keys
  if total > limit and plain_head and rawget(t, limit) ~= nil then
    local head = true
    for i = 1, limit do
      if rawget(t, i) == nil then head = false; break end
    end
    if head then
      local first = {}
      for i = 1, limit do first[i] = i end
      return first, total
    end
  end
  table.sort(keys, key_before)
  return keys, total
end

local function count_entries(t)
  local n = 0
  for _ in next, t do n = n + 1 end
  return n
end

local function entries_text(n)
  return n == 1 and "1 entry" or ("%d entries"):format(n)
end

-- v (a table) as text; indent: the indentation of the line it starts on,
-- lead: the columns that line already holds (it fits on it or is nested).
local function render(v, opts, depth, path, indent, lead)
  local kind = M.kind(v)
  if kind then
    return (formats[kind](v, opts):gsub("\n", "\n" .. indent))
  end
  if ref.is(v) then return tostring(v) end -- secret "name": never its value
  local mt = getmetatable(v)
  if type(mt) == "table" and rawget(mt, "__tostring") then return plain_tostring(v) end
  if path[v] then return ("<cycle: %s>"):format(path[v]) end
  if next(v) == nil then return "{}" end
  if depth >= opts.depth then return ("{ ... %s }"):format(entries_text(count_entries(v))) end
  path[v] = ("table: %p"):format(v)
  local keys, total = keys_of(v, opts.items)
  local inner = indent .. "  "
  local parts, multiline, length = {}, false, lead + 4
  local sequence = 1
  for i = 1, math.min(#keys, opts.items) do
    local k = keys[i]
    local value = rawget(v, k)
    local prefix = ""
    if k == sequence then
      sequence = sequence + 1
    else
      prefix = key_text(k, opts) .. " = "
    end
    local text
    if type(value) == "table" then
      text = render(value, opts, depth + 1, path, inner, #inner + #prefix)
    elseif type(value) == "string" then
      text = quote(value, opts.string)
    else
      text = plain_tostring(value)
    end
    text = prefix .. text
    parts[#parts + 1] = text
    multiline = multiline or text:find("\n", 1, true) ~= nil
    length = length + #text + 2
  end
  if total > opts.items then parts[#parts + 1] = ("... %d more"):format(total - opts.items) end
  path[v] = nil
  if not multiline and length <= opts.width then
    return "{ " .. table.concat(parts, ", ") .. " }"
  end
  return "{\n" .. inner .. table.concat(parts, ",\n" .. inner) .. "\n" .. indent .. "}"
end

-- Record lists ------------------------------------------------------------

-- A time as state and sidecars write it (2026-03-28T12:00:00.123Z), read
-- by people: 2026-03-28 12:00:00 (UTC, said in the header).
local function time_text(ts)
  if type(ts) ~= "string" then return nil end
  local day, clock = ts:match("^(%d%d%d%d%-%d%d%-%d%d)T(%d%d:%d%d:%d%d)")
  return day and day .. " " .. clock or ts
end

local function first_line(text, max)
  if type(text) ~= "string" then return nil end
  text = text:match("^[^\n]*")
  return #text > max and text:sub(1, max - 3) .. "..." or text
end

-- A list as an aligned table: header, row(record) -> cells, cut at opts.items.
local function tabular(header, row)
  return function(list, opts)
    local rows = {}
    for i = 1, math.min(#list, opts.items) do rows[i] = row(list[i], list) end
    local text = lib.format_table(header, rows)
    if #list > opts.items then text = text .. ("\n... %d more"):format(#list - opts.items) end
    return text
  end
end

formats.executions = tabular({ "ID", "JOB", "STATUS", "KIND", "TRIGGER", "STARTED (UTC)", "TOOK", "RESTORE", "ERROR" },
  function(e)
    local took = lib.elapsed(e)
    local restore = e.kind == "drill" and type(e.metadata) == "table" and tonumber(e.metadata.restore_seconds) or nil
    return { e.id, e.job, e.status, e.kind, e.trigger, time_text(e.started_at), took and units.seconds(took),
             restore and units.seconds(restore), first_line(e.error, 60) }
  end)

formats.jobs = tabular({ "JOB", "SCHEDULE", "LAST RESULT", "LAST RUN (UTC)", "NEXT RUN (UTC)", "FILE" },
  function(j, list)
    return { j.name, j.schedule and (j.timezone and j.schedule .. " " .. j.timezone or j.schedule) or "(manual)",
             j.last_status or (list.state_unknown and "unknown" or "never run"), time_text(j.last_started_at),
             time_text(j.next_run) or (j.state ~= "manual" and j.state or nil), j.file }
  end)

formats.backups = tabular({ "BACKUP", "STORAGE", "SIZE", "DUMP SIZE", "CREATED (UTC)", "PATH" }, function(b)
  return { b.locked and b.backup_id .. " (locked)" or b.backup_id, b.storage, units.size(b.size),
           units.size(b.logical_size), time_text(b.finished_at), b.path }
end)

formats.secrets = tabular({ "NAME", "CREATED (UTC)", "UPDATED (UTC)" }, function(s)
  return { s.name, time_text(s.created_at), time_text(s.updated_at) }
end)

-- Records shown as the command prints them.
formats.log = function(e)
  return require("moonbak.cmd.log").text(e, e.logs or {}, e.deliveries or {})
end

formats.run = function(r)
  local text = r.message
  if r.state_error then text = text .. "\n" .. r.state_error end
  if r.status ~= "success" and (r.execution or 0) > 0 then
    text = ("%s\n(log(%d) shows its log)"):format(text, r.execution)
  end
  return text
end

formats.verify = function(list, opts)
  local line = require("moonbak.cmd.verify").line
  local out = {}
  for i = 1, math.min(#list, opts.items) do
    local r = list[i]
    out[i] = r.problem and "FAILED  " .. r.problem or line(r)
  end
  if #list > opts.items then out[#out + 1] = ("... %d more"):format(#list - opts.items) end
  return table.concat(out, "\n")
end

formats.restore = function(r)
  return require("moonbak.cmd.restore").summary(r)
end

formats.text = function(t) return (t.text:gsub("\n$", "")) end

for kind in pairs(formats) do
  metatables[kind] = { __name = "moonbak." .. kind, kind = kind,
                       __tostring = function(v) return show(v) end }
end

-- show -----------------------------------------------------------------

function show(value, opts)
  local o = {}
  for k, v in pairs(M.defaults) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  local text
  if type(value) == "table" then
    text = render(value, o, 0, {}, "", 0)
  elseif type(value) == "string" then
    text = quote(value, o.string)
  else
    text = plain_tostring(value)
  end
  return lib.redact(text)
end

M.show = show

return setmetatable(M, { __call = function(_, value, opts) return show(value, opts) end })
