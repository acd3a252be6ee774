-- Adapter schemas: each source and storage describes its options in C
-- (its ops table); job validation, artifact extensions and the README's
-- field table all come from there.
local T = dofile("tests/lua/testlib.lua")
local mb = require "moonbak"

local kinds = { string = true, integer = true, boolean = true, strings = true,
                ["string|strings"] = true, table = true }

local function by_name(schema)
  local t = {}
  for _, o in ipairs(schema.options) do t[o.name] = o end
  return t
end

-- A value of each kind, and one of the wrong kind.
local good = { string = "x", integer = 7, boolean = true, strings = { "a" },
               ["string|strings"] = "x", table = {} }
local bad = { string = 1, integer = "x", boolean = "x", strings = 1, ["string|strings"] = 1,
              table = 1 }

local function each_schema(fn)
  for _, kind in ipairs { "source", "storage", "notifier" } do
    for _, type in ipairs(mb[kind].types()) do fn(kind, type, mb[kind].schema(type)) end
  end
end

T.test("types() lists every adapter of the registry, schema() describes each", function()
  local sources = table.concat(mb.source.types(), " ")
  T.eq(sources, "sqlite file command postgres mysql mariadb redis mongodb", "source types")
  T.eq(table.concat(mb.storage.types(), " "), "local sftp webdav ftp s3", "storage types")
  each_schema(function(kind, type, schema)
    T.eq(schema.type, type, kind .. " schema type")
    assert(#schema.options > 0, type .. " has options")
    for _, o in ipairs(schema.options) do
      assert(type and o.name:match("^[%l_]+$"), type .. ": option name " .. tostring(o.name))
      assert(kinds[o.kind], type .. "." .. o.name .. ": kind " .. tostring(o.kind))
      T.eq(math.type(o.required) == nil and "boolean" or "?", "boolean", "required is a boolean")
      T.eq(o.required, o.required == true, "required")
      T.eq(o.secret, o.secret == true, "secret")
      assert(type and #o.help > 0, type .. "." .. o.name .. " has help")
    end
  end)
  T.eq(mb.source.schema("oracle"), nil, "unknown source type")
  T.eq(mb.storage.schema("tape"), nil, "unknown storage type")
end)

T.test("a schema surfaces defaults, required and secret options", function()
  local pg = by_name(mb.source.schema("postgres"))
  T.eq(pg.port.default, nil, "postgres port: libpq decides, the schema claims no number")
  T.matches(pg.port.help, "PGPORT, else 5432")
  T.eq(pg.port.kind, "integer")
  T.eq(pg.password.secret, true, "postgres password is secret")
  T.eq(pg.host.secret, false, "postgres host is not secret")
  T.eq(pg.format.default, "plain", "postgres format default")
  T.eq(by_name(mb.source.schema("sqlite")).path.required, true, "sqlite path required")
  T.eq(by_name(mb.source.schema("mysql")).port.default, nil, "mysql port: the client's")
  T.eq(by_name(mb.source.schema("mariadb")).port.default, nil, "mariadb port: the client's")
  T.eq(by_name(mb.source.schema("mongodb")).port.default, nil, "mongodb port: the tools'")
  T.eq(by_name(mb.source.schema("redis")).port.default, 6379, "redis port")
  T.eq(by_name(mb.source.schema("command")).argv.kind, "strings", "command argv kind")
  T.eq(by_name(mb.source.schema("mysql")).database.kind, "string|strings", "mysql database kind")
  local s3 = by_name(mb.storage.schema("s3"))
  T.eq(s3.bucket.required, true, "s3 bucket required")
  T.eq(s3.secret_key.secret, true, "s3 secret_key is secret")
  T.eq(s3.region.default, "us-east-1", "s3 region default")
  T.eq(s3.part_size.default, 16 * 1024 * 1024, "s3 part size default")
  T.eq(s3.retries.default, 4, "s3 retries default")
  local sftp = by_name(mb.storage.schema("sftp"))
  T.eq(sftp.port.default, 22, "sftp port")
  T.eq(sftp.timeout.default, 60, "sftp timeout")
  T.eq(sftp.retries.default, 3, "sftp retries")
  T.eq(sftp.key_passphrase.secret, true, "sftp key_passphrase secret")
  T.eq(by_name(mb.storage.schema("ftp")).port.default, 21, "ftp port")
  T.eq(by_name(mb.storage.schema("ftp")).tls.default, false, "ftp tls default")
end)

T.test("job validation accepts exactly the keys of each C schema, with their kinds", function()
  each_schema(function(kind, type, schema)
    local catalogue = ({ source = mb.job.sources, storage = mb.job.storages, notifier = mb.job.notifiers })[kind]
    local fields = assert(catalogue[type], "job.lua knows " .. type)
    local n = 0
    for _ in pairs(fields) do n = n + 1 end
    T.eq(n, #schema.options, type .. ": number of keys")
    for _, o in ipairs(schema.options) do
      T.eq(fields[o.name], o.kind .. (o.required and "!" or ""), type .. "." .. o.name)
    end
  end)
end)

-- A job around one source or storage spec.
local function job_around(kind, spec)
  local job = { source = { type = "sqlite", path = "/x" }, storage = { { type = "local", path = "/y" } } }
  if kind == "source" then job.source = spec
  elseif kind == "notifier" then job.notify = { spec }
  else job.storage = { spec } end
  return job
end

local function with_required(type, schema)
  local spec = { type = type }
  for _, o in ipairs(schema.options) do
    if o.required then spec[o.name] = good[o.kind] end
  end
  return spec
end

T.test("every type validates with its required options only; each one missing is named", function()
  each_schema(function(kind, type, schema)
    assert(mb.job.validate(job_around(kind, with_required(type, schema))))
    for _, o in ipairs(schema.options) do
      if o.required then
        local spec = with_required(type, schema)
        spec[o.name] = nil
        local job, err = mb.job.validate(job_around(kind, spec))
        assert(job == nil, type .. " without " .. o.name .. " was accepted")
        T.matches(err, ('missing required key "%s"'):format(o.name), type)
      end
    end
  end)
end)

T.test("every option of every schema is checked for its kind", function()
  each_schema(function(kind, type, schema)
    for _, o in ipairs(schema.options) do
      local spec = with_required(type, schema)
      spec[o.name] = bad[o.kind]
      local job, err = mb.job.validate(job_around(kind, spec))
      assert(job == nil, type .. "." .. o.name .. " took a bad value")
      T.matches(err, ("%s: expected "):format(o.name), type)
    end
  end)
end)

T.test("options that take a string accept secret, env and file references", function()
  each_schema(function(kind, type, schema)
    for _, o in ipairs(schema.options) do
      -- but one with choices (postgres' format): a word known at load time
      if (o.kind == "string" or o.kind == "string|strings") and not o.choices then
        local spec = with_required(type, schema)
        spec[o.name] = mb.ref.secret("s")
        assert(mb.job.validate(job_around(kind, spec)), type .. "." .. o.name .. " refused a reference")
      end
    end
  end)
end)

T.test("ranges and choices are the schema's", function()
  local pg = by_name(mb.source.schema("postgres"))
  T.eq(pg.port.min, 1, "port min")
  T.eq(pg.port.max, 65535, "port max")
  T.eq(table.concat(pg.format.choices, " "), "plain custom", "postgres format choices")
  T.eq(pg.host.min, nil, "a string has no range")
  local s3 = by_name(mb.storage.schema("s3"))
  T.eq(s3.part_size.min, 5 * 1024 * 1024, "s3 part_size min")
  T.eq(s3.part_size.max, 5 * 1024 * 1024 * 1024, "s3 part_size max")
  T.eq(s3.retries.min, 0, "retries min")
  T.eq(s3.retries.max, nil, "retries: no upper bound")
  T.eq(s3.timeout.min, 1, "timeout min")
  each_schema(function(_, type, schema)
    for _, o in ipairs(schema.options) do
      if o.name == "port" then T.eq(o.min .. "-" .. o.max, "1-65535", type .. " port range") end
      if o.name == "timeout" then T.eq(o.min, 1, type .. " timeout") end
      if o.name == "retries" then T.eq(o.min, 0, type .. " retries") end
    end
  end)
end)

T.test("every range and every choice of every schema is checked at load, with the schema's words", function()
  each_schema(function(kind, type, schema)
    for _, o in ipairs(schema.options) do
      if o.min then
        for _, v in ipairs { o.min - 1, o.max and o.max + 1 or nil } do
          local spec = with_required(type, schema)
          spec[o.name] = v
          local job, err = mb.job.validate(job_around(kind, spec))
          assert(job == nil, ("%s.%s took %d"):format(type, o.name, v))
          T.matches(err, ("%s: expected .*, got %d"):format(o.name, v):gsub("%-", "%%-"), type)
          if o.expected then T.matches(err, o.expected:gsub("%p", "%%%0"), type) end
        end
        for _, v in ipairs { o.min, o.max } do
          local spec = with_required(type, schema)
          spec[o.name] = v
          assert(mb.job.validate(job_around(kind, spec)), ("%s.%s refused %d"):format(type, o.name, v))
        end
      end
      if o.choices then
        for _, v in ipairs(o.choices) do
          local spec = with_required(type, schema)
          spec[o.name] = v
          assert(mb.job.validate(job_around(kind, spec)), type .. "." .. o.name .. " refused " .. v)
        end
        local spec = with_required(type, schema)
        spec[o.name] = "none of them"
        local job, err = mb.job.validate(job_around(kind, spec))
        assert(job == nil, type .. "." .. o.name .. " took a value not in its choices")
        T.matches(err, ('%s: expected "'):format(o.name), type)
      end
    end
  end)
end)

T.test("no string of a list option may hold a newline (the adapter gets the list one a line)", function()
  local n = 0
  each_schema(function(kind, type, schema)
    for _, o in ipairs(schema.options) do
      if o.kind == "strings" or o.kind == "string|strings" then
        n = n + 1
        local spec = with_required(type, schema)
        spec[o.name] = { "fine", "two\nlines" }
        local job, err = mb.job.validate(job_around(kind, spec))
        assert(job == nil, type .. "." .. o.name .. " took a newline")
        T.matches(err, ("%s%%[2%%]: an item cannot hold a newline"):format(o.name), type)
        if o.kind == "string|strings" then
          spec[o.name] = "two\nlines"
          job, err = mb.job.validate(job_around(kind, spec))
          assert(job == nil, type .. "." .. o.name .. " took a newline in a string")
          T.matches(err, ("%s: cannot hold a newline"):format(o.name), type)
        end
      end
    end
  end)
  assert(n >= 5, "argv and every extra_args are lists")
end)

-- The text the binding gives an adapter for a schema default.
local function as_text(v)
  if type(v) == "boolean" then return v and "true" or "false" end
  return tostring(v)
end

T.test("every option with a default reaches the adapter's config when the job omits it", function()
  local n = 0
  each_schema(function(kind, type, schema)
    local spec = with_required(type, schema)
    local cfg = mb[kind].config(spec)
    for _, o in ipairs(schema.options) do
      if o.default ~= nil then
        n = n + 1
        T.eq(cfg[o.name], as_text(o.default), type .. "." .. o.name .. " default given to the adapter")
      elseif not o.required then
        T.eq(cfg[o.name], nil, type .. "." .. o.name .. " has no default: left out")
      end
    end
  end)
  assert(n > 10, "schemas have defaults")
  local cfg = mb.storage.config { type = "sftp", host = "h", port = 2222, timeout = 5 }
  T.eq(cfg.port, "2222", "the job's value wins")
  T.eq(cfg.timeout, "5", "the job's value wins")
  T.eq(cfg.retries, "3", "the default fills what the job omits")
  T.eq(cfg.known_hosts, "~/.ssh/known_hosts", "known_hosts default")
  T.eq(mb.source.config({ type = "postgres" }).port, nil, "libpq picks postgres' port")
end)

T.test("postgres' format is a word, not a reference", function()
  local job, err = mb.job.validate(job_around("source", { type = "postgres", format = mb.ref.env("F") }))
  assert(job == nil, "a reference was accepted")
  T.eq(err, 'job.source.format: expected "plain" or "custom", got env "F"')
  job, err = mb.job.validate(job_around("source", { type = "postgres", format = "tar" }))
  T.eq(err, 'job.source.format: expected "plain" or "custom", got "tar"')
end)

T.test("the artifact extension comes from the source adapter", function()
  T.eq(mb.source.schema("postgres").extension, "sql")
  T.eq(mb.source.schema("redis").extension, "rdb")
  T.eq(mb.source.extension { type = "postgres", format = "custom" }, "dump", "custom format")
  T.eq(mb.source.extension { type = "postgres", format = "plain" }, "sql", "plain format")
  T.eq(mb.source.extension { type = "file", path = "/etc/app.conf" }, "conf", "file")
  T.eq(mb.source.extension { type = "file", path = "/a.b/noext" }, "bin", "file without one")
  T.eq(mb.source.extension { type = "file", path = "/a/x.tar-gz" }, "bin", "not a word")
  T.eq(mb.source.extension { type = "file", path = mb.ref.env("X") }, "bin", "file by reference")
  local want = { sqlite = "sqlite3", postgres = "sql", mysql = "sql", mariadb = "sql", redis = "rdb",
                 mongodb = "archive", command = "out", file = "bin" }
  for _, type in ipairs(mb.source.types()) do
    local job = { source = { type = type }, compression = { type = "zstd" }, encryption = { type = "age" } }
    T.eq(mb.artifact.extension(job), want[type] .. ".zst.age", type)
  end
  local plain = { source = { type = "sqlite" }, compression = { type = "none" }, encryption = { type = "none" } }
  T.eq(mb.artifact.extension(plain), "sqlite3", "no compression, no encryption")
end)

T.test("the README's field table is the one the schemas generate", function()
  local f = assert(io.open("README.md", "rb"))
  local readme = f:read("a")
  f:close()
  local table_in_readme = readme:match("<!%-%- fields: [^\n]*%-%->\n(.-)<!%-%- end of fields %-%->")
  assert(table_in_readme, "README.md has the generated field table between its markers")
  local generated = mb.schema.markdown()
  if table_in_readme ~= generated then
    error("README.md's field table differs from the schemas; regenerate it with\n"
          .. "  moonbak script scripts/fields-table.lua\n" .. generated, 0)
  end
end)

return T.done()
