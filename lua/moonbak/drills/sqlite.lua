-- Restore drills of sqlite sources (the interface: moonbak.drill): the
-- backup is restored into a scratch file in the drill's private directory,
-- checked with PRAGMA integrity_check, then the job's queries run on it,
-- opened read-only.  The file goes with the directory, which the framework
-- removes afterwards and sweeps when a killed drill left it.
local backups = require "moonbak.backups"
local drill = require "moonbak.drill"
local sqlite = require "moonbak.sqlite"

local M = {}

-- The binding names every database "state database": not this one.
local function plain(err)
  return (tostring(err):gsub("^state database:? ?", ""))
end

local function open(d)
  local db, err = sqlite.open(d.scratch.file, { readonly = true })
  if not db then return nil, plain(err) end
  return db
end

function M.start(d)
  local file = ("%s/%s.sqlite3"):format(d.temp_dir, d.name)
  d.scratch = { file = file }
  local result, err = backups.restore_to_file(d.job, d.meta, file, false, d.keys, d.progress)
  if not result then return nil, err end
  return { bytes = result.bytes_out }
end

function M.builtin(d)
  local db <close>, err = open(d)
  if not db then return { { name = "integrity_check", ok = false, detail = err } } end
  local ok, rows = pcall(db.query, db, "PRAGMA integrity_check")
  if not ok then return { { name = "integrity_check", ok = false, detail = plain(rows) } } end
  local said = {}
  for i = 1, math.min(#rows, 5) do said[i] = rows[i].integrity_check end
  local passed = #rows == 1 and said[1] == "ok"
  local tables = passed and db:value("SELECT count(*) FROM sqlite_schema WHERE type = 'table'")
  return { { name = "integrity_check", ok = passed,
             detail = passed and ("ok (%d table%s)"):format(tables, tables == 1 and "" or "s")
                             or table.concat(said, "; ") } }
end

function M.check(d, c)
  local db <close>, err = open(d)
  if not db then return false, err end
  local ok, value, found = pcall(db.value, db, c.sql)
  if not ok then return false, plain(value) end
  if not found then return false, "no row" end
  return drill.judge(value, c.expect)
end

-- The scratch file lives in the drill's private directory: nothing else to do.
function M.cleanup(d)
  if d.scratch then os.remove(d.scratch.file) end
  return true
end

-- What killed drills left is their private directories (drill.sweep_dirs,
-- which the framework runs before each drill): nothing of its own.
function M.sweep()
  return {}, {}
end

return M
