-- moonbak keygen [--output FILE]: an age identity, as age-keygen writes it.
local mb = require "moonbak"
local sys = require "moonbak.sys"
local lib = require "moonbak.clilib"

-- An identity file as age-keygen writes it: two comments, then the key.
local function run(_, _, opts)
  local identity, recipient = mb.crypto.keygen()
  local text = ("# created: %s\n# public key: %s\n%s\n"):format(
    os.date("!%Y-%m-%dT%H:%M:%SZ"), recipient, identity)
  if not opts.output then
    io.write(text)
    return 0
  end
  local ok, err = sys.create_private(opts.output, text)
  if not ok then lib.exit_with(1, "%s", err) end
  lib.eprint("Public key: %s", recipient)
  return 0
end

return {
  usage = { { "keygen [--output FILE]", "make an age identity (like age-keygen)" } },
  description = [[
Prints a new age identity (its public key in a comment) to stdout, or writes it
into a new FILE (mode 0600) and prints the public key to stderr.]],
  options = {
    -- -o as age-keygen spells it
    { "output", value = "FILE", short = "o", help = "write the identity into FILE, which must not exist" },
  },
  max_args = 0,
  exit = "0 success, 1 FILE cannot be created, 2 bad usage",
  examples = {
    { "moonbak keygen --output /root/moonbak.key",
      "a new identity in a file of mode 0600; its public key on stderr" },
  },
  run = run,
}
