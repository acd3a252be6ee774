-- moonbak console: a Lua console on the engine (see lua/moonbak/console.lua).
local console = require "moonbak.console"

return {
  usage = { { "console", "a Lua console on the engine: interactive on a terminal, else statements from stdin" } },
  description = [[
A Lua 5.4 REPL with the semantics of lua: an expression prints its value
(1+1 prints 2, =expr too), a statement runs, an incomplete one goes on over
the next line (prompt >>), an error is printed and the session goes on.
mb is require "moonbak"; the operators' helpers are globals beside it.

On a terminal: line editing (libedit; ~/.editrc applies), Tab completes
globals, keywords and fields (mb.cro<Tab> gives mb.cron), the history of
complete statements is kept in STATE/console_history (mode 0600).  Ctrl-C
drops the input at the prompt, and stops a running statement (a job run is
cancelled cleanly and recorded cancelled); Ctrl-D leaves.

With stdin not a terminal it is a script (moonbak console < checks.lua):
the same semantics, no prompt, no colour, no history; each failing
statement is reported on stderr with its line, and the rest still runs.]],
  max_args = 0,
  exit = "0 the end of input (Ctrl-D) and, from a script, every statement ran without error; " ..
         "1 a statement of a script failed, or a signal (SIGTERM, or Ctrl-C in a script) ended the console, " ..
         "2 bad usage",
  examples = {
    { "moonbak console",
      "a Lua prompt on the engine: jobs(), run \"shop\", history \"shop\" ..." },
    { "moonbak console < checks.lua",
      "run the statements of checks.lua, exit 1 if one failed" },
  },
  run = function(cfg) return console.run(cfg) end,
}
