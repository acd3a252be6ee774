-- moonbak.console — `moonbak console`: a Lua 5.4 REPL on the engine, with
-- the semantics of lua.c.  A chunk is first tried as "return <chunk>" (so
-- `1+1` prints 2; "=expr" is "return expr"), then as a statement; a chunk
-- whose error is at its end ("<eof>") is incomplete and goes on over the
-- next line (prompt ">>"); an error is printed and the session goes on.
--
-- On a terminal: line editing, history (STATE/console_history, 0600, one
-- entry per complete chunk) and Tab completion (moonbak.lineedit, libedit).
-- Ctrl-C at the prompt drops the input, Ctrl-C while a statement runs stops
-- it (a job run is cancelled cleanly, as by `moonbak run`), Ctrl-D leaves.
-- With stdin not a terminal it is a script: no prompt, no colour, no
-- history, each error on stderr with its line, exit status 1 when any
-- statement failed (all are run).
--
-- The seam with the operators' helpers (another module, maybe absent in
-- this build): require("moonbak.console.show").show(value) -> string, how
-- a result is printed (else tostring), and
-- require("moonbak.console.helpers").globals(cfg) -> { name = value },
-- merged into the session's environment beside mb = require "moonbak".
local sys = require "moonbak.sys"

local M = {}

local SIGINT, SIGALRM, SIGTERM = 2, 14, 15
-- How often (VM instructions) a running statement looks at the process's
-- cancel token: a few milliseconds of a busy loop.
local HOOK_COUNT = 100000

M.prompt, M.continuation = "> ", ">> "

-- require(name), or nil when this build has no such module (not when the
-- module fails to load: that error is raised).
local function optional(name)
  if package.loaded[name] or package.preload[name] or package.searchpath(name, package.path) then
    return require(name)
  end
end

-- value -> the text printed for it.
function M.show(value)
  local show = optional "moonbak.console.show"
  if show then return show.show(value) end
  return tostring(value)
end

