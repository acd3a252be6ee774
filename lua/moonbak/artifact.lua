-- Artifact naming and the transforms that make and unmake an artifact.
-- Name: <job>/<backup id>.<ext>.  A backup id is the UTC time the run
-- started, to the millisecond, and a random suffix:
-- YYYYMMDDTHHMMSS.mmmZ-xxxxxx.  The time makes ids sort as the backups
-- were made; the suffix makes two runs in the same millisecond, on two
-- machines sharing a bucket, still name two backups.  Ids of earlier
-- versions (YYYYMMDDTHHMMSSZ) are read as they are.
local crypto = require "moonbak.crypto"
local source = require "moonbak.source"
local transform = require "moonbak.transform"

local M = {}

M.sidecar_suffix = ".meta.json"
M.format_version = 1

function M.backup_id(t)
  local seconds = math.floor(t)
  local millis = math.min(999, math.floor((t - seconds) * 1000))
  local suffix = crypto.random(3):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
  return os.date("!%Y%m%dT%H%M%S", seconds) .. (".%03dZ-%s"):format(millis, suffix)
end

-- Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
-- days_from_civil): os.time would read the fields as local time.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
end

-- The UTC time (seconds since the epoch, with milliseconds) of a backup
-- id of either form, or nil when id is not one.
function M.backup_time(id)
  if type(id) ~= "string" then return nil end
  local y, mo, d, h, mi, s, rest = id:match("^(%d%d%d%d)(%d%d)(%d%d)T(%d%d)(%d%d)(%d%d)(.*)$")
  if not y then return nil end
  local millis = 0
  if rest ~= "Z" then
    local ms = rest:match("^%.(%d%d%d)Z%-%x%x%x%x%x%x$")
    if not ms then return nil end
    millis = tonumber(ms)
  end
  mo, d, h, mi, s = tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(s)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or s > 60 then return nil end
  return days_from_civil(tonumber(y), mo, d) * 86400 + h * 3600 + mi * 60 + s + millis / 1000
end

-- The backup id an artifact or sidecar file name starts with, or nil.
function M.id_of_name(name)
  local base = name:match("[^/]+$") or name
  local id = base:match("^(%d+T%d+%.%d%d%dZ%-%x+)%.") or base:match("^(%d+T%d+Z)%.")
  return id and M.backup_time(id) and id or nil
end

function M.extension(job)
  local ext = source.extension(job.source) -- the source adapter's: "sql", "rdb" ...
  if job.compression.type == "zstd" then ext = ext .. ".zst" end
  if job.encryption.type == "age" then ext = ext .. ".age" end
  return ext
end

function M.path(job, backup_id)
  return ("%s/%s.%s"):format(job.name, backup_id, M.extension(job))
end

-- Transforms that turn a dump into the stored bytes: compress, then
-- encrypt.  job must be resolved (a passphrase is a secret).
-- Returns the list, or nil and a message.
function M.forward_transforms(job)
  local list = {}
  local c, e = job.compression, job.encryption
  if c.type == "zstd" then
    list[#list + 1] = assert(transform.zstd { level = c.level or 3, workers = c.workers })
  end
  if e.type == "age" then
    local t, err = transform.age { recipients = e.recipients, passphrase = e.passphrase }
    if not t then return nil, err end
    list[#list + 1] = t
  end
  return list
end

-- What the sidecar says about encryption: public facts only.
function M.encryption_facts(job)
  local e = job.encryption
  if e.type ~= "age" then return { type = "none" } end
  if e.passphrase then return { type = "age", passphrase = true } end
  return { type = "age", recipients = e.recipients }
end

-- Transforms that turn stored bytes back into the dump, from its sidecar.
-- keys = { identities = { "AGE-SECRET-KEY-1..." }, passphrase = "..." }
function M.reverse_transforms(meta, keys)
  local list = {}
  local enc = meta.encryption and meta.encryption.type or "none"
  if enc == "age" then
    keys = keys or {}
    if #(keys.identities or {}) == 0 and not keys.passphrase then
      return nil, ("backup %s is encrypted with age: %s"):format(meta.backup_id,
        meta.encryption.passphrase and "its passphrase is needed (the job's encryption.passphrase)"
          or "pass --identity FILE with a key of one of its recipients")
    end
    local t, err = transform.unage { identities = keys.identities, passphrase = keys.passphrase }
    if not t then return nil, err end
    list[#list + 1] = t
  elseif enc ~= "none" then
    return nil, ("backup %s uses unknown encryption %q"):format(meta.backup_id, enc)
  end
  local comp = meta.compression and meta.compression.type or "none"
  if comp == "zstd" then
    list[#list + 1] = assert(transform.unzstd())
  elseif comp ~= "none" then
    return nil, ("backup %s uses unknown compression %q"):format(meta.backup_id, comp)
  end
  return list
end

-- Identities from an age identity file (as age-keygen writes it).
function M.read_identities(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, ("identity file: %s"):format(err) end
  local list = {}
  for line in f:lines() do
    line = line:match("^%s*(.-)%s*$")
    if line ~= "" and not line:match("^#") then
      if not line:match("^AGE%-SECRET%-KEY%-1") then
        f:close()
        return nil, ("identity file %s: line is not an age identity (AGE-SECRET-KEY-1...)"):format(path)
      end
      list[#list + 1] = line
    end
  end
  f:close()
  if #list == 0 then return nil, ("identity file %s holds no identity"):format(path) end
  return list
end

return M
