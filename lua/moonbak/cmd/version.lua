-- moonbak version (or moonbak --version): the version of moonbak and of the
-- libraries this binary runs with.
local mb = require "moonbak"
local sys = require "moonbak.sys"
local lib = require "moonbak.clilib"

-- The libraries, in the order printed: { key in sys.library_versions, name }.
local LIBRARIES = {
  { "lua", "Lua" }, { "sqlite", "SQLite" }, { "curl", "libcurl" }, { "openssl", "OpenSSL" },
  { "zstd", "zstd" }, { "jansson", "jansson" },
}

-- { moonbak = "x.y.z", lua = "5.4.4", sqlite = ..., ... }
local function versions()
  local v = sys.library_versions()
  local out = { moonbak = mb.version }
  for _, l in ipairs(LIBRARIES) do
    out[l[1]] = l[1] == "lua" and (v.lua:gsub("^Lua ", "")) or v[l[1]]
  end
  return out
end

local function run(_, _, opts)
  local v = versions()
  if opts.json then lib.json_out(v) return 0 end
  print("moonbak " .. mb.version)
  for _, l in ipairs(LIBRARIES) do print(("%-8s %s"):format(l[2], v[l[1]])) end
  return 0
end

return {
  usage = { { "version", "print the version of moonbak and of its libraries" } },
  description = [[
The first line is moonbak's version; then one line per library this binary
runs with (Lua: the one it was built with): Lua, SQLite, libcurl, OpenSSL,
zstd, jansson.  moonbak --version prints the same.]],
  options = { lib.JSON },
  max_args = 0,
  exit = "0",
  examples = {
    { "moonbak version", "moonbak 0.9.0, then Lua 5.4.4, SQLite 3.40.1 and the others, one a line" },
    { "moonbak version --json", "the same as a JSON object: { \"moonbak\": ..., \"sqlite\": ..., ... }" },
  },
  run = run,
  versions = versions,
}
