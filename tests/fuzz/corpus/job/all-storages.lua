-- Every storage type and most options, as the README shows them.
return {
  name = "shop",
  schedule = "0 3 * * *",
  source = { type = "postgres", host = "127.0.0.1", port = 5432, user = "backup",
             password = secret "pg", database = "shop", format = "custom",
             extra_args = { "--no-comments" } },
  compression = { type = "zstd", level = 19, workers = 2 },
  encryption = { type = "age", recipients = { "age12x323srg3cxw327efd62m6vdmtw2sr5ff3w6utvyv2qjkaw7wsrq43x5cu" } },
  storage = {
    { type = "local", path = "/var/backups/moonbak" },
    { type = "s3", endpoint = "https://s3.example.com", region = "eu-west-1", bucket = "b",
      prefix = "moonbak/", access_key = env "AWS_ACCESS_KEY_ID", secret_key = secret "s3",
      part_size = 8388608 },
    { type = "sftp", host = "backup.example.com", port = 22, user = "backup",
      private_key = "/etc/moonbak/id_ed25519", path = "moonbak", known_hosts = "/etc/moonbak/known_hosts" },
    { type = "webdav", url = "https://dav.example.com/backups/moonbak", user = "backup",
      password = file "/run/secrets/dav", timeout = 30, retries = 1 },
    { type = "ftp", host = "ftp.example.com", user = "backup", password = secret "ftp",
      path = "moonbak", tls = true },
  },
  retention = { keep_last = 7, daily = 7, weekly = 4, monthly = 12, yearly = 3 },
}
