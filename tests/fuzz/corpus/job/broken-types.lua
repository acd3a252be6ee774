return { name = 7, source = { type = "sqlite", path = {} }, storage = { "local" },
         compression = { type = "zstd", level = "high" }, retention = { keep_last = -1 },
         steps = { "initialize", 42, function() end }, notifications = { { type = "mail" } } }
