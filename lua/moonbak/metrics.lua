-- Prometheus metrics: what the state database knows of each job, in the
-- text exposition format (0.0.4), written to a textfile that node
-- exporter's textfile collector reads.
--
-- Where the file goes: the job's `metrics = PATH`, else MOONBAK_METRICS
-- (the daemon's --metrics is passed to its runs that way).  A file holds
-- every job of the jobs directory that goes to it, rewritten atomically
-- after each run (and by the daemon after each outcome it records itself).
local schedule = require "moonbak.schedule"
local state_mod = require "moonbak.state"
local sys = require "moonbak.sys"

local M = {}

-- moonbak_job_last_status: the number of each final status.  Worse is
-- higher, so an alert can say `moonbak_job_last_status > 0`.
M.status_numbers = { success = 0, partial = 1, failed = 2, cancelled = 3, interrupted = 4, skipped = 5 }

-- moonbak_job_last_failure_timestamp_seconds counts these: the run made no
-- backup.  A partial run stored its backup somewhere; it is neither a
-- success nor a failure here (its own status number says it).
M.failure_statuses = { "failed", "cancelled", "interrupted", "skipped" }

-- A label value: backslash, double quote and newline escaped.
function M.escape_label(value)
  return (tostring(value):gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

-- A HELP text: backslash and newline escaped.
local function escape_help(text)
  return (text:gsub("[\\\n]", { ["\\"] = "\\\\", ["\n"] = "\\n" }))
end

-- Integers as integers (bytes, counts), other numbers to the millisecond
-- (the state database keeps times to the millisecond).
function M.format_value(v)
  if math.type(v) == "integer" then return ("%d"):format(v) end
  if v == math.floor(v) and math.abs(v) < 2^53 then return ("%d"):format(math.tointeger(v)) end
  return (("%.3f"):format(v):gsub("0+$", ""):gsub("%.$", ""))
end

local function labels_text(labels)
  local parts = {}
  for i, pair in ipairs(labels) do
    parts[i] = ('%s="%s"'):format(pair[1], M.escape_label(pair[2]))
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- The families, in the order they are written; each job's facts (see
-- job_facts) give its samples: a value, or a list of { labels, value }.
local families = {
  { "moonbak_job_last_success_timestamp_seconds", "gauge",
    "When the job's last successful run ended (Unix time).", "last_success" },
  { "moonbak_job_last_failure_timestamp_seconds", "gauge",
    "When the job's last run that made no backup (failed, cancelled, interrupted, skipped) ended (Unix time).",
    "last_failure" },
  { "moonbak_job_last_run_duration_seconds", "gauge",
    "How long the job's last run took (skipped fire times are not runs).", "last_duration" },
  { "moonbak_job_last_status", "gauge",
    "The status of the job's last run: 0 success, 1 partial, 2 failed, 3 cancelled, 4 interrupted, 5 skipped.",
    "last_status" },
  { "moonbak_job_last_status_info", "gauge",
    "The status of the job's last run, as a label.", "last_status_info" },
  { "moonbak_job_last_backup_dumped_bytes", "gauge",
    "Size of the job's newest backup before compression and encryption.", "dumped_bytes" },
  { "moonbak_job_last_backup_stored_bytes", "gauge",
    "Size of the job's newest backup as stored.", "stored_bytes" },
  { "moonbak_job_backups", "gauge",
    "Backups of the job in the catalog (on any of its storages).", "backups" },
  { "moonbak_job_next_run_timestamp_seconds", "gauge",
    "When the daemon runs the job next (Unix time); absent for a job without schedule, paused or disabled.",
    "next_run" },
  { "moonbak_job_paused", "gauge",
    "1 when the job is paused (moonbak pause), else 0.", "paused" },
  { "moonbak_job_runs_total", "counter",
    "Runs of the job (and skipped fire times) by final status.", "runs" },
}

local function duration(e)
  local a, b = e and state_mod.parse_timestamp(e.started_at), e and state_mod.parse_timestamp(e.finished_at)
  return a and b and math.max(0, b - a) or nil
end

-- What the state database says of one job, as the families want it.
function M.job_facts(job, st, now)
  local success = st:last_finished(job.name, { "success" })
  local failure = st:last_finished(job.name, M.failure_statuses)
  local last = st:last_finished(job.name)
  local ran = st:last_finished(job.name, { "success", "partial", "failed", "cancelled", "interrupted" })
  local catalog = st:catalog_summary(job.name)
  local counts = st:runs_by_status(job.name)
  local runs = {}
  for i, status in ipairs(state_mod.final_statuses) do
    runs[i] = { { { "status", status } }, counts[status] or 0 }
  end
  local state = schedule.state_of(job, st)
  return {
    last_success = success and state_mod.parse_timestamp(success.finished_at),
    last_failure = failure and state_mod.parse_timestamp(failure.finished_at),
    last_duration = duration(ran),
    last_status = last and M.status_numbers[last.status],
    last_status_info = last and { { { { "status", last.status } }, 1 } },
    dumped_bytes = catalog.newest and catalog.newest.logical_size,
    stored_bytes = catalog.newest and catalog.newest.size,
    backups = catalog.backups,
    next_run = state == "active" and schedule.next_run(job, now) or nil,
    paused = state == "paused" and 1 or 0,
    runs = runs,
  }
end

-- The labels of moonbak_build_info: this moonbak and its libraries.
local function build_labels()
  local v = sys.library_versions()
  return { { "version", sys.version }, { "lua", (v.lua:gsub("^Lua ", "")) }, { "sqlite", v.sqlite },
           { "curl", v.curl }, { "openssl", v.openssl }, { "zstd", v.zstd } }
end

-- metrics.render(jobs, st [, now]) -> the text: jobs in name order, each
-- family once with its HELP and TYPE.
function M.render(jobs, st, now)
  now = now or os.time()
  local sorted = {}
  for i, job in ipairs(jobs) do sorted[i] = job end
  table.sort(sorted, function(a, b) return a.name < b.name end)
  local facts = {}
  for i, job in ipairs(sorted) do facts[i] = M.job_facts(job, st, now) end
  local out = {
    "# HELP moonbak_build_info The version of moonbak and of the libraries it runs with.",
    "# TYPE moonbak_build_info gauge",
    "moonbak_build_info" .. labels_text(build_labels()) .. " 1",
  }
  for _, f in ipairs(families) do
    local name, kind, help, key = f[1], f[2], f[3], f[4]
    out[#out + 1] = ("# HELP %s %s"):format(name, escape_help(help))
    out[#out + 1] = ("# TYPE %s %s"):format(name, kind)
    for i, job in ipairs(sorted) do
      local value = facts[i][key]
      local samples = type(value) == "table" and value or { { {}, value } }
      for _, sample in ipairs(samples) do
        if sample[2] ~= nil then
          local labels = { { "job", job.name } }
          for _, pair in ipairs(sample[1]) do labels[#labels + 1] = pair end
          out[#out + 1] = ("%s%s %s"):format(name, labels_text(labels), M.format_value(sample[2]))
        end
      end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

-- MOONBAK_METRICS, when set and not empty.
function M.default_path()
  local path = os.getenv("MOONBAK_METRICS")
  if path and path ~= "" then return path end
end

-- The file a job's metrics go to (default: default_path()), or nil.
function M.path_of(job, default)
  return job.metrics or default or M.default_path()
end

-- The jobs of jobs_dir (those that load; none when there is no such
-- directory) with `extra` in place of the one of the same name.
local function jobs_with(jobs_dir, extra)
  local list = jobs_dir and require("moonbak.job").load_dir(jobs_dir) or {}
  local by_name, out = {}, {}
  for _, job in ipairs(extra or {}) do by_name[job.name] = true; out[#out + 1] = job end
  for _, job in ipairs(list) do
    if not by_name[job.name] then out[#out + 1] = job end
  end
  return out
end

-- metrics.update(st, { jobs_dir =, jobs = { job, ... }, names = { name = true },
--                      default = PATH, now = }) -> true | nil, message
-- Rewrites the file of each job named in names (and of each job in jobs:
-- a job file given by path, perhaps outside jobs_dir) with every job that
-- goes to that file.  Nothing to do for jobs without a file.
function M.update(st, opts)
  local all = jobs_with(opts.jobs_dir, opts.jobs)
  local wanted = {}
  for _, job in ipairs(opts.jobs or {}) do wanted[job.name] = true end
  for name in pairs(opts.names or {}) do wanted[name] = true end
  local files, paths = {}, {}
  for _, job in ipairs(all) do
    local path = M.path_of(job, opts.default)
    if path and wanted[job.name] and not files[path] then
      files[path] = {}
      paths[#paths + 1] = path
    end
  end
  for _, job in ipairs(all) do
    local path = M.path_of(job, opts.default)
    if path and files[path] then table.insert(files[path], job) end
  end
  table.sort(paths)
  local errors = {}
  for _, path in ipairs(paths) do
    local ok, err = pcall(M.render, files[path], st, opts.now)
    if ok then ok, err = sys.replace_file(path, err, 420) end -- 0644: the exporter reads it
    if not ok then errors[#errors + 1] = ("metrics %s: %s"):format(path, tostring(err)) end
  end
  if #errors > 0 then return nil, table.concat(errors, "; ") end
  return true
end

return M
