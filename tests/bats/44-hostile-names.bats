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
  # under ASan, freed memory waits in a quarantine (256 MB by default) before reuse: keep it small
  # so that VmRSS measures what relayd keeps, not what ASan holds back
  if [ "${RELAY_ASAN:-0}" = 1 ]; then
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4:thread_local_quarantine_size_kb=64"
  fi
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
  # series before) and 500 unknown ones (refused 404 model_not_found before billing)
  run flood 3500 gpt-4o-mini-thinking-1
  echo "$output" >&2
  [ "$output" = "200 3500" ]
  run flood 500 no-such-model-
  [ "$output" = "404 500" ]

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
  [ $((rss1 - rss0)) -lt "$(_relay_scale 20480)" ]       # ASan's allocator and fake stacks: x3
  # the log rows keep the names the clients sent
  wait_until "$(_relay_scale 10)" sql_is 3512 "SELECT count(*) FROM logs WHERE type = 2"
  [ "$(sql "SELECT count(DISTINCT model_name) FROM logs WHERE type = 2")" = 3506 ]
}

# second_relayd ARGS...: a second relayd on the test's database, run in the foreground (a refusal
# ends it; one that starts is ended by timeout with status 124); sets status and output like `run`
second_relayd() {
  run timeout "$(_relay_scale 10)" "$RELAY_BIN/relayd" --db "$RELAY_DB" \
    --admin-socket "$RELAY_DATA/admin2.sock" --metrics-listen off --shutdown-grace-s 1 "$@"
  echo "second relayd: status $status" >&2
  echo "$output" | tail -n 3 >&2
}

@test "nodes: a second relayd with the same node name refuses to start (exit 75, names the holder); the first keeps serving and keeps its reservations" {
  mock_start up
  printf 'k\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  relayd_start
  # an open reservation of the first node: a request the mock holds for a while
  curl -s -o "$BATS_TEST_TMPDIR/slow.body" --max-time 60 "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mock":{"delay_ms":4000}}' &
  local slow=$!
  wait_until "$(_relay_scale 10)" sql_is 1 "SELECT count(*) FROM reservations"
  local node
  node=$(sql "SELECT node FROM reservations")
  [ "$node" = "$(hostname)/127.0.0.1:$RELAY_PORT" ]        # the default name: HOSTNAME/LISTEN

  # the same listen address (SO_REUSEPORT would let it bind, with the same default node name) is
  # refused before the database is opened: the address is served (relayd/portguard.c)
  second_relayd --listen "127.0.0.1:$RELAY_PORT"
  [ "$status" -eq 75 ]
  [[ "$output" == *"listen 127.0.0.1:$RELAY_PORT is already served by another relayd"* ]]
  # it touched nothing: the reservation is still open, nothing was refunded
  [ "$(sql "SELECT count(*) FROM reservations")" = 1 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE content LIKE '%restart%' OR type = 6")" = 0 ]
  # an explicit --node-name that another node holds is refused the same way
  second_relayd --listen "127.0.0.1:$(free_port)" --node-name "$node"
  [ "$status" -eq 75 ]
  [[ "$output" == *"node name '$node' is held by another live relayd: pid $RELAYD_PID on host $(hostname) (this host)"* ]]

  # the first keeps serving: the slow request finishes, billed once
  wait "$slow"
  [ "$(json_get 'd["object"]' < "$BATS_TEST_TMPDIR/slow.body")" = chat.completion ]
  wait_until "$(_relay_scale 10)" sql_is 0 "SELECT count(*) FROM reservations"
  [ "$(sql "SELECT count(*), count(DISTINCT request_id) FROM logs WHERE type IN (2,5,6)")" = "$(printf '1\t1')" ]
  run curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' --data-binary '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$output" = 200 ]
  # the lease row names the first process, and so does its status; a clean stop releases it
  [ "$(sql "SELECT pid FROM node_leases WHERE node = '$node'")" = "$RELAYD_PID" ]
  [ "$(gwctl status --json | json_get '[d["node"], d["node_lease"]]')" = "[\"$node\", \"held\"]" ]
  relayd_stop
  [ "$(sql "SELECT count(*) FROM node_leases")" = 0 ]
}

@test "nodes: after kill -9 the same node restarts at once and resolves its own reservations" {
  mock_start up
  printf 'k\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  relayd_start --node-name n-crash
  curl -s -o /dev/null --max-time 60 "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mock":{"delay_ms":30000}}' &
  local slow=$! old=$RELAYD_PID
  wait_until "$(_relay_scale 10)" sql_is 1 "SELECT count(*) FROM reservations WHERE node = 'n-crash'"
  [ "$(sql "SELECT pid FROM node_leases WHERE node = 'n-crash'")" = "$old" ]
  kill -KILL "$RELAYD_PID"
  wait_until 5 test -e "$BATS_TEST_TMPDIR/relayd.rc"
  rm -f "$BATS_TEST_TMPDIR/relayd.pid"
  wait "$slow" || true
  # the lease is still in the table (nobody released it) and its heartbeat is fresh: only the dead
  # pid frees it
  [ "$(sql "SELECT count(*) FROM node_leases WHERE node = 'n-crash'")" = 1 ]
  relayd_start --node-name n-crash
  [ "$RELAYD_PID" != "$old" ]
  grep -q 'took over the node name from a relayd that is gone.*node="n-crash".*reason=process_gone' "$BATS_TEST_TMPDIR/relayd.log"
  [ "$(sql "SELECT pid FROM node_leases WHERE node = 'n-crash'")" = "$RELAYD_PID" ]
  [ "$(sql "SELECT count(*) FROM reservations")" = 0 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type IN (2,5) AND end_reason = 'restart_refund'")" = 1 ]
}

