-- What a run checks before any byte moves (steps/01-initialize) and what
-- `moonbak check` checks without a run: the job's references resolve, its
-- source answers, its storages are reachable and writable.  One code for
-- both, so that a job check passes is a job whose run gets past initialize.
local ref = require "moonbak.ref"
local source = require "moonbak.source"
local storage = require "moonbak.storage"

local M = {}

-- A copy of job with its references resolved, its notifiers left out:
-- a notifier resolves its own when it sends, so that one whose secret is
-- missing fails its deliveries, never the backup.  -> resolved | nil, message
function M.resolve(job, state, on_value)
  local copy = {}
  for k, v in pairs(job) do
    if k ~= "notify" then copy[k] = v end
  end
  return ref.resolve(copy, state, on_value)
end

-- The source's options for the C adapter: resolved, with a private
-- temporary directory (option files with passwords go there) and the
-- command's env table as "NAME=value" lines.
function M.source_spec(resolved_source, temp_dir)
  local spec = {}
  for k, v in pairs(resolved_source) do spec[k] = v end
  if type(spec.env) == "table" then
    local lines = {}
    for name, value in pairs(spec.env) do lines[#lines + 1] = name .. "=" .. tostring(value) end
    table.sort(lines)
    spec.env = lines
  end
  spec.temp_dir = temp_dir
  return spec
end

-- Whether the source answers (a connection, a login, the file) -> true |
-- nil, message.
function M.check_source(resolved_source, temp_dir)
  return source.check(M.source_spec(resolved_source, temp_dir))
end

-- A resolved storage spec, opened and checked (reachable, logged in,
-- writable) -> handle (the caller closes it) | nil, message.
function M.open_storage(spec)
  local handle, err = storage.open(spec)
  if not handle then return nil, err end
  local ok, cerr = handle:check()
  if ok then return handle end
  handle:close()
  return nil, cerr
end

return M
