-- Sizes and durations as people read them, for the CLI and notifications.
local M = {}

-- 1536 -> "1.5 KiB"; nil -> "-"
function M.size(n)
  if not n then return "-" end
  local units = { "B", "KiB", "MiB", "GiB", "TiB" }
  local u = 1
  while n >= 1024 and u < #units do n = n / 1024; u = u + 1 end
  return u == 1 and ("%d B"):format(n) or ("%.1f %s"):format(n, units[u])
end

-- 3.21 -> "3.2 s", 125 -> "2 min 5 s", 7384 -> "2 h 3 min"; nil -> "-"
function M.seconds(s)
  if not s then return "-" end
  if s < 60 then return ("%.1f s"):format(s) end
  s = math.floor(s + 0.5)
  if s < 3600 then return ("%d min %d s"):format(s // 60, s % 60) end
  return ("%d h %d min"):format(s // 3600, s % 3600 // 60)
end

return M
