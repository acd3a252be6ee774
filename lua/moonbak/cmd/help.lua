-- moonbak help [COMMAND]: the usage, or a command's help (as COMMAND --help).
local lib = require "moonbak.clilib"

return {
  usage = { { "help [COMMAND]", "the commands, or the options of one" } },
  max_args = 1,
  exit = "0 success, 2 no such command",
  examples = {
    { "moonbak help restore",
      "the usage, options, exit status and examples of restore (as moonbak restore --help)" },
  },
  run = function(_, args)
    local cli = require "moonbak.cli" -- loaded by now: it is what runs this
    if not args[1] then
      io.write(cli.usage())
      return 0
    end
    local text = cli.command_help(args[1])
    if not text then lib.usage_error("help: unknown command %q (see moonbak help)", args[1]) end
    io.write(text)
    return 0
  end,
}
