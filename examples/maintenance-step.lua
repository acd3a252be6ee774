-- maintenance-step.lua: a PostgreSQL job that runs VACUUM (ANALYZE) on the
-- database just before it dumps it.
--
-- The nightly backup is a quiet moment that touches the whole database
-- anyway: a custom step uses it to reclaim dead rows and refresh the
-- planner's statistics first.
--
-- A failed maintenance only WARNS: the warning goes to the execution's log
-- (`moonbak log EXECUTION`, and the last lines of a notification), and the
-- backup goes on and succeeds.  A database that was not vacuumed tonight is
-- still worth backing up; losing tonight's backup because VACUUM waited
-- behind a long transaction would be the worse outcome.  (To make it fail
-- the run instead, replace the ctx:log("warning", ...) below with
-- error(message, 0).)  Maintenance never waits forever: lock_timeout bounds
-- its wait for a table another session holds, statement_timeout its length.
--
-- Run it:
--   moonbak secret set shop-db               # the role's password, once
--   moonbak run examples/maintenance-step.lua
--
-- What it needs: psql and pg_dump (Debian: postgresql-client); a role that
-- owns the tables (or a superuser): VACUUM skips, with a warning, the tables
-- a role does not own.  PGHOST, PGPORT, PGUSER, PGDATABASE, BACKUP_DIR and
-- MAINTENANCE_LOCK_TIMEOUT in moonbak's environment override the settings
-- below (the tests use that).  The password goes to psql as PGPASSWORD in
-- its environment, never in argv.
local mb = require "moonbak"

-- What runs, each statement on its own (VACUUM cannot run in a transaction
-- block).  "VACUUM (ANALYZE) orders, customers" limits it to some tables.
local maintenance = {
  ("SET lock_timeout = '%s'"):format(os.getenv("MAINTENANCE_LOCK_TIMEOUT") or "60s"),
  "SET statement_timeout = '30min'",
  "VACUUM (ANALYZE)",
}

-- What psql said that matters (its ERROR or FATAL line, not the quoted
-- statement under it), else the message the run got.
local function psql_error(src, err)
  local said = src:metadata().stderr or ""
  return said:match("[^\n]*ERROR:[^\n]*") or said:match("[^\n]*FATAL:[^\n]*") or err
end

-- Runs the statements with psql in the job's database: true, or nil and
-- psql's message.  psql is started through moonbak's command source, so
-- the password reaches it in its environment; a Ctrl-C or the job's timeout
-- stops it like a dump.
local function psql(ctx, statements)
  local s = ctx.resolved.source
  local env = { "PGDATABASE=" .. s.database, "PGCONNECT_TIMEOUT=10", "PGAPPNAME=moonbak-maintenance" }
  local settings = { PGHOST = s.socket or s.host, PGPORT = s.port, PGUSER = s.user, PGPASSWORD = s.password }
  for name, value in pairs(settings) do env[#env + 1] = name .. "=" .. tostring(value) end
  local argv = { "psql", "-X", "-w", "-q", "-v", "ON_ERROR_STOP=1" }
  for _, sql in ipairs(statements) do
    argv[#argv + 1] = "-c"
    argv[#argv + 1] = sql
  end
  local src, err = mb.source.open { type = "command", argv = argv, env = env }
  if not src then return nil, err end
  -- psql says nothing on success (-q); what it prints is thrown away
  local dir = ctx.state and ctx.state:temp_dir() or os.getenv("TMPDIR") or "/tmp"
  local out = ("%s/maintenance-%d.txt"):format(dir, mb.sys.pid())
  ctx:defer(function() os.remove(out) end)
  local writer <close> = assert(mb.storage.file_writer(out))
  local pump <close> = mb.stream.new(src, {})
  local done, perr = pump:pump({ writer })
  if not done then perr = psql_error(src, perr) end
  src:close()
  if not done then return nil, perr end
  return true
end

-- The step, between initialize (secrets resolved, server reachable) and dump.
local function maintain(ctx)
  local started = mb.sys.monotonic()
  local ok, err = psql(ctx, maintenance)
  if not ok and mb.sys.interrupted() then
    error(err, 0) -- Ctrl-C or the job's timeout stopped it: the run stops too
  elseif ok then
    ctx:log("info", ("maintenance done in %.1f s: %s"):format(mb.sys.monotonic() - started, maintenance[#maintenance]))
  else
    ctx:log("warning", ("maintenance failed, backing up anyway: %s"):format(err))
  end
end

return {
  name = "shop-maintained",
  source = { type = "postgres",
             host = os.getenv("PGHOST") or "127.0.0.1",
             port = math.tointeger(tonumber(os.getenv("PGPORT") or "5432")),
             user = os.getenv("PGUSER") or "backup",
             password = secret "shop-db",
             database = os.getenv("PGDATABASE") or "shop",
             format = "custom" },
  storage = { { type = "local", path = os.getenv("BACKUP_DIR") or "/var/backups/moonbak" } },
  retention = { keep_last = 7 },
  steps = { "initialize", maintain, "dump", "upload", "completion" },
}
