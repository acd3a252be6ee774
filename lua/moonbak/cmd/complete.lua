-- moonbak __complete CWORD WORD...: the candidates for the word at index
-- CWORD (0: the program) of a command line being typed, one a line, for
-- completion/moonbak.bash.  Made from the command tables (usage, options)
-- as --help is, so a new command or option completes without a change
-- here.  A line "@files" or "@dirs" asks the shell for its own file or
-- directory names.  Never fails: a job that does not load completes nothing.
-- bash splits "--jobs=DIR" into "--jobs", "=", "DIR": both spellings are read.
local mb = require "moonbak"
local lib = require "moonbak.clilib"

local function cli() return require "moonbak.cli" end -- loaded by now: it runs this

-- name -> option entry, for the global options and those of spec (nil:
-- the global ones); short letter -> option name.
local function options_of(spec)
  local long, short = {}, {}
  local function add(o)
    long[o[1]] = o
    if o.short then short[o.short] = o[1] end
  end
  for _, o in ipairs(cli().global_options) do add(o) end
  for _, o in ipairs(spec and spec.options or {}) do add(o) end
  return long, short
end

-- The option entry a word names ("--storage", "--storage=x", "-o"), or nil.
local function option_named(word, long, short)
  local name = word:match("^%-%-([%w-]+)") or (word:match("^%-(%w)$") and short[word:sub(2)])
  return name and long[name]
end

-- The words typed before the current one: the command, its positional
-- arguments, the options given (name -> value).
local function read_line(words, cword)
  local command, args, given = nil, {}, {}
  local long, short = options_of(nil)
  local i = 2
  while i <= cword do -- words[1] is the program, words[cword + 1] the current word
    local w = words[i]
    local o = option_named(w, long, short)
    if o then
      local inline = w:match("^%-%-[%w-]+=(.*)$")
      -- a value that is the current word is not given yet
      if o.value and words[i + 1] == "=" then
        given[o[1]] = i + 2 <= cword and words[i + 2] or nil
        i = i + 2
      elseif o.value and not inline then
        given[o[1]] = i + 1 <= cword and words[i + 1] or nil
        i = i + 1
      else
        given[o[1]] = inline or true
      end
    elseif w:match("^%-") then -- an option not known yet, or a short flag
    elseif not command then
      command = w
      long, short = options_of(cli().command(w))
    else
      args[#args + 1] = w
    end
    i = i + 1
  end
  return command, args, given
end

-- The tokens of a usage form after the command's name that are positional
-- (literal words such as "next", metavariables such as JOB), without the
-- options and their values: "restore JOB [BACKUP] --output FILE" -> JOB, BACKUP.
local function positionals(form)
  local raw = {}
  for t in form:gmatch("%S+") do raw[#raw + 1] = t end
  local out, i = {}, 2
  while i <= #raw do
    local t = raw[i]:gsub("^[%[(]+", ""):gsub("[%])]+$", "")
    if t:match("^%-") then
      local nxt = raw[i + 1]
      if nxt and not nxt:match("^[%[(]") and nxt:gsub("[%])]+$", ""):match("^[%u][%u_.]*$") then i = i + 1 end
    elseif t ~= "|" then
      out[#out + 1] = (t:match("^([^|]+)|") or t):gsub("%.%.%.$", "")
    end
    i = i + 1
  end
  return out
end

-- The usage forms of spec, split on " | " (secret list | secret rm NAME).
local function forms_of(spec)
  local list = {}
  for _, form in ipairs(spec.usage) do
    for piece in (form[1] .. " | "):gmatch("(.-) | ") do list[#list + 1] = piece end
  end
  return list
end

local function job_names(cfg)
  local out = {}
  for _, f in ipairs(mb.sys.listdir(cfg.jobs_dir) or {}) do
    local name = f:match("^(.+)%.lua$")
    if name then out[#out + 1] = name end
  end
  return out
end

local function storage_names(cfg, job_name)
  local ok, job = pcall(lib.load_job, cfg, job_name)
  local out = {}
  if ok then for _, s in ipairs(job.storage) do out[#out + 1] = s.name end end
  return out
end

local function backup_ids(cfg, job_name, storage)
  local ok, list = pcall(require("moonbak.cmd.backups").list, cfg, job_name, storage)
  local out, seen = {}, {}
  for _, b in ipairs(ok and list or {}) do
    if not seen[b.backup_id] then out[#out + 1] = b.backup_id; seen[b.backup_id] = true end
  end
  return out
end

-- The candidates for a value named by metavariable meta (JOB, BACKUP ...).
local function values_of(meta, cfg, args, given, option, current)
  if meta == "JOB" then return current:find("/", 1, true) and { "@files" } or job_names(cfg) end
  if meta == "BACKUP" then return backup_ids(cfg, args[1], given.storage) end
  if meta == "NAME" and (option == "storage" or option == "from" or option == "to") then
    return storage_names(cfg, args[1])
  end
  if meta == "TYPE" then return mb.source.types() end
  if meta == "COMMAND" then return cli().names end
  if meta == "DIR" then return { "@dirs" } end
  if meta:match("^FILE") or meta == "PATH" or meta == "ARGS" then return { "@files" } end
  return {}
end

local function candidates(cfg, words, cword)
  local command, args, given = read_line(words, cword)
  local current = words[cword + 1] or ""
  local spec = command and cli().command(command)
  local long, short = options_of(spec)
  -- the value of the option before the current word ("--jobs" "=" "x" too)
  local before = cword >= 2 and words[cword]
  if current == "=" then current, before = "", words[cword] end
  if before == "=" then before = words[cword - 1] end
  local o = before and not before:find("=", 1, true) and option_named(before, long, short)
  if o and o.value then return values_of(o.value, cfg, args, given, o[1], current) end
  if current:match("^%-") then
    local out = {}
    for _, x in ipairs(cli().global_options) do out[#out + 1] = "--" .. x[1] end
    for _, x in ipairs(spec and spec.options or {}) do out[#out + 1] = "--" .. x[1] end
    return out
  end
  if not command then return cli().names end
  if not spec or command:match("^__") then return {} end
  -- the forms whose literal words match what was typed
  local out, seen = {}, {}
  for _, form in ipairs(forms_of(spec)) do
    local tokens, fits = positionals(form), true
    for n = 1, #args do
      local t = tokens[n]
      if t and t:match("^%l") and t ~= args[n] then fits = false end
    end
    local t = tokens[#args + 1] or (tokens[#tokens] == "ARGS" and "ARGS")
    if fits and t then
      for _, c in ipairs(t:match("^%l") and { t } or values_of(t, cfg, args, given, nil, current)) do
        if not seen[c] then out[#out + 1] = c; seen[c] = true end
      end
    end
  end
  return out
end

local function run(_, args)
  local cword = math.tointeger(tonumber(args[1] or ""))
  if not cword or cword < 1 then return 2 end
  local words = table.move(args, 2, #args, 1, {})
  local _, _, given = read_line(words, cword)
  local ok, cfg = pcall(lib.settings, { jobs = given.jobs, state = given.state })
  if not ok then return 0 end
  for _, c in ipairs(candidates(cfg, words, cword)) do print(c) end
  return 0
end

return {
  usage = { { "__complete CWORD WORD...", "the completions of WORD number CWORD (for completion/moonbak.bash)" } },
  passthrough = 0,
  exit = "0, 2 bad usage",
  examples = { { "moonbak __complete 2 moonbak run sh", "the jobs (to complete sh)" } },
  run = run,
}
