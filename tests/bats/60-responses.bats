#!/usr/bin/env bats
# Every answer relayd sends is counted and shown (issue #21, "refused requests are invisible"):
# refusals before any upstream (401, 403, 429, 503, the gate's 400s) and upstream failures, by HTTP
# status and the error code relayd sent, in /metrics (relayd_responses_total{code,reason}), in the
# admin socket's stats (responses) and as admin events (what gwtui shows); an attempt that failed on
# one channel and was retried on another counts on the channel where it failed.
# A real relayd, mock upstreams, the admin socket and /metrics over real sockets.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  mock_start good
  mock_start flaky --status 500
  gwctl user add alice --quota 100000000 > /dev/null
  gwctl user add poor --quota 100000000 > /dev/null
  printf 'sk-1\n' | gwctl channel add --name good --type openai --base-url "$MOCK_GOOD_URL" \
    --models gpt-4o-mini,unpriced-model > /dev/null 2>&1
  printf 'sk-2\n' | gwctl channel add --name flaky --type openai --base-url "$MOCK_FLAKY_URL" \
    --models gpt-4o > /dev/null
  gwctl price set gpt-4o --ratio 1 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
  POOR=$(gwctl token create --user poor --name p1 --quota 1)
  MPORT=$(free_port)
  METRICS="http://127.0.0.1:$MPORT/metrics"
}