# heartbeat_moved: the lease row's heartbeat is past 1 (the test set it to 1)
heartbeat_moved() { [ "$(sql "SELECT heartbeat_at FROM node_leases")" -gt 1 ]; }

@test "nodes: a lease from another host holds while its heartbeat is fresh, and frees when it is stale" {
  relayd_start --node-name n-far
  relayd_stop
  local now
  now=$(date +%s)
  sql "INSERT INTO node_leases(node, host, host_id, pid, pid_start, instance, started_at, heartbeat_at) VALUES ('n-far', 'far-away', 'far-away|boot|1', 4242, 1, 'x1', $now, $now)"
  second_relayd --listen "127.0.0.1:$(free_port)" --node-name n-far
  [ "$status" -eq 75 ]
  [[ "$output" == *"node name 'n-far' is held by another live relayd: pid 4242 on host far-away, started "*"heartbeat is older than 30 s"* ]]
  # a stale heartbeat (over 30 s): taken over
  sql "UPDATE node_leases SET heartbeat_at = $((now - 31)) WHERE node = 'n-far'"
  relayd_start --node-name n-far
  grep -q 'took over the node name.*node="n-far" previous_pid=4242 previous_host="far-away" reason=heartbeat_stale' "$BATS_TEST_TMPDIR/relayd.log"
  [ "$(sql "SELECT pid, host FROM node_leases WHERE node = 'n-far'")" = "$(printf '%s\t%s' "$RELAYD_PID" "$(hostname)")" ]
  # the heartbeat moves (every 5 s) while it runs
  sql "UPDATE node_leases SET heartbeat_at = 1 WHERE node = 'n-far'"
  wait_until "$(_relay_scale 15)" heartbeat_moved
}

@test "mock: disconnect_after and hang_up close the connection: the client reads EOF and the mock keeps no socket" {
  mock_start up
  run python3 - "$MOCK_PORT" "$MOCK_UP_PID" <<'PY'
import json, os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])

def sockets():
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n

def request(path, body, extra=""):
    b = json.dumps(body).encode()
    return (("POST %s HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\nx-api-key: k\r\n"
             "anthropic-version: 2023-06-01\r\nx-goog-api-key: k\r\n%sContent-Length: %d\r\n\r\n")
            % (path, extra, len(b))).encode() + b

def read_to_eof(s):
    # no timing here: a connection that is never closed fails at this generous bound
    s.settimeout(120)
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            return data
        data += d

base = sockets()
msgs = [{"role": "user", "content": "hi"}]
gem = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
cases = [
    ("/v1/chat/completions", {"model": "m", "messages": msgs, "mock": {"disconnect_after": 0}}, 0),
    ("/v1/chat/completions", {"model": "m", "messages": msgs, "mock": {"hang_up": True}}, 0),
    ("/v1/chat/completions", {"model": "m", "messages": msgs, "mock": {"disconnect_after": 0, "delay_ms": 50}}, 0),
    ("/v1/chat/completions", {"model": "m", "messages": msgs, "stream": True, "mock": {"chunks": 9, "disconnect_after": 3}}, 3),
    ("/v1/chat/completions", {"model": "m", "messages": msgs, "stream": True,
                              "mock": {"chunks": 9, "disconnect_after": 2, "chunk_gap_ms": 20}}, 2),
    ("/v1/messages", {"model": "m", "max_tokens": 9, "messages": msgs, "stream": True,
                      "mock": {"chunks": 9, "disconnect_after": 2}}, 2),
    ("/v1beta/models/g:streamGenerateContent?alt=sse", dict(gem, mock={"chunks": 9, "disconnect_after": 2}), 2),
]
held = []
for path, body, words in cases:
    s = socket.create_connection(("127.0.0.1", port))
    held.append(s)                      # kept open: the mock must close its side by itself
    # a normal request first on the same keep-alive connection
    s.sendall(request("/v1/chat/completions", {"model": "m", "messages": msgs, "mock": {"chunks": 1}}))
    first = b""
    while b"\r\n\r\n" not in first or first.count(b"hello") < 1:
        first += s.recv(65536)
    s.sendall(request(path, body))
    data = read_to_eof(s)
    got = data.count(b"hello")
    assert got == words, (path, body, got, data[-300:])
    assert b"[DONE]" not in data and b"message_stop" not in data and b"STOP" not in data, data[-300:]
    if words == 0:
        assert data == b"", data[:300]
    print("EOF", path, words)
# every connection is gone on the mock's side too (bounded wait, not a timing assertion)
for _ in range(600):
    if sockets() <= base:
        break
    time.sleep(0.05)
print("mock sockets", base, sockets())
assert sockets() <= base
PY
  echo "$output" >&2
  [ "$status" -eq 0 ]
  [ "$(grep -c '^EOF' <<< "$output")" = 7 ]
}
