-- Restore drills of command sources: as file sources (drills/file.lua).
return require "moonbak.drills.file"
