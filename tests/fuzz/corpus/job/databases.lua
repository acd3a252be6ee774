local sources = {
  { type = "mariadb", host = "127.0.0.1", user = "backup", password = secret "my",
    database = { "shop", "blog" } },
  { type = "redis", host = "127.0.0.1", port = 6379, user = "backup", password = secret "redis", tls = true },
  { type = "mongodb", host = "127.0.0.1", user = "backup", password = secret "mongo",
    database = "shop", auth_database = "admin" },
  { type = "command", argv = { "my-dump", "--all" }, env = { TOKEN = secret "t" } },
  { type = "file", path = "/etc/hosts" },
}
return {
  name = "db-" .. #sources,
  source = sources[1],
  encryption = { type = "age", passphrase = secret "shop" },
  compression = { type = "none" },
  storage = { { type = "local", path = "/tmp/moonbak-fuzz" } },
  spool = true,
}