-- The session's globals: mb, the helpers, then _G behind them.  What a
-- statement assigns stays in the session (a statement's locals do not).
function M.environment(cfg)
  local env = {}
  local helpers = optional "moonbak.console.helpers"
  if helpers then
    for name, value in pairs(helpers.globals(cfg)) do env[name] = value end
  end
  env.mb = require "moonbak"
  return setmetatable(env, { __index = _G })
end

-- ---- compiling ---------------------------------------------------------

local function incomplete(err)
  return type(err) == "string" and err:sub(-5) == "<eof>"
end

-- text -> function | nil, message, incomplete.  first_line: where text
-- starts in the input (script mode), so that messages give the real line.
function M.compile(text, env, first_line)
  local pad = ("\n"):rep((first_line or 1) - 1)
  local expression = text:match("^=(.*)$")
  local fn, rerr = load("return " .. pad .. (expression or text), "=stdin", "t", env)
  if fn then return fn end
  if expression then return nil, rerr, incomplete(rerr) end
  local sfn, serr = load(pad .. text, "=stdin", "t", env)
  if sfn then return sfn end
  return nil, serr, incomplete(serr) or incomplete(rerr)
end

-- ---- running -----------------------------------------------------------

local function message_of(err)
  if type(err) == "string" then return err end
  local mt = getmetatable(err)
  if mt and mt.__tostring then
    local ok, text = pcall(tostring, err)
    if ok and type(text) == "string" then return text end
  end
  if type(err) == "table" and type(err.message) == "string" then return err.message end
  return ("(error object is a %s value)"):format(type(err))
end

-- Stops the statement once the process is interrupted (Ctrl-C, SIGTERM;
-- not a job's own time limit, SIGALRM, which failed that run only).  A job
-- run sets it aside while it runs (its steps have their own hook, its
-- completion must run to its end) and puts it back after.
local function stop_when_interrupted()
  local signal = sys.interrupted()
  if signal and signal ~= SIGALRM then error("interrupted", 2) end
end

-- After a signal, whether the session ends: SIGTERM always, Ctrl-C in a
-- script (on a terminal it only brings the prompt back).
local function ends_session(s, signal)
  return signal == SIGTERM or (signal == SIGINT and s.script)
end

local function on_error(err)
  debug.sethook()
  local message = message_of(err)
  if os.getenv("MOONBAK_DEBUG") then return debug.traceback(message, 2) end
  return message
end

-- Runs fn; returns true and the results as text ("" for none), or false
-- and the error message.
function M.execute(fn)
  debug.sethook(stop_when_interrupted, "", HOOK_COUNT)
  local results = table.pack(xpcall(fn, on_error))
  debug.sethook()
  if not results[1] then return false, results[2] end
  local shown = {}
  for i = 2, results.n do
    local ok, text = pcall(M.show, results[i])
    if not ok then return false, "cannot print the result: " .. message_of(text) end
    shown[#shown + 1] = text
  end
  return true, table.concat(shown, "\t")
end

-- ---- completion ----------------------------------------------------------

local keywords = { "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
                   "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until",
                   "while" }

-- The identifier keys of value and of the tables behind its __index (an
-- object's methods, a string's), into names.
local function add_fields(names, value, functions_only)
  for _ = 1, 4 do
    if type(value) == "table" then
      for k, v in next, value do
        if type(k) == "string" and k:match("^[%a_][%w_]*$") and (not functions_only or type(v) == "function") then
          names[k] = true
        end
      end
    end
    local mt = getmetatable(value)
    value = type(mt) == "table" and rawget(mt, "__index") or nil
    if type(value) ~= "table" then return end
  end
end

-- mb loads its submodules on first use: their names come from what the
-- binary holds (package.preload) and what is loaded already.
local function add_submodules(names)
  for _, t in ipairs({ package.preload, package.loaded }) do
    for key in pairs(t) do
      local sub = type(key) == "string" and key:match("^moonbak%.([%a_][%w_]*)$")
      if sub then names[sub] = true end
    end
  end
end

local function common_prefix(list)
  local prefix = list[1] or ""
  for i = 2, #list do
    local n = 0
    while n < #prefix and prefix:byte(n + 1) == list[i]:byte(n + 1) do n = n + 1 end
    prefix = prefix:sub(1, n)
  end
  return prefix
end

-- The candidates in columns, for a terminal of width columns.
local function listing(list, width)
  local limit, wide = 200, 0
  for i = 1, math.min(#list, limit) do wide = math.max(wide, #list[i]) end
  local per_line = math.max(1, (width or 80) // (wide + 2))
  local lines, line = {}, {}
  for i = 1, math.min(#list, limit) do
    line[#line + 1] = list[i] .. (" "):rep(wide + 2 - #list[i])
    if #line == per_line then lines[#lines + 1] = table.concat(line):gsub("%s+$", ""); line = {} end
  end
  if #line > 0 then lines[#lines + 1] = table.concat(line):gsub("%s+$", "") end
  if #list > limit then lines[#lines + 1] = ("... and %d more"):format(#list - limit) end
  return table.concat(lines, "\n") .. "\n"
end

-- The names that may complete the word before the cursor ("prefix",
-- "a.b.pre", "obj:meth"), sorted, and the part of the word they extend.
function M.candidates(env, before)
  local word = before:match("[%a_][%w_%.:]*$")
  if not word then return {}, "" end
  local path, sep, last = word:match("^(.-)([%.:])([%w_]*)$")
  local names = {}
  if not path then
    last = word
    for _, k in ipairs(keywords) do names[k] = true end
    add_fields(names, env)
  else
    local value = env
    for part in path:gmatch("[^%.:]+") do
      local ok, v = pcall(function() return value[part] end)
      if not ok or v == nil then return {}, last end
      value = v
    end
    add_fields(names, value, sep == ":")
    if value == package.loaded.moonbak then add_submodules(names) end
  end
  local list = {}
  for name in pairs(names) do
    if name:sub(1, #last) == last then list[#list + 1] = name end
  end
  table.sort(list)
  return list, last
end

-- before_cursor -> the text to insert, a listing to print (or nil).
function M.complete(env, before)
  local list, last = M.candidates(env, before)
  if #list == 0 then return "", nil end
  local insert = common_prefix(list):sub(#last + 1)
  if #list > 1 and insert == "" then return "", listing(list, tonumber(os.getenv("COLUMNS"))) end
  return insert, nil
end

-- ---- the loop ------------------------------------------------------------

-- A session: env, how it reads (read(continuing) -> line | nil at the end
-- | nil, "interrupted"), how it reports, and whether it is a script.
-- Returns whether a statement failed, and whether a signal ended it.
local function loop(s)
  local failed, line_no = false, 0
  while true do
    local buffer, first_line, fn, err, more
    repeat
      local line, why = s.read(buffer ~= nil)
      if line == nil and why == "interrupted" then
        local signal = sys.interrupted()
        sys.reset_interrupts()
        if ends_session(s, signal) then return true, true end
        s.interrupted_input()
        goto next_statement
      elseif line == nil then
        if buffer then
          s.report(err, first_line)
          failed = true
        end
        return failed, false
      end
      line_no = line_no + 1
      if not buffer then
        buffer, first_line = line, line_no
      else
        buffer = buffer .. "\n" .. line
      end
      fn, err, more = M.compile(buffer, s.env, s.script and first_line or 1)
    until fn or not more
    s.remember(buffer)
    sys.reset_interrupts() -- a Ctrl-C at the prompt is not this statement's
    do
      local ok, text
      if fn then ok, text = M.execute(fn) else ok, text = false, err end
      local signal = sys.interrupted()
      sys.reset_interrupts()
      if ok then
        if text ~= "" then io.write(text, "\n") end
      else
        s.report(text, first_line)
        failed = true
      end
      io.stdout:flush()
      if ends_session(s, signal) then return true, true end
    end
    ::next_statement::
  end
end

local function script_session(env)
  return {
    env = env,
    script = true,
    read = function()
      local line = io.stdin:read("l")
      if line == nil and sys.interrupted() then return nil, "interrupted" end
      return line
    end,
    interrupted_input = function() end,
    remember = function() end,
    report = function(message)
      io.stdout:flush()
      io.stderr:write(message, "\n")
    end,
  }
end

local function history_path(cfg)
  local ok, err = sys.mkdirs(cfg.state_dir, tonumber("700", 8))
  if not ok then
    io.stderr:write(("moonbak: no console history (%s)\n"):format(err))
    return nil
  end
  return cfg.state_dir .. "/console_history"
end

local function terminal_session(env, cfg)
  local lineedit = require "moonbak.lineedit"
  local editor, err = lineedit.open {
    name = "moonbak",
    complete = function(before) return M.complete(env, before) end,
  }
  if not editor then return nil, err end
  local history = history_path(cfg)
  if history and io.open(history, "r") then
    local ok, lerr = editor:load_history(history)
    if not ok then io.stderr:write("moonbak: ", lerr, "\n") end
  end
  local colour = os.getenv("NO_COLOR") == nil and sys.isatty(2) and os.getenv("TERM") ~= "dumb"
  local warned = false
  return {
    env = env,
    editor = editor,
    read = function(continuing)
      return editor:read(continuing and M.continuation or M.prompt)
    end,
    interrupted_input = function() io.write("\n") end,
    remember = function(chunk)
      editor:add_history(chunk)
      if not history then return end
      local ok, serr = editor:save_history(history)
      if not ok and not warned then
        warned = true
        io.stderr:write("moonbak: ", serr, "\n")
      end
    end,
    report = function(message)
      io.stdout:flush()
      if colour then message = "\27[31m" .. message .. "\27[0m" end
      io.stderr:write(message, "\n")
    end,
  }
end

-- The console on stdin: a terminal session or a script.  Returns the exit status.
function M.run(cfg)
  sys.catch_interrupts() -- Ctrl-C stops the statement, not the process
  local env = M.environment(cfg)
  if not sys.isatty(0) then return loop(script_session(env)) and 1 or 0 end
  local session, err = terminal_session(env, cfg)
  if not session then
    io.stderr:write("moonbak: ", err, "\n")
    return 1
  end
  io.write(("moonbak %s console, %s: Ctrl-D leaves, Ctrl-C drops the input or stops the statement\n")
    :format(sys.version, _VERSION))
  local _, by_signal = loop(session)
  session.editor:close()
  io.write("\n")
  return by_signal and 1 or 0
end

return M
