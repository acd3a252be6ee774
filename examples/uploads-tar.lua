-- uploads-tar.lua: a directory tree (an application's uploads folder)
-- backed up as a tar stream, compressed and encrypted, restorable with the
-- standard tools alone.
--
-- The `command` source runs tar and stores what it writes on stdout: no
-- temporary archive on disk, the stream goes through zstd and age straight
-- into the storage.  tar keeps what a copy would lose: file modes, times,
-- owners, symbolic links (stored as links, never followed), names with
-- spaces or any other byte.
--
-- Run it:
--   moonbak keygen --output /etc/moonbak/uploads.key   # once; keep a copy off this machine
--   (put the public key it prints in `recipient` below)
--   moonbak run examples/uploads-tar.lua
--
-- Restore with moonbak (both checksums are checked before the file appears):
--   moonbak restore examples/uploads-tar.lua --identity /etc/moonbak/uploads.key --output /tmp/uploads.tar
--   mkdir /srv/shop/uploads.restored
--   tar --extract --file=/tmp/uploads.tar --directory=/srv/shop/uploads.restored
--
-- Restore without moonbak: the artifact is a standard age file of a zstd
-- stream of a tar archive (the extension says "out": what the command wrote).
--   age -d -i /etc/moonbak/uploads.key /var/backups/moonbak/uploads/ID.out.zst.age |
--       zstd -d | tar --extract --file=- --directory=/srv/shop/uploads.restored
--   (sha256sum of the artifact is "sha256" in its .meta.json sidecar)
-- Run as root, tar restores owners too; as another user, add
-- --preserve-permissions to keep the modes exactly.
--
-- What it needs: GNU tar (for --sort); read access to the whole tree.
-- UPLOADS_DIR, BACKUP_DIR and UPLOADS_AGE_RECIPIENT in moonbak's environment
-- override the settings below (the tests use that).
--
-- tar exits 1 when a file changed while it was read (an upload arriving
-- during the backup): the run then fails and keeps nothing, rather than
-- store an archive with a torn file; `retry` runs it again a little later.
local uploads = os.getenv("UPLOADS_DIR") or "/srv/shop/uploads"
local recipient = os.getenv("UPLOADS_AGE_RECIPIENT")
  or "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p" -- replace with your key

return {
  name = "uploads",
  schedule = "30 2 * * *",
  source = { type = "command",
             argv = { "tar", "--create", "--file=-",
                      "--directory=" .. uploads,  -- member names relative to the folder
                      "--sort=name",              -- the same tree gives the same order
                      "--one-file-system",        -- not into what is mounted below it
                      "." } },
  compression = { type = "zstd", level = 3 },     -- images and PDFs barely shrink: keep it cheap
  encryption = { type = "age", recipients = { recipient } },
  storage = { { type = "local", path = os.getenv("BACKUP_DIR") or "/var/backups/moonbak" } },
  retention = { keep_last = 3, daily = 7, weekly = 4 },
  retry = { attempts = 3, delay = 300 },
}
