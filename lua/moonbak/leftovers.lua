-- Leftovers of runs that never finished (kill -9, a crash, a machine that
-- went down): uploads started and never completed (a hidden
-- ".NAME.partial-XXXXXX" file, an S3 multipart upload), and artifacts
-- stored without their sidecar.  Neither is a backup and nothing else would
-- ever remove them.  The next run of the job and `moonbak prune` sweep them
-- away, but only what is clearly ours (a name moonbak writes, in the job's
-- directory) and older than the oldest run that may still be writing.
local artifact = require "moonbak.artifact"

local M = {}

-- Backup ids: "YYYYMMDDTHHMMSSZ" (the first ones) or
-- "YYYYMMDDTHHMMSS.mmmZ-xxxxxx"; both begin with the second they name.
local id_patterns = {
  "^(%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ)%.(.+)$",
  "^(%d%d%d%d%d%d%d%dT%d%d%d%d%d%d%.%d%d%dZ%-%w+)%.(.+)$",
}

-- What a name in a job's directory is: its backup id and "artifact" or
-- "sidecar" for "<id>.<ext>[.zst][.age]" and that plus ".meta.json";
-- nil for any other name (not ours: left alone).
function M.classify(base)
  local id, rest
  for _, pattern in ipairs(id_patterns) do
    id, rest = base:match(pattern)
    if id then break end
  end
  if not id then return nil end
  local kind = "artifact"
  local suffix = artifact.sidecar_suffix
  if rest:sub(-#suffix) == suffix then
    kind, rest = "sidecar", rest:sub(1, -#suffix - 1)
  end
  rest = rest:gsub("%.age$", ""):gsub("%.zst$", "")
  if not rest:match("^%w+$") then return nil end
  return id, kind
end

-- The time, to the second, of state timestamp ts ("2026-11-29T03:00:00.123Z").
local function time_of(ts)
  local y, mo, d, h, mi, s = ts:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then error("not a timestamp: " .. tostring(ts), 2) end
  return artifact.backup_time(("%s%s%sT%s%s%sZ"):format(y, mo, d, h, mi, s))
end

-- How old a leftover of a run this state does not know must be before it
-- is taken for abandoned: another machine sharing the storage may be
-- writing it right now.
M.grace_seconds = 24 * 3600

-- leftovers.rules(state, job_name, started_at) -> the rules of a sweep for
-- a run (or prune) that started at state timestamp started_at: what runs
-- of the job on this state left when they ended without their backup
-- (state:dead_backup_ids) is removed at once; anything else only once it
-- is older than grace_seconds before started_at.
function M.rules(state, job_name, started_at)
  local t = time_of(started_at) - M.grace_seconds
  return { dead = state and state:dead_backup_ids(job_name) or {},
           cutoff = os.date("!%Y%m%dT%H%M%SZ", math.floor(t)) }
end

-- The backup id of name when it is ours, directly in the job's directory,
-- and abandoned by the rules (ids compared to the second: both id forms
-- agree there).
local function stale(name, prefix, rules)
  if name:sub(1, #prefix) ~= prefix then return nil end
  local base = name:sub(#prefix + 1)
  if base:find("/", 1, true) then return nil end
  local id, kind = M.classify(base)
  if not id then return nil end
  if not rules.dead[id] and id:sub(1, 15) >= rules.cutoff:sub(1, 15) then return nil end
  return id, kind
end

-- A sidecar the listing does not show may still be there (a symbolic link
-- on a local storage is not listed): an artifact is orphaned only when
-- reading its sidecar says it does not exist.
local function sidecar_missing(handle, name)
  local text, err = handle:get(name, 0)
  if text then return false end
  err = tostring(err):lower()
  for _, missing in ipairs { "no such file", "not found", "404", "550", "does not exist", "nosuchkey" } do
    if err:find(missing, 1, true) then return true end
  end
  return false
end

-- "job/.X.partial-abc123" on the storages that write under a temporary
-- name; S3 names an upload by an id of its own.
local function upload_label(u, prefix)
  if u.upload:sub(1, #prefix) == prefix then return u.upload end
  return ("%s (multipart upload %s)"):format(u.artifact, u.upload)
end

-- Removes one leftover with remove() (or only says so in a dry run): what
-- describes it in the log, name goes into the list of what was removed.
local function remove_one(s, what, name, remove)
  local ok, err = true, nil
  if not s.dry_run then ok, err = remove() end
  if ok then
    s.removed[#s.removed + 1] = name
    s.log("info", ("%s %s on storage %s"):format(s.verb, what, s.storage))
  else
    s.problems[#s.problems + 1] = err
  end
end

local function sweep_incomplete(s)
  local uploads, err = s.handle:incomplete(s.prefix)
  if not uploads then s.problems[#s.problems + 1] = err return end
  for _, u in ipairs(uploads) do
    if stale(u.artifact, s.prefix, s.rules) then
      local label = upload_label(u, s.prefix)
      remove_one(s, "stale partial upload " .. label, label,
                 function() return s.handle:remove_incomplete(u.artifact, u.upload) end)
    end
  end
end

local function sweep_orphans(s)
  local entries, err = s.handle:list(s.prefix)
  if not entries then s.problems[#s.problems + 1] = err return end
  local present = {}
  for _, e in ipairs(entries) do present[e.name] = true end
  for _, e in ipairs(entries) do
    local id, kind = stale(e.name, s.prefix, s.rules)
    local sidecar = e.name .. artifact.sidecar_suffix
    if id and kind == "artifact" and not present[sidecar] and sidecar_missing(s.handle, sidecar) then
      remove_one(s, ("orphaned artifact %s (no sidecar)"):format(e.name), e.name,
                 function() return s.handle:remove(e.name) end)
    end
  end
end

-- leftovers.sweep(job_name, storage_name, handle, rules, log [, opts])
--   -> removed_names, problems
-- Removes, under "<job_name>/" on the open storage handle, the incomplete
-- uploads and the artifacts without a sidecar that the rules (see
-- leftovers.rules) take for abandoned.  log(level, message) hears each
-- removal.  opts.dry_run: only says what it would remove.  Sidecars are
-- never touched.
function M.sweep(job_name, storage_name, handle, rules, log, opts)
  assert(type(rules) == "table" and type(rules.cutoff) == "string" and #rules.cutoff >= 15,
         "sweep: rules must be leftovers.rules(...)")
  opts = opts or {}
  local s = {
    prefix = job_name .. "/", storage = storage_name, handle = handle, rules = rules,
    log = log or function() end, dry_run = opts.dry_run,
    verb = opts.dry_run and "would remove" or "removed", removed = {}, problems = {},
  }
  sweep_incomplete(s)
  sweep_orphans(s)
  return s.removed, s.problems
end

return M
