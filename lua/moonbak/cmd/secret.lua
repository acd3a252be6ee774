-- moonbak secret set NAME | list | rm NAME: the sealed secret store.
local sys = require "moonbak.sys"
local lib = require "moonbak.clilib"

local function read_secret_value()
  local interactive = sys.isatty(0)
  if interactive then
    io.stderr:write("value (input hidden): ")
    os.execute("stty -echo 2>/dev/null")
  end
  local value = io.read("l")
  if interactive then
    os.execute("stty echo 2>/dev/null")
    io.stderr:write("\n")
  end
  if not value or value == "" then lib.exit_with(2, "secret set: no value on standard input") end
  return value
end

local function run(cfg, args, opts)
  local action, name = args[1], args[2]
  local st <close> = lib.open_state(cfg)
  if action == "set" and name then
    local ok, err = pcall(st.set_secret, st, name, read_secret_value())
    if not ok then lib.exit_with(1, "%s", tostring(err)) end
    lib.eprint("secret %s stored", name)
  elseif action == "rm" and name then
    if not st:remove_secret(name) then lib.exit_with(1, "no secret named %s", name) end
  elseif action == "list" then
    local list = st:secrets()
    if opts.json then lib.json_out(list) return 0 end
    local rows = {}
    for _, s in ipairs(list) do rows[#rows + 1] = { s.name, s.created_at, s.updated_at } end
    lib.print_table({ "NAME", "CREATED", "UPDATED" }, rows)
  else
    lib.usage_error("usage: moonbak secret set NAME | secret list | secret rm NAME")
  end
  return 0
end

return {
  usage = {
    { "secret set NAME", "store a secret read from standard input" },
    { "secret list | secret rm NAME", "list or remove stored secrets" },
  },
  description = [[
Secrets are sealed in the state database with the key STATE/master.key; a job
refers to one as secret "NAME".  set reads the value from standard input (not
echoed on a terminal).]],
  options = { lib.JSON },
  max_args = 2,
  exit = "0 success, 1 no such secret (or the state database cannot be written), 2 bad usage",
  examples = {
    { "moonbak secret set shop-db",
      "store the secret shop-db, typed without echo (a job says secret \"shop-db\")" },
    { "printf %s \"$PW\" | moonbak secret set shop-db", "the same from a script" },
    { "moonbak secret list", "the names of the stored secrets, never their values" },
  },
  run = run,
}
