-- Artifact naming and the transforms that make and unmake an artifact.
-- Name: <job>/<UTC YYYYMMDDTHHMMSSZ>.<ext>; the backup id is the timestamp.
local transform = require "moonbak.transform"

local M = {}

M.sidecar_suffix = ".meta.json"
M.format_version = 1

local extensions = {
  sqlite = "sqlite3", postgres = "sql", mysql = "sql", mariadb = "sql",
  redis = "rdb", mongodb = "archive", command = "out",
}

function M.backup_id(t)
  return os.date("!%Y%m%dT%H%M%SZ", math.floor(t))
end

function M.extension(job)
  local src = job.source
  local ext = extensions[src.type]
  if src.type == "postgres" and src.format == "custom" then ext = "dump" end
  if src.type == "file" then ext = src.path:match("%.([%w]+)$") or "bin" end
  if job.compression.type == "zstd" then ext = ext .. ".zst" end
  if job.encryption.type == "age" then ext = ext .. ".age" end
  return ext
end

function M.path(job, backup_id)
  return ("%s/%s.%s"):format(job.name, backup_id, M.extension(job))
end

-- Transforms that turn a dump into the stored bytes.
function M.forward_transforms(job)
  local list = {}
  local c = job.compression
  if c.type == "zstd" then
    list[#list + 1] = assert(transform.zstd { level = c.level or 3, workers = c.workers })
  end
  return list
end

-- Transforms that turn stored bytes back into the dump, from its sidecar.
function M.reverse_transforms(meta)
  local list = {}
  local enc = meta.encryption and meta.encryption.type or "none"
  if enc ~= "none" then
    return nil, ("backup %s is encrypted with %s, which this build cannot decrypt yet"):format(meta.backup_id, enc)
  end
  local comp = meta.compression and meta.compression.type or "none"
  if comp == "zstd" then
    list[#list + 1] = assert(transform.unzstd())
  elseif comp ~= "none" then
    return nil, ("backup %s uses unknown compression %q"):format(meta.backup_id, comp)
  end
  return list
end

return M
