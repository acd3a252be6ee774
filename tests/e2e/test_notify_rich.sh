#!/usr/bin/env bash
# The discord and slack notifiers through the real HTTP path, against
# tests/e2e/http_receiver.py on loopback: moonbak.notifier.deliver from a
# script sends a failure with a 10,000-line log and mentions in its texts;
# the recorded bodies are checked field by field against each service's
# documented format and limits.  Discord's 429s with retry_after 0.5 and 3
# in their JSON body are honoured (the next attempt arrives no sooner, by
# the receiver's clock; 3 s is longer than the back-off would wait);
# Slack's 400 is not retried.  The token in the URLs' paths appears in no
# output.  Run under flock /tmp/moonbak-e2e.lock.
. "$(dirname "$0")/lib.sh"

receiver=$(dirname "$0")/http_receiver.py
/usr/bin/python3 "$receiver" "$T/port" "$T/requests.jsonl" &
receiver_pid=$!
trap 'kill $receiver_pid 2>/dev/null; wait $receiver_pid 2>/dev/null' EXIT
# the receiver writes the file once it accepts connections; the bound is
# only there for one that never starts
for _ in $(seq 1200); do [ -s "$T/port" ] && break; sleep 0.05; done
check "the receiver is up" [ -s "$T/port" ] || finish
port=$(cat "$T/port")

token=tok$RANDOM$RANDOM-secret
# URLs reach the script through its environment, never its argv
export NR_DISCORD_URL="http://127.0.0.1:$port/seq/429d0.5,429d3,204/api/webhooks/42/$token"
export NR_SLACK_URL="http://127.0.0.1:$port/seq/200/services/T0/B0/$token"
export NR_SLACK_400_URL="http://127.0.0.1:$port/seq/400/services/T0/B1/$token"

cat > "$T/send.lua" <<'EOF'
local notifier = require("moonbak.notifier")
local cjson = require("cjson")
local lines = {}
for i = 1, 10000 do
  lines[i] = string.format("2026-12-02T03:00:00Z error line %d: ```ünïcödé``` @everyone <@123> <!channel> 😀", i)
end
local notice = {
  event = "failure", status = "failed", job = "shop",
  title = "[moonbak] shop: failed",
  summary = "pg_dump failed: @everyone <@123456789> <!channel> & " .. string.rep("é", 5000),
  fields = { { "Trigger", "schedule" }, { "Duration", "3.2 s" }, { "Backup", "none" } },
  log = table.concat(lines, "\n") .. "\n",
  json = "{}", run_id = "11111111-2222-4333-8444-555555555555", host = "db1.example.com",
  time = 1796180400,
}
local which = ...
local specs = {
  discord = { type = "discord", url = os.getenv("NR_DISCORD_URL"), username = "moonbak" },
  slack = { type = "slack", url = os.getenv("NR_SLACK_URL") },
  slack400 = { type = "slack", url = os.getenv("NR_SLACK_400_URL") },
}
local r = notifier.deliver(specs[which], notice, 30)
print(cjson.encode(r))
EOF

# send NAME : delivers through notifier NAME; its answer in $T/NAME.json
send() {
    "$MOONBAK" script "$T/send.lua" "$1" >"$T/$1.json" 2>"$T/$1.err"
}

# checks PYTHON : runs PYTHON with req(path_part) -> the recorded requests
# whose path holds path_part, answer(name) -> the deliver result of NAME,
# and ok(cond, name); counts its failures
checks() {
    local out
    out=$(/usr/bin/python3 - "$T" "$1" <<'PY'
import json, sys
T, code = sys.argv[1], sys.argv[2]
log = [json.loads(l) for l in open(T + "/requests.jsonl", encoding="utf-8")]
def req(part): return [r for r in log if part in r["path"]]
def answer(name): return json.load(open("%s/%s.json" % (T, name), encoding="utf-8"))
def units(s): return len(s.encode("utf-16-le")) // 2
def ok(cond, name): print(("ok - " if cond else "not ok - ") + name)
try:
    exec(code)
except Exception as e:  # a missing key is a failure, named without the body
    print("not ok - checks raised %s: %s" % (type(e).__name__, str(e)[:80]))
PY
)
    echo "$out"
    failures=$((failures + $(grep -c '^not ok - ' <<<"$out")))
}

send discord
check "the discord delivery ran" [ -s "$T/discord.json" ] || sed 's/^/# /' "$T/discord.err"
checks '
a = answer("discord")
ok(a["sent"] is True and a["code"] == 204 and a["attempts"] == 3,
   "discord: sent, answered 204 on the third attempt (%s, %s)" % (a.get("code"), a.get("attempts")))
