#!/usr/bin/env -S moonbak script
-- all-postgres-databases.lua: every database of a PostgreSQL server, one
-- backup each, all into one storage.
--
-- A job with database = "*" makes one pg_dumpall file of the whole server;
-- this script makes one pg_dump per database instead, so that one database
-- restores on its own (moonbak restore ... --to NAME).  It asks the server
-- for its databases each time it runs, so a new database is backed up from
-- the next run on, with no job file to write.
--
-- Run it (from cron, a systemd timer, or by hand):
--
--   moonbak secret set pg-backup             # the role's password, once
--   moonbak script examples/all-postgres-databases.lua \
--       --host 127.0.0.1 --port 5432 --user backup --password-secret pg-backup \
--       --storage /var/backups/moonbak [--exclude postgres] [--keep-last 7]
--
-- The databases are backed up one after the other.  Each becomes a job
-- named PREFIX..DATABASE (default "pg-shop" for "shop"), run with moonbak's
-- runner and recorded in the state database as any job is (`moonbak history
-- pg-shop`).  At the end it prints one line per database and exits 0 when
-- every backup succeeded, 1 when one failed (or the list could not be
-- read), 2 on bad usage.  Ctrl-C cancels the running dump and stops there.
--
-- To list, verify or restore one database's backups with the usual commands,
-- let the script write that database's job file:
--
--   moonbak script examples/all-postgres-databases.lua ...same options... --job shop > pg-shop.lua
--   moonbak backups pg-shop.lua
--   moonbak restore pg-shop.lua --to shop_restored --create
--
-- What it needs: moonbak, psql and pg_dump (Debian: postgresql-client) of a
-- version at least the server's, and a role that may read every database
-- (a superuser, or pg_read_all_data on PostgreSQL 14 and later).
-- The password never appears on a command line: the jobs hold a reference
-- (secret "NAME" or env "VAR"), and psql and pg_dump get it as PGPASSWORD in
-- their environment.  Without --password-*, libpq's own ways apply
-- (~/.pgpass, PGPASSFILE, a trusted socket).
--
-- Storage: --storage is a local directory.  For another storage (S3, SFTP,
-- ...) change storage_of() below; the table is the one a job file holds.
local mb = require "moonbak"

