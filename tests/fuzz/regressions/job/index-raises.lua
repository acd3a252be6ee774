-- H4: validating a job whose __index raises crashed `moonbak jobs` with an internal error
return setmetatable({}, { __index = function() error("boom") end })
