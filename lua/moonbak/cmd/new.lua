-- moonbak new TYPE [NAME]: a commented job file for a source type, every key
-- of the source from its adapter's schema, skeletons for the rest.
local mb = require "moonbak"
local lib = require "moonbak.clilib"

local PLACEHOLDER = "CHANGE-ME"

-- A Lua literal of a schema default.
local function literal(v)
  if type(v) == "string" then return ("%q"):format(v) end
  return tostring(v)
end

-- What goes after "key = " for an option, and whether it is a placeholder
-- to fill in (a required key) or a commented-out sample.
local function sample(o)
  if o.required then
    if o.kind == "strings" then return ('{ "%s" }'):format(PLACEHOLDER) end
    if o.kind == "table" then return ('{ %s = "..." }'):format(PLACEHOLDER) end
    if o.secret then return ('secret "%s"'):format(PLACEHOLDER) end
    return ('"%s"'):format(PLACEHOLDER)
  end
  if o.default ~= nil then return literal(o.default) end
  if o.secret then return 'secret "NAME"' end
  local samples = { string = '"..."', strings = '{ "..." }', ["string|strings"] = '"..."', integer = "N",
                    boolean = "true", table = '{ NAME = "..." }' }
  return samples[o.kind] or "..."
end

local kind_words = { string = "a string", integer = "an integer", boolean = "true or false",
                     strings = "a list of strings", ["string|strings"] = "a string or a list of strings",
                     table = "a table" }

