-- 03-upload: drive the stream into every storage at once, then write each
-- storage's sidecar.  The sidecar is written only after its artifact is
-- complete: an artifact without a sidecar is not a backup.
local artifact = require "moonbak.artifact"
local cjson = require "cjson"
local state_mod = require "moonbak.state"
local sys = require "moonbak.sys"

local function open_writers(ctx)
  local writers, targets = {}, {}
  for _, st in ipairs(ctx.storages) do
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
  if #writers == 0 then error("no storage accepted the backup: " .. ctx.failures[1].error, 0) end
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
end