# chat KEY MODEL: one chat; prints the HTTP status
chat() {
  curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" ${1:+-H "Authorization: Bearer $1"} \
    -H 'Content-Type: application/json' -d "{\"model\":\"$2\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
}

# admin LINE: one admin request, its answer on stdout
admin() {
  python3 - "$RELAY_SOCKET" "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(40); s.connect(sys.argv[1]); f = s.makefile("rw")
assert json.loads(f.readline())["relay_admin"] == 1
f.write(sys.argv[2] + "\n"); f.flush(); print(f.readline().strip())
PY
}

# gate_refusal: a request line the gate refuses before libmicrohttpd sees it (400 invalid_request_line)
gate_refusal() {
  python3 - "$RELAY_URL" <<'PY'
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
s = socket.create_connection((u.hostname, u.port), timeout=10)
s.sendall(b"GET / FTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print(data.split(b" ")[1].decode())
PY
}

# the eight kinds of answer the tests send: status reason
send_mix() {
  [ "$(chat "$KEY" gpt-4o-mini)" = 200 ]
  [ "$(chat "" gpt-4o-mini)" = 401 ]                    # no key
  [ "$(chat sk-not-a-key gpt-4o-mini)" = 401 ]          # a key relay does not know, twice
  [ "$(chat sk-not-a-key-either gpt-4o-mini)" = 401 ]
  [ "$(chat "$KEY" unpriced-model)" = 403 ]             # served, but no price
  [ "$(chat "$POOR" gpt-4o-mini)" = 429 ]               # quota 1 cannot hold the reservation
  [ "$(chat "$KEY" gpt-4o)" = 502 ]                     # the flaky upstream fails: its breaker opens
  [ "$(chat "$KEY" gpt-4o)" = 503 ]                     # ... and relay refuses the next itself
  [ "$(gate_refusal)" = 400 ]
}

@test "responses: every answer counted by status and reason in /metrics and the admin stats" {
  gwctl config set breaker_failures 1 > /dev/null
  gwctl config set breaker_open_s 600 > /dev/null
  gwctl config set retry_times 0 > /dev/null
  relayd_start --metrics-listen "127.0.0.1:$MPORT"
  # what relayd_start's own readiness probes left (counted too), then the mix
  curl -sS -o "$BATS_TEST_TMPDIR/before.txt" "$METRICS"
  admin '{"cmd":"stats"}' > "$BATS_TEST_TMPDIR/before.json"
  send_mix
  curl -sS -o "$BATS_TEST_TMPDIR/metrics.txt" "$METRICS"
  for f in before metrics; do
    python3 "$BATS_TEST_DIRNAME/promparse.py" "$BATS_TEST_TMPDIR/$f.txt" > "$BATS_TEST_TMPDIR/$f.jsonl"
  done
  grep -q '^# TYPE relayd_responses_total counter$' "$BATS_TEST_TMPDIR/metrics.txt"
  python3 - "$BATS_TEST_TMPDIR/before.jsonl" "$BATS_TEST_TMPDIR/metrics.jsonl" <<'PY'
import json, sys
def read(path):
    got = {}
    for line in open(path):
        s = json.loads(line)
        if s["name"] == "relayd_responses_total":
            got[(s["labels"]["code"], s["labels"]["reason"])] = s["value"]
    return got
before, after = read(sys.argv[1]), read(sys.argv[2])
got = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
want = {("200", "ok"): 1, ("401", "missing_api_key"): 1, ("401", "invalid_api_key"): 2,
        ("403", "model_price_unset"): 1, ("429", "insufficient_quota"): 1,
        ("502", "bad_upstream_status"): 1, ("503", "channels_unavailable"): 1,
        ("400", "invalid_request_line"): 1}
assert got == want, got
PY
  # the admin socket's stats say the same (gwtui reads them there)
  admin '{"cmd":"stats"}' > "$BATS_TEST_TMPDIR/stats.json"
  python3 - "$BATS_TEST_TMPDIR/before.json" "$BATS_TEST_TMPDIR/stats.json" <<'PY'
import json, sys
def read(path):
    return {(r["status"], r["reason"]): r["count"] for r in json.load(open(path))["responses"]}
before, after = read(sys.argv[1]), read(sys.argv[2])
got = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
assert got == {(200, "ok"): 1, (401, "missing_api_key"): 1, (401, "invalid_api_key"): 2,
               (403, "model_price_unset"): 1, (429, "insufficient_quota"): 1,
               (502, "bad_upstream_status"): 1, (503, "channels_unavailable"): 1,
               (400, "invalid_request_line"): 1}, got
PY
  # a reason is one of relay's own codes: a client's model name or key never becomes a label
  ! grep -E 'relayd_responses_total\{.*(unpriced-model|sk-not)' "$BATS_TEST_TMPDIR/metrics.txt"
}

@test "responses: refusals and failures are admin events with the code and message relayd sent" {
  gwctl config set breaker_failures 1 > /dev/null
  gwctl config set breaker_open_s 600 > /dev/null
  gwctl config set retry_times 0 > /dev/null
  relayd_start
  python3 - "$RELAY_SOCKET" "$BATS_TEST_TMPDIR/events.jsonl" 9 <<'PY' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(60); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline(); f.write('{"cmd":"subscribe"}\n'); f.flush()
assert json.loads(f.readline())["subscribed"]
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2] + ".tmp", "w") as out:
    for _ in range(int(sys.argv[3])):
        out.write(f.readline())
import os; os.rename(sys.argv[2] + ".tmp", sys.argv[2])
PY
  sub=$!
  wait_until 10 test -e "$BATS_TEST_TMPDIR/events.jsonl.ready"
  send_mix
  wait_until 20 test -e "$BATS_TEST_TMPDIR/events.jsonl"
  wait "$sub"
  python3 - "$BATS_TEST_TMPDIR/events.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert all(e["event"] == "request" for e in ev), ev
by = {}
for e in ev:
    by.setdefault((e["status"], e["reason"]), []).append(e)
assert len(by[(401, "invalid_api_key")]) == 2, by.keys()
e = by[(401, "invalid_api_key")][0]
assert e["refused"] is True and e["end_reason"] == "refused" and e["token"] == "" and e["channel_id"] == 0, e
assert "key" in e["error"].lower(), e
e = by[(403, "model_price_unset")][0]
assert e["refused"] and e["token"] == "t1" and e["user"] == "alice" and e["model"] == "unpriced-model", e
assert "price" in e["error"], e
e = by[(429, "insufficient_quota")][0]
assert e["refused"] and e["token"] == "p1" and e["user"] == "poor", e
e = by[(503, "channels_unavailable")][0]
assert e["refused"] and e["model"] == "gpt-4o", e
assert by[(400, "invalid_request_line")][0]["refused"]
assert by[(401, "missing_api_key")][0]["refused"]
# a 502 is billed (nothing charged) and not a refusal; its message holds what the upstream said
e = by[(502, "bad_upstream_status")][0]
assert not e["refused"] and e["end_reason"] == "upstream_error" and e["channel_id"] == 2, e
assert "mock error 500" in e["error"], e
e = by[(200, "")][0]
assert not e["refused"] and e["end_reason"] == "done" and e["error"] == "", e
PY
}

@test "responses: an attempt that failed on a channel and was retried on another counts on the first" {
  gwctl config set retry_times 1 > /dev/null
  gwctl config set breaker_failures 0 > /dev/null
  # flaky is tried first (priority), fails, and good answers
  gwctl channel edit flaky --models gpt-4o,gpt-4o-mini --priority 10 > /dev/null
  relayd_start --metrics-listen "127.0.0.1:$MPORT"
  [ "$(chat "$KEY" gpt-4o-mini)" = 200 ]
  [ "$(chat "$KEY" gpt-4o-mini)" = 200 ]
  admin '{"cmd":"stats"}' > "$BATS_TEST_TMPDIR/stats.json"
  [ "$($JGET '[(c["name"], c["attempt_failures"], c["requests"], c["errors"]) for c in d["channels"] if c["name"] == "flaky"][0]' < "$BATS_TEST_TMPDIR/stats.json")" = '["flaky", 2, 0, 0]' ]
  [ "$($JGET '[(c["attempt_failures"], c["requests"]) for c in d["channels"] if c["name"] == "good"][0]' < "$BATS_TEST_TMPDIR/stats.json")" = '[0, 2]' ]
  curl -sS "$METRICS" | grep -qx 'relayd_channel_attempt_failures_total{channel="flaky"} 2'
}
