-- The drill of a SQL engine (postgres, mysql, mariadb): the backup loaded
-- into a scratch database d.name of d.spec's server, checked with queries,
-- dropped.  An engine module is sql.engine { ... } with what differs.
local backups = require "moonbak.backups"
local drill = require "moonbak.drill"
local scratch = require "moonbak.drills.scratch"
local source = require "moonbak.source"

local M = {}

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  return c
end

-- engine = {
--   refuse = function(meta, spec) -> nil | why: a backup that cannot be
--            loaded into one scratch database,
--   tables_sql = "SELECT count(*) ...": the tables the scratch database holds }
function M.engine(engine)
  local E = {}

  function E.start(d)
    local why = engine.refuse(d.meta, d.job.source)
    if why then return nil, ("backup %s: %s"):format(d.meta.backup_id, why) end
    local spec = copy(d.spec)
    -- loaded as the one database it holds, whatever the job says now
    spec.database = scratch.databases(d.meta)[1]
    d.scratch = { database = d.name }
    local result, err = backups.restore_to_database(d.job, d.meta, spec, d.name, true, d.keys)
    if not result then return nil, err end
    return { bytes = result.bytes_out }
  end

  function E.builtin(d)
    local n, err = source.query(d.spec, d.name, engine.tables_sql)
    if not n then
      return { { name = "tables", ok = false, detail = err or "no row" } }
    end
    -- an empty restore is a failed drill: the dump lost its tables
    return { { name = "tables", ok = tonumber(n) ~= nil and tonumber(n) > 0, detail = n .. " tables" } }
  end

  function E.check(d, c)
    local value, err = source.query(d.spec, d.name, c.sql)
    if value == nil then return false, err end
    return drill.judge(value, c.expect)
  end

  function E.cleanup(d)
    if not (d.scratch and d.scratch.database) then return true end
    local ok, err = source.drop_database(d.spec, d.scratch.database)
    if not ok then return nil, err end
    d.scratch.database = nil
    return true
  end

  function E.sweep(d)
    local removed, problems = {}, {}
    local own = drill.parse_scratch(d.name)
    if not own then return removed, { ("%s is not a drill's scratch name"):format(d.name) } end
    local names, err = source.list_databases(d.spec, ("%s%s_"):format(drill.prefix, own.host))
    if not names then return removed, { err } end
    for _, name in ipairs(scratch.leftovers(d, names)) do
      local ok, derr = source.drop_database(d.spec, name)
      if ok then removed[#removed + 1] = name else problems[#problems + 1] = derr end
    end
    return removed, problems
  end

  return E
end

return M
