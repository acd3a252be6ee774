-- Back up a SQLite database into a local directory, compressed with zstd.
-- `make demo` runs this job end to end; the paths are the demo's.
return {
  name = "shop",
  source = { type = "sqlite", path = "/tmp/moonbak-demo/shop.db" },
  compression = { type = "zstd", level = 3 },
  storage = {
    { type = "local", path = "/tmp/moonbak-demo/backups" },
  },
}
