#!/usr/bin/env bash
# The HTTP notifiers (webhook, healthchecks, ntfy) and the delivery they
# share (mb_notice_post), through moonbak.notifier.deliver, against a
# recording receiver on loopback (http_receiver.py): what each service is
# sent, field by field and within its limits; retries and their spacing
# (read from the receiver's own arrival times), Retry-After, no retry on
# 400, a hung server bounded by the timeout and the deadline, a deadline
# shorter than the wait a server asks, and failures that name the host
# but never the URL's path (where tokens live).
# Binds a port: run it under `flock /tmp/moonbak-e2e.lock`.
. "$(dirname "$0")/lib.sh"

require_tools /usr/bin/python3

receiver_pid=
trap '[ -n "$receiver_pid" ] && kill "$receiver_pid" 2>/dev/null' EXIT
/usr/bin/python3 "$(dirname "$0")/http_receiver.py" "$T/port" "$T/requests.log" 2>"$T/receiver.err" &
receiver_pid=$!
# The receiver writes its port once it listens: wait for that file.
for _ in $(seq 600); do
    [ -s "$T/port" ] || ! kill -0 "$receiver_pid" 2>/dev/null && break
    sleep 0.05
done
check "the receiver listens" [ -s "$T/port" ] || { sed 's/^/# /' "$T/receiver.err"; finish; }
port=$(cat "$T/port")
# A port nothing listens on: bound by the system, then closed.
closed_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

# Tokens that must never show: in URLs' paths and queries, a secret, a bearer token.
token=FAKE-TOKEN-$RANDOM$RANDOM
hmac_secret=hmac-secret-$RANDOM$RANDOM
bearer=tk_bearer$RANDOM$RANDOM

mkdir -p "$T/results"
cat > "$T/deliver.lua" <<'LUA'
-- Every delivery of the test, one after the other; each result is written
-- to results/NAME.json for the checks that follow.
local notifier = require "moonbak.notifier"
local cjson = require "cjson"
local base = "http://127.0.0.1:" .. os.getenv("PORT")
local token, results = os.getenv("TOKEN"), os.getenv("RESULTS")

local function big_log(lines)
  local t = {}
  for i = 1, lines do
    t[i] = string.format("2026-12-02T03:00:%02dZ info  step dump: line %05d of the log, ünïcödé", i % 60, i)
  end
  return table.concat(t, "\n") .. "\n"
end

local function notice(event, overrides)
  local n = {
    event = event, status = event == "failure" and "failed" or event, job = "shop",
    title = "[moonbak] shop: " .. event .. " — café",
    summary = "shop " .. event .. ": pg_dump exited with status 1\n",
    fields = { { "Trigger", "schedule" }, { "Duration", "3.2 s" } },
    log = "03:00:01 info  dump started\n03:00:04 error pg_dump exited with status 1\n",
    json = '{"schema":1,"event":"' .. event .. '","job":"shop","note":"café ☕"}',
    run_id = "6f1c2b9e-4d1a-4c3e-9a57-1e2f3a4b5c6d", host = "testhost", time = 1796180400,
  }
  for k, v in pairs(overrides or {}) do n[k] = v end
  return n
end

local function deliver(name, spec, event, seconds, overrides)
  local r = notifier.deliver(spec, notice(event, overrides), seconds or 30)
  local f = assert(io.open(RESULTS_DIR .. "/" .. name .. ".json", "w"))
  f:write(cjson.encode(r))
  f:close()
end
RESULTS_DIR = results

-- webhook
deliver("webhook", { type = "webhook", url = base .. "/seq/204/webhook/" .. token,
  secret = os.getenv("HMAC_SECRET"), headers = { "X-Custom: yes please", "X-Team: ops" } }, "failure")
deliver("webhook_unsigned", { type = "webhook", url = base .. "/unsigned/" .. token }, "success")
deliver("webhook_bad_header", { type = "webhook", url = base .. "/badheader/" .. token,
  headers = { "Authorization Bearer " .. token } }, "failure")
deliver("webhook_reserved_header", { type = "webhook", url = base .. "/reserved/" .. token,
  headers = { "Content-Type: text/plain" } }, "failure")

-- healthchecks: one run's start and end, a partial, a test, and the 10,000-line log
local hc = { type = "healthchecks", url = base .. "/hc/" .. token }
deliver("hc_start", hc, "start")
deliver("hc_success", hc, "success")
deliver("hc_failure", hc, "failure")
deliver("hc_partial", hc, "partial")
deliver("hc_test", hc, "test")
deliver("hc_big", { type = "healthchecks", url = base .. "/hcbig/" .. token .. "/?create=1" }, "failure",
  30, { log = big_log(10000) })

