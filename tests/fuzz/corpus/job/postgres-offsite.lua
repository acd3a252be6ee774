-- A PostgreSQL database, every night at 03:00 Berlin time, compressed,
-- encrypted to an age key, kept on the local disk and in an S3 bucket.
-- Secrets come from the store: `moonbak secret set shop-db` and so on.
return {
  name = "shop-db",
  schedule = "0 3 * * *",
  timezone = "Europe/Berlin",
  source = { type = "postgres", host = "127.0.0.1", port = 5432, user = "backup",
             password = secret "shop-db", database = "shop", format = "custom" },
  compression = { type = "zstd", level = 3 },
  encryption = { type = "age",
                 recipients = { "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p" } },
  storage = {
    { type = "local", path = "/var/backups/moonbak" },
    { type = "s3", endpoint = "https://s3.eu-central-1.amazonaws.com", region = "eu-central-1",
      bucket = "example-backups", prefix = "db/", access_key = env "AWS_ACCESS_KEY_ID",
      secret_key = secret "s3" },
  },
  retention = { keep_last = 3, daily = 7, weekly = 4, monthly = 12 },
}
