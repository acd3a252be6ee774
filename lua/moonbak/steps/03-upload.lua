-- 03-upload: drive the stream into every storage at once, then write each
-- storage's sidecar.  The sidecar is written only after its artifact is
-- complete: an artifact without a sidecar is not a backup.  Then the
-- storages of the job's copy_to get the backup copied, as stored, from the
-- first storage that has it (they are not uploaded to directly).
local artifact = require "moonbak.artifact"
local backups = require "moonbak.backups"
local cjson = require "cjson"
local state_mod = require "moonbak.state"
local sys = require "moonbak.sys"

local function copied_to(job)
  local set = {}
  for _, name in ipairs(job.copy_to or {}) do set[name] = true end
  return set
end

local function open_writers(ctx)
  local writers, targets = {}, {}
  local copies = copied_to(ctx.job)
  for _, st in ipairs(ctx.storages) do
    if not copies[st.name] then -- those are copied to after the upload
      local w, err = st.handle:writer(ctx.artifact_path)
      if w then
        writers[#writers + 1] = w
        targets[#targets + 1] = st
        ctx:defer(function() w:close() end)
      else
        ctx.failures[#ctx.failures + 1] = { storage = st.name, error = err }
        ctx:log("error", err)
      end
    end
  end
  if #writers == 0 then
    -- initialize found a storage reachable: it may be one of copy_to's
    local first = ctx.failures[1] and ctx.failures[1].error or "every reachable storage is one of copy_to's"
    error("no storage accepted the backup: " .. first, 0)
  end
  return writers, targets
end

-- What the sidecar says: enough to list, verify and restore with no state.
local function sidecar(ctx, st, size)
  local job, m = ctx.job, ctx.metadata
  return {
    format = artifact.format_version,
    job = job.name,
    backup_id = ctx.backup_id,
    artifact = ctx.artifact_path:match("[^/]+$"),
    storage = st.name,
    source = { type = job.source.type, databases = m.databases, engine_version = m.engine_version,
               format = m.format },
    moonbak_version = sys.version,
    host = sys.hostname(),
    trigger = ctx.trigger,
    started_at = ctx.started_at,
    finished_at = state_mod.timestamp(),
    size = size,
    logical_size = m.logical_size,
    sha256 = m.sha256,
    plain_sha256 = m.plain_sha256,
    compression = { type = job.compression.type, level = job.compression.level },
    encryption = artifact.encryption_facts(ctx.resolved), -- recipients as keys, not references
    execution_id = ctx.execution.id,
    locked = false,
  }
end

-- Sizes and checksums of stored and plaintext bytes, whichever way they came.
local function record_result(ctx, result)
  local dump = ctx.dump_result or result -- spool mode measured the dump earlier
  ctx.metadata.logical_size = dump.bytes_in
  ctx.metadata.plain_sha256 = dump.sha256_in
  ctx.metadata.size = result.bytes_out
  ctx.metadata.sha256 = result.sha256_out
  ctx.metadata.pump = { seconds = result.seconds, read_seconds = result.read_seconds,
                        transform_seconds = result.transform_seconds, write_seconds = result.write_seconds }
end

local function write_sidecar(ctx, st, sink)
  local meta = sidecar(ctx, st, sink.bytes)
  local ok, err = st.handle:put(ctx.artifact_path .. artifact.sidecar_suffix, cjson.encode(meta))
  if not ok then
    st.handle:remove(ctx.artifact_path) -- without its sidecar it is no backup
    return nil, err
  end
  ctx.artifacts[st.name] = { path = ctx.artifact_path, size = sink.bytes, sha256 = meta.sha256 }
  if ctx.state then
    -- the storage is the truth: a catalog that cannot take the entry is a
    -- warning, the backup is stored and listed from its sidecar
    local ok, cerr = pcall(ctx.state.add_to_catalog, ctx.state, {
      job = ctx.job.name, backup_id = ctx.backup_id, storage = st.name, path = ctx.artifact_path,
      size = sink.bytes, logical_size = meta.logical_size, sha256 = meta.sha256,
      plain_sha256 = meta.plain_sha256, execution_id = ctx.execution.id, created_at = meta.finished_at,
    })
    if not ok then
      ctx:log("warning", ctx.state:explain(cerr, ("the catalog entry of backup %s on %s could not be recorded (the backup is stored)")
        :format(ctx.backup_id, st.name)))
    end
  end
  return true
end

-- The backup as backups.list would give it on the storage st_name.
local function stored_meta(ctx, st_name)
  local a, m = ctx.artifacts[st_name], ctx.metadata
  return { backup_id = ctx.backup_id, job = ctx.job.name, storage = st_name, path = a.path, size = a.size,
           sha256 = a.sha256, plain_sha256 = m.plain_sha256, logical_size = m.logical_size,
           finished_at = state_mod.timestamp(), execution_id = ctx.execution.id, locked = false }
end

-- Each storage of copy_to gets the backup from the first storage (in the
-- job's order) that has it; a copy that fails makes the run partial and
-- deletes nothing.  One initialize found unreachable has failed already.
local function copy_to_storages(ctx)
  local reachable = {}
  for _, st in ipairs(ctx.storages) do reachable[st.name] = true end
  for _, name in ipairs(ctx.job.copy_to or {}) do
    if reachable[name] then
      local from
      for _, spec in ipairs(ctx.job.storage) do
        if ctx.artifacts[spec.name] then from = spec.name break end
      end
      local meta = stored_meta(ctx, from)
      local r, err = backups.copy(ctx.resolved, meta, name, { state = ctx.state, execution_id = ctx.execution.id,
                                                             progress = ctx.progress_label })
      if r then
        ctx.artifacts[name] = { path = meta.path, size = r.size, sha256 = meta.sha256 }
        ctx:log("info", ("copied %s from %s to %s"):format(meta.path, from, name))
        if r.catalog_error then ctx:log("warning", r.catalog_error) end
      elseif sys.interrupted() then
        error(err, 0) -- the run is cancelled, not partial
      else
        ctx.failures[#ctx.failures + 1] = { storage = name, error = err }
        ctx:log("error", ("copy to %s failed: %s"):format(name, err))
      end
    end
  end
end

return function(ctx)
  local writers, targets = open_writers(ctx)
  local result, err, partial = ctx.stream:pump(writers, { progress = ctx.progress_label })
  if not ctx.job.spool then ctx:log_dump_stderr() end
  if not result then
    ctx.metadata.failed_after_bytes = partial and partial.bytes_in
    error(err, 0)
  end
  record_result(ctx, result)
  ctx:log("info", ("dumped %d bytes, stored %d bytes in %.2fs (%.1f MB/s); reading %.2fs, transforms %.2fs, writing %.2fs")
    :format(ctx.metadata.logical_size, ctx.metadata.size, result.seconds,
            result.bytes_in / 1e6 / math.max(result.seconds, 1e-6),
            result.read_seconds, result.transform_seconds, result.write_seconds))
  local stored = 0
  for i, st in ipairs(targets) do
    local sink = result.sinks[i]
    local ok, serr = sink.ok, sink.error
    if ok then ok, serr = write_sidecar(ctx, st, sink) end
    if ok then
      stored = stored + 1
      ctx:log("info", ("stored %s on %s"):format(ctx.artifact_path, st.name))
    else
      ctx.failures[#ctx.failures + 1] = { storage = st.name, error = serr }
      ctx:log("error", serr)
    end
  end
  if stored == 0 then error("the backup could not be stored anywhere: " .. ctx.failures[1].error, 0) end
  copy_to_storages(ctx)
end
