-- The command line: a dispatcher over the commands, one file each, as git's
-- builtin/: lua/moonbak/cmd/NAME.lua is the module moonbak.cmd.NAME.
-- Exit status: 0 success, 1 a failed run (or check), 2 bad usage or a bad job file.
--
-- A command file returns a table:
--   usage    = { { "SYNOPSIS", "summary" }, ... }  one entry per form; the
--              synopsis starts with the command's name; a summary may go on
--              over more lines ("\n")
--   options  = { { "NAME", value = "METAVAR", short = "x", help = "..." }, ... }
--              the command's own options (without value: a flag, true when
--              given); the global ones below are taken by every command
--   max_args = N            positional arguments it takes at most (nil: any)
--   passthrough = N         after N positional arguments, every word is an
--                           argument, even one that looks like an option
--   exit     = "..."        its exit statuses, for --help
--   description = "..."     (optional) more about it, for --help
--   examples = { { "moonbak NAME ...", "what it does" }, ... }
--              at least one, for --help and the man page
--   run      = function(cfg, args, opts) ... return STATUS end
--              cfg: { state_dir, jobs_dir }; args: the positional arguments
--              after the command's name; opts: option name -> value or true
-- Adding a command: write its file and put its name in M.names.
-- --help, `moonbak help`, the man page (scripts/gen-man.lua) and the shell
-- completion (moonbak __complete) are all made from these tables.
local mb = require "moonbak"
local lib = require "moonbak.clilib"

local M = {}

-- The commands, in the order the usage lists them.
M.names = { "run", "daemon", "status", "jobs", "new", "check", "pause", "resume", "history", "log", "metrics",
            "backups", "verify", "restore", "drill", "copy", "lock", "unlock", "prune", "catalog", "cron", "notify", "keygen",
            "secret", "script", "console", "version", "help" }

-- Commands that run but are not listed (the usage, the man page): the
-- shell completion's helper.  name -> the module's name in moonbak.cmd.
M.hidden = { __complete = "complete" }

-- Named in the usage of the design, not in this build: said so, exit 2.
local not_yet = {}

-- Options every command takes.  --lua-path is taken out of argv by main.c,
-- before any Lua file loads: listed in the help, never parsed here.
M.global_options = {
  { "state", value = "DIR", help = "the state directory (default: $MOONBAK_STATE, else ~/.local/state/moonbak)" },
  { "jobs", value = "DIR", help = "the jobs directory (default: $MOONBAK_JOBS, else ./jobs)" },
  { "lua-path", value = "DIR", in_main = true,
    help = "read the Lua files from DIR (a source tree) instead of the embedded copy" },
  { "help", short = "h", help = "print this help and exit 0" },
  { "version", help = "print the version of moonbak and of its libraries, and exit 0" },
}

-- The environment variables moonbak reads, for the usage and the man page.
M.environment = {
  { "MOONBAK_STATE", "the state directory, when --state is not given (default: $XDG_STATE_HOME/moonbak, "
                     .. "else ~/.local/state/moonbak, else /var/lib/moonbak)" },
  { "MOONBAK_JOBS", "the jobs directory, when --jobs is not given (default: ./jobs)" },
  { "MOONBAK_MASTER_KEY_FILE", "the key that seals the secret store (default: STATE/master.key, "
                               .. "created with mode 0600 on first use)" },
  { "MOONBAK_METRICS", "the Prometheus textfile of the jobs that name none (metrics = PATH), "
                       .. "rewritten after each run; the daemon's --metrics comes first" },
  { "MOONBAK_LUA_PATH", "as --lua-path: read the Lua files from this directory" },
  { "MOONBAK_DEBUG", "when set, a failing step's log and a console error carry a Lua traceback" },
}

local commands = {}

