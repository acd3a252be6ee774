-- Backups as the storages know them: listed from sidecars, verified and
-- restored by streaming the artifact back through the reverse transforms.
-- Needs no state database: the storage is self-describing.
local artifact = require "moonbak.artifact"
local cjson = require "cjson.safe"
local storage = require "moonbak.storage"
local stream = require "moonbak.stream"

local M = {}

-- A sidecar is small; anything larger is not one of ours.
M.sidecar_max = 1024 * 1024

local function is_sha256(v)
  return type(v) == "string" and #v == 64 and v:match("^[0-9a-f]+$") ~= nil
end

local function optional(meta, key, kind)
  local v = meta[key]
  return v == nil or type(v) == kind
end

-- backups.decode_sidecar(text, where [, job_name]) -> meta | nil, message
-- What makes a sidecar a backup's: a JSON object naming its job and backup
-- id, with the sha256 of the stored and of the plaintext bytes (without
-- them nothing can be verified, so nothing is restored).  where names the
-- sidecar in messages; job_name, when given, must be the sidecar's job.
function M.decode_sidecar(text, where, job_name)
  if type(text) ~= "string" then return nil, ("%s: not a sidecar (no text)"):format(where) end
  if #text > M.sidecar_max then
    return nil, ("%s: not a sidecar (%d bytes, more than %d)"):format(where, #text, M.sidecar_max)
  end
  local meta, err = cjson.decode(text)
  if meta == nil then return nil, ("%s: not JSON (%s)"):format(where, err) end
  if type(meta) ~= "table" or meta[1] ~= nil or next(meta) == nil then
    return nil, ("%s: not a sidecar (expected a JSON object)"):format(where)
  end
  local function bad(fmt, ...) return nil, ("%s: "):format(where) .. fmt:format(...) end
  if type(meta.job) ~= "string" then return bad("no job name") end
  if job_name and meta.job ~= job_name then return bad("belongs to job %q, not %q", meta.job, job_name) end
  if type(meta.backup_id) ~= "string" or not artifact.backup_time(meta.backup_id) then
    return bad("no valid backup_id")
  end
  if not is_sha256(meta.sha256) or not is_sha256(meta.plain_sha256) then
    return bad("no valid sha256 and plain_sha256 (64 hex digits each): cannot be verified")
  end
  for key, kind in pairs { source = "table", compression = "table", encryption = "table",
                           size = "number", logical_size = "number", locked = "boolean",
                           lock_reason = "string", locked_at = "string",
                           finished_at = "string", started_at = "string" } do
    if not optional(meta, key, kind) then return bad("%s is not a %s", key, kind) end
  end
  for _, key in ipairs { "compression", "encryption" } do
    if meta[key] and type(meta[key].type) ~= "string" then return bad("%s has no type", key) end
  end
  for _, key in ipairs { "size", "logical_size" } do
    local n = meta[key]
    if n and (n < 0 or n ~= n or n == math.huge) then return bad("%s is not a size", key) end
  end
  return meta
end

-- Backups of one storage: sidecars whose artifact is present, newest
-- first.  A sidecar that is not one of this job's valid sidecars is
-- reported in problems (with its path) and skipped: the others stay listed.
local function list_storage(job, spec, handle)
  local entries, err = handle:list(job.name .. "/")
  if not entries then return nil, err end
  local present = {}
  for _, e in ipairs(entries) do present[e.name] = e.size end
  local found, problems = {}, {}
  for _, e in ipairs(entries) do
    if e.name:sub(-#artifact.sidecar_suffix) == artifact.sidecar_suffix then
      local path = e.name:sub(1, -#artifact.sidecar_suffix - 1)
      local where = ("%s: sidecar %s"):format(spec.name, e.name)
      local meta, problem
      if e.size > M.sidecar_max then
        problem = ("%s: not a sidecar (%d bytes, more than %d)"):format(where, e.size, M.sidecar_max)
      else
        local text, gerr = handle:get(e.name, M.sidecar_max)
        if text then
          meta, problem = M.decode_sidecar(text, where, job.name)
        else
          problem = ("%s: unreadable: %s"):format(where, gerr)
        end
      end
      if meta and artifact.id_of_name(path) ~= meta.backup_id then
        meta, problem = nil, ("%s: its backup_id %s is not the one in its name"):format(where, meta.backup_id)
      end
      if meta and not present[path] then
        meta, problem = nil, ("%s: has no artifact"):format(where)
      end
      if meta then
        meta.storage = spec.name
        meta.path = path
        found[#found + 1] = meta
      else
        problems[#problems + 1] = problem
      end
    end
  end
  return found, problems
end

-- backups.list(job [, storage_name]) -> { meta, ... }, problems, unreachable
-- Storages that cannot be listed are reported in problems, not fatal, and
-- named in unreachable (storage name -> that problem).
function M.list(job, storage_name)
  local all, problems, unreachable = {}, {}, {}
  for _, spec in ipairs(job.storage) do
    if not storage_name or spec.name == storage_name then
      local handle, err = storage.open(spec)
      local found, more
      if handle then found, more = list_storage(job, spec, handle); handle:close() end
      if not found then
        problems[#problems + 1] = err or more
        unreachable[spec.name] = err or more
      else
        table.move(found, 1, #found, #all + 1, all)
        table.move(more, 1, #more, #problems + 1, problems)
      end
    end
  end
  table.sort(all, function(a, b)
    if a.backup_id ~= b.backup_id then return a.backup_id > b.backup_id end
    return a.storage < b.storage
  end)
  return all, problems, unreachable
end

-- The backup with id (or the newest when id is nil), on the storage named
-- (or the first that has it).
-- Without an id, the newest backup not dated after now: one made while a
-- clock was wrong is taken only when there is no other.
function M.find(job, id, storage_name)
  local all, problems = M.list(job, storage_name)
  local now = require("moonbak.sys").now()
  for _, meta in ipairs(all) do
    if (id == nil and artifact.backup_time(meta.backup_id) <= now) or meta.backup_id == id then return meta end
  end
  if id == nil and all[1] then return all[1] end
  local where = storage_name and (" on storage " .. storage_name) or ""
  local why = #problems > 0 and (" (" .. table.concat(problems, "; ") .. ")") or ""
  if id then return nil, ("job %s has no backup %s%s%s"):format(job.name, id, where, why) end
  return nil, ("job %s has no backups%s%s"):format(job.name, where, why)
end

local function spec_named(job, name)
  for _, spec in ipairs(job.storage) do
    if spec.name == name then return spec end
  end
end

-- Streams the artifact of meta through the reverse transforms into writers
-- (none: just check).  Both checksums must match before any writer commits.
-- Streams the artifact of meta through transforms into writers (none: just
-- check).  The expected checksums are checked before any writer commits.
local function replay(job, meta, transforms, writers, options)
  local handle, err = storage.open(spec_named(job, meta.storage))
  if not handle then return nil, err end
  local reader, rerr = handle:reader(meta.path)
  if not reader then handle:close(); return nil, rerr end
  local result, perr = stream.new(reader, transforms):pump(writers, options)
  for _, t in ipairs(transforms) do t:close() end
  reader:close()
  handle:close()
  if not result then
    return nil, ("backup %s on %s: %s"):format(meta.backup_id, meta.storage, perr)
  end
  return result
end

-- ---- copies between storages ---------------------------------------------

-- name -> size of what the open storage handle holds under "<job>/".
function M.present(job, handle)
  local entries, err = handle:list(job.name .. "/")
  if not entries then return nil, err end
  local sizes = {}
  for _, e in ipairs(entries) do sizes[e.name] = e.size end
  return sizes
end

-- What the storage to (an open handle named to_name; sizes: M.present of
-- it) holds of the backup meta: "present" when its sidecar names the same
-- stored bytes and its artifact has their size, "absent" when it has no
-- sidecar of it, "damaged" when its sidecar names the same bytes but the
-- artifact is missing or of another size (a copy to replace), or nil and a
-- message when it holds something else under that name: never overwritten.
local function copy_on(job, meta, to, to_name, sizes)
  local sidecar_name = meta.path .. artifact.sidecar_suffix
  if not sizes[sidecar_name] then return "absent" end
  local where = ("%s: sidecar %s"):format(to_name, sidecar_name)
  local text, err = to:get(sidecar_name, M.sidecar_max)
  if not text then return nil, ("%s: unreadable: %s"):format(where, err) end
  local theirs, derr = M.decode_sidecar(text, where, job.name)
  if not theirs then return nil, derr .. " (not overwritten)" end
  if theirs.sha256 ~= meta.sha256 then
    return nil, ("%s names other stored bytes (sha256 %s, not %s): not overwritten")
      :format(where, theirs.sha256, meta.sha256)
  end
  local size = meta.size or theirs.size
  if sizes[meta.path] and (size == nil or sizes[meta.path] == size) then return "present" end
  return "damaged"
end

-- The sidecar of meta as its own storage holds it, for the storage to_name:
-- the same JSON (re-encoded as the upload step writes it), with storage
-- naming the copy's and where it was copied from.
local function sidecar_for_copy(job, meta, from, to_name)
  local name = meta.path .. artifact.sidecar_suffix
  local where = ("%s: sidecar %s"):format(meta.storage, name)
  local text, err = from:get(name, M.sidecar_max)
  if not text then return nil, ("%s: unreadable: %s"):format(where, err) end
  local theirs, derr = M.decode_sidecar(text, where, job.name)
  if not theirs then return nil, derr end
  if theirs.sha256 ~= meta.sha256 then
    return nil, ("%s changed while it was being copied"):format(where)
  end
  theirs.storage = to_name
  theirs.copied_from = meta.storage
  theirs.copied_at = require("moonbak.state").timestamp()
  return require("cjson").encode(theirs)
end

-- The catalog entry of a copy; a catalog that cannot take it is a
-- message, not a failure: the copy is stored and listed from its sidecar.
local function catalog_copy(state, job, meta, to_name, execution_id)
  local ok, err = pcall(function()
    local id = execution_id or meta.execution_id
    if math.type(id) ~= "integer" then id = math.tointeger(id) end
    local known = id and state:execution(id)
    state:add_to_catalog {
      job = job.name, backup_id = meta.backup_id, storage = to_name, path = meta.path,
      size = meta.size, logical_size = meta.logical_size, sha256 = meta.sha256,
      plain_sha256 = meta.plain_sha256, execution_id = known and known.job == job.name and id or nil,
      created_at = meta.finished_at, locked = meta.locked, lock_reason = meta.lock_reason,
    }
  end)
  if ok then return nil end
  return state:explain(err, ("the catalog entry of backup %s on %s could not be recorded (the copy is stored)")
    :format(meta.backup_id, to_name))
end

local function copy_bytes(job, meta, to, to_name, sidecar_text, progress)
  local writer, werr = to:writer(meta.path)
  if not writer then return nil, ("backup %s to %s: %s"):format(meta.backup_id, to_name, werr) end
  -- no transforms: the stored bytes as they are, checked before the commit
  local result, err = replay(job, meta, {}, { writer }, { expect_sha256_in = meta.sha256, progress = progress })
  writer:close()
  if not result then return nil, err end
  if not result.sinks[1].ok then
    return nil, ("backup %s to %s: %s"):format(meta.backup_id, to_name, result.sinks[1].error)
  end
  local ok, perr = to:put(meta.path .. artifact.sidecar_suffix, sidecar_text)
  if not ok then
    to:remove(meta.path) -- without its sidecar it is no backup
    return nil, ("backup %s to %s: its sidecar: %s"):format(meta.backup_id, to_name, perr)
  end
  return result
end

-- backups.copy(job, meta, to_name [, opts]) -> result | nil, message
-- Copies the stored bytes of backup meta (from backups.list or find) to
-- the job's storage to_name, without decrypting them: the sha256 is
-- checked against the sidecar before the copy's artifact is committed,
-- then its sidecar is written.  result.status: "copied", or "present" when
-- to_name holds it already (its sidecar names the same bytes, its artifact
-- has their size).  opts: progress (a label), sizes (backups.present of
-- to_name, to save a listing), state (the catalog gets the copy),
-- execution_id (the catalog's; default the sidecar's when this state knows it).
function M.copy(job, meta, to_name, opts)
  opts = opts or {}
  local spec = spec_named(job, to_name)
  if not spec then return nil, ("job %s has no storage named %s"):format(job.name, to_name) end
  if to_name == meta.storage then
    return nil, ("backup %s is on %s already: copy it to another storage"):format(meta.backup_id, to_name)
  end
  local to <close>, err = storage.open(spec)
  if not to then return nil, err end
  local sizes = opts.sizes
  if not sizes then
    sizes, err = M.present(job, to)
    if not sizes then return nil, err end
  end
  local on, why = copy_on(job, meta, to, to_name, sizes)
  if not on then return nil, why end
  local result = { status = "present", backup_id = meta.backup_id, size = meta.size, sha256 = meta.sha256 }
  if on ~= "present" then
    local from <close>, ferr = storage.open(spec_named(job, meta.storage))
    if not from then return nil, ferr end
    local text, terr = sidecar_for_copy(job, meta, from, to_name)
    if not text then return nil, terr end
    if on == "damaged" then
      -- a sidecar of the same bytes whose artifact is gone or cut: replaced
      local ok, rerr = to:remove(meta.path .. artifact.sidecar_suffix)
      if ok and sizes[meta.path] then ok, rerr = to:remove(meta.path) end
      if not ok then return nil, ("backup %s on %s: %s"):format(meta.backup_id, to_name, rerr) end
    end
    local pumped, perr = copy_bytes(job, meta, to, to_name, text, opts.progress)
    if not pumped then return nil, perr end
    result.status, result.size, result.seconds = "copied", pumped.bytes_in, pumped.seconds
  end
  if opts.state then result.catalog_error = catalog_copy(opts.state, job, meta, to_name, opts.execution_id) end
  return result
end

local function restore_stream(job, meta, writers, keys, progress)
  local transforms, terr = artifact.reverse_transforms(meta, keys)
  if not transforms then return nil, terr end
  return replay(job, meta, transforms, writers, { expect_sha256_in = meta.sha256,
    expect_sha256_out = meta.plain_sha256, progress = progress })
end

-- The keys that open backups of job: identities given by the operator, and
-- the job's own passphrase (job must be resolved).
function M.keys(job, identities)
  return { identities = identities, passphrase = job.encryption and job.encryption.passphrase }
end

-- Checks both checksums; an encrypted backup without its key gets the
-- stored bytes checked only, and says so (result.plain_checked = false).
-- progress: a label to show a progress line on stderr, or nil.
function M.verify(job, meta, keys, progress)
  local encrypted = meta.encryption and meta.encryption.type ~= "none"
  keys = keys or {}
  if encrypted and #(keys.identities or {}) == 0 and not keys.passphrase then
    local result, err = replay(job, meta, {}, {}, { expect_sha256_in = meta.sha256, progress = progress })
    if result then result.plain_checked = false end
    return result, err
  end
  local result, err = restore_stream(job, meta, {}, keys, progress)
  if result then result.plain_checked = true end
  return result, err
end

-- Loads the dump into database target (nil: the job's own) of the job's
-- server.  A database load cannot be undone half-way, so the backup is
-- verified in full first: a damaged backup never touches the server.
-- spec is the job's source, resolved, with the run's temp_dir.
function M.restore_to_database(job, meta, spec, target, create, keys, progress)
  local encrypted = meta.encryption and meta.encryption.type ~= "none"
  if encrypted and #((keys or {}).identities or {}) == 0 and not (keys or {}).passphrase then
    return nil, ("backup %s is encrypted: pass --identity FILE"):format(meta.backup_id)
  end
  local ok, err = M.verify(job, meta, keys)
  if not ok then return nil, err end
  local options = {}
  for k, v in pairs(spec) do options[k] = v end
  -- the backup's own format wins over the job's current setting
  if meta.source and meta.source.format then options.format = meta.source.format end
  local writer, werr = require("moonbak.source").restore_writer(options, target, create)
  if not writer then return nil, werr end
  local result, rerr = restore_stream(job, meta, { writer }, keys, progress)
  writer:close()
  return result, rerr
end

-- Restores the dump into the file at output; nothing is written there
-- unless the whole backup checks out.
function M.restore_to_file(job, meta, output, force, keys, progress)
  local f = io.open(output, "rb")
  if f then
    f:close()
    if not force then return nil, ("%s already exists (use --force to replace it)"):format(output) end
  end
  local writer, err = storage.file_writer(output)
  if not writer then return nil, err end
  local result, rerr = restore_stream(job, meta, { writer }, keys, progress)
  writer:close()
  return result, rerr
end

-- backups.catalog_entry(meta) -> the state catalog's row of a listed backup
-- (State:add_to_catalog): what its sidecar says, lock included.
function M.catalog_entry(meta)
  return { job = meta.job, backup_id = meta.backup_id, storage = meta.storage, path = meta.path,
           size = meta.size, logical_size = meta.logical_size, sha256 = meta.sha256,
           plain_sha256 = meta.plain_sha256, execution_id = meta.execution_id,
           created_at = meta.finished_at, locked = meta.locked == true, lock_reason = meta.lock_reason }
end

-- Replaces the sidecar name (whose text is old) with new.  put commits
-- atomically (a temporary name renamed over the old one, or one PUT): the
-- sidecar is the old one or the new one, never missing.  Should a storage
-- fail half-way and lose it all the same, the old text is put back: an
-- artifact without a sidecar is not a backup, and would be swept.
local function rewrite_sidecar(handle, name, old, new)
  local ok, err = handle:put(name, new)
  if ok then return true end
  if not handle:get(name, M.sidecar_max) then
    local back, berr = handle:put(name, old)
    if not back then
      return nil, ("%s; the sidecar is missing now and could not be put back (%s): its text was %s")
        :format(err, berr, old)
    end
  end
  return nil, err
end

-- The sidecar of meta with the lock set -> new text, new meta | nil, message.
-- The raw JSON is edited, not meta: fields this version does not know stay.
local function locked_sidecar(job, meta, handle, lock)
  local name = meta.path .. artifact.sidecar_suffix
  local where = ("%s: sidecar %s"):format(meta.storage, name)
  local old, err = handle:get(name, M.sidecar_max)
  if not old then return nil, ("%s: unreadable: %s"):format(where, err) end
  local ok, derr = M.decode_sidecar(old, where, job.name)
  if not ok then return nil, derr end
  local raw = cjson.decode(old)
  raw.locked = lock.locked
  raw.lock_reason = lock.locked and lock.reason or nil
  raw.locked_at = lock.locked and lock.at or nil
  local new = require("moonbak.json").encode(raw)
  local fresh = assert(M.decode_sidecar(new, where, job.name))
  fresh.storage, fresh.path = meta.storage, meta.path
  return old, new, fresh, name
end

-- backups.set_lock(job, id, { locked =, reason =, at = timestamp })
-- -> results | nil, message
-- Rewrites the sidecar of backup id on every storage of the (resolved)
-- job that holds it.  results: one { storage, ok, error, meta (the new
-- sidecar) } per storage that holds it, and one { storage, ok = false,
-- error } per storage that could not be listed (it may hold a copy that
-- stays as it was).  nil, message when no storage holds the backup.
function M.set_lock(job, id, lock)
  local all, problems, unreachable = M.list(job)
  local results = {}
  for _, meta in ipairs(all) do
    if meta.backup_id == id then
      local handle, err = storage.open(spec_named(job, meta.storage))
      local old, new, fresh, name
      if handle then old, new, fresh, name = locked_sidecar(job, meta, handle, lock) end
      local ok, rerr = nil, err or new
      if old then ok, rerr = rewrite_sidecar(handle, name, old, new) end
      if handle then handle:close() end
      results[#results + 1] = { storage = meta.storage, ok = ok == true, error = not ok and rerr or nil,
                                meta = ok and fresh or nil }
    end
  end
  if #results == 0 then
    local why = #problems > 0 and (" (" .. table.concat(problems, "; ") .. ")") or ""
    return nil, ("job %s has no backup %s%s"):format(job.name, id, why)
  end
  for _, spec in ipairs(job.storage) do
    if unreachable[spec.name] then
      results[#results + 1] = { storage = spec.name, ok = false, error = unreachable[spec.name] }
    end
  end
  return results
end

return M
