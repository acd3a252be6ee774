-- A finalizer ran after the load, unsandboxed, with the full environment: it must be refused
setmetatable({}, { __gc = function() os.exit(42) end })
return { name = "gc", source = { type = "command", argv = { "true" } }, storage = { { type = "local", path = "/tmp/x" } } }
