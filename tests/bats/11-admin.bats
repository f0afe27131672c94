#!/usr/bin/env bats
# relayd's admin socket: protocol, verbs, permissions, live events, drain.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"
DOC="$BATS_TEST_DIRNAME/../../doc/admin-protocol.md"

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000
  printf 'sk-upstream\n' | gwctl channel add --name c1 --type openai \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models gpt-4o-mini,gpt-4o
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

teardown() {
  relay_teardown
}

# admin LINE...: sends each line, prints the greeting's version and one answer per line
admin() {
  python3 - "$RELAY_SOCKET" "$@" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(40); s.connect(sys.argv[1]); f = s.makefile("rw")
g = json.loads(f.readline()); assert g["relay_admin"] == 1, g
for line in sys.argv[2:]:
    f.write(line + "\n"); f.flush(); print(f.readline().strip())
PY
}

chat() {
  curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d "$1"
}

@test "greeting, ping, status, errors, socket mode" {
  run admin '{"cmd":"ping","id":7}'
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET 'd["pong"] and d["ok"] and d["id"] == 7')" = true ]
  run admin '{"cmd":"status"}'
  [ "$(echo "$output" | $JGET 'd["workers"] >= 1 and d["snapshot_version"] >= 1 and d["draining"] == False')" = true ]
  run admin '{"cmd":"nope"}'
  [ "$(echo "$output" | $JGET 'd["error"]["code"]')" = unknown_command ]
  run admin 'not json'
  [ "$(echo "$output" | $JGET 'd["error"]["code"]')" = bad_request ]
  run admin '{"nocmd":1}'
  [ "$(echo "$output" | $JGET 'd["ok"]')" = false ]
  [ "$(stat -c %a "$RELAY_SOCKET")" = 600 ]
}

@test "the verb table and doc/admin-protocol.md list the same verbs" {
  run admin '{"cmd":"help"}'
  table=$(echo "$output" | $JGET '" ".join(sorted(x["name"] for x in d["verbs"]))')
  documented=$(grep -o '^| `[a-z_]*` |' "$DOC" | tr -d '|` ' | sort | tr '\n' ' ' | sed 's/ $//')
  [ "$table" = "$documented" ]
}

@test "a peer of another uid is refused" {
  command -v setpriv >/dev/null || skip "setpriv missing"
  # in a chroot whose / is private (freshbox) another uid cannot even load libc
  setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c pass 2>/dev/null ||
    skip "uid 65534 cannot run programs on this machine"
  # let uid 65534 reach the socket: every directory above it must be searchable
  d=$RELAY_DATA
  while [ "$d" != / ]; do chmod o+x "$d"; d=$(dirname "$d"); done
  chmod 666 "$RELAY_SOCKET"           # the file mode alone would let it in: the credential check must not
  run setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect('$RELAY_SOCKET'); print(s.makefile().readline().strip())"
  echo "$output"
  [[ "$output" == *'"code":"forbidden"'* ]]
}

@test "stats: per channel and per model counters with latency percentiles" {
  for i in 1 2 3; do [ "$(chat '{"model":"gpt-4o-mini","messages":[{}],"mock":{"prompt_tokens":10,"completion_tokens":10}}')" = 200 ]; done
  [ "$(chat '{"model":"gpt-4o","messages":[{}],"mock":{"status":500}}')" = 502 ]
  run admin '{"cmd":"stats"}'
  [ "$(echo "$output" | $JGET '[c for c in d["channels"] if c["id"] == 1][0]["requests"]')" = 4 ]
  [ "$(echo "$output" | $JGET '[c for c in d["channels"] if c["id"] == 1][0]["name"]')" = c1 ]
  m=$(echo "$output" | $JGET '[m for m in d["models"] if m["model"] == "gpt-4o-mini"][0]')
  [ "$(echo "$m" | $JGET 'd["requests"], d["errors"], d["prompt_tokens"], d["completion_tokens"]')" = '[3, 0, 30, 30]' ]
  [ "$(echo "$m" | $JGET '0 < d["latency_ms"]["p50"] <= d["latency_ms"]["p99"] < 5000')" = true ]
  [ "$(echo "$output" | $JGET '[m for m in d["models"] if m["model"] == "gpt-4o"][0]["errors"]')" = 1 ]
  [ "$(echo "$output" | $JGET '[c for c in d["channels"] if c["id"] == 1][0]["in_flight"]')" = 0 ]
  # a stream in progress counts as in flight on its channel
  curl -s -o /dev/null -N "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{}],"mock":{"chunks":4,"chunk_gap_ms":500}}' &
  cpid=$!
  seen=0
  for _ in $(seq 1 20); do
    run admin '{"cmd":"stats"}'
    [ "$(echo "$output" | $JGET '[c for c in d["channels"] if c["id"] == 1][0]["in_flight"]')" = 1 ] && { seen=1; break; }
    sleep 0.1
  done
  wait $cpid
  [ "$seen" = 1 ]
  run admin '{"cmd":"stats"}'
  [ "$(echo "$output" | $JGET '[c for c in d["channels"] if c["id"] == 1][0]["in_flight"]')" = 0 ]
}

