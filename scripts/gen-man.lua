-- moonbak script scripts/gen-man.lua OUTDIR: writes OUTDIR/moonbak.1 and
-- OUTDIR/moonbak-job.5 (`make man` runs it into build/man).
--
-- Made from the tables the program itself reads, so that the pages cannot
-- disagree with it: the commands' tables (moonbak.cli: usage, options,
-- exit, examples, as --help prints them), the adapters' option schemas
-- (moonbak.schema, as the README's key table), the job's top-level fields
-- and their words (moonbak.job: fields, field_docs).  roff (man(7)) is
-- written here by hand.
local mb = require "moonbak"
local cli = require "moonbak.cli"
local job = require "moonbak.job"

local outdir = ...
if not outdir then
  io.stderr:write("usage: moonbak script scripts/gen-man.lua OUTDIR\n")
  return 2
end

-- Text as roff prints it: a backslash is \e, a hyphen the minus \- (what a
-- shell takes), a character outside ASCII by its code point.
local function esc(text)
  text = text:gsub("\\", "\\e"):gsub("%-", "\\-")
  text = text:gsub("[\xC2-\xF4][\x80-\xBF]+", function(ch) return ("\\[u%04X]"):format(utf8.codepoint(ch)) end)
  return text
end

-- A text line of running prose: escaped, one sentence a line (so that
-- roff spaces sentences as it should), no line starting with . or '
-- (a request) or a space.
local function prose(text)
  text = esc(text:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", ""))
  text = text:gsub("([.!?:]) (%u)", "%1\n%2")
  return (text:gsub("^([.'])", "\\&%1"):gsub("\n([.'])", "\n\\&%1"))
end

-- Paragraphs of a text (apart by a blank line), each after .PP.
local function paragraphs(out, text)
  for para in (text:gsub("\n%s*\n", "\0") .. "\0"):gmatch("([^%z]*)%z") do
    if para:match("%S") then
      out[#out + 1] = ".PP"
      out[#out + 1] = prose(para)
    end
  end
end

-- A synopsis in man's fonts: literal words and options bold, metavariables
-- (JOB, FILE.lua) italic, the rest ([ ] | ...) roman.
local function synopsis(text)
  return (text:gsub("[^%s%[%]|()]+", function(word)
    local core, dots = word:match("^(.-)(%.%.%.)$")
    core = core or word
    local font = (core:match("^%u[%u_]*") or core == "EXPR") and "I" or "B"
    if core:match("^'") or core:match("^%d") then font = "R" end
    return ("\\f%s%s\\fR%s"):format(font, esc(core), dots and "..." or "")
  end))
end

local function option_tag(o)
  local tag = (o.short and ("\\fB\\-%s\\fR, "):format(o.short) or "") .. ("\\fB\\-\\-%s\\fR"):format(esc(o[1]))
  if o.value then tag = tag .. (" \\fI%s\\fR"):format(esc(o.value)) end
  return tag
end

local function options_list(out, options)
  for _, o in ipairs(options) do
    out[#out + 1] = ".TP"
    out[#out + 1] = option_tag(o)
    out[#out + 1] = prose(o.help)
  end
end

local HEAD = '.\\" Made by scripts/gen-man.lua from the tables of moonbak %s: do not edit.'

local function command_page()
  local out = {
    HEAD:format(mb.version),
    ('.TH MOONBAK 1 "" "moonbak %s" "User Commands"'):format(esc(mb.version)),
    ".nh",
    ".ad l",
    ".SH NAME",
    "moonbak \\- a Lua\\-scriptable backup engine",
    ".SH SYNOPSIS",
    ".B moonbak",
    "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR] [\\fIOPTIONS\\fR]",
    ".SH DESCRIPTION",
  }
  paragraphs(out, [[
moonbak backs up databases (PostgreSQL, MySQL and MariaDB, SQLite, Redis, MongoDB), files
and the output of commands to storages (a local directory, S3, SFTP, WebDAV, FTP),
compressed with zstd and encrypted in the age format, on a cron schedule, with retention,
restore, verification and notifications.

A job is a Lua file in the jobs directory that returns one table: moonbak-job(5) lists
every key.  moonbak new TYPE NAME prints a job file to start from, and moonbak check NAME
tries it.  JOB, on the command line, is a job's name (the file NAME.lua of the jobs
directory, or the file that declares that name) or the path of a job file.

Options may come before or after the command.  Listings take --json.]])
  out[#out + 1] = ".SH OPTIONS"
  out[#out + 1] = "These are taken by every command."
  options_list(out, cli.global_options)
  out[#out + 1] = ".SH COMMANDS"
  for _, name in ipairs(cli.names) do
    local spec = cli.command(name)
    out[#out + 1] = (".SS %s"):format(esc(name))
    for i, form in ipairs(spec.usage) do
      if i > 1 then out[#out + 1] = ".br" end
      out[#out + 1] = "\\fBmoonbak\\fR " .. synopsis(form[1])
    end
    for _, form in ipairs(spec.usage) do
      out[#out + 1] = ".PP"
      out[#out + 1] = prose(form[2]:sub(1, 1):upper() .. form[2]:sub(2) .. ".")
    end
    if spec.description then paragraphs(out, spec.description) end
    if #spec.options > 0 then
      out[#out + 1] = ".PP"
      out[#out + 1] = "Options:"
      out[#out + 1] = ".RS"
      options_list(out, spec.options)
      out[#out + 1] = ".RE"
    end
    out[#out + 1] = ".PP"
    out[#out + 1] = "Exit status: " .. prose(spec.exit) .. "."
    if #spec.examples > 0 then
      out[#out + 1] = ".PP"
      out[#out + 1] = "Examples:"
      out[#out + 1] = ".RS"
      for _, e in ipairs(spec.examples) do
        out[#out + 1] = ".TP"
        out[#out + 1] = "\\f(CR" .. esc(e[1]) .. "\\fR"
        out[#out + 1] = prose(e[2])
      end
      out[#out + 1] = ".RE"
    end
  end
  out[#out + 1] = ".SH EXIT STATUS"
  out[#out + 1] = prose("0 success, 1 a failed run or check, 2 bad usage or a bad job file; "
                        .. "each command above says what its statuses mean.")
  out[#out + 1] = ".SH ENVIRONMENT"
  for _, e in ipairs(cli.environment) do
    out[#out + 1] = ".TP"
    out[#out + 1] = "\\fB" .. esc(e[1]) .. "\\fR"
    out[#out + 1] = prose(e[2])
  end
  out[#out + 1] = ".SH FILES"
  for _, f in ipairs {
    { "JOBS/NAME.lua", "a job file (see moonbak-job(5)); JOBS is --jobs, MOONBAK_JOBS or ./jobs" },
    { "STATE/moonbak.db", "the state database (SQLite): executions, logs, the sealed secrets, the backup catalog" },
    { "STATE/master.key", "the key that seals the secrets (mode 0600), unless MOONBAK_MASTER_KEY_FILE names another" },
    { "STATE/daemon.lock", "held by the running daemon: one per state directory" },
    { "STATE/locks/", "one lock per running job" },
    { "STATE/tmp/", "private temporary files of runs (option files with passwords, spooled dumps)" },
    { "STATE/console_history", "the console's history (mode 0600)" },
  } do
    out[#out + 1] = ".TP"
    out[#out + 1] = "\\fI" .. esc(f[1]) .. "\\fR"
    out[#out + 1] = prose(f[2])
  end
  out[#out + 1] = ".SH SEE ALSO"
  out[#out + 1] = "\\fBmoonbak\\-job\\fR(5), \\fBage\\fR(1), \\fBzstd\\fR(1), \\fBcrontab\\fR(5)"
  return table.concat(out, "\n") .. "\n"
end

local kind_words = {
  string = "a string", integer = "an integer", boolean = "true or false", strings = "a list of strings",
  ["string|strings"] = "a string or a list of strings", table = "a table",
}

-- "a string; required; default 22; a secret"
local function option_rules(o)
  local words = { kind_words[o.kind] or o.kind }
  if o.choices then
    local quoted = {}
    for i, c in ipairs(o.choices) do quoted[i] = ("%q"):format(c) end
    words[#words + 1] = "one of " .. table.concat(quoted, ", ")
  elseif o.min and o.max then
    words[#words + 1] = ("%d to %d"):format(o.min, o.max)
  elseif o.min then
    words[#words + 1] = ("%d or more"):format(o.min)
  end
  if o.required then words[#words + 1] = "required" end
  if o.default ~= nil then
    words[#words + 1] = "default " .. (type(o.default) == "string" and ("%q"):format(o.default) or tostring(o.default))
  end
  if o.secret then words[#words + 1] = "a secret: give a reference" end
  return table.concat(words, "; ")
end

local function schema_section(out, title, kind, intro)
  out[#out + 1] = ".SH " .. title
  out[#out + 1] = prose(intro)
  for _, s in ipairs(mb.schema.all()) do
    if s.kind == kind then
      out[#out + 1] = (".SS %s"):format(esc(s.type))
      out[#out + 1] = ("\\fBtype = \"%s\"\\fR"):format(esc(s.type))
      if s.extension then out[#out + 1] = prose((" (artifacts end in .%s)"):format(s.extension)) end
      for _, o in ipairs(s.options) do
        out[#out + 1] = ".TP"
        out[#out + 1] = ("\\fB%s\\fR (%s)"):format(esc(o.name), esc(option_rules(o)))
        out[#out + 1] = prose(o.help)
      end
    end
  end
end

-- The top-level fields of this build, in job.field_order; each must have
-- words in job.field_docs (tests/e2e/test_help.sh).
local function fields_in_order()
  local fields, seen, list = job.fields(), {}, {}
  for _, f in ipairs(job.field_order) do
    if fields[f] then list[#list + 1] = f; seen[f] = true end
  end
  local rest = {}
  for f in pairs(fields) do if not seen[f] then rest[#rest + 1] = f end end
  table.sort(rest)
  return table.move(rest, 1, #rest, #list + 1, list)
end

local function example(out, lines)
  out[#out + 1] = ".PP"
  out[#out + 1] = ".RS"
  out[#out + 1] = ".nf"
  for _, l in ipairs(lines) do out[#out + 1] = "\\f(CR" .. esc(l) .. "\\fR" end
  out[#out + 1] = ".fi"
  out[#out + 1] = ".RE"
end

local function job_page()
  local out = {
    HEAD:format(mb.version),
    ('.TH MOONBAK\\-JOB 5 "" "moonbak %s" "File Formats"'):format(esc(mb.version)),
    ".nh",
    ".ad l",
    ".SH NAME",
    "moonbak\\-job \\- a moonbak job file",
    ".SH SYNOPSIS",
    "\\fIJOBS\\fR/\\fINAME\\fR.lua",
    ".SH DESCRIPTION",
  }
  paragraphs(out, [[
A job file is Lua that returns one table: what to back up (source), where to
(storage), and how and when.  Sources, storages and notifiers are tables with a
type key.  A key the job does not know, a missing required key or a value of the
wrong type is an error that names the file, the key and what was expected; moonbak
check JOB shows it, and moonbak new TYPE prints a commented file to start from.

Loading a file only describes the job: it runs in a sandbox (no writes, no
processes, no network) under an instruction and a memory limit.]])
  example(out, {
    "return {",
    '  name = "shop",',
    '  schedule = "0 3 * * *",',
    '  timezone = "Europe/Berlin",',
    '  source = { type = "postgres", host = "127.0.0.1", user = "shop",',
    '             password = secret "shop-db", database = "shop" },',
    '  encryption = { type = "age", recipients = { "age1..." } },',
    '  storage = {',
    '    { type = "local", path = "/var/backups/moonbak" },',
    '    { type = "s3", bucket = "backups", prefix = "db/", secret_key = secret "s3" },',
    '  },',
    '  retention = { keep_last = 3, daily = 7, weekly = 4, monthly = 12 },',
    '  notify = { { type = "email", url = "smtps://smtp.example.com", from = "backup@example.com",',
    '               to = "ops@example.com", password = secret "smtp", on = { "failure" } } },',
    "}",
  })
  out[#out + 1] = ".SH FIELDS"
  for _, f in ipairs(fields_in_order()) do
    local doc = job.field_docs[f] or {}
    out[#out + 1] = ".TP"
    out[#out + 1] = ("\\fB%s\\fR = \\fI%s\\fR"):format(esc(f), esc(doc.value or "..."))
    out[#out + 1] = prose(doc.summary or "")
    if doc.text then
      for para in (doc.text:gsub("\n%s*\n", "\0") .. "\0"):gmatch("([^%z]*)%z") do
        if para:match("%S") then
          out[#out + 1] = ".IP"
          out[#out + 1] = prose(para)
        end
      end
    end
  end
  schema_section(out, "SOURCES", "source", "What source = { type = TYPE, ... } takes, by type.")
  schema_section(out, "STORAGES", "storage",
    "What each entry of storage = { ... } takes, by type; every storage may also have a name.")
  schema_section(out, "NOTIFIERS", "notifier",
    "What each entry of notify = { ... } takes, by type; every notifier may also have a name and on (the events "
    .. "it hears).  A Lua function, or { type = \"lua\", fn = FUNCTION, on = ... }, is a notifier too: it gets "
    .. "the event table.")
  out[#out + 1] = ".SH EVENTS"
  out[#out + 1] = prose(("on = { EVENT, ... } lists the events a notifier hears: %s. "
    .. "Without on, a notifier hears failure and partial (healthchecks: every event). "
    .. "A cancelled, interrupted or timed-out run and a skipped fire time are failures."):format(
      table.concat(require("moonbak.notify").events, ", ")))
  out[#out + 1] = ".SH REFERENCES"
  out[#out + 1] = prose([[A string value (a password, a URL that holds a token) may be a reference, resolved when the
job runs, never when it loads; its value never reaches a log line, a message, a sidecar or a
process's arguments.  The options above marked "a secret" should be given one.]])
  for _, r in ipairs {
    { 'secret "NAME"', "the secret NAME of the state's secret store, sealed with the master key (moonbak secret set NAME)" },
    { 'env "VAR"', "the environment variable VAR of the moonbak process" },
    { 'file "PATH"', "the contents of the file PATH, one trailing newline removed (systemd credentials, Docker secrets)" },
  } do
    out[#out + 1] = ".TP"
    out[#out + 1] = "\\fB" .. esc(r[1]) .. "\\fR"
    out[#out + 1] = prose(r[2])
  end
  out[#out + 1] = ".SH SEE ALSO"
  out[#out + 1] = "\\fBmoonbak\\fR(1), \\fBcrontab\\fR(5), \\fBage\\fR(1)"
  return table.concat(out, "\n") .. "\n"
end

local function write(name, text)
  local path = outdir .. "/" .. name
  assert(mb.sys.mkdirs(outdir, 493))
  assert(mb.sys.replace_file(path, text))
  print(path)
end

write("moonbak.1", command_page())
write("moonbak-job.5", job_page())
return 0
