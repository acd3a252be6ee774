-- moonbak unlock JOB BACKUP: see lua/moonbak/cmd/lock.lua, which serves both.
return require("moonbak.cmd.lock").unlock
