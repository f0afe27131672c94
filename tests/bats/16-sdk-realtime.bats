#!/usr/bin/env bats
# The Realtime API (relayd/realtime.c): the openai SDK's realtime client (tests/sdk/realtime.mjs,
# OpenAIRealtimeWS on the `ws` package) through a real relayd to a realtime mock upstream
# (tests/sdk/realtime_mock.mjs: checks the channel key, answers OpenAI's event sequence with a
# response.done usage). Billing, the log rows, quota running out, both sides leaving, SIGTERM,
# Azure's path and the browser clients' subprotocol key.

load helpers
load gwtui_helpers

teardown() { gwtui_teardown; }   # quits gwtui when a test started one, then relay_teardown

SDK_DIR="$BATS_TEST_DIRNAME/../sdk"

setup() {
  [ -d "$SDK_DIR/node_modules/ws" ] || {
    echo "tests/sdk/node_modules is missing: make check runs npm ci there" >&2
    return 1
  }
  relay_env
  gwctl user add alice --quota 100000000
  # (uncached + cached * 0.5 + completion * 3) * 2: the mock's usage (120 in, 64 cached, 30 out)
  # costs (56 + 32 + 90) * 2 = 356
  gwctl price set rt-model --ratio 2 --completion-ratio 3 --cache-ratio 0.5
}

# rt_mock: the realtime mock upstream; RT_PORT, RT_REC (its record)
rt_mock() {
  local pf="$BATS_TEST_TMPDIR/rt.port" i
  RT_REC="$BATS_TEST_TMPDIR/rt.jsonl"
  : > "$RT_REC"
  _spawn rt-mock "$BATS_TEST_TMPDIR/mock-rt.log" node "$SDK_DIR/realtime_mock.mjs" "$pf" "$RT_REC"
  for ((i = 0; i < 100; i++)); do [ -s "$pf" ] && break; sleep 0.05; done
  RT_PORT=$(cat "$pf")
}

# rt_setup TYPE [TOKEN_QUOTA]: the mock, one channel of TYPE serving rt-model, a token, relayd
rt_setup() {
  local type=$1 quota=${2:-50000000} extra=()
  rt_mock
  [ "$type" = azure ] && extra=(--api-version 2025-04-01-preview)
  printf 'sk-provider\n' | gwctl channel add --name ch --type "$type" --base-url "http://127.0.0.1:$RT_PORT" \
    --models rt-model "${extra[@]}"
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota "$quota")
  export RELAY_KEY
  relayd_start
}

# rt SCENARIO [ARG]: runs the SDK client; the last JSON line it printed in $out
rt() {
  out=$(cd "$SDK_DIR" && node realtime.mjs "$1" rt-model "${2:-1}" | tail -n 1)
  echo "$1: $out" >&3
}

# metric NAME: the value of an unlabelled sample on relayd's /metrics
metric() {
  curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v n="$1" '$1 == n { print $2 }'
}

rows_are() { [ "$(sql "SELECT count(*) FROM logs WHERE type=2")" = "$1" ]; }
mock_saw() { grep -q "$1" "$RT_REC"; }

@test "realtime: one text response through the SDK is relayed, billed from response.done and logged" {
  rt_setup openai
  rt text 1
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1"]' ]
  [ "$(echo "$out" | json_get 'd["usages"][0]["input_tokens"]')" = 120 ]
  [ "$(echo "$out" | json_get 'd["errors"]')" = '[]' ]
  [ "$(echo "$out" | json_get 'd["close"]["code"]')" = 1000 ]
  # the upstream saw the channel key (the mock refuses any other) and the client's events
  grep -q '"ev":"upgrade","path":"/v1/realtime","model":"rt-model","ok":true' "$RT_REC"
  grep -q '"type":"response.create"' "$RT_REC"
  wait_until 10 rows_are 1
  [ "$(sql "SELECT prompt_tokens, completion_tokens, quota, usage_source, model_name FROM logs WHERE type=2")" = \
    "$(printf '120\t30\t356\tupstream\trt-model')" ]
  wait_until 10 sql_is 356 "SELECT used_quota FROM tokens"
  # the audio and text split is in the charge's explanation
  sql "SELECT billing FROM logs WHERE type=2" | grep -q 'output text 10 audio 20'
  [ "$(sql "SELECT api FROM logs WHERE type=2")" = realtime ] || sql "SELECT billing FROM logs WHERE type=2" | grep -q '"api":"realtime"'
  # the client's close reached the upstream
  wait_until 10 mock_saw '"ev":"close","code":1000'
}