-- The comment above an option: its help, then its kind and rules.
local function option_comment(o)
  local words = { kind_words[o.kind] or o.kind }
  if o.choices then words[#words + 1] = "one of " .. table.concat(o.choices, ", ") end
  if o.min and o.max then words[#words + 1] = ("%d to %d"):format(o.min, o.max)
  elseif o.min then words[#words + 1] = ("%d or more"):format(o.min) end
  if o.required then words[#words + 1] = "required" end
  if o.secret then words[#words + 1] = 'best a reference: secret "NAME" (moonbak secret set NAME), env "VAR" or file "PATH"' end
  return ("%s (%s)"):format(o.help, table.concat(words, "; "))
end

-- A one-line table of a storage or notifier type, for a commented sample:
-- its required keys and its first secret one.
local function one_liner(schema)
  local parts = { ("type = %q"):format(schema.type) }
  local secret_shown = false
  for _, o in ipairs(schema.options) do
    if o.required or (o.secret and not secret_shown) then
      local value = o.secret and 'secret "NAME"' or (o.kind == "strings" or o.kind == "string|strings") and '"..."'
                    or '"..."'
      parts[#parts + 1] = ("%s = %s"):format(o.name, value)
      secret_shown = secret_shown or o.secret
    end
  end
  return "{ " .. table.concat(parts, ", ") .. " }"
end

local function schemas_of(kind)
  local list = {}
  for _, s in ipairs(mb.schema.all()) do
    if s.kind == kind then list[#list + 1] = s end
  end
  return list
end

-- The lines of each part of the template, by top-level field; a field
-- without an entry gets its summary and a commented sample.
local function parts(schema, name)
  local out = {}
  out.name = name and { ("  name = %q,"):format(name) }
  out.schedule = { '  schedule = "0 3 * * *",' }
  out.timezone = { '  timezone = "UTC",' }
  local src = { "  source = {", ("    type = %q,"):format(schema.type) }
  for _, o in ipairs(schema.options) do
    src[#src + 1] = "    -- " .. option_comment(o)
    src[#src + 1] = ("    %s%s = %s,"):format(o.required and "" or "-- ", o.name, sample(o))
  end
  src[#src + 1] = "  },"
  out.source = src
  out.compression = { '  -- compression = { type = "zstd", level = 3 },  -- the default; or { type = "none" }' }
  out.encryption = { '  -- encryption = { type = "age", recipients = { "age1..." } },  -- moonbak keygen makes a key',
                     '  -- encryption = { type = "age", passphrase = secret "NAME" },' }
  local st = { "  storage = {", "    -- a directory on this machine (another type may replace it or go beside it)",
               ('    { type = "local", path = "%s" },'):format(PLACEHOLDER) }
  for _, s in ipairs(schemas_of("storage")) do
    if s.type ~= "local" then st[#st + 1] = "    -- " .. one_liner(s) .. "," end
  end
  st[#st + 1] = "  },"
  out.storage = st
  out.retention = { "  retention = { keep_last = 3, daily = 7, weekly = 4, monthly = 12 },  -- moonbak prune --dry-run" }
  local nt = { "  -- notify = {" }
  for _, s in ipairs(schemas_of("notifier")) do nt[#nt + 1] = "  --   " .. one_liner(s) .. "," end
  nt[#nt + 1] = '  --   -- each may have on = { "start", "success", "partial", "failure" } (default: failure, partial)'
  nt[#nt + 1] = "  -- },"
  out.notify = nt
  return out
end

-- The top-level fields in the man page's order (those of this build).
local function ordered_fields()
  local fields, seen, list = mb.job.fields(), {}, {}
  for _, f in ipairs(mb.job.field_order) do
    if fields[f] then list[#list + 1] = f; seen[f] = true end
  end
  local rest = {}
  for f in pairs(fields) do
    if not seen[f] then rest[#rest + 1] = f end
  end
  table.sort(rest)
  table.move(rest, 1, #rest, #list + 1, list)
  return list
end

-- The text of a job file for source type (its schema), named name (nil:
-- the file's name).
local function template(schema, name)
  local lines = {
    ("-- A moonbak job backing up a %s source, made by moonbak new.  Fill in every %s,"):format(schema.type, PLACEHOLDER),
    "-- then save it as JOBS/NAME.lua and check it: moonbak check NAME (with --offline: the file",
    "-- only).  Lines starting with -- are comments; every key is in man moonbak-job.",
    "return {",
  }
  local made = parts(schema, name)
  for _, f in ipairs(ordered_fields()) do
    local doc = mb.job.field_docs[f] or {}
    if doc.summary then lines[#lines + 1] = "  -- " .. doc.summary end
    if made[f] then
      table.move(made[f], 1, #made[f], #lines + 1, lines)
    else
      lines[#lines + 1] = ("  -- %s = %s,"):format(f, doc.value or "...")
    end
  end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n") .. "\n"
end

local function run(_, args)
  local types = mb.source.types()
  local type_name, name = args[1], args[2]
  if not type_name then lib.usage_error("new: expected a source type: %s", table.concat(types, ", ")) end
  if not mb.source.exists(type_name) then
    lib.usage_error("new: unknown source type %q (expected one of: %s)", type_name, table.concat(types, ", "))
  end
  if name and not (name:match("^[%w][%w._-]*$") and #name <= 100) then
    lib.usage_error("new: %q: a job name is up to 100 letters, digits, '.', '_' or '-'", name)
  end
  io.write(template(mb.source.schema(type_name), name))
  return 0
end

return {
  usage = { { "new TYPE [NAME]", "print a commented job file for a source type, to fill in" } },
  description = [[
TYPE is a source type (sqlite, file, command, postgres, mysql, mariadb, redis,
mongodb).  The file lists every key of that source with its default and what
it is, and skeletons for the storage, encryption, retention, schedule and
notifiers.  Values marked CHANGE-ME must be filled in (moonbak check refuses
the file until they are); commented-out lines are optional.]],
  max_args = 2,
  exit = "0 printed, 2 an unknown source type or a bad NAME (or bad usage)",
  examples = {
    { "moonbak new postgres shop > jobs/shop.lua", "start the job shop, a PostgreSQL database" },
    { "moonbak new sqlite", "see what a SQLite job can say" },
  },
  run = run,
  template = template,
}
