-- A job with a custom step: a Lua function that runs between the built-in
-- steps and sees the run's context.  Here it refuses to back up an empty
-- database, which is probably a sign that something went wrong upstream.
local sqlite = require "moonbak.sqlite"

local function refuse_empty(ctx)
  local db <close> = assert(sqlite.open(ctx.resolved.source.path))
  local rows = db:query("SELECT count(*) AS n FROM orders")[1].n
  if rows == 0 then error("the orders table is empty; not backing it up", 0) end
  ctx:log("info", ("orders holds %d rows"):format(rows))
end

return {
  name = "shop-checked",
  source = { type = "sqlite", path = "/tmp/moonbak-demo/shop.db" },
  storage = { { type = "local", path = "/tmp/moonbak-demo/backups" } },
  steps = { "initialize", refuse_empty, "dump", "upload", "completion" },
}