-- ntfy
local nt = { type = "ntfy", url = base .. "/ntfy/" .. token, token = os.getenv("BEARER") }
deliver("ntfy_failure", nt, "failure", 30, { log = big_log(10000) })
deliver("ntfy_partial", { type = "ntfy", url = base .. "/ntfy-partial/" .. token }, "partial")
deliver("ntfy_success", { type = "ntfy", url = base .. "/ntfy-success/" .. token }, "success")
deliver("ntfy_start", { type = "ntfy", url = base .. "/ntfy-start/" .. token }, "start")

-- retries, waits and failures (webhook: the delivery is mb_notice_post's)
local function hook(path, extra)
  local spec = { type = "webhook", url = base .. path .. "/" .. token }
  for k, v in pairs(extra or {}) do spec[k] = v end
  return spec
end
deliver("retry_5xx", hook("/seq/500,500,204/retry"), "failure")
deliver("retry_after", hook("/seq/429r2,204/retry-after"), "failure")
deliver("retry_after_date", hook("/seq/429t4,204/retry-after-date"), "failure")
deliver("bad_request", hook("/seq/400/bad-request"), "failure")
deliver("redirect", hook("/seq/302/redirect"), "failure")
deliver("echo", { type = "webhook", url = base .. "/seq/404e/echo/" .. token .. "?key=" .. token }, "failure")
deliver("hang", hook("/seq/hang/hang", { timeout = 1, retries = 0 }), "failure")
deliver("hang_deadline", hook("/seq/hang/hang-deadline", { timeout = 60, retries = 0 }), "failure", 1)
deliver("asked_past_deadline", hook("/seq/429r30/too-late"), "failure", 3)
deliver("refused", { type = "webhook", retries = 1,
  url = "http://127.0.0.1:" .. os.getenv("CLOSED_PORT") .. "/refused/" .. token .. "?key=" .. token }, "failure")
deliver("unresolvable", { type = "webhook", retries = 0,
  url = "http://nonexistent.invalid/x/" .. token .. "?token=" .. token }, "failure")
LUA

PORT=$port CLOSED_PORT=$closed_port TOKEN=$token HMAC_SECRET=$hmac_secret BEARER=$bearer \
    RESULTS=$T/results mb script "$T/deliver.lua"
check "every delivery ran to its answer (no Lua error)" [ $? -eq 0 ] || show_err

# The checks read the receiver's log and the results; they print TAP lines.
cat > "$T/check.py" <<'PY'
import base64, hashlib, hmac, json, os, sys
from email.header import decode_header

T = os.environ["T"]
failures = 0

def check(name, cond, detail=""):
    global failures
    if cond:
        print("ok - " + name)
    else:
        failures += 1
        print("not ok - " + name)
        if detail:
            for line in str(detail).splitlines():
                print("# " + line)

def result(name):
    with open(os.path.join(T, "results", name + ".json")) as f:
        return json.load(f)

requests = [json.loads(l) for l in open(os.path.join(T, "requests.log"))]
def on(prefix):
    return [r for r in requests if r["path"].startswith(prefix)]
def body(r):
    return base64.b64decode(r["body_b64"])

token, secret, bearer = os.environ["TOKEN"], os.environ["HMAC_SECRET"], os.environ["BEARER"]
run_id = "6f1c2b9e-4d1a-4c3e-9a57-1e2f3a4b5c6d"

# --- webhook
r, reqs = result("webhook"), on("/seq/204/webhook/")
check("webhook: sent, HTTP 204, one attempt",
      r.get("sent") is True and r.get("code") == 204 and r.get("attempts") == 1 and r.get("answer") == "HTTP 204", r)
q = reqs[0] if len(reqs) == 1 else {"headers": {}, "body_b64": "", "method": ""}
h = q["headers"]
check("webhook: one POST", len(reqs) == 1 and q["method"] == "POST", reqs)
check("webhook: the body is the notice's JSON, byte for byte",
      body(q) == '{"schema":1,"event":"failure","job":"shop","note":"café ☕"}'.encode(), body(q))
check("webhook: Content-Type application/json", h.get("content-type") == "application/json", h)
check("webhook: X-Moonbak-Event names the event", h.get("x-moonbak-event") == "failure", h)
check("webhook: User-Agent moonbak/VERSION", h.get("user-agent", "").startswith("moonbak/"), h)
expected = "sha256=" + hmac.new(secret.encode(), body(q), hashlib.sha256).hexdigest()
check("webhook: X-Moonbak-Signature is the HMAC-SHA256 of the exact body under the secret",
      h.get("x-moonbak-signature") == expected, (h.get("x-moonbak-signature"), expected))
check("webhook: the job's header lines are sent",
      h.get("x-custom") == "yes please" and h.get("x-team") == "ops", h)
u = on("/unsigned/")
check("webhook: without a secret, no signature header",
      len(u) == 1 and "x-moonbak-signature" not in u[0]["headers"] and u[0]["headers"].get("x-moonbak-event") == "success", u)
for name, path in (("webhook_bad_header", "/badheader/"), ("webhook_reserved_header", "/reserved/")):
    r = result(name)
    check("webhook: a header line that is not \"Name: value\" or is moonbak's own is refused (%s)" % name,
          r.get("sent") is False and "header 1" in r.get("error", "") and not on(path), r)

# --- healthchecks
def hc(name, path_end, body_is):
    r = result(name)
    reqs = [q for q in on("/hc/") if q["path"] == "/hc/" + token + path_end]
    check("healthchecks %s: sent to the ping URL + %r" % (name[3:], path_end or "(nothing)"),
          r.get("sent") is True and len(reqs) == 1, (r, [q["path"] for q in on("/hc/")]))
    if reqs:
        check("healthchecks %s: rid is the run's id" % name[3:], reqs[0]["query"] == "rid=" + run_id, reqs[0]["query"])
        check("healthchecks %s: the body is %s" % (name[3:], body_is[0]), body(reqs[0]).decode() == body_is[1],
              body(reqs[0]))
    return reqs
summary = "shop start: pg_dump exited with status 1\n"
small_log = "03:00:01 info  dump started\n03:00:04 error pg_dump exited with status 1\n"
hc("hc_start", "/start", ("the summary", summary))
hc("hc_success", "", ("the log", small_log))
fail = [q for q in on("/hc/") if q["path"] == "/hc/" + token + "/fail"]
check("healthchecks: failure and partial both ping /fail", len(fail) == 2 and result("hc_failure").get("sent")
      and result("hc_partial").get("sent"), [q["path"] for q in on("/hc/")])
check("healthchecks: start and end carry the same rid",
      len({q["query"] for q in on("/hc/")}) == 1, {q["query"] for q in on("/hc/")})
hc("hc_test", "/log", ("the log", small_log))
big = on("/hcbig/")
check("healthchecks: /fail goes before the URL's query, rid after it",
      len(big) == 1 and big[0]["path"] == "/hcbig/" + token + "/fail"
      and big[0]["query"] == "create=1&rid=" + run_id, [(q["path"], q["query"]) for q in big])
if big:
    b = body(big[0])
    text = b.decode()
    lines = text.splitlines()
    check("healthchecks: a 10,000-line log fits in 10,000 bytes", 9000 < len(b) <= 10000, len(b))
    check("healthchecks: the newest lines are kept, the cut is said",
          lines[0].endswith("earlier lines cut]") and "line 10000 of the log" in lines[-1]
          and "line 09999 of the log" in lines[-2], (lines[0], lines[-2:]))

# --- ntfy
def ntfy(name, prefix, priority, tag):
    r, reqs = result(name), on(prefix)
    check("ntfy %s: sent, one request" % name[5:], r.get("sent") is True and len(reqs) == 1, (r, len(reqs)))
    if not reqs:
        return None
    h = reqs[0]["headers"]
    check("ntfy %s: priority %s, tag %s" % (name[5:], priority, tag),
          h.get("x-priority") == priority and tag in h.get("tags", "").split(","), h)
    return reqs[0]
q = ntfy("ntfy_failure", "/ntfy/", "5", "rotating_light")
if q:
    h, b = q["headers"], body(q)
    title = "".join(p.decode(c) if isinstance(p, bytes) else p for p, c in decode_header(h.get("title", "")))
    check("ntfy: the title is the notice's, RFC 2047-encoded (it is not ASCII)",
          h.get("title", "").startswith("=?UTF-8?B?") and title == "[moonbak] shop: failure — café", h.get("title"))
    check("ntfy: the token goes as Authorization: Bearer", h.get("authorization") == "Bearer " + bearer, "")
    check("ntfy: a 10,000-line log stays within the 4,096-byte message limit", 3500 < len(b) <= 4096, len(b))
    t = b.decode()
    check("ntfy: the body starts with the summary and the fields, ends with the newest log line",
          t.startswith("shop failure: pg_dump exited with status 1\n\nTrigger: schedule\nDuration: 3.2 s\n")
          and t.rstrip("\n").endswith("line 10000 of the log, ünïcödé"), t[:200] + " ... " + t[-100:])
ntfy("ntfy_partial", "/ntfy-partial/", "4", "warning")
ntfy("ntfy_success", "/ntfy-success/", "2", "white_check_mark")
ntfy("ntfy_start", "/ntfy-start/", "2", "hourglass_flowing_sand")

# --- retries and failures
r, reqs = result("retry_5xx"), on("/seq/500,500,204/retry")
check("500, 500, 204: sent after 3 attempts, code 204",
      r.get("sent") is True and r.get("attempts") == 3 and r.get("code") == 204 and len(reqs) == 3, (r, len(reqs)))
if len(reqs) == 3:
    t = [q["time"] for q in reqs]
    check("500, 500, 204: the attempts back off (1 s, then 2 s, by the receiver's clock)",
          t[1] - t[0] >= 1.0 and t[2] - t[1] >= 2.0, (t[1] - t[0], t[2] - t[1]))
for name, prefix, what in (("retry_after", "/seq/429r2,204/", "Retry-After: 2"),
                           ("retry_after_date", "/seq/429t4,204/", "Retry-After as an HTTP date 4 s ahead")):
    r, reqs = result(name), on(prefix)
    check("429 with %s: sent on the second attempt" % what,
          r.get("sent") is True and r.get("attempts") == 2 and len(reqs) == 2, (r, len(reqs)))
    if len(reqs) == 2:
        check("429 with %s: the next attempt came no sooner than 2 s later (the back-off alone would wait 1 s)" % what,
              reqs[1]["time"] - reqs[0]["time"] >= 2.0, reqs[1]["time"] - reqs[0]["time"])
r, reqs = result("bad_request"), on("/seq/400/")
check("400: not tried again (1 attempt, not sent, code 400)",
      r.get("sent") is False and r.get("attempts") == 1 and r.get("code") == 400 and len(reqs) == 1, (r, len(reqs)))
check("400: the error says HTTP 400", "HTTP 400 Bad Request" in r.get("error", ""), r)
r = result("redirect")
check("302: not followed, not sent", r.get("sent") is False and r.get("code") == 302
      and not on("/seq/204/redirected"), (r, [q["path"] for q in requests if "redirected" in q["path"]]))
r = result("echo")
check("an answer that repeats the URL is not shown, its status is",
      r.get("sent") is False and r.get("code") == 404 and r.get("answer", "").startswith("HTTP 404 Not Found")
      and len(on("/seq/404e/")) == 1, r)
for name, what in (("hang", "timeout = 1"), ("hang_deadline", "a 1 s deadline and timeout = 60")):
    r = result(name)
    check("a hung server with %s: not sent, the error says it timed out" % what,
          r.get("sent") is False and "timed out" in r.get("error", "") and "code" not in r, r)
r, reqs = result("asked_past_deadline"), on("/seq/429r30/")
check("429 asking 30 s with 3 s left: gives up at once, saying so",
      r.get("sent") is False and r.get("code") == 429 and r.get("attempts") == 1 and len(reqs) == 1
      and "gave up" in r.get("error", "") and "30 s" in r.get("error", "")
      and "deadline" in r.get("error", ""), r)
r = result("refused")
check("a refused connection: not sent, tried again, the error names the host",
      r.get("sent") is False and r.get("attempts") == 2 and "code" not in r
      and r.get("error", "").startswith("webhook notifier 127.0.0.1: ") and "onnect" in r.get("error", ""), r)
r = result("unresolvable")
check("an unresolvable host: not sent, the error names the host",
      r.get("sent") is False and r.get("error", "").startswith("webhook notifier nonexistent.invalid: ")
      and "resolve" in r.get("error", ""), r)

# --- secrets
shown = ""
for name in os.listdir(os.path.join(T, "results")):
    shown += open(os.path.join(T, "results", name)).read()
for f in ("out", "err"):
    shown += open(os.path.join(T, f)).read()
check("no result or output shows the URL's token", token not in shown, "")
check("no result or output shows the HMAC secret or the bearer token",
      secret not in shown and bearer not in shown, "")
sys.exit(1 if failures else 0)
PY
T=$T TOKEN=$token HMAC_SECRET=$hmac_secret BEARER=$bearer /usr/bin/python3 "$T/check.py" \
    || failures=$((failures + 1))

finish