@test "realtime: two responses in one session are two log rows" {
  rt_setup openai
  rt text 2
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1", "Hello 2"]' ]
  wait_until 10 rows_are 2
  [ "$(sql "SELECT sum(quota) FROM logs WHERE type=2")" = 712 ]
  [ "$(sql "SELECT count(DISTINCT request_id) FROM logs WHERE type=2")" = 2 ]
  wait_until 10 sql_is 712 "SELECT used_quota FROM tokens"
}

@test "realtime: a bad key is a 401 in OpenAI's shape before any upgrade; no upstream connection" {
  rt_setup openai
  RELAY_KEY=sk-wrong rt text 1
  [ "$(echo "$out" | json_get 'd["status"]')" = 401 ]
  [ "$(echo "$out" | json_get 'd["body"]["error"]["code"]')" = invalid_api_key ]
  # without the WebSocket headers, a plain request is refused in OpenAI's shape too
  run curl -s "$RELAY_URL/v1/realtime?model=rt-model" -H "Authorization: Bearer $RELAY_KEY"
  [ "$(echo "$output" | json_get 'd["error"]["code"]')" = websocket_required ]
  [ ! -s "$RT_REC" ]
  rows_are 0
}

@test "realtime: quota running out mid-session closes it with an error event and a close frame" {
  # the hold for one response is (4096 * 2 + 4096 * 3) * 2 = 40960 (input at the dearest ratio, the
  # 1-hour cache write's 2): the first fits, after it no new one does
  rt_setup openai 41060
  rt quota
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1"]' ]
  [ "$(echo "$out" | json_get 'd["errors"][0]["code"]')" = insufficient_quota ]
  [ "$(echo "$out" | json_get 'd["close"]["code"]')" = 1008 ]
  wait_until 10 rows_are 1
  wait_until 10 sql_is 356 "SELECT used_quota FROM tokens"
  wait_until 10 mock_saw '"ev":"close"'
}

@test "realtime: the upstream dropping the connection reaches the client as an error event and a close" {
  # quota for one hold only (40960, see above): the next session opens only if the hold came back
  rt_setup openai 41060
  rt updrop
  [ "$(echo "$out" | json_get 'd["errors"][0]["code"]')" = upstream_disconnected ]
  [ "$(echo "$out" | json_get 'd["close"]["code"]')" = 1011 ]
  rows_are 0
  rt text 1
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1"]' ]
}

@test "realtime: a client that drops closes the upstream; the session count returns to 0" {
  MPORT=$(free_port)
  rt_mock
  printf 'sk-provider\n' | gwctl channel add --name ch --type openai --base-url "http://127.0.0.1:$RT_PORT" --models rt-model
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 41060)
  export RELAY_KEY
  relayd_start --metrics-listen "127.0.0.1:$MPORT"
  rt clientdrop
  [ "$(echo "$out" | json_get 'd["dropped"]')" = true ]
  wait_until 10 mock_saw '"ev":"close","code":1001'
  wait_until 10 eval '[ "$(metric relayd_realtime_sessions)" = 0 ]'
  [ "$(metric relayd_realtime_sessions_total)" = 1 ]
  [ "$(gwctl status --json | json_get 'd["realtime_sessions_total"]')" = 1 ]
  rows_are 0
  # its hold came back (the token has room for one): a new session works
  rt text 1
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1"]' ]
  [ "$(metric relayd_realtime_sessions_total)" = 2 ]
}

@test "realtime: SIGTERM drains sessions with close frames, then relayd exits 0" {
  rt_setup openai
  local f="$BATS_TEST_TMPDIR/drain.out"
  (cd "$SDK_DIR" && node realtime.mjs drain rt-model > "$f") &
  local client=$!
  wait_until 10 grep -q ready "$f"
  # the session's hold is on disk while it is open; the drain releases it (R2: none left open)
  wait_until 10 sql_is 1 "SELECT count(*) FROM reservations"
  relayd_stop
  wait "$client"
  [ "$(sql "SELECT count(*) FROM reservations")" = 0 ]
  rows_are 0
  out=$(tail -n 1 "$f")
  echo "drain: $out" >&3
  [ "$(echo "$out" | json_get 'd["close"]["code"]')" = 1001 ]
  [ "$(echo "$out" | json_get 'd["errors"][0]["code"]')" = shutting_down ]
  wait_until 10 mock_saw '"ev":"close","code":1001'
}

