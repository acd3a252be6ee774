-- Restore drills of file sources (and command sources, drills/command.lua):
-- the backup is restored into a scratch file in the drill's private
-- directory, which checks both checksums of the sidecar on the way (the
-- full verify: nothing is written unless they match); drill.command then
-- runs on it.  The restored file's path is in the environment as
-- MOONBAK_DRILL_FILE, and is $1 of a command given as a string (run by
-- /bin/sh -c); exit status 0 passes.
local backups = require "moonbak.backups"
local sys = require "moonbak.sys"

local M = {}

-- A file source's file keeps its name (a checking tool may read it), a
-- command's output is NAME.out.
local function scratch_file(d)
  local base = d.job.source.type == "file" and tostring(d.job.source.path):match("([^/]+)$")
  if not base or base == "." or base == ".." then base = d.name .. ".out" end
  return d.temp_dir .. "/" .. base
end

function M.start(d)
  local file = scratch_file(d)
  d.scratch = { file = file }
  local result, err = backups.restore_to_file(d.job, d.meta, file, false, d.keys, d.progress)
  if not result then return nil, err end
  d.restored = result
  return { bytes = result.bytes_out }
end

function M.builtin(d)
  local r = d.restored
  return { { name = "checksums", ok = true,
             detail = ("the stored bytes and the dump (%d bytes, sha256 %s) match the sidecar")
               :format(r.bytes_out, r.sha256_out) } }
end

-- The last line the command said.
local function last_line(output)
  local line = (output or ""):gsub("%s+$", ""):match("([^\n]*)$")
  return line or ""
end

function M.check(d, c)
  local argv = c.command
  if type(argv) == "string" then argv = { "/bin/sh", "-c", argv, "moonbak-drill", d.scratch.file } end
  local ok, output_or_err = sys.run_command(argv, { MOONBAK_DRILL_FILE = d.scratch.file })
  if ok then return true, last_line(output_or_err) end
  return false, output_or_err
end

function M.cleanup(d)
  if d.scratch then os.remove(d.scratch.file) end
  return true
end

-- What killed drills left is their private directories (drill.sweep_dirs).
function M.sweep()
  return {}, {}
end

return M