@test "subscribe streams one event per finished request" {
  python3 - "$RELAY_SOCKET" "$RELAY_URL" "$KEY" <<'PY'
import json, socket, sys, threading, urllib.request, time
s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline(); f.write('{"cmd":"subscribe"}\n'); f.flush()
assert json.loads(f.readline())["subscribed"]
for i in range(3):
    req = urllib.request.Request(sys.argv[2] + "/v1/chat/completions",
        data=b'{"model":"gpt-4o-mini","messages":[{}]}', headers={"Authorization": "Bearer " + sys.argv[3]})
    urllib.request.urlopen(req).read()
events = [json.loads(f.readline()) for _ in range(3)]
assert all(e["event"] == "request" and e["model"] == "gpt-4o-mini" and e["status"] == 200 and e["token"] == "t1"
           and e["end_reason"] == "done" for e in events), events
assert len({e["request_id"] for e in events}) == 3
# the connection still answers requests
f.write('{"cmd":"ping"}\n'); f.flush()
line = f.readline()
while '"event"' in line:
    line = f.readline()
assert json.loads(line)["pong"]
PY
}

@test "drain answers new requests with 503 until undrain" {
  run admin '{"cmd":"drain"}'
  [ "$(echo "$output" | $JGET 'd["draining"]')" = true ]
  run curl -s -D - -o /dev/null "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" -d '{}'
  [[ "$output" == *" 503 "* ]]
  echo "$output" | grep -qi '^connection: close'
  run admin '{"cmd":"status"}'
  [ "$(echo "$output" | $JGET 'd["draining"]')" = true ]
  run admin '{"cmd":"undrain"}'
  [ "$(chat '{"model":"gpt-4o-mini","messages":[{}]}')" = 200 ]
}

@test "channel_test makes a real upstream call" {
  run admin '{"cmd":"channel_test","channel":"c1"}'
  [ "$(echo "$output" | $JGET 'd["passed"] and d["status"] == 200 and d["model"] == "gpt-4o-mini" and d["latency_ms"] > 0')" = true ]
  mock_requests up | tail -1 | $JGET 'd["body"]["max_tokens"]' | grep -qx 5
  run admin '{"cmd":"channel_test","channel":99}'
  [ "$(echo "$output" | $JGET 'd["error"]["code"]')" = failed ]
  printf 'k\n' | gwctl channel add --name dead --type openai --base-url http://127.0.0.1:1 --models x
  run admin '{"cmd":"channel_test","channel":"dead"}'
  [[ "$(echo "$output" | $JGET 'd["error"]["message"]')" == *"Couldn't connect"* ]]
  # anthropic and gemini channels are tested in their own API
  printf 'k\n' | gwctl channel add --name claude --type anthropic --base-url "http://127.0.0.1:$MOCK_PORT" --models c
  run admin '{"cmd":"channel_test","channel":"claude"}'
  [ "$(echo "$output" | $JGET 'd["passed"]')" = true ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"], d["body"]["max_tokens"]')" = '["/v1/messages", 5]' ]
  printf 'k\n' | gwctl channel add --name gem --type gemini --base-url "http://127.0.0.1:$MOCK_PORT" --models g1
  run admin '{"cmd":"channel_test","channel":"gem"}'
  [ "$(echo "$output" | $JGET 'd["passed"]')" = true ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"], d["body"]["generationConfig"]["maxOutputTokens"]')" = '["/v1beta/models/g1:generateContent", 5]' ]
  # azure: the deployment path and api-version, as the request path builds them
  printf 'k\n' | gwctl channel add --name az --type azure --base-url "http://127.0.0.1:$MOCK_PORT" --models gpt-4.1 \
    --api-version 2024-10-21
  run admin '{"cmd":"channel_test","channel":"az"}'
  [ "$(echo "$output" | $JGET 'd["passed"]')" = true ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"], d["query"]["api-version"]')" = '["/openai/deployments/gpt-41/chat/completions", "2024-10-21"]' ]
}