@test "realtime: Azure's realtime path reaches an Azure channel with its api-key" {
  rt_setup azure
  rt azure 1
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1"]' ]
  grep -q '"ev":"upgrade","path":"/openai/realtime","model":"rt-model","ok":true' "$RT_REC"
  wait_until 10 rows_are 1
  [ "$(sql "SELECT quota FROM logs WHERE type=2")" = 356 ]
}

@test "realtime: the key in the subprotocol (browser clients) is accepted and the subprotocol answered" {
  rt_setup openai
  rt subproto
  [ "$(echo "$out" | json_get 'd["protocol"]')" = realtime ]
  [ "$(echo "$out" | json_get 'd["events"][0]')" = session.created ]
  [ "$(echo "$out" | json_get 'd["close"]["code"]')" = 1000 ]
}

@test "realtime: an upstream that refuses the channel key is a 502 before the client's upgrade" {
  rt_mock
  printf 'sk-not-the-providers\n' | gwctl channel add --name ch --type openai --base-url "http://127.0.0.1:$RT_PORT" \
    --models rt-model
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  export RELAY_KEY
  relayd_start
  rt text 1
  [ "$(echo "$out" | json_get 'd["status"]')" = 502 ]
  [ "$(echo "$out" | json_get 'd["body"]["error"]["code"]')" = upstream_error ]
  echo "$out" | json_get 'd["body"]["error"]["message"]' | grep -q 'HTTP 401'
  grep -q '"ok":false' "$RT_REC"
  rows_are 0
}

@test "realtime: rate limits count each response; a session past its rpm is closed with rate_limit_exceeded" {
  rt_mock
  printf 'sk-provider\n' | gwctl channel add --name ch --type openai --base-url "http://127.0.0.1:$RT_PORT" --models rt-model
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  export RELAY_KEY
  # one request for the session's first hold, one for the hold after response 1; none after response 2
  gwctl limit set --token t1 --rpm 2
  relayd_start
  rt quota
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1", "Hello 2"]' ]
  [ "$(echo "$out" | json_get 'd["errors"][0]["code"]')" = rate_limit_exceeded ]
  [ "$(echo "$out" | json_get 'd["close"]["code"]')" = 1008 ]
  wait_until 10 rows_are 2
  # a new session within the window is refused before its upgrade, in OpenAI's shape
  rt text 1
  [ "$(echo "$out" | json_get 'd["status"]')" = 429 ]
  [ "$(echo "$out" | json_get 'd["body"]["error"]["code"]')" = rate_limit_exceeded ]
}

@test "realtime: a 2 MiB audio message reaches the upstream whole, then the response is billed" {
  rt_setup openai
  rt audio
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1"]' ]
  # the mock parsed the whole message: its audio field has every base64 byte of 1.5 MiB
  grep '"type":"input_audio_buffer.append"' "$RT_REC" | grep -q '"audio":2097152'
  wait_until 10 rows_are 1
}

@test "realtime: gwtui's overview counts the open sessions" {
  rt_setup openai
  TM="$BATS_TEST_TMPDIR/tmux.sock"
  LIMIT=$(_relay_scale 10)
  local f="$BATS_TEST_TMPDIR/held.out"
  (cd "$SDK_DIR" && node realtime.mjs drain rt-model > "$f") &
  local client=$!
  wait_until 10 grep -q ready "$f"
  gwtui_start 100 30
  wait_screen 'realtime sessions 1 open, 1 total'
  [ "$(gwctl status --json | json_get 'd["realtime_sessions"]')" = 1 ]
  # the line is translated (po/: zh_CN, zh_TW, ja, fr)
  # the next server only once this one is gone (a new session on a dying server's socket fails
  # with "server exited unexpectedly"), as 63-i18n.bats does
  tmux -S "$TM" kill-server
  wait_until 10 sh -c "! tmux -S '$TM' list-sessions > /dev/null 2>&1"
  rm -f "$TM"
  export RELAY_LOCALEDIR="$RELAY_BIN/../locale" LC_ALL=C.UTF-8 LANGUAGE=fr
  gwtui_start 100 30
  wait_screen 'sessions realtime : 1 ouvertes, 1 en tout'
  relayd_stop
  wait "$client"
}

