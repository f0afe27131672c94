#!/usr/bin/env bats
# Prometheus /metrics on its own listener (metrics_listen): scraped with curl after real traffic
# through the mock upstream, checked by a strict parser of the text exposition format 0.0.4 (and by
# promtool when it is installed), and the numbers compared with what was sent.

load helpers

# rows_at_least N: the request log table holds N consume/error rows (evaluated at each call)
rows_at_least() { [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" -ge "$1" ]; }

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000 > /dev/null
  printf 'k\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models 'gpt-4o-mini,we"ird\model' > /dev/null
  printf 'k\n' | gwctl channel add --name spare --type openai --base-url "$MOCK_URL" --models gpt-4o > /dev/null
  gwctl channel disable spare > /dev/null
  gwctl price set 'we"ird\model' --ratio 1 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
  MPORT=$(free_port)
  METRICS="http://127.0.0.1:$MPORT/metrics"
}

# chat MODEL STREAM MOCK: one chat; sets status_code
chat() {
  status_code=$(curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary "{\"model\":$(printf '%s' "$1" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))'),\"stream\":$2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"mock\":$3}")
}

# scrape: GET /metrics into $BATS_TEST_TMPDIR/metrics.txt, checked by the strict parser, which
# writes every sample as JSON lines {"name","labels","value"} to metrics.jsonl
scrape() {
  local out="$BATS_TEST_TMPDIR/metrics"
  curl -sS -D "$out.headers" -o "$out.txt" "$METRICS"
  tr -d '\r' < "$out.headers" | grep -qix 'content-type: text/plain; version=0.0.4; charset=utf-8'
  python3 "$BATS_TEST_DIRNAME/promparse.py" "$out.txt" > "$out.jsonl"
  if command -v promtool > /dev/null; then promtool check metrics < "$out.txt"; fi
}

# value NAME 'python condition on labels l': the sum of matching samples' values
value() {
  python3 - "$BATS_TEST_TMPDIR/metrics.jsonl" "$1" "$2" <<'PY'
import json, sys
total, n = 0.0, 0
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s["name"] == sys.argv[2] and eval(sys.argv[3], {"l": s["labels"]}):
        total += s["value"]; n += 1
if n == 0:
    sys.exit("no sample %s where %s" % (sys.argv[2], sys.argv[3]))
print(int(total) if total == int(total) else total)
PY
}

@test "metrics: valid exposition; requests, tokens, spend, histograms, stream ends, channel states, build info" {
  relayd_start --metrics-listen "127.0.0.1:$MPORT"
  [ "$(gwctl status --json | json_get 'd["metrics_listen"]')" = "127.0.0.1:$MPORT" ]
  scrape
  [ "$(value relayd_build_info 'l["version"] != ""')" = 1 ]
  [ "$(value relayd_channel_up 'l == {"channel": "c1", "state": "enabled"}')" = 1 ]
  [ "$(value relayd_channel_up 'l == {"channel": "spare", "state": "disabled"}')" = 0 ]

  chat gpt-4o-mini false '{"prompt_tokens":100,"completion_tokens":20}'
  [ "$status_code" = 200 ]
  chat gpt-4o-mini false '{"prompt_tokens":50,"completion_tokens":5}'
  chat gpt-4o-mini true '{"prompt_tokens":7,"completion_tokens":3}'
  [ "$status_code" = 200 ]
  chat gpt-4o-mini false '{"status":400}'
  [ "$status_code" = 400 ]
  chat 'we"ird\model' false '{"prompt_tokens":1,"completion_tokens":1}'
  [ "$status_code" = 200 ]
  scrape
  [ "$(value relayd_requests_total 'l == {"model": "gpt-4o-mini", "channel": "c1", "code": "200"}')" = 3 ]
  [ "$(value relayd_requests_total 'l == {"model": "gpt-4o-mini", "channel": "c1", "code": "400"}')" = 1 ]
  # label values with a quote and a backslash come back unescaped as they were
  [ "$(value relayd_requests_total 'l["model"] == "we\"ird\\model"')" = 1 ]
  [ "$(value relayd_tokens_total 'l["model"] == "gpt-4o-mini" and l["type"] == "input"')" = 157 ]
  [ "$(value relayd_tokens_total 'l["model"] == "gpt-4o-mini" and l["type"] == "output"')" = 28 ]
  [ "$(value relayd_tokens_total 'l["model"] == "gpt-4o-mini" and l["type"] == "cached"')" = 0 ]
  # spend equals what the database charged
  spend=$(value relayd_spend_quota_total 'True')
  [ "$spend" -gt 0 ]
  wait_until 10 rows_at_least 5
  [ "$spend" = "$(sql 'SELECT sum(quota) FROM logs WHERE type = 2')" ]
  [ "$(value relayd_request_duration_seconds_count 'l["model"] == "gpt-4o-mini"')" = 4 ]
  [ "$(value relayd_request_duration_seconds_bucket 'l["model"] == "gpt-4o-mini" and l["le"] == "+Inf"')" = 4 ]
  [ "$(value relayd_time_to_first_token_seconds_count 'l["model"] == "gpt-4o-mini"')" -ge 3 ]
  [ "$(value relayd_upstream_duration_seconds_count 'l["channel"] == "c1"')" = 5 ]
  [ "$(value relayd_stream_end_total 'l["reason"] == "done"')" = 1 ]
  [ "$(value relayd_inflight_requests 'True')" = 0 ]
  [ "$(value relayd_channel_inflight 'l["channel"] == "c1"')" = 0 ]
  [ "$(value relayd_http_requests_total 'True')" -ge 5 ]
  grep -q '^# TYPE relayd_ratelimit_rejections_total counter$' "$BATS_TEST_TMPDIR/metrics.txt"
  # no key, user or token name anywhere
  run grep -cE "$KEY|alice|t1\"" "$BATS_TEST_TMPDIR/metrics.txt"
  [ "$output" = 0 ]

  # other paths and methods
  [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")" = 404 ]
  [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$METRICS")" = 405 ]
  [ "$(curl -s -o /dev/null -w '%{http_code}' -I "$METRICS")" = 200 ]
}

@test "metrics: the parser refuses broken expositions (it can fail)" {
  p="$BATS_TEST_DIRNAME/promparse.py"
  bad() { printf "$1" > "$BATS_TEST_TMPDIR/bad.txt"; run python3 "$p" "$BATS_TEST_TMPDIR/bad.txt"; [ "$status" -ne 0 ] || { echo "accepted: $1" >&2; false; }; }
  bad '# TYPE a_total counter\na_total{x="1} 1\n'
  bad '# TYPE a_total counter\na_total 1\n# TYPE a_total counter\n'
  bad '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'
  bad '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'
  bad '# TYPE a_total counter\na_total{x="\\q"} 1\n'
  bad '# TYPE a gauge\na 1\na 2\n'
  bad '# TYPE a gauge\na one\n'
  bad '# TYPE a gauge\na 1'
  printf '# HELP a x\n# TYPE a gauge\na{b="\\"\\\\\\n"} 1\n' > "$BATS_TEST_TMPDIR/ok.txt"
  run python3 "$p" "$BATS_TEST_TMPDIR/ok.txt"
  [ "$status" -eq 0 ]
  [ "$output" = '{"name": "a", "labels": {"b": "\"\\\n"}, "value": 1.0}' ]
}

@test "metrics_listen = off: no listener; a taken port refuses the start (75); an address not here: relayd serves anyway and says why" {
  relayd_start --metrics-listen off
  [ "$(gwctl status --json | json_get 'd["metrics_listen"]')" = off ]
  run curl -s -o /dev/null --max-time 2 "$METRICS"
  [ "$status" -ne 0 ]
  relayd_stop
  # a port someone else holds: Prometheus would scrape the wrong process; relayd does not start
  python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); time.sleep(30)' "$MPORT" &
  holder=$!
  wait_until 5 python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$MPORT"
  run timeout "$(_relay_scale 20)" "$RELAY_BIN/relayd" --listen "127.0.0.1:$(free_port)" --db "$RELAY_DB" \
    --admin-socket "$RELAY_SOCKET" --metrics-listen "127.0.0.1:$MPORT"
  [ "$status" -eq 75 ]
  [[ "$output" == *"metrics_listen 127.0.0.1:$MPORT is already served by another program"* ]]
  kill "$holder"
  wait "$holder" || true
  # an address of no interface here (TEST-NET-1): logged, and the API is served without metrics
  relayd_start --metrics-listen "192.0.2.1:$MPORT"
  grep -q "msg=\"metrics disabled: cannot listen\" error=\"metrics_listen 192.0.2.1:$MPORT: Cannot assign requested address\"" "$BATS_TEST_TMPDIR/relayd.log"
  [ "$(gwctl status --json | json_get 'd["metrics_listen"]')" = off ]
}