rs = req("/api/webhooks/42/")
ok([x["answer"] for x in rs] == ["429d0.5", "429d3", "204"], "three requests: two 429s, then 204")
gap = rs[1]["time"] - rs[0]["time"]
ok(gap >= 0.5, "the 429 body'"'"'s retry_after 0.5 is honoured: the retry came %.3f s later" % gap)
# the back-off alone would wait 2 s (and a quarter more at most) here
gap = rs[2]["time"] - rs[1]["time"]
ok(gap >= 3, "so is a retry_after of 3, longer than the back-off: %.3f s later" % gap)
ok(rs[0]["body"] == rs[1]["body"] == rs[2]["body"], "each retry sends the same body")
r = rs[2]
ok(r["method"] == "POST" and r["headers"].get("content-type") == "application/json",
   "a POST of application/json (%s)" % r["headers"].get("content-type"))
b = json.loads(r["body"])
ok(b["allowed_mentions"] == {"parse": []}, "allowed_mentions is {parse: []}: nobody is pinged")
ok("content" not in b or units(b["content"]) <= 2000, "content absent or within 2000")
ok(b.get("username") == "moonbak", "the username option is sent")
ok(len(b["embeds"]) == 1, "one embed")
e = b["embeds"][0]
ok(e["title"] == "[moonbak] shop: failed", "its title")
d = e["description"]
ok(units(d) <= 4096, "the description is within 4096 (%d)" % units(d))
ok(d.startswith("pg_dump failed: @everyone <@123456789> <!channel> & éé"), "it starts with the summary")
ok(d.count("```") == 2 and d.endswith("\n```"), "the log is one code block its backticks cannot close")
ok("error line 10000:" in d and "error line 1:" not in d and "earlier lines cut]" in d,
   "with the newest lines, the cut said")
ok([(f["name"], f["value"], f["inline"]) for f in e["fields"]] ==
   [("Trigger", "schedule", True), ("Duration", "3.2 s", True), ("Backup", "none", True)], "the fields, in order, inline")
ok(e["footer"] == {"text": "db1.example.com"}, "the footer names the host")
ok(e["color"] == 0xE74C3C, "a failure is red")
ok(e["timestamp"] == "2026-12-02T03:00:00Z", "the time as ISO 8601")
total = units(e["title"]) + units(d) + units(e["footer"]["text"]) + sum(units(f["name"]) + units(f["value"]) for f in e["fields"])
ok(total <= 6000, "the embed totals at most 6000 characters (%d)" % total)
'

send slack
check "the slack delivery ran" [ -s "$T/slack.json" ] || sed 's/^/# /' "$T/slack.err"
checks '
a = answer("slack")
ok(a["sent"] is True and a["code"] == 200 and a["attempts"] == 1, "slack: sent at once, answered 200")
rs = req("/services/T0/B0/")
ok(len(rs) == 1 and rs[0]["headers"].get("content-type") == "application/json", "one POST of application/json")
b = json.loads(rs[0]["body"])
ok(b["text"].startswith("[moonbak] shop: failed\npg_dump failed: @everyone &lt;@123456789&gt; &lt;!channel&gt; &amp; é"),
   "text: the title and the summary, escaped")
ok(units(b["text"]) <= 3000, "the text is within 3000")
bl = b["blocks"]
ok([x["type"] for x in bl] == ["header", "section", "section", "section", "context"],
   "blocks: header, summary, fields, log, context")
ok(bl[0]["text"] == {"type": "plain_text", "text": "[moonbak] shop: failed"}, "the header is the title, plain_text")
s = bl[1]["text"]
ok(s["type"] == "mrkdwn" and s["verbatim"] is True and units(s["text"]) <= 3000 and s["text"].endswith("…"),
   "the summary: verbatim mrkdwn, cut within 3000 (%d)" % units(s["text"]))
ok([f["text"] for f in bl[2]["fields"]] == ["*Trigger*\nschedule", "*Duration*\n3.2 s", "*Backup*\nnone"],
   "the fields, name in bold above value")
l = bl[3]["text"]["text"]
ok(units(l) <= 3000 and l.startswith("```\n") and l.endswith("\n```") and l.count("```") == 2,
   "the log: one code block within 3000 (%d)" % units(l))
ok("error line 10000:" in l and "error line 1:" not in l, "with the newest lines")
ok(bl[4]["elements"][0]["text"] == "db1.example.com", "the context names the host")
raw = rs[0]["body"]
ok("<!channel>" not in raw and "<@123" not in raw and "&lt;!channel&gt;" in raw,
   "no <!channel> or <@user> survives: they arrive as &lt;!channel&gt;")
'

send slack400
checks '
a = answer("slack400")
ok(a["sent"] is False and a["code"] == 400 and a["attempts"] == 1, "slack: a 400 fails at once, not retried")
ok(a["error"].startswith("slack notifier 127.0.0.1") and "400" in a["error"],
   "its error names the notifier, the host and the status")
ok(len(req("/services/T0/B1/")) == 1, "one request recorded")
'

check "the token appears in no output" no_secret_in "$token" "$T"/*.json "$T"/*.err "$T/send.lua"
finish
