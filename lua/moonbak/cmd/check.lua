-- moonbak check JOB [--offline]: is the job file good, and would a run get
-- past initialize (the references resolve, the source answers, every
-- storage is reachable and writable)?  Nothing is backed up or recorded.
-- The checks are the run's own (moonbak.preflight, which 01-initialize uses).
local mb = require "moonbak"
local lib = require "moonbak.clilib"
local preflight = require "moonbak.preflight"

-- What `moonbak new` writes where a value must be filled in.
local PLACEHOLDER = "CHANGE-ME"

-- Calls fn(where, value) for every string and reference in value, with
-- where the path to it ("source.path", "storage[1].path").
local function each_value(value, where, fn)
  if mb.ref.is(value) or type(value) == "string" then
    fn(where, value)
  elseif type(value) == "table" then
    local keys = {}
    for k in pairs(value) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      local sub = math.type(k) == "integer" and ("%s[%d]"):format(where, k)
                  or (where == "" and tostring(k) or where .. "." .. tostring(k))
      each_value(value[k], sub, fn)
    end
  end
end

-- The places of job that still hold the placeholder, and the references
-- it makes (as written: secret "x", never a value).
local function survey(job)
  local left, refs, seen = {}, {}, {}
  for key, value in pairs(job) do
    if key ~= "file" then
      each_value(value, key, function(where, v)
        if mb.ref.is(v) and not seen[tostring(v)] then
          refs[#refs + 1] = tostring(v)
          seen[tostring(v)] = true
        end
        local text = mb.ref.is(v) and v.name or v
        if text:find(PLACEHOLDER, 1, true) then left[#left + 1] = where end
      end)
    end
  end
  table.sort(left)
  table.sort(refs)
  return left, refs
end

local function say(ok, fmt, ...)
  print((ok == nil and "-       " or ok and "ok      " or "FAILED  ") .. fmt:format(...))
end

local function plural(n, word) return ("%d %s%s"):format(n, word, n == 1 and "" or "s") end

-- The checks that talk to the servers -> how many failed.
local function check_online(cfg, job)
  local redactor = mb.ref.redactor()
  local st <close>, serr = mb.state.open(cfg.state_dir) -- for secret "x", and a private temp dir
  local resolved, err = preflight.resolve(job, st, redactor.add)
  if not resolved then
    say(false, "references: %s%s", err, st and "" or (" (the state database could not be opened: %s)"):format(serr))
    return 1
  end
  local failed = 0
  local ok, serr2 = preflight.check_source(resolved.source, st and st:temp_dir())
  if ok then say(true, "source %s: reachable", job.source.type)
  else say(false, "source %s: %s", job.source.type, redactor.redact(serr2)); failed = failed + 1 end
  for _, spec in ipairs(resolved.storage) do
    local handle, herr = preflight.open_storage(spec)
    if handle then
      handle:close()
      say(true, "storage %s (%s): reachable and writable", spec.name, spec.type)
    else
      say(false, "storage %s (%s): %s", spec.name, spec.type, redactor.redact(herr))
      failed = failed + 1
    end
  end
  return failed
end

local function run(cfg, args, opts)
  if not args[1] then lib.usage_error("check: expected JOB") end
  local job, err = mb.job.open(args[1], cfg.jobs_dir)
  if not job then say(false, "job file: %s", err); return 2 end
  local left, refs = survey(job)
  if #left > 0 then
    say(false, "job file %s: %s left in %s: fill them in", job.file, PLACEHOLDER, table.concat(left, ", "))
    return 2
  end
  say(true, "job file %s: job %s, source %s, %s", job.file, job.name, job.source.type,
      plural(#job.storage, "storage"))
  if opts.offline then
    say(nil, "source and storages: not contacted (--offline)")
    return 0
  end
  if #refs > 0 then say(nil, "references: %s", table.concat(refs, ", ")) end
  local failed = check_online(cfg, job)
  if job.notify and #job.notify > 0 then
    say(nil, "notifiers: %d, not contacted (moonbak notify test %s sends them a test)", #job.notify, job.name)
  end
  return failed == 0 and 0 or 1
end

return {
  usage = { { "check JOB [--offline]", "validate a job file and try its source and storages, without a backup" } },
  description = [[
Loads and validates the job file (refusing a CHANGE-ME that moonbak new left),
then does what a run does before any byte moves: resolves its references
(secret, env, file), checks that the source answers with the credentials
given, and that every storage is reachable and writable.  One line per thing
checked, "ok" or "FAILED"; nothing is backed up, recorded or notified.]],
  options = {
    { "offline", help = "only validate the job file: contact no server, resolve no reference" },
  },
  max_args = 1,
  exit = "0 every check passed, 1 a reference, the source or a storage failed (unreachable, bad credentials, " ..
         "not writable), 2 a bad job file (or a CHANGE-ME left in it, or bad usage)",
  examples = {
    { "moonbak check shop", "validate jobs/shop.lua and try its database and storages" },
    { "moonbak check --offline ./new-job.lua", "only validate a job file, wherever it is" },
  },
  run = run,
  survey = survey,
}
