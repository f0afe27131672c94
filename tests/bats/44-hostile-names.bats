#!/usr/bin/env bats
# Hostile names and nodes (issue #18):
#  - client-chosen model names (unknown, or a known model with a reasoning suffix such as
#    "gpt-4o-mini-thinking-1234") must not grow relayd's stats tables, /metrics or the admin `stats`
#    answer: only names the snapshot knows get series, the rest count under model "other";
#  - two relayd with one node name on one database: the second refuses to start (exit 75, a message
#    naming the name and the holder) and the first keeps serving; a node killed with SIGKILL restarts
#    at once; a lease held from another host frees only when its heartbeat is stale;
#  - the mock's disconnect_after really closes the connection (EOF to the client, no socket left).

load helpers

setup() {
  relay_env
  gwctl user add alice --quota 1000000000 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
}

# vmrss PID: resident set size in kB
vmrss() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# flood N PREFIX: N chat requests with model names PREFIX0..PREFIX(N-1) over one keep-alive
# connection; prints "STATUS COUNT" lines (how many answers had each status)
flood() {
  python3 - "$RELAY_PORT" "$KEY" "$1" "$2" <<'PY'
import collections, http.client, json, sys
port, key, n, prefix = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
seen = collections.Counter()
for i in range(n):
    body = json.dumps({"model": "%s%d" % (prefix, i), "messages": [{"role": "user", "content": "hi"}],
                       "mock": {"chunks": 1, "prompt_tokens": 1, "completion_tokens": 1}})
    c.request("POST", "/v1/chat/completions", body, {"Authorization": "Bearer " + key,
                                                     "Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    seen[r.status] += 1
    if r.getheader("connection", "").lower() == "close":
        c.close()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for s, k in sorted(seen.items()):
    print(s, k)
PY
}

@test "hostile names: 4,000 suffixed or unknown model names leave /metrics, stats and RSS bounded; 'other' carries them" {
  mock_start up
  printf 'k\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  local mport out="$BATS_TEST_TMPDIR/metrics"
  mport=$(free_port)
  relayd_start --metrics-listen "127.0.0.1:$mport" --workers 2
  # the known model, and a warm-up of both paths before the first RSS reading
  flood 20 warm-unknown- > /dev/null
  run flood 5 gpt-4o-mini-thinking-2
  [ "$output" = "200 5" ]
  python3 - "$RELAY_PORT" "$KEY" <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
for i in range(7):
    c.request("POST", "/v1/chat/completions", json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
              {"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"})
    r = c.getresponse(); r.read(); assert r.status == 200, r.status
PY
  curl -sf -o /dev/null "http://127.0.0.1:$mport/metrics"
  gwctl stats --json > /dev/null
  local rss0 rss1
  rss0=$(vmrss "$RELAYD_PID")

  # 3,500 names that reach routing through the reasoning suffix (relayed and billed: each made
  # series before) and 500 unknown ones (refused 503 before billing)
  run flood 3500 gpt-4o-mini-thinking-1
  echo "$output" >&2
  [ "$output" = "200 3500" ]
  run flood 500 no-such-model-
  [ "$output" = "503 500" ]

  curl -sS -o "$out.txt" "http://127.0.0.1:$mport/metrics"
  python3 "$BATS_TEST_DIRNAME/promparse.py" "$out.txt" > "$out.jsonl"
  local size
  size=$(stat -c %s "$out.txt")
  echo "metrics: $size bytes, $(wc -l < "$out.jsonl") samples" >&2
  [ "$size" -lt 200000 ]
  python3 - "$out.jsonl" <<'PY'
import json, sys
samples = [json.loads(l) for l in open(sys.argv[1])]
models = {s["labels"].get("model") for s in samples if "model" in s["labels"]}
assert models == {"gpt-4o-mini", "other"}, sorted(models)[:20]
def total(name, model):
    return sum(s["value"] for s in samples if s["name"] == name and s["labels"].get("model") == model
               and s["labels"].get("code", "200") == "200")
assert total("relayd_requests_total", "other") == 3505, total("relayd_requests_total", "other")
assert total("relayd_requests_total", "gpt-4o-mini") == 7, total("relayd_requests_total", "gpt-4o-mini")
assert total("relayd_request_duration_seconds_count", "other") == 3505
ov = [s["value"] for s in samples if s["name"] == "relayd_stats_overflow_total"]
assert ov == [0], ov
PY
  # the admin answer: gwctl reads it whole, with one entry per known model plus "other"
  run gwctl stats --json
  [ "$status" -eq 0 ]
  [ "$(json_get 'sorted([(m["model"], m["requests"]) for m in d["models"]])' <<< "$output")" = \
    '[["gpt-4o-mini", 7], ["other", 3505]]' ]
  [ "${#output}" -lt 20000 ]
  run gwctl stats
  [ "$status" -eq 0 ]
  rss1=$(vmrss "$RELAYD_PID")
  echo "VmRSS before ${rss0} kB, after ${rss1} kB" >&2
  [ $((rss1 - rss0)) -lt 20480 ]
  # the log rows keep the names the clients sent
  wait_until "$(_relay_scale 10)" sql_is 3512 "SELECT count(*) FROM logs WHERE type = 2"
  [ "$(sql "SELECT count(DISTINCT model_name) FROM logs WHERE type = 2")" = 3506 ]
}
