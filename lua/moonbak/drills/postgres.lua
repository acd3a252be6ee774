-- Restore drill of a PostgreSQL backup (see moonbak.drills.sql).
return require("moonbak.drills.sql").engine {
  -- A pg_dumpall script creates roles and databases by their names and
  -- \connects to each: loaded "into" a scratch database it would write
  -- into the server's real ones.  So it is refused, even when it holds
  -- one database (its script still names that database).
  refuse = function(meta, job_source)
    local databases = require("moonbak.drills.scratch").databases(meta)
    if not databases or #databases == 0 then
      return "its sidecar does not say which database it holds"
    end
    if #databases > 1 or job_source.database == "*" then
      return "an all-databases (pg_dumpall) backup cannot be loaded into one scratch database; " ..
             "drill a job that backs up one database"
    end
  end,
  tables_sql = "SELECT count(*) FROM information_schema.tables " ..
               "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
}
