-- Restore drill of a MySQL / MariaDB backup (see moonbak.drills.sql).
return require("moonbak.drills.sql").engine {
  -- A dump of several databases (or of all) holds CREATE DATABASE and USE
  -- statements naming them: loaded "into" a scratch database it would
  -- write into the server's real ones.  Only a one-database dump loads
  -- anywhere.
  refuse = function(meta)
    local databases = require("moonbak.drills.scratch").databases(meta)
    if (meta.source or {}).format ~= "database" or not databases or #databases ~= 1 then
      return "a backup of several databases (or of all) names them itself and cannot be loaded " ..
             "into one scratch database; drill a job that backs up one database"
    end
  end,
  tables_sql = "SELECT count(*) FROM information_schema.tables WHERE table_schema = DATABASE()",
}