@test "realtime: a session's hold is a stored reservation: kill -9 mid-response leaves it on disk, the restart charges it, the books balance" {
  rt_mock
  printf 'sk-provider\n' | gwctl channel add --name ch --type openai --base-url "http://127.0.0.1:$RT_PORT" --models rt-model
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  export RELAY_KEY
  # one node name for both starts (auto is HOSTNAME/LISTEN and the restart takes a new port)
  relayd_start --node-name rt-node
  local f="$BATS_TEST_TMPDIR/midcrash.out"
  (cd "$SDK_DIR" && node realtime.mjs midcrash rt-model > "$f") &
  local client=$!
  wait_until 10 grep -q ready "$f"
  # response 1 is billed (356); the hold for response 2 (in progress: the mock hangs) is on disk
  wait_until 10 rows_are 1
  wait_until 10 sql_is 1 "SELECT count(*) FROM reservations WHERE node = 'rt-node'"
  local rid1 rid2
  rid1=$(sql "SELECT request_id FROM logs WHERE type=2")
  rid2=$(sql "SELECT request_id FROM reservations")
  [ "${rid2%-2}-1" = "$rid1" ]
  [ "$(sql "SELECT quota, token_limited, is_stream, model_name FROM reservations")" = "$(printf '40960\t1\t1\trt-model')" ]
  kill -KILL "$RELAYD_PID"
  wait_until 5 test -e "$BATS_TEST_TMPDIR/relayd.rc"
  [ "$(cat "$BATS_TEST_TMPDIR/relayd.rc")" = 137 ]
  rm -f "$BATS_TEST_TMPDIR/relayd.pid"
  wait "$client" || true
  # on disk after the crash: used = logged, remain + used = granted (token and user)
  [ "$(sql "SELECT used_quota, remain_quota + used_quota FROM tokens")" = "$(printf '356\t50000000')" ]
  [ "$(sql "SELECT used_quota, quota + used_quota FROM users WHERE username='alice'")" = "$(printf '356\t100000000')" ]
  [ "$(sql "SELECT sum(quota) FROM logs WHERE type IN (2,5)")" = 356 ]
  # the restart resolves the hold: charged in full (unsettled_reservations charge), with its row
  relayd_start --node-name rt-node --unsettled-reservations charge
  [ "$(sql "SELECT count(*) FROM reservations")" = 0 ]
  [ "$(sql "SELECT quota, end_reason, usage_source FROM logs WHERE request_id = '$rid2'")" = \
    "$(printf '40960\trestart_charge\treserved')" ]
  [ "$(sql "SELECT used_quota, remain_quota + used_quota FROM tokens")" = "$(printf '41316\t50000000')" ]
  [ "$(sql "SELECT used_quota, quota + used_quota FROM users WHERE username='alice'")" = "$(printf '41316\t100000000')" ]
  [ "$(sql "SELECT sum(quota) FROM logs WHERE type IN (2,5)")" = 41316 ]
  [ -z "$(sql "SELECT request_id FROM logs WHERE type IN (2,5) GROUP BY request_id HAVING count(*) > 1")" ]
  # a session that ends cleanly leaves no reservation: its last hold is released (no row, no charge)
  rt text 1
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1"]' ]
  wait_until 10 sql_is 41672 "SELECT used_quota FROM tokens"
  relayd_stop
  [ "$(sql "SELECT count(*) FROM reservations")" = 0 ]
  [ "$(sql "SELECT sum(quota) FROM logs WHERE type IN (2,5)")" = 41672 ]
  [ "$(sql "SELECT remain_quota + used_quota FROM tokens")" = 50000000 ]
}

