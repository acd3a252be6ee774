-- sqlite_writer.lua DB PROGRESS STOPFILE — keeps inserting rows into DB, one
-- transaction each, and appends the id of every committed row to PROGRESS,
-- until STOPFILE exists.  Used to back up a database that is being written.
local sqlite = require "moonbak.sqlite"
local db_path, progress_path, stop_path = arg[1], arg[2], arg[3]
local db = assert(sqlite.open(db_path))
local progress = assert(io.open(progress_path, "a"))
progress:setvbuf("line")
local payload = ("x"):rep(2000)
while not io.open(stop_path, "r") do
  db:exec("BEGIN IMMEDIATE")
  local _, id = db:run("INSERT INTO events (payload, note) VALUES (?, ?)", payload, "written during backup")
  db:exec("COMMIT")
  progress:write(id, "\n") -- only after COMMIT returned: the row is durable
end
progress:close()
db:close()
