-- Storages, writers and readers closed and collected in every order.  A
-- writer or reader keeps its storage alive until it is closed itself, so
-- none of these orders may touch freed memory (the suite runs this file on
-- the AddressSanitizer build too).
--
-- The local storage always; S3 twice: against an endpoint where nothing
-- listens (writers only: every request fails, which must fail cleanly), and,
-- when MOONBAK_TEST_S3 is set to "endpoint bucket access_key secret_key"
-- (tests/e2e/test_s3.sh runs this file so, against s3rver), against a real
-- server, readers included.
local T = dofile("tests/lua/testlib.lua")
local storage = require "moonbak.storage"
local stream = require "moonbak.stream"

local PAYLOAD = ("moonbak lifetimes\n"):rep(100)

-- A source with PAYLOAD in it: a reader of a local storage.
local function payload_source()
  local st = assert(storage.open { type = "local", path = T.tempdir() })
  assert(st:put("p.bin", PAYLOAD))
  local r = assert(st:reader("p.bin"))
  st:close() -- the reader keeps it
  return r
end

-- Reads all of a reader into a local file and returns the text.
local function drain(reader)
  local dir = T.tempdir()
  local w = assert(storage.file_writer(dir .. "/out"))
  local ok, err = stream.new(reader, {}):pump { w }
  w:close()
  reader:close()
  if not ok then return nil, err end
  local f = assert(io.open(dir .. "/out", "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local function full_gc()
  collectgarbage("collect")
  collectgarbage("collect")
end

-- kind: a name; spec(): a fresh storage spec; works: the storage is reachable
-- (commits succeed, readers can be opened).
local function orders(kind, spec, works)
  local n = 0
  local function name()
    n = n + 1
    return ("lifetimes/%d.bin"):format(n)
  end
  -- A pump into w: ok when the storage works, a clean failure otherwise.
  local function pump_into(w, what)
    local ok, err = stream.new(payload_source(), {}):pump { w }
    if works then
      assert(ok, what .. ": " .. tostring(err))
    else
      assert(not ok and type(err) == "string", what .. ": the pump fails with a message")
    end
  end
  local function check_stored(st_spec, object)
    if not works then return end
    local st = assert(storage.open(st_spec))
    T.eq(st:get(object), PAYLOAD, "what was stored")
    st:close()
  end

  T.test(kind .. ": storage closed before the writer is pumped", function()
    local sp = spec()
    local st = assert(storage.open(sp))
    local object = name()
    local w = assert(st:writer(object))
    st:close()
    T.eq(pcall(st.writer, st, "x"), false, "the closed storage refuses new writers")
    pump_into(w, "pump after storage close")
    w:close()
    check_stored(sp, object)
  end)

  T.test(kind .. ": writer closed first, then the storage", function()
    local st = assert(storage.open(spec()))
    local w = assert(st:writer(name()))
    w:close()
    w:close()
    st:close()
    st:close()
  end)

  T.test(kind .. ": storage closed, then an unused writer closed", function()
    local st = assert(storage.open(spec()))
    local w = assert(st:writer(name()))
    st:close()
    w:close()
  end)

  T.test(kind .. ": storage collected without close while its writer is in use", function()
    local sp = spec()
    local object = name()
    local w
    do
      local st = assert(storage.open(sp))
      w = assert(st:writer(object))
    end
    full_gc() -- the storage's userdata goes; the writer still holds the storage
    pump_into(w, "pump after the storage was collected")
    w = nil
    full_gc()
    check_stored(sp, object)
  end)

  T.test(kind .. ": writer and storage collected without close, writer last", function()
    local w
    do
      local st = assert(storage.open(spec()))
      w = assert(st:writer(name()))
      w:close()
      w = assert(st:writer(name()))
      st = nil
    end
    full_gc()
    w = nil
    full_gc()
  end)

  T.test(kind .. ": writer collected without close, storage closed after", function()
    local st = assert(storage.open(spec()))
    do assert(st:writer(name())) end
    full_gc()
    st:close()
  end)

  T.test(kind .. ": several writers outlive their storage", function()
    local st = assert(storage.open(spec()))
    local ws = {}
    for i = 1, 3 do ws[i] = assert(st:writer(name())) end
    st:close()
    ws[2]:close()
    pump_into(ws[1], "first writer")
    ws[1]:close()
    ws[3] = nil
    full_gc()
  end)

  if not works then return end

  T.test(kind .. ": storage closed before its reader is read", function()
    local sp = spec()
    local object = name()
    local st = assert(storage.open(sp))
    assert(st:put(object, PAYLOAD))
    local r = assert(st:reader(object))
    st:close()
    T.eq(drain(r), PAYLOAD, "read after the storage was closed")
  end)

  T.test(kind .. ": reader closed first, then the storage", function()
    local st = assert(storage.open(spec()))
    local object = name()
    assert(st:put(object, PAYLOAD))
    local r = assert(st:reader(object))
    r:close()
    r:close()
    st:close()
  end)

  T.test(kind .. ": storage collected without close while its reader is read", function()
    local sp = spec()
    local object = name()
    local r
    do
      local st = assert(storage.open(sp))
      assert(st:put(object, PAYLOAD))
      r = assert(st:reader(object))
    end
    full_gc()
    T.eq(drain(r), PAYLOAD, "read after the storage was collected")
  end)

  T.test(kind .. ": reader and storage collected without close", function()
    local st = assert(storage.open(spec()))
    local object = name()
    assert(st:put(object, PAYLOAD))
    local r = assert(st:reader(object))
    st = nil
    full_gc()
    r = nil
    full_gc()
  end)

  -- A finalizer (any Lua code the collector runs while the binding
  -- allocates the listing's entries) closes the storage mid-listing: the
  -- listing must go on with a storage that is still there (800 entries:
  -- enough allocations for the collector to finish a cycle during it).
  T.test(kind .. ": storage closed by a finalizer during its own listing", function()
    local st = assert(storage.open(spec()))
    if works then
      for i = 1, 800 do assert(st:put(("gclist/%03d.bin"):format(i), "x")) end
    end
    local listing, closed = false, false
    local function arm()
      setmetatable({}, { __gc = function()
        if listing and not closed then closed = true; st:close() end
        if not closed then arm() end
      end })
    end
    arm()
    collectgarbage("incremental", 1, 1000, 0) -- a step at almost every allocation
    listing = true
    local ok, list = pcall(st.list, st, "gclist/")
    listing = false
    collectgarbage("incremental", 200, 100, 13) -- Lua 5.4's defaults
    assert(ok, tostring(list))
    if works then T.eq(list and #list, 800, "every entry listed") end
    st:close()
  end)
end

orders("local", function() return { type = "local", path = T.tempdir() } end, true)

-- Nothing listens on port 1 of the loopback: every request fails at once.
orders("s3 unreachable", function()
  return { type = "s3", endpoint = "http://127.0.0.1:1", bucket = "nowhere",
           access_key = "A", secret_key = "S", retries = 0, timeout = 5 }
end, false)

local s3 = os.getenv("MOONBAK_TEST_S3")
if s3 then
  local endpoint, bucket, access, secret = s3:match("^(%S+) (%S+) (%S+) (%S+)$")
  assert(endpoint, "MOONBAK_TEST_S3: endpoint bucket access_key secret_key")
  local prefix = ("lifetimes-%d/"):format(require("moonbak.sys").pid())
  orders("s3", function()
    return { type = "s3", endpoint = endpoint, bucket = bucket, prefix = prefix,
             access_key = access, secret_key = secret }
  end, true)
else
  print("ok - s3 on a server # SKIP MOONBAK_TEST_S3 is not set (tests/e2e/test_s3.sh sets it)")
end

return T.done()