@test "realtime: audio tokens cost the price's audio ratios (cached audio the cache ratio); log explain shows and re-computes it" {
  # the mock's usage: input 120 = text 100 + audio 20, cached 64 (text 54, audio 10); output 30 =
  # text 10 + audio 20. At ratio 2, completion 3, cache 0.5, audio 8, audio completion 2:
  # (text uncached 46 + audio uncached 10 x 8 + cached 64 x 0.5 + text out 10 x 3
  #  + audio out 20 x 8 x 2) x 2 = (46 + 80 + 32 + 30 + 320) x 2 = 1016
  gwctl price set rt-model --ratio 2 --completion-ratio 3 --cache-ratio 0.5 --audio-ratio 8 --audio-completion-ratio 2
  [ "$(gwctl price list --json | json_get '[p for p in d if p["model"] == "rt-model"][0]["audio_ratio"]')" = 8 ]
  rt_setup openai
  rt text 1
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1"]' ]
  wait_until 10 rows_are 1
  [ "$(sql "SELECT quota FROM logs WHERE type=2")" = 1016 ]
  wait_until 10 sql_is 1016 "SELECT used_quota FROM tokens"
  local rid
  rid=$(sql "SELECT request_id FROM logs WHERE type=2")
  run gwctl log explain "$rid"
  echo "$output" >&3
  [ "$status" = 0 ]
  echo "$output" | grep -q 'audio: prompt 20 (cached 10, at the cache ratio), completion 20'
  echo "$output" | grep -q 'audio_ratio 8, audio_completion_ratio 2'
  echo "$output" | grep -q 're-computed 1016 = logs.quota 1016: matches'
  # OpenAI's realtime models come priced as audio (migration 013)
  [ "$(gwctl price list --json | json_get '[[p["model_ratio"], p["completion_ratio"], p["cache_ratio"], p["audio_ratio"], p["audio_completion_ratio"]] for p in d if p["model"] == "gpt-realtime"][0]')" = '[2, 4, 0.1, 8, 2]' ]
  # the ratios go with --ratio only, and no negative ratio
  run gwctl price set rt-model --audio-ratio 8
  [ "$status" = 2 ]
  run gwctl price set rt-model --ratio 2 --audio-ratio -1
  [ "$status" = 2 ]
}

@test "realtime: a session idle longer than realtime_idle_timeout_s gets an error event and a close 1000" {
  gwctl config set realtime_idle_timeout_s 1
  rt_setup openai
  # the client idles 3 s before its first response
  RT_IDLE_S=3 rt text 1
  [ "$(echo "$out" | json_get 'd["errors"][0]["code"]')" = idle_timeout ]
  [ "$(echo "$out" | json_get 'd["close"]["code"]')" = 1000 ]
  [ "$(echo "$out" | json_get 'd["texts"]')" = '[]' ]
  wait_until 10 mock_saw '"ev":"close","code":1000'
  rows_are 0
  # a session that talks is not idle
  rt text 2
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1", "Hello 2"]' ]
}

@test "realtime: a session holds its channel's concurrency slot for its whole life (max_concurrency counts it)" {
  rt_mock
  printf 'sk-provider\n' | gwctl channel add --name ch --type openai --base-url "http://127.0.0.1:$RT_PORT" --models rt-model
  gwctl channel edit ch --max-concurrency 1
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  export RELAY_KEY
  relayd_start
  local f="$BATS_TEST_TMPDIR/held.out"
  (cd "$SDK_DIR" && exec node realtime.mjs drain rt-model > "$f") &
  local client=$!
  wait_until 10 grep -q ready "$f"
  # the open session has the channel's one slot: a second session is refused before its upgrade
  rt text 1
  [ "$(echo "$out" | json_get 'd["status"]')" = 503 ]
  [ "$(echo "$out" | json_get 'd["body"]["error"]["code"]')" = model_not_available ]
  # and so is a plain request on the channel
  run curl -s "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $RELAY_KEY" \
    -H 'Content-Type: application/json' -d '{"model":"rt-model","messages":[{"role":"user","content":"hi"}]}'
  [ "$(echo "$output" | json_get 'd["error"]["code"]')" = channels_busy ]
  # the slot comes back when the session ends (its client goes away: the upstream gets its 1001)
  kill "$client"
  wait "$client" || true
  wait_until 10 mock_saw '"ev":"close","code":1001'
  rt text 1
  [ "$(echo "$out" | json_get 'd["texts"]')" = '["Hello 1"]' ]
}
