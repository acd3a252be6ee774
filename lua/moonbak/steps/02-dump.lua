-- 02-dump: start the dump and wire it through compression (and, later,
-- encryption).  The bytes move in 03-upload; in spool mode they go to a
-- temporary file here first, exposed as ctx.temp_file.
local artifact = require "moonbak.artifact"
local source = require "moonbak.source"
local storage = require "moonbak.storage"
local stream = require "moonbak.stream"
local sys = require "moonbak.sys"

local function spool(ctx, dump_stream)
  local dir = ctx.state and ctx.state:temp_dir() or (os.getenv("TMPDIR") or "/tmp")
  ctx.temp_file = ("%s/%s-%s.%s"):format(dir, ctx.job.name, ctx.backup_id, artifact.extension(ctx.job))
  local writer = assert(storage.file_writer(ctx.temp_file))
  ctx:defer(function() os.remove(ctx.temp_file) end)
  local result, err = dump_stream:pump({ writer })
  writer:close()
  ctx:log_dump_stderr()
  if not result then error("dump failed: " .. err, 0) end
  ctx.dump_result = result
  ctx:log("info", ("spooled %d bytes to %s"):format(result.bytes_out, ctx.temp_file))
  -- upload streams the spooled file, unchanged
  local file = assert(source.open { type = "file", path = ctx.temp_file })
  ctx:defer(function() file:close() end)
  ctx.stream = stream.new(file, {})
end

return function(ctx)
  local job = ctx.job
  ctx.backup_id = artifact.backup_id(sys.now())
  if ctx.state then
    local ok, err = pcall(ctx.state.set_backup_id, ctx.state, ctx.execution.id, ctx.backup_id)
    if not ok then ctx:log("warning", ctx.state:explain(err, "the backup id of this run could not be recorded")) end
  end
  ctx.artifact_path = artifact.path(job, ctx.backup_id)
  local src, err = source.open(ctx:source_spec())
  if not src then error(err, 0) end
  ctx:defer(function() src:close() end)
  ctx.dump_source = src
  local meta = src:metadata()
  ctx.metadata.engine_version = meta.engine_version
  ctx.metadata.format = meta.format
  ctx.metadata.databases = {}
  for db in (meta.databases or ""):gmatch("[^\n]+") do ctx.metadata.databases[#ctx.metadata.databases + 1] = db end
  local transforms, terr = artifact.forward_transforms(ctx.resolved)
  if not transforms then error(terr, 0) end
  for _, t in ipairs(transforms) do ctx:defer(function() t:close() end) end
  local s = stream.new(src, transforms)
  ctx:log("info", ("dumping %s to %s"):format(job.source.type, ctx.artifact_path))
  if job.spool then spool(ctx, s) else ctx.stream = s end
end
