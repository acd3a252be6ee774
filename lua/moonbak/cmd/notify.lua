-- moonbak notify test JOB | notify send EXECUTION...: try a job's notifiers,
-- or send the notifications of recorded executions (the daemon does, for
-- the fire times it skipped and the runs it had to kill).
local mb = require "moonbak"
local lib = require "moonbak.clilib"

local notify = mb.notify

-- Every notifier of the job gets a test event, whatever its `on` says.
local function test(cfg, name, opts)
  local job = lib.load_job(cfg, name)
  if not job.notify or #job.notify == 0 then lib.exit_with(1, "%s has no notifiers (notify = { ... })", job.name) end
  local st <close> = mb.state.open(cfg.state_dir) -- for secret "x"; optional otherwise
  local results = notify.deliver(job.notify, notify.test_event(job), { state = st })
  if opts.json then lib.json_out(results) end
  local failed = 0
  for _, r in ipairs(results) do
    if not opts.json then print(("%s (%s): %s"):format(r.notifier, r.type, notify.describe(r))) end
    if not r.sent then failed = failed + 1 end
  end
  return failed == 0 and 0 or 1
end

-- At most this many executions of one job are notified by one send (a
-- day of missed per-minute fire times is one message's worth of news).
local PER_JOB = 5

-- The notifiers of list that the run itself has not told of its outcome:
-- a run killed while it was notifying (past its time limit) told some of
-- them already, and the daemon, which records it, sends the rest.
local function not_yet_told(st, e, list)
  local told = {}
  for _, d in ipairs(st:deliveries(e.id)) do
    if d.status == "sent" and d.event ~= "start" then told[d.notifier] = true end
  end
  local out = {}
  for _, n in ipairs(list or {}) do
    if not told[type(n) == "table" and (n.name or n.type) or "lua"] then out[#out + 1] = n end
  end
  return out
end

local function send(cfg, ids, opts)
  local st <close> = lib.open_state(cfg)
  local by_job, order = {}, {}
  for _, text in ipairs(ids) do
    local id = math.tointeger(tonumber(text))
    if not id then lib.usage_error("notify send: expected execution ids, got %q", text) end
    local e = st:execution(id)
    if not e then lib.exit_with(1, "no execution %d", id) end
    if not by_job[e.job] then by_job[e.job] = {}; order[#order + 1] = e.job end
    table.insert(by_job[e.job], e)
  end
  local failed = 0
  for _, name in ipairs(order) do
    local list = by_job[name]
    -- a run that failed before a fire time that was skipped, newest first
    table.sort(list, function(a, b)
      if (a.status == "skipped") ~= (b.status == "skipped") then return b.status == "skipped" end
      return a.id > b.id
    end)
    local job, err = mb.job.open(name, cfg.jobs_dir)
    if not job then
      lib.eprint("moonbak: cannot notify %d execution(s) of %s: %s", #list, name, err)
      failed = failed + 1
    else
      if #list > PER_JOB then
        lib.eprint("%s: %d more executions not notified (only %d are: runs before skipped fire times, newest first)",
                   name, #list - PER_JOB, PER_JOB)
      end
      for i = 1, math.min(#list, PER_JOB) do
        local e = list[i]
        local results = notify.deliver(not_yet_told(st, e, job.notify), notify.execution_event(st, e), {
          state = st,
          record = function(_, r) st:add_delivery(e.id, r) end,
        })
        for _, r in ipairs(results) do
          if not opts.quiet then
            print(("execution %d: %s (%s): %s"):format(e.id, r.notifier, r.type, notify.describe(r)))
          end
          if not r.sent then failed = failed + 1 end
        end
      end
    end
  end
  return failed == 0 and 0 or 1
end

local function run(cfg, args, opts)
  local action = args[1]
  if action == "test" and #args == 2 then return test(cfg, args[2], opts) end
  if action == "send" and #args >= 2 then return send(cfg, table.move(args, 2, #args, 1, {}), opts) end
  lib.usage_error("usage: moonbak notify test JOB | notify send EXECUTION...")
end

return {
  usage = {
    { "notify test JOB", "send a test event through each of the job's notifiers" },
    { "notify send EXECUTION...", "send the notifications of recorded executions" },
  },
  description = [[
test sends every notifier of the job (whatever its `on` says) an event of
kind "test" and prints what each answered; nothing is recorded.  send
builds the event of each execution from the state database and sends it to
the notifiers of its job whose `on` wants it, recording each delivery (the
daemon uses it for the fire times it skipped and the runs it had to stop);
at most 5 executions of one job are sent at a time: runs before skipped fire
times, the newest first.]],
  options = { lib.JSON, lib.QUIET },
  exit = "0 every notifier accepted, 1 one did not (or no such execution/notifiers), 2 bad usage",
  examples = {
    { "moonbak notify test shop", "send a test event through every notifier of the job shop" },
    { "moonbak notify send 41 42", "send the notifications of executions 41 and 42" },
  },
  run = run,
}