-- Loads every command file and checks its table: a mistake in one is an
-- internal error naming the file, whatever command was asked for.
-- The listed commands, then the hidden ones.
local function all_names()
  local all = table.move(M.names, 1, #M.names, 1, {})
  for name in pairs(M.hidden) do all[#all + 1] = name end
  return all
end

local function load_commands()
  if next(commands) then return end
  for _, name in ipairs(all_names()) do
    local spec = require("moonbak.cmd." .. (M.hidden[name] or name))
    local where = ("lua/moonbak/cmd/%s.lua"):format(name)
    assert(type(spec) == "table" and type(spec.run) == "function", where .. ": no run function")
    assert(type(spec.usage) == "table" and spec.usage[1], where .. ": no usage")
    for _, form in ipairs(spec.usage) do
      assert(form[1] == name or form[1]:sub(1, #name + 1) == name .. " ",
             where .. ": a usage line does not start with " .. name)
    end
    assert(type(spec.exit) == "string", where .. ": no exit statuses")
    -- no examples is not fatal (a command still runs): test_help.sh fails on it
    spec.examples = spec.examples or {}
    spec.options = spec.options or {}
    for _, o in ipairs(spec.options) do
      assert(type(o[1]) == "string" and type(o.help) == "string", where .. ": an option without a name or help")
    end
    commands[name] = spec
  end
end

-- option name -> its entry, for the global options and those of `spec`
-- (nil: of every command); short letter -> option name.  An option has one
-- meaning everywhere: two commands may not give it different forms.
local function option_tables(spec)
  local long, short, owner = {}, {}, {}
  local function add(o, from)
    local name = o[1]
    local seen = long[name]
    if seen and (not seen.value ~= not o.value or seen.short ~= o.short) then
      error(("option --%s differs between %s and %s"):format(name, owner[name], from))
    end
    if o.short and short[o.short] and short[o.short] ~= name then
      error(("option -%s stands for --%s and --%s"):format(o.short, short[o.short], name))
    end
    long[name], owner[name] = o, from
    if o.short then short[o.short] = name end
  end
  for _, o in ipairs(M.global_options) do
    if not o.in_main then add(o, "the global options") end
  end
  for _, name in ipairs(all_names()) do
    if not spec or commands[name] == spec then
      for _, o in ipairs(commands[name].options) do add(o, name) end
    end
  end
  return long, short
end

-- Splits argv into the positional arguments (the command first) and the
-- options, which may come before or after the command.  Returns args, opts
-- and the first problem met (a message), or nil.
local function parse(argv, long, short)
  local opts, args, problem = {}, {}, nil
  local function note(fmt, ...) problem = problem or fmt:format(...) end
  local i, ended = 1, false
  while i <= #argv do
    local a = argv[i]
    local spec = commands[args[1]]
    local passthrough = ended or (spec and spec.passthrough and #args > spec.passthrough)
    if a == "--" and not passthrough then
      -- the end of the options: what follows is arguments, even "-x"
      ended = true
      i = i + 1
      goto next
    end
    local name, inline = a:match("^%-%-([%w-]+)=(.*)$")
    name = name or a:match("^%-%-([%w-]+)$")
    local typed = name and "--" .. name or a
    if not name and not passthrough and a:match("^%-.") then
      name = short[a:sub(2)] or false
    end
    if passthrough or name == nil then
      args[#args + 1] = a
    elseif not long[name] then
      note("unknown option %s", typed)
    elseif long[name].value then
      if inline == nil then
        i = i + 1
        local value = argv[i]
        -- "--state --json": the value forgotten, not a directory named --json
        local looks_like_option = value and value:match("^%-%-([%w-]+)") and long[value:match("^%-%-([%w-]+)")]
        if value == nil or looks_like_option then note("--%s needs a value", name) end
        inline = value
      end
      opts[name] = inline
    elseif inline ~= nil then
      note("--%s takes no value", name)
    else
      opts[name] = true
    end
    i = i + 1
    ::next::
  end
  return args, opts, problem
end

-- left, then text from column `width` on, its words wrapped at column
-- `wrap` (default 79); a text of several lines ("\n") keeps its own lines.
local function column(left, text, width, wrap)
  local indent = (" "):rep(width)
  local lines, line = {}, nil
  for word, sep in text:gmatch("(%S+)(%s*)") do
    if line and #indent + #line + 1 + #word > (wrap or 79) then lines[#lines + 1] = line; line = nil end
    line = line and line .. " " .. word or word
    if sep:find("\n") then lines[#lines + 1] = line; line = nil end
  end
  lines[#lines + 1] = line
  local first = #left > width - 2 and left .. "\n" .. indent or left .. (" "):rep(width - #left)
  return first .. table.concat(lines, "\n" .. indent)
end

-- The top-level usage: every command's forms, in the order of M.names.
function M.usage()
  load_commands()
  local out = { "usage: moonbak [--state DIR] [--jobs DIR] COMMAND [ARGS]", "" }
  for _, name in ipairs(M.names) do
    for _, form in ipairs(commands[name].usage) do
      out[#out + 1] = column("  " .. form[1], form[2], 32, math.huge)
    end
  end
  out[#out + 1] = ""
  out[#out + 1] = "JOB is a job name from the jobs directory or a path to a job file."
  local names = {}
  for i, e in ipairs(M.environment) do names[i] = e[1] end
  out[#out + 1] = "Listings take --json.  Environment: " .. table.concat(names, ", ") .. "."
  out[#out + 1] = "moonbak COMMAND --help (or moonbak help COMMAND): its options, exit status and examples."
  out[#out + 1] = "First job: moonbak new TYPE NAME > jobs/NAME.lua, then moonbak check NAME.  man moonbak-job."
  return table.concat(out, "\n") .. "\n"
end

-- "usage: moonbak FORM" lines of a command (its forms after the first: "   or: ").
local function synopsis(spec, with_summary)
  local out = {}
  for i, form in ipairs(spec.usage) do
    out[#out + 1] = (i == 1 and "usage: " or "   or: ") .. "moonbak " .. form[1]
    if with_summary then out[#out + 1] = "       " .. form[2]:gsub("\n", "\n       ") end
  end
  return table.concat(out, "\n")
end

local function option_lines(out, options)
  for _, o in ipairs(options) do
    local left = (o.short and "-" .. o.short .. ", " or "") .. "--" .. o[1] .. (o.value and " " .. o.value or "")
    out[#out + 1] = column("  " .. left, o.help, 24)
  end
end

-- A command's help: its forms, its options, the global ones, its exit statuses.
-- nil for a name that is no command.
function M.command_help(name)
  load_commands()
  local spec = commands[name]
  if not spec then return nil end
  local out = { synopsis(spec, true) }
  if spec.description then
    out[#out + 1] = ""
    out[#out + 1] = (spec.description:gsub("\n$", ""))
  end
  if #spec.options > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "options:"
    option_lines(out, spec.options)
  end
  out[#out + 1] = ""
  out[#out + 1] = "global options (before or after the command):"
  option_lines(out, M.global_options)
  out[#out + 1] = ""
  out[#out + 1] = column("exit status:", spec.exit, 14)
  if #spec.examples > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "examples:"
    for _, e in ipairs(spec.examples) do
      out[#out + 1] = "  " .. e[1]
      out[#out + 1] = column("", e[2], 6)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

-- The table of command name (a listed or a hidden one), nil for another
-- name: what --help, the man page and the completion read.
function M.command(name)
  load_commands()
  return commands[name]
end

-- The command, its arguments and options; exits 2 on bad usage.  Returns
-- the name and a status instead when there is nothing to run (the usage).
local function resolve(argv)
  local args, opts, problem = parse(argv, option_tables())
  local command = args[1]
  local spec = commands[command]
  if opts.version and not opts.help and not problem then return commands.version, {}, opts end
  if not spec then
    if problem then lib.usage_error("%s", problem) end
    if command == nil then
      io.write(M.usage())
      return nil, nil, nil, opts.help and 0 or 2
    end
    if not_yet[command] then
      lib.eprint("moonbak: %q is not implemented in this build yet", command)
      return nil, nil, nil, 2
    end
    lib.usage_error("unknown command %q (see moonbak --help)", command)
  end
  -- again, with the options this command takes
  args, opts, problem = parse(argv, option_tables(spec))
  table.remove(args, 1)
  if problem then lib.usage_error("%s: %s\n%s", command, problem, synopsis(spec)) end
  if opts.help then
    io.write(M.command_help(command))
    return nil, nil, nil, 0
  end
  if spec.max_args and #args > spec.max_args then
    lib.usage_error("%s: unexpected argument %q\n%s", command, args[spec.max_args + 1], synopsis(spec))
  end
  return spec, args, opts
end

-- A failure of the state database in the middle of a command (damaged
-- past its header, full, locked) is the operator's to fix, not a bug:
-- said plainly, with the database's path and what to do, no traceback.
local state_path

local function keep_traceback(err)
  if getmetatable(err) == lib.Exit then return err end
  if state_path and type(err) == "string" and err:find("^state database: ") then
    return setmetatable({ status = 1, message = mb.state.explain(state_path, err) }, lib.Exit)
  end
  return debug.traceback(tostring(err), 2)
end

function M.main(argv)
  local ok, status = xpcall(function()
    load_commands()
    local spec, args, opts, done = resolve(argv)
    if not spec then return done end
    local cfg = lib.settings(opts)
    state_path = cfg.state_dir .. "/moonbak.db"
    return spec.run(cfg, args, opts)
  end, keep_traceback)
  if ok then return status end
  if getmetatable(status) == lib.Exit then
    lib.eprint("moonbak: %s", status.message)
    return status.status
  end
  error(status, 0)
end

return M
