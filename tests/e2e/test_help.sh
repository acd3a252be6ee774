#!/usr/bin/env bash
# Help that answers: every command's --help (and help COMMAND) names every
# option its parser takes, with its exit statuses and an example; --version
# names the libraries with the versions they report; the man pages moonbak(1)
# and moonbak-job(5) are warning-free and say what --help and the job
# validation say (every command, option, top-level field, adapter key).
# The commands are read from cli.lua's list, so a command added later is
# covered without a change here.
. "$(dirname "$0")/lib.sh"

# --- every command's help, against the parser's own tables ---------------
cat > "$T/help.lua" <<'LUA'
local cli = require "moonbak.cli"
local moonbak = os.getenv("MOONBAK")
local failures = 0
local function check(name, ok, detail)
  print((ok and "ok - " or "not ok - ") .. name)
  if not ok then
    failures = failures + 1
    if detail then print("# " .. detail:gsub("\n", "\n# ")) end
  end
end
local function capture(cmd)
  local p = io.popen(cmd .. "; echo \"status=$?\"")
  local text = p:read("a")
  p:close()
  local body, status = text:match("^(.*)status=(%d+)\n$")
  return body, tonumber(status)
end
local function set_text(set)
  local list = {}
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return table.concat(list, " ")
end
-- The options a help text lists under "options:" (the command's own).
local function help_options(text)
  local set, inside = {}, false
  for line in (text .. "\n"):gmatch("(.-)\n") do
    if line == "options:" then inside = true
    elseif line == "" then inside = false
    elseif inside then
      local name = line:match("^  %-%a, %-%-([%w-]+)") or line:match("^  %-%-([%w-]+)")
      if name then set[name] = true end
    end
  end
  return set
end
local function table_options(spec)
  local set = {}
  for _, o in ipairs(spec.options) do set[o[1]] = true end
  return set
end
-- The options the man page lists in a command's section (.SS NAME).
local function man_options(page, name)
  local section = page:match("\n%.SS " .. name:gsub("%-", "\\%%-") .. "\n(.-)\n%.S[SH] ")
  if not section then return nil end
  local set, tag_next = {}, false
  for line in section:gmatch("[^\n]+") do
    if tag_next and line:match("^\\fB\\%-") then
      local name_ = line:gsub("\\%-", "-"):match("%-%-([%w-]+)")
      if name_ then set[name_] = true end
    end
    tag_next = line == ".TP"
  end
  -- the examples' tags are \f(CR...: not options
  return set
end

local man_dir = arg[1]
local page = assert(io.open(man_dir .. "/moonbak.1")):read("a")
for _, name in ipairs(cli.names) do
  local spec = cli.command(name)
  local help, status = capture(("%q %s --help 2>&1"):format(moonbak, name))
  check(name .. " --help exits 0", status == 0, help)
  local expected, listed = set_text(table_options(spec)), set_text(help_options(help))
  check(name .. " --help lists exactly the options its parser takes", expected == listed,
        ("parser: %s\nhelp:   %s"):format(expected, listed))
  local help2, status2 = capture(("%q help %s 2>&1"):format(moonbak, name))
  check("help " .. name .. " is " .. name .. " --help", status2 == 0 and help2 == help)
  check(name .. " --help has its exit statuses", help:find("\nexit status:  %S") ~= nil)
  check(name .. " --help has an example of moonbak " .. name,
        help:find("\nexamples:\n  moonbak [^\n]*" .. name:gsub("%-", "%%-")) ~= nil, help)
  local in_man = man_options(page, name)
  check("moonbak(1) has a section for " .. name, in_man ~= nil)
  check("moonbak(1) lists the options of " .. name .. " as --help does",
        in_man ~= nil and set_text(in_man) == listed, ("help: %s\nman:  %s"):format(listed, set_text(in_man or {})))
end
for _, o in ipairs(cli.global_options) do
  local roff = "\\fB\\-\\-" .. o[1]:gsub("%-", "\\-") .. "\\fR"
  check("moonbak(1) lists the global option --" .. o[1], page:find(roff, 1, true) ~= nil)
end
for _, e in ipairs(cli.environment) do
  check("moonbak(1) names " .. e[1] .. " under ENVIRONMENT", page:match("%.SH ENVIRONMENT\n(.-)%.SH "):find(e[1], 1, true) ~= nil)
end

-- --- moonbak-job(5): every top-level field, every adapter key -------------
local job = require "moonbak.job"
local job_page = assert(io.open(man_dir .. "/moonbak-job.5")):read("a")
local fields = job.fields()
local names = {}
for f in pairs(fields) do names[#names + 1] = f end
table.sort(names)
for _, f in ipairs(names) do
  local doc = job.field_docs[f]
  check(("job field %s has words for the man page (moonbak.job field_docs)"):format(f),
        doc and type(doc.summary) == "string" and doc.summary ~= "" and type(doc.value) == "string")
  check(("moonbak-job(5) describes the field %s"):format(f),
        job_page:find("\n.TP\n\\fB" .. f .. "\\fR = ", 1, true) ~= nil)
end
local sections = { source = "SOURCES", storage = "STORAGES", notifier = "NOTIFIERS" }
for _, s in ipairs(require("moonbak.schema").all()) do
  local section = job_page:match("\n%.SH " .. sections[s.kind] .. "\n(.-)\n%.SH ")
  local part = section and section:match("\n%.SS " .. s.type .. "\n(.-)\n%.S[SH] ")
                       or section and section:match("\n%.SS " .. s.type .. "\n(.*)$")
  local missing = {}
  for _, o in ipairs(s.options) do
    if not (part and part:find("\n\\fB" .. o.name .. "\\fR (", 1, true)) then missing[#missing + 1] = o.name end
  end
  check(("moonbak-job(5) lists every key of %s %s"):format(s.kind, s.type), part and #missing == 0,
        "missing: " .. table.concat(missing, ", "))
end
os.exit(failures == 0 and 0 or 1)
LUA

mkdir -p "$T/man"
"$MOONBAK" script scripts/gen-man.lua "$T/man" >/dev/null 2>"$T/err"
check "gen-man.lua writes moonbak.1 and moonbak-job.5" [ -s "$T/man/moonbak.1" -a -s "$T/man/moonbak-job.5" ] || show_err
MOONBAK=$MOONBAK "$MOONBAK" script "$T/help.lua" "$T/man" || failures=$((failures + 1))

# --- the man pages read without a warning ---------------------------------
require_man() { command -v man >/dev/null && command -v groff >/dev/null; }
for page in moonbak.1 moonbak-job.5; do
    if ! require_man; then
        not_ok "man $page: man-db and groff are not installed (scripts/install-deps.sh --test)"
        continue
    fi
    MANWIDTH=80 man --warnings -E UTF-8 -l "$T/man/$page" 2>"$T/man-warnings" >"$T/man-text"
    check "man --warnings -l $page prints no warning" [ ! -s "$T/man-warnings" ] || sed 's/^/# /' "$T/man-warnings"
    check "...and renders it" grep -q "NAME" "$T/man-text"
done

# --- help, unknown commands ------------------------------------------------
mb help
check "moonbak help exits 0" [ $? -eq 0 ]
check "...listing the commands, new and check among them" \
    grep -q '^  new TYPE' "$T/out" && grep -q '^  check JOB' "$T/out"
mb help frobnicate
check "help of an unknown command exits 2" [ $? -eq 2 ]
check "...naming it" grep -q 'unknown command "frobnicate"' "$T/err"
mb frobnicate --help
check "an unknown command with --help exits 2" [ $? -eq 2 ]
mb frobnicate
check "an unknown command exits 2" [ $? -eq 2 ]
mb __complete 1 moonbak ""
check "the completion's helper is not in the usage" sh -c "! '$MOONBAK' help | grep -q __complete"

# --- versions ----------------------------------------------------------------
# major.minor of the first version number in the text read from stdin
major_minor() { grep -oE '[0-9]+\.[0-9]+' | head -1; }
mb --version
check "--version exits 0" [ $? -eq 0 ]
cp "$T/out" "$T/version"
mb version
check "version prints what --version does" cmp -s "$T/out" "$T/version"
check "...moonbak's version first" grep -qE '^moonbak [0-9]+\.[0-9]+' "$T/version"
lib_version() { awk -v n="$1" '$1 == n { print $2 }' "$T/version" | major_minor; }
expect_version() { # NAME REPORTED
    local got; got=$(lib_version "$1")
    check "--version names $1 $2 (as the library reports it)" [ -n "$got" ] && [ "$got" = "$2" ] ||
        echo "# --version says ${got:-nothing}"
}
expect_version Lua "$(pkg-config --modversion lua5.4 2>/dev/null | major_minor)"
expect_version SQLite "$(sqlite3 --version | major_minor)"
expect_version libcurl "$( (curl-config --version 2>/dev/null || pkg-config --modversion libcurl) | major_minor)"
expect_version OpenSSL "$(openssl version | major_minor)"
expect_version zstd "$(zstd --version | major_minor)"
expect_version jansson "$(pkg-config --modversion jansson | major_minor)"
mb run --version
check "--version after a command prints the versions too" cmp -s "$T/out" "$T/version"

finish
