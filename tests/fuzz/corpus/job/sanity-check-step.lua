-- sanity-check-step.lua: a PostgreSQL job that refuses to back up data that
-- looks wrong.
--
-- A custom step runs sanity queries on the database before the dump.  When
-- one says the data is wrong (an empty orders table after a botched
-- migration, say), the run fails with a clear message: nothing is dumped,
-- nothing stored, the execution is recorded "failed" and the job's
-- notifiers hear about it.  Retention only runs after a successful run, so
-- the good backups you have are never pushed out by bad ones.  A check that
-- cannot run at all (the table is gone, the server refuses) fails the run
-- too, saying so.
--
-- Run it:
--   moonbak secret set shop-db               # the role's password, once
--   moonbak run examples/sanity-check-step.lua
--   (or copy it into the jobs directory and let `moonbak daemon` run it)
--
-- What it needs: psql and pg_dump (Debian: postgresql-client); a role that
-- can read the checked tables.  The connection comes from the settings
-- below; PGHOST, PGPORT, PGUSER, PGDATABASE and BACKUP_DIR in moonbak's
-- environment override them (the tests use that).  The password goes to
-- psql and pg_dump as PGPASSWORD in their environment, never in argv.
local mb = require "moonbak"

-- The checks, in order: a query answering one boolean, and what it means
-- when the answer is false.  Each runs in the job's database.
local checks = {
  { sql = "SELECT count(*) > 0 FROM orders", wrong = "the orders table is empty" },
  { sql = "SELECT count(*) = 0 FROM orders WHERE total_cents < 0", wrong = "orders with a negative total" },
}

-- What psql said that matters (its ERROR or FATAL line, not the quoted
-- statement under it), else the message the run got.
local function psql_error(src, err)
  local said = src:metadata().stderr or ""
  return said:match("[^\n]*ERROR:[^\n]*") or said:match("[^\n]*FATAL:[^\n]*") or err
end

-- One boolean from psql ("t" or "f"), or nil and psql's message.  psql is
-- started through moonbak's command source: the password reaches it in its
-- environment, and its answer comes back through a file in the run's
-- private temporary directory.
local function ask(ctx, sql)
  local s = ctx.resolved.source
  local env = { "PGDATABASE=" .. s.database, "PGCONNECT_TIMEOUT=10", "PGAPPNAME=moonbak-sanity-check" }
  local settings = { PGHOST = s.socket or s.host, PGPORT = s.port, PGUSER = s.user, PGPASSWORD = s.password }
  for name, value in pairs(settings) do env[#env + 1] = name .. "=" .. tostring(value) end
  local src, err = mb.source.open { type = "command", env = env,
    argv = { "psql", "-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql } }
  if not src then return nil, err end
  local dir = ctx.state and ctx.state:temp_dir() or os.getenv("TMPDIR") or "/tmp"
  local out = ("%s/sanity-check-%d.txt"):format(dir, mb.sys.pid())
  ctx:defer(function() os.remove(out) end)
  local writer <close> = assert(mb.storage.file_writer(out))
  local pump <close> = mb.stream.new(src, {})
  local done, perr = pump:pump({ writer })
  if not done then perr = psql_error(src, perr) end
  src:close()
  if not done then return nil, perr end
  local f <close> = assert(io.open(out))
  return (f:read("a"):gsub("%s+$", ""))
end

-- The step: runs between initialize (secrets resolved, server reachable)
-- and dump.  error(message, 0) fails the run with that message.
local function sanity_check(ctx)
  for _, check in ipairs(checks) do
    local answer, err = ask(ctx, check.sql)
    if not answer then
      error(("sanity check could not run (%s): %s; not backing up"):format(check.sql, err), 0)
    end
    if answer ~= "t" then
      error(("sanity check failed: %s (%s answered %s); not backing up"):format(check.wrong, check.sql, answer), 0)
    end
    ctx:log("info", ("sanity check passed: %s"):format(check.sql))
  end
end

return {
  name = "shop-sanity",
  source = { type = "postgres",
             host = os.getenv("PGHOST") or "127.0.0.1",
             port = math.tointeger(tonumber(os.getenv("PGPORT") or "5432")),
             user = os.getenv("PGUSER") or "backup",
             password = secret "shop-db",
             database = os.getenv("PGDATABASE") or "shop",
             format = "custom" },
  storage = { { type = "local", path = os.getenv("BACKUP_DIR") or "/var/backups/moonbak" } },
  retention = { keep_last = 7 },
  steps = { "initialize", sanity_check, "dump", "upload", "completion" },
}