local usage = [[
usage: moonbak script all-postgres-databases.lua --storage DIR [options]
  --host HOST             the server (default: libpq's, the local socket)
  --port PORT             its port (default: libpq's, 5432)
  --socket DIR            the directory of its unix socket, instead of --host
  --user ROLE             the role to connect as
  --password-secret NAME  the password from moonbak's secret store
  --password-env VAR      the password from the environment variable VAR
  --storage DIR           where every backup goes (a local directory)
  --prefix TEXT           job names are TEXT..DATABASE (default "pg-")
  --format plain|custom   pg_dump's format (default custom: pg_restore can pick tables)
  --exclude DB            leave DB out (may be repeated)
  --recipient AGE1...     encrypt to this age public key (may be repeated)
  --keep-last N           keep the N newest backups of each database
  --state DIR             the state directory (default: $MOONBAK_STATE, else moonbak's default)
  --job DB                print the job file of database DB and exit (for restore)
]]

-- The options: --name VALUE, some of them repeatable.  Returns the table or
-- nil and a message.
local function parse_options(argv)
  local takes = { host = 1, port = 1, socket = 1, user = 1, ["password-secret"] = 1,
                  ["password-env"] = 1, storage = 1, prefix = 1, format = 1, exclude = "list",
                  recipient = "list", ["keep-last"] = 1, state = 1, job = 1 }
  local o = { exclude = {}, recipient = {}, prefix = "pg-", format = "custom" }
  local i = 1
  while i <= #argv do
    local name = argv[i]:match("^%-%-([%w-]+)$")
    if argv[i] == "--help" or argv[i] == "-h" then return nil end
    if not name or not takes[name] then return nil, ("unknown argument %q"):format(argv[i]) end
    local value = argv[i + 1]
    if value == nil then return nil, ("--%s needs a value"):format(name) end
    if takes[name] == "list" then table.insert(o[name], value) else o[name] = value end
    i = i + 2
  end
  if not o.storage and not o.job then return nil, "--storage DIR is required" end
  if o.port and not math.tointeger(tonumber(o.port)) then return nil, "--port: expected a number" end
  if o.format ~= "plain" and o.format ~= "custom" then return nil, "--format: expected plain or custom" end
  if o["keep-last"] and not math.tointeger(tonumber(o["keep-last"])) then
    return nil, "--keep-last: expected a number"
  end
  if o["password-secret"] and o["password-env"] then
    return nil, "give --password-secret or --password-env, not both"
  end
  return o
end

-- The server's connection, with the password as a reference (resolved only
-- when it is used, never printed).
local function connection_of(o)
  local password
  if o["password-secret"] then password = mb.ref.secret(o["password-secret"]) end
  if o["password-env"] then password = mb.ref.env(o["password-env"]) end
  return { host = o.host, port = o.port and math.tointeger(tonumber(o.port)), socket = o.socket,
           user = o.user, password = password }
end

local function storage_of(o)
  return { { type = "local", path = o.storage or "/var/backups/moonbak" } }
end

-- A job name from a database name: what a job name may hold, the rest "_".
local function job_name(o, database)
  return (o.prefix .. database):gsub("[^%w._-]", "_"):sub(1, 100)
end

-- The job table of one database: what a job file would return.
local function job_of(o, database)
  local conn = connection_of(o)
  local job = {
    name = job_name(o, database),
    source = { type = "postgres", host = conn.host, port = conn.port, socket = conn.socket,
               user = conn.user, password = conn.password, database = database, format = o.format },
    compression = { type = "zstd", level = 3 },
    storage = storage_of(o),
  }
  if #o.recipient > 0 then job.encryption = { type = "age", recipients = o.recipient } end
  if o["keep-last"] then job.retention = { keep_last = math.tointeger(tonumber(o["keep-last"])) } end
  return job
end

-- Lua source text for a job table (strings, numbers, booleans, tables and
-- references such as secret "pg-backup"), keys sorted.
local function lua_text(value, indent)
  indent = indent or ""
  if mb.ref.is(value) then return tostring(value) end
  if type(value) == "string" then return ("%q"):format(value) end
  if type(value) ~= "table" then return tostring(value) end
  local keys, lines = {}, {}
  for k in pairs(value) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  for _, k in ipairs(keys) do
    local key = math.type(k) == "integer" and "" or (k:match("^[%a_][%w_]*$") and k or ("[%q]"):format(k)) .. " = "
    lines[#lines + 1] = indent .. "  " .. key .. lua_text(value[k], indent .. "  ") .. ","
  end
  return "{\n" .. table.concat(lines, "\n") .. "\n" .. indent .. "}"
end

-- What psql said that matters (its ERROR or FATAL line, not the quoted
-- statement under it), else the message the run got.
local function psql_error(src, err)
  local said = src:metadata().stderr or ""
  return said:match("[^\n]*ERROR:[^\n]*") or said:match("[^\n]*FATAL:[^\n]*") or err
end

-- The rows psql prints for sql in database (one column, unaligned, no
-- header), or nil and a message.  psql runs as a moonbak command source, so
-- the password reaches it in its environment, never in its arguments; its
-- output goes through a file in the state's private temporary directory.
local function psql_rows(conn, database, sql, temp_dir)
  local env = { "PGDATABASE=" .. database, "PGCONNECT_TIMEOUT=10", "PGAPPNAME=moonbak" }
  local settings = { PGHOST = conn.socket or conn.host, PGPORT = conn.port, PGUSER = conn.user,
                     PGPASSWORD = conn.password }
  for name, value in pairs(settings) do env[#env + 1] = name .. "=" .. tostring(value) end
  local src, err = mb.source.open { type = "command", env = env,
    argv = { "psql", "-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql } }
  if not src then return nil, err end
  local out = ("%s/databases-%d.txt"):format(temp_dir, mb.sys.pid())
  local writer <close>, werr = mb.storage.file_writer(out)
  if not writer then src:close(); return nil, werr end
  local s <close> = mb.stream.new(src, {})
  local done, perr = s:pump({ writer })
  if not done then perr = psql_error(src, perr) end
  src:close()
  if not done then return nil, perr end
  local rows = {}
  for line in io.lines(out) do rows[#rows + 1] = line end
  os.remove(out)
  return rows
end

local DATABASES = "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY 1"

local function databases(o, st)
  local redactor = mb.ref.redactor() -- psql's messages, should one quote the password
  local conn, err = mb.ref.resolve(connection_of(o), st, redactor.add)
  if not conn then return nil, err end
  local names, qerr = psql_rows(conn, "postgres", DATABASES, st:temp_dir())
  if not names then return nil, redactor.redact(qerr) end
  local excluded, list = {}, {}
  for _, name in ipairs(o.exclude) do excluded[name] = true end
  for _, name in ipairs(names) do
    if name ~= "" and not excluded[name] then list[#list + 1] = name end
  end
  return list
end

-- Runs one database's job; returns the summary line's fields.
local function back_up(o, st, database, seen)
  local job = job_of(o, database)
  if seen[job.name] then
    return { database = database, job = job.name, status = "failed",
             error = ("job name %s is also that of database %q: use --exclude"):format(job.name, seen[job.name]) }
  end
  seen[job.name] = database
  local valid, verr = mb.job.validate(job, "job " .. job.name)
  if not valid then return { database = database, job = job.name, status = "failed", error = verr } end
  local _, ctx = mb.runner.run(valid, {
    state = st,
    on_log = function(entry)
      if entry.level == "error" then io.stderr:write(("%s: [%s] %s\n"):format(job.name, entry.step or "-", entry.message)) end
    end,
  })
  return { database = database, job = job.name, status = ctx.status, backup = ctx.backup_id,
           size = ctx.metadata.size, error = ctx.error or ctx.status_message }
end

-- text padded to width characters (UTF-8: database names may be any)
local function pad(text, width)
  return text .. (" "):rep(width - (utf8.len(text) or #text))
end

local function print_summary(results)
  print(("%s %s %-8s %10s  %s"):format(pad("DATABASE", 24), pad("JOB", 28), "STATUS", "STORED", "BACKUP / ERROR"))
  for _, r in ipairs(results) do
    local stored = r.size and mb.units.size(r.size) or "-"
    print(("%s %s %-8s %10s  %s"):format(pad(r.database, 24), pad(r.job, 28), r.status, stored,
                                          r.status == "success" and r.backup or (r.error or "")))
  end
end

local function main(argv)
  local o, err = parse_options(argv)
  if not o then
    if not err then io.write(usage); return 0 end -- --help
    io.stderr:write(("all-postgres-databases: %s\n"):format(err), usage)
    return 2
  end
  if o.job then
    local job = job_of(o, o.job)
    io.write("-- the job of database ", o.job, ", as all-postgres-databases.lua runs it\n",
             "return ", lua_text(job), "\n")
    return 0
  end
  local state_dir = o.state or require("moonbak.clilib").settings({}).state_dir
  local st <close>, serr = mb.state.open(state_dir)
  if not st then io.stderr:write("all-postgres-databases: ", serr, "\n"); return 1 end
  mb.sys.catch_interrupts() -- Ctrl-C cancels the running dump cleanly
  local list, lerr = databases(o, st)
  if not list then
    io.stderr:write("all-postgres-databases: cannot list the databases: ", lerr, "\n")
    return 1
  end
  if #list == 0 then io.stderr:write("all-postgres-databases: no database to back up\n"); return 1 end
  local results, failed, seen = {}, 0, {}
  for _, database in ipairs(list) do
    local r = back_up(o, st, database, seen)
    results[#results + 1] = r
    if r.status ~= "success" then failed = failed + 1 end
    if mb.sys.interrupted() then break end
  end
  print_summary(results)
  print(("%d of %d databases backed up%s"):format(#results - failed, #list,
        failed > 0 and (", %d failed"):format(failed) or ""))
  return (failed > 0 or #results < #list) and 1 or 0
end

return main({ ... })
