#!/usr/bin/env bats
# Channel health against hostile clients and hostile upstreams (issue #18): a client cannot get a
# channel disabled for everyone by making the upstream quote its words; ordinary native Anthropic
# and Gemini streams never open the breaker; the channel key never reaches a client through an
# error (bodies and in-stream events, native or converted); an answer compressed without being
# asked is decoded, never passed on compressed or with a stale Content-Encoding; lying error shapes
# are answered in the client's format. Real relayd, mock upstreams (tests/mock_upstream.c keys
# reject_field, raw, gzip, echo_key, error_after).
#
# The real error bodies the mocks imitate (reject_field and raw below):
#  - OpenAI 400 {"error":{"message":"Unrecognized request argument supplied: balance",
#    "type":"invalid_request_error","param":null,"code":null}}: the answer to an unknown argument,
#    as OpenAI-compatible clients meet it (github.com/brainlid/langchain CHANGELOG.md, v0.1.5:
#    'OpenAI returns "Unrecognized request argument supplied: api_key"').
#  - OpenAI 429 {"error":{"message":"You exceeded your current quota, please check your plan and
#    billing details...","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}
#    (One API treats type insufficient_quota as an account error: songquanpeng/one-api
#    monitor/manage.go, ShouldDisableChannel).
#  - Anthropic 400 {"type":"error","error":{"type":"invalid_request_error","message":"Your credit
#    balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or
#    purchase credits."}} (songquanpeng/one-api monitor/manage.go matches its prefix; the error
#    types, billing_error among them: anthropics/anthropic-sdk-typescript src/resources/shared.ts).
#    Anthropic's unknown-field answer: 400 invalid_request_error "balance: Extra inputs are not
#    permitted".
#  - Gemini 400 {"error":{"code":400,"message":"API key not valid. Please pass a valid API key.",
#    "status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",
#    "reason":"API_KEY_INVALID","domain":"googleapis.com",...}]}} (the reason codes:
#    googleapis/googleapis google/api/servicecontrol/v1/check_error.proto), and its unknown-field
#    answer 400 INVALID_ARGUMENT 'Invalid JSON payload received. Unknown name "balance": Cannot
#    find field.'
#  - New API's keyword rule, the behaviour this suite rules out (free text of any error):
#    QuantumNous/new-api service/channel.go, ShouldDisableChannel (AcSearch over the message).

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

KEY_OA=sk-hostile-openai-0123456789abcdef
KEY_AN=sk-ant-hostile-anthropic-0123456789
KEY_GE=AIzaHostileGemini0123456789abcdefgh

setup() {
  relay_env
  gwctl user add alice --quota 1000000000 > /dev/null
  gwctl config set retry_times 0 > /dev/null
}

port() { cat "$BATS_TEST_TMPDIR/mock-$1.port"; }

# channels TYPE... : one channel per type on its own mock (mock-oa, mock-an, mock-ge), named oa, an,
# ge, serving gpt-4o-mini, claude-sonnet-4-0 and gemini-2.5-flash
channels() {
  local t
  for t in "$@"; do
    case $t in
      oa) printf '%s\n' "$KEY_OA" | gwctl channel add --name oa --type openai --base-url "http://127.0.0.1:$(port oa)" \
            --models gpt-4o-mini > /dev/null ;;
      an) printf '%s\n' "$KEY_AN" | gwctl channel add --name an --type anthropic --base-url "http://127.0.0.1:$(port an)" \
            --models claude-sonnet-4-0 > /dev/null ;;
      ge) printf '%s\n' "$KEY_GE" | gwctl channel add --name ge --type gemini --base-url "http://127.0.0.1:$(port ge)" \
            --models gemini-2.5-flash > /dev/null ;;
    esac
  done
}

set_mock() {
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$(port "$1")/__mock/defaults" -d "$2"
}

admin() {
  python3 - "$RELAY_SOCKET" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline(); f.write(sys.argv[2] + "\n"); f.flush(); print(f.readline().strip())
PY
}
# health NAME FIELD: the live health of channel NAME (admin stats): status, breaker, ...
health() { admin '{"cmd":"stats"}' | $JGET "[c for c in d[\"channels\"] if c[\"name\"]==\"$1\"][0][\"$2\"]"; }
channel_status() { gwctl channel show "$1" --json | $JGET 'd["status"]'; }
is() { local want=$1; shift; [ "$("$@")" = "$want" ]; }
used_quota() { gwctl user show alice --json | $JGET 'd["used_quota"]'; }

# healthy NAME...: each channel is enabled (live and stored), its breaker closed, no failure counted
healthy() {
  local c
  for c in "$@"; do
    [ "$(health "$c" status)" = enabled ] || { echo "channel $c: live status $(health "$c" status)" >&2; return 1; }
    [ "$(health "$c" breaker)" = closed ] || { echo "channel $c: breaker $(health "$c" breaker)" >&2; return 1; }
    [ "$(health "$c" consecutive_failures)" = 0 ] || { echo "channel $c: failures $(health "$c" consecutive_failures)" >&2; return 1; }
    [ "$(channel_status "$c")" = enabled ] || { echo "channel $c: stored status $(channel_status "$c")" >&2; return 1; }
    [ "$(gwctl channel list --json | $JGET "[c[\"status\"] for c in d if c[\"name\"] == \"$c\"]")" = '["enabled"]' ] || return 1
  done
}

# req CLIENT MODEL STREAM [EXTRA_JSON_FIELDS]: one request in the client's format (openai, claude,
# gemini); sets code, body, hdrs
req() {
  local client=$1 model=$2 stream=$3 extra=${4:-} out="$BATS_TEST_TMPDIR/resp"
  case $client in
    openai)
      code=$(curl -s -N -o "$out.body" -D "$out.hdrs" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
        -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        --data-binary "{\"model\":\"$model\",\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]$extra}") ;;
    claude)
      code=$(curl -s -N -o "$out.body" -D "$out.hdrs" -w '%{http_code}' "$RELAY_URL/v1/messages" \
        -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
        --data-binary "{\"model\":\"$model\",\"max_tokens\":64,\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]$extra}") ;;
    gemini)
      local verb=generateContent
      [ "$stream" = true ] && verb='streamGenerateContent?alt=sse'
      code=$(curl -s -N -o "$out.body" -D "$out.hdrs" -w '%{http_code}' "$RELAY_URL/v1beta/models/$model:$verb" \
        -H "x-goog-api-key: $KEY" -H 'content-type: application/json' \
        --data-binary "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]$extra}") ;;
  esac
  body=$(cat "$out.body")
  hdrs=$(tr -d '\r' < "$out.hdrs")
}

# error_format CLIENT: the (non-stream) body is an error in the client's own format
error_format() {
  case $1 in
    openai) echo "$body" | $JGET 'd["error"]["message"]' > /dev/null ;;
    claude) [ "$(echo "$body" | $JGET 'd["type"]')" = error ] && echo "$body" | $JGET 'd["error"]["type"]' > /dev/null ;;
    gemini) echo "$body" | $JGET 'd["error"]["status"]' > /dev/null && echo "$body" | $JGET 'd["error"]["code"]' > /dev/null ;;
  esac
}

# events: the data payloads of the last response, one a line (its SSE framing checked; Gemini
# frames end in CRLF)
events() { tr -d '\r' < "$BATS_TEST_TMPDIR/resp.body" | sse_data; }

no_key_anywhere() {
  ! echo "$body$hdrs" | grep -qE "$KEY_OA|$KEY_AN|$KEY_GE"
}

@test "a client field the upstream quotes in its 400 disables no channel: each client format, each channel type, stream or not" {
  mock_start oa --mock '{"reject_field":"balance"}'
  mock_start an --mock '{"reject_field":"balance"}'
  mock_start ge --mock '{"reject_field":"balance"}'
  channels oa an ge
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  relayd_start
  # the same field reaches the upstream of the client's own format (passed through) and is
  # answered with the provider's real 400, quoting "balance"
  for stream in false true; do
    req openai gpt-4o-mini $stream ',"balance":1'
    [ "$code" = 400 ]
    [ "$(echo "$body" | $JGET 'd["error"]["message"]')" = "Unrecognized request argument supplied: balance" ]
    [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = invalid_request_error ]
    req claude claude-sonnet-4-0 $stream ',"balance":1'
    [ "$code" = 400 ]
    error_format claude
    echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'balance'
    req gemini gemini-2.5-flash $stream ',"balance":1'
    [ "$code" = 400 ]
    error_format gemini
    [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = INVALID_ARGUMENT ]
    echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'balance'
  done
  # and across formats (the converters drop an unknown field, so the upstream serves it)
  req openai claude-sonnet-4-0 false ',"balance":1';   [ "$code" = 200 ]
  req openai gemini-2.5-flash false ',"balance":1';   [ "$code" = 200 ]
  req claude gpt-4o-mini false ',"balance":1';         [ "$code" = 200 ]
  req gemini gpt-4o-mini false ',"balance":1';         [ "$code" = 200 ]
  # many of them: a client error never counts, never opens a breaker
  gwctl config set breaker_failures 2 > /dev/null
  for i in 1 2 3; do req openai gpt-4o-mini false ',"balance":1'; [ "$code" = 400 ]; done
  healthy oa an ge
  # nobody paid for the refused requests, and every channel still serves everyone
  used=$(used_quota)
  for i in 1 2 3; do req claude claude-sonnet-4-0 false ',"balance":1'; [ "$code" = 400 ]; done
  [ "$(used_quota)" = "$used" ]
  req openai gpt-4o-mini false;           [ "$code" = 200 ]
  req claude claude-sonnet-4-0 true;       [ "$code" = 200 ]
  req gemini gemini-2.5-flash false;      [ "$code" = 200 ]
  healthy oa an ge
  ! grep -q 'channel auto-disabled' "$BATS_TEST_TMPDIR/relayd.log"
}

@test "account errors disable by the provider's identifiers: insufficient_quota 429, no-credit 400, API_KEY_INVALID; echoed words and keywords in a message never" {
  mock_start oa
  mock_start an
  mock_start ge
  mock_start an2
  channels oa an ge
  gwctl channel edit an --priority 10 > /dev/null
  printf 'sk-ant-second-0123456789\n' | gwctl channel add --name an2 --type anthropic \
    --base-url "http://127.0.0.1:$(port an2)" --models claude-sonnet-4-0 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  gwctl config set channel_disable_keywords 'upstream_wallet_empty, other_code' > /dev/null
  gwctl config set retry_times 1 > /dev/null
  relayd_start
  # a client field named exactly like Anthropic's no-credit message, quoted back: not the account
  nocredit='Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.'
  set_mock an "{\"reject_field\":\"$nocredit\"}"
  req claude claude-sonnet-4-0 false ",\"$nocredit\":1"
  [ "$code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["message"]')" = "$nocredit: Extra inputs are not permitted" ]
  # an upstream message that merely mentions credit and balance (free text) is no account error
  set_mock oa '{"status":400,"raw":"{\"error\":{\"message\":\"Invalid value: your credit balance field is not a number\",\"type\":\"invalid_request_error\",\"param\":\"balance\",\"code\":null}}"}'
  req openai gpt-4o-mini false
  [ "$code" = 400 ]
  healthy oa an ge
  # channel_disable_keywords are error identifiers: a code disables, the same word in a message not
  set_mock oa '{"status":400,"raw":"{\"error\":{\"message\":\"Unrecognized request argument supplied: upstream_wallet_empty\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":null}}"}'
  req openai gpt-4o-mini false
  [ "$code" = 400 ]
  healthy oa
  set_mock oa '{"status":400,"raw":"{\"error\":{\"message\":\"wallet empty\",\"type\":\"relay_error\",\"param\":null,\"code\":\"upstream_wallet_empty\"}}"}'
  req openai gpt-4o-mini false
  [ "$code" = 400 ]
  [ "$(health oa status)" != enabled ]
  wait_until 5 is auto-disabled channel_status oa
  gwctl channel show oa --json | $JGET 'd["status_reason"]' | grep -q 'HTTP 400'
  # the real account answers: Anthropic's no-credit 400 (the whole message): the request moves on
  # to the next channel ...
  [ "$(mock_requests an2 | grep -c '/v1/messages')" = 0 ]
  set_mock an '{"reject_field":null,"status":400,"raw":"{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.\"},\"request_id\":\"req_011CZv3Gh3BsUXoDLwCn4j5q\"}"}'
  req claude claude-sonnet-4-0 false
  [ "$code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["type"]')" = message ]
  [ "$(mock_requests an2 | grep -c '/v1/messages')" = 1 ]
  wait_until 5 is auto-disabled channel_status an
  gwctl channel show an --json | $JGET 'd["status_reason"]' | grep -q 'Your credit balance is too low'
  healthy an2
  # ... Gemini's API_KEY_INVALID 400 (ErrorInfo reason), in the Gemini client's own format ...
  set_mock ge '{"status":400,"raw":"{\"error\":{\"code\":400,\"message\":\"API key not valid. Please pass a valid API key.\",\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"API_KEY_INVALID\",\"domain\":\"googleapis.com\",\"metadata\":{\"service\":\"generativelanguage.googleapis.com\"}}]}}"}'
  req gemini gemini-2.5-flash false
  [ "$code" = 400 ]
  error_format gemini
  wait_until 5 is auto-disabled channel_status ge
  # ... and OpenAI's 429 insufficient_quota (a 429 that is no rate limit: it disables at once)
  mock_start oa2 --status 429 --mock '{"raw":"{\"error\":{\"message\":\"You exceeded your current quota, please check your plan and billing details.\",\"type\":\"insufficient_quota\",\"param\":null,\"code\":\"insufficient_quota\"}}"}'
  printf 'sk-oa2-key-0123456789\n' | gwctl channel add --name oa2 --type openai --base-url "http://127.0.0.1:$(port oa2)" \
    --models gpt-4o > /dev/null
  wait_until 5 eval 'req openai gpt-4o false; [ "$code" = 429 ]'
  wait_until 5 is auto-disabled channel_status oa2
  gwctl channel show oa2 --json | $JGET 'd["status_reason"]' | grep -q 'HTTP 429'
}

@test "8 successful native Anthropic and Gemini streams in a row leave the breaker closed; their error events count" {
  mock_start an
  mock_start ge
  mock_start oa
  channels an ge oa
  gwctl config set breaker_failures 3 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  relayd_start
  for i in $(seq 1 8); do
    req claude claude-sonnet-4-0 true
    [ "$code" = 200 ]
    echo "$body" | grep -q '^event: message_stop'
    req gemini gemini-2.5-flash true
    [ "$code" = 200 ]
    events | tail -n 1 | $JGET 'd["candidates"][0]["finishReason"]' | grep -q STOP
  done
  # converted streams too (OpenAI client to either, Anthropic and Gemini clients to OpenAI)
  for i in 1 2 3 4; do
    req openai claude-sonnet-4-0 true;  [ "$code" = 200 ]; echo "$body" | grep -q '^data: \[DONE\]'
    req openai gemini-2.5-flash true;  [ "$code" = 200 ]; echo "$body" | grep -q '^data: \[DONE\]'
    req claude gpt-4o-mini true;       [ "$code" = 200 ]
    req gemini gpt-4o-mini true;       [ "$code" = 200 ]
  done
  healthy an ge oa
  [ "$(health an breaker_opened_total)" = 0 ]
  [ "$(health ge breaker_opened_total)" = 0 ]
  # an error event in a native stream is a failure: 3 of them open the breaker (Gemini too)
  set_mock an '{"error_after":1}'
  set_mock ge '{"error_after":1}'
  for i in 1 2 3; do
    req claude claude-sonnet-4-0 true; [ "$code" = 200 ]; echo "$body" | grep -q '^event: error'
    req gemini gemini-2.5-flash true; [ "$code" = 200 ]
  done
  [ "$(health an breaker)" = open ]
  [ "$(health ge breaker)" = open ]
  req claude claude-sonnet-4-0 true
  [ "$code" = 503 ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = overloaded_error ]
  [ "$(channel_status an)" = enabled ]
}

@test "the channel key echoed in an in-stream error or a 200 body never reaches a client, native or converted" {
  mock_start oa --mock '{"error_after":1,"echo_key":true}'
  mock_start an --mock '{"error_after":1,"echo_key":true}'
  mock_start ge --mock '{"error_after":1,"echo_key":true}'
  channels oa an ge
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  relayd_start
  local client model seen=0
  for client in openai claude gemini; do
    for model in gpt-4o-mini claude-sonnet-4-0 gemini-2.5-flash; do
      req $client $model true
      [ "$code" = 200 ]
      events > /dev/null              # well-formed SSE
      no_key_anywhere || { echo "key leaked: $client -> $model: $body" >&2; return 1; }
      if echo "$body" | grep -q 'Incorrect API key provided: \[redacted\]'; then seen=$((seen + 1)); fi
    done
  done
  # the error events were relayed (redacted), not dropped: at least every native pair and the
  # OpenAI client's three
  [ "$seen" -ge 5 ]
  # a lying 200 that carries an error quoting the key, non-stream, to each client format
  set_mock oa "{\"error_after\":null,\"raw\":\"{\\\"error\\\":{\\\"message\\\":\\\"key $KEY_OA was rejected\\\"}}\"}"
  for client in openai claude gemini; do
    req $client gpt-4o-mini false
    no_key_anywhere || { echo "key leaked to $client: $body" >&2; return 1; }
  done
  req openai gpt-4o-mini false
  [ "$code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["error"]["message"]')" = "key [redacted] was rejected" ]
  # nor into the logs or the database
  ! grep -qE "$KEY_OA|$KEY_AN|$KEY_GE" "$BATS_TEST_TMPDIR/relayd.log"
  [ "$(sql "SELECT count(*) FROM logs WHERE content LIKE '%hostile%'")" = 0 ]
  [ "$(sql "SELECT count(*) FROM channels WHERE status_reason LIKE '%hostile%'")" = 0 ]
}

@test "an answer gzip-compressed without being asked is decoded, stream or not; billing reads it; no Content-Encoding goes on" {
  mock_start oa --mock '{"gzip":true,"chunks":3,"prompt_tokens":17,"completion_tokens":9}'
  mock_start an --mock '{"gzip":true,"chunks":3}'
  channels oa an
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  relayd_start
  req openai gpt-4o-mini false
  [ "$code" = 200 ]
  ! echo "$hdrs" | grep -qi '^content-encoding'
  [ "$(echo "$body" | $JGET 'd["choices"][0]["message"]["content"]')" = "hello hello hello " ]
  [ "$(echo "$body" | $JGET 'd["usage"]["prompt_tokens"]')" = 17 ]
  wait_until 5 sql_is "17	9	upstream" "SELECT prompt_tokens, completion_tokens, usage_source FROM logs WHERE type = 2 ORDER BY id DESC LIMIT 1"
  # a stream: every event readable, [DONE] at the end, the breaker untouched
  req openai gpt-4o-mini true
  [ "$code" = 200 ]
  ! echo "$hdrs" | grep -qi '^content-encoding'
  [ "$(events | tail -n 1)" = "[DONE]" ]
  # native Anthropic, stream and not, and converted to an OpenAI client
  req claude claude-sonnet-4-0 false
  [ "$code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["type"]')" = message ]
  req claude claude-sonnet-4-0 true
  [ "$code" = 200 ]
  events > /dev/null
  echo "$body" | grep -q '^event: message_stop'
  req openai claude-sonnet-4-0 true
  [ "$code" = 200 ]
  [ "$(events | tail -n 1)" = "[DONE]" ]
  healthy oa an
  # a compressed error body that quotes the key: read (and redacted), not garbage
  set_mock oa '{"gzip":true,"status":401,"echo_key":true}'
  req openai gpt-4o-mini false
  [ "$code" = 401 ]
  no_key_anywhere
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'Incorrect API key provided: \[redacted\]'
  wait_until 5 is auto-disabled channel_status oa
  gwctl channel show oa --json | $JGET 'd["status_reason"]' | grep -q 'Incorrect API key provided: \[redacted\]'
}

@test "an encoding relay cannot decode, or a body that lies about its encoding, is refused with a clear 502" {
  mock_start oa --mock '{"headers":{"Content-Encoding":"x-unknown"}}'
  channels oa
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  relayd_start
  used=$(used_quota)
  for client in openai claude gemini; do
    req $client gpt-4o-mini false
    [ "$code" = 502 ]
    error_format $client
    ! echo "$hdrs" | grep -qi '^content-encoding'
  done
  echo "$body" | $JGET 'd["error"]["message"]' | grep -qi 'encoding'
  # a plain body that says it is gzip
  set_mock oa '{"headers":{"Content-Encoding":"gzip"}}'
  req openai gpt-4o-mini false
  [ "$code" = 502 ]
  error_format openai
  req openai gpt-4o-mini true
  [ "$code" = 502 ]
  [ "$(used_quota)" = "$used" ]
}

@test "lying error shapes: answered in the client's format, no key, no disable" {
  mock_start oa
  mock_start ge
  channels oa ge
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  relayd_start
  # "error" as a string quoting the key
  set_mock oa "{\"status\":400,\"raw\":\"{\\\"error\\\":\\\"$KEY_OA is not allowed to use balance\\\"}\"}"
  for client in openai claude gemini; do
    req $client gpt-4o-mini false
    [ "$code" = 400 ]
    error_format $client
    no_key_anywhere
  done
  # the wrong types everywhere, words of an account error in them
  set_mock oa '{"status":400,"raw":"{\"error\":{\"message\":{\"credit\":\"balance\"},\"type\":[\"insufficient_quota\"],\"code\":42,\"details\":\"API_KEY_INVALID\"}}"}'
  req openai gpt-4o-mini false
  [ "$code" = 400 ]
  error_format openai
  # not JSON at all, with the key, as a 500
  set_mock oa "{\"status\":500,\"raw\":\"<html>upstream $KEY_OA exploded: credit balance</html>\"}"
  req claude gpt-4o-mini false
  [ "$code" = 502 ]
  error_format claude
  no_key_anywhere
  set_mock oa '{"status":200,"raw":null}'
  req openai gpt-4o-mini false
  [ "$code" = 200 ]
  healthy oa
  # a 200 stream that is no SSE at all: an error event in the client's format, a failure counted
  set_mock ge '{"raw":"hello, I am not a stream"}'
  req gemini gemini-2.5-flash true
  [ "$code" = 200 ]
  events | tail -n 1 | $JGET 'd["error"]["status"]' > /dev/null
  [ "$(health ge consecutive_failures)" = 1 ]
  [ "$(channel_status ge)" = enabled ]
}

@test "Responses API streams: response.completed is a success, an error event a failure; the key in it is redacted" {
  mock_start oa --chunks 2
  channels oa
  gwctl channel edit oa --models gpt-4o > /dev/null
  gwctl config set breaker_failures 3 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 100000000)
  relayd_start
  local out="$BATS_TEST_TMPDIR/resp"
  responses() {
    code=$(curl -s -N -o "$out.body" -w '%{http_code}' "$RELAY_URL/v1/responses" -H "Authorization: Bearer $KEY" \
      -H 'content-type: application/json' --data-binary '{"model":"gpt-4o","input":"hi","stream":true}')
    body=$(cat "$out.body"); hdrs=
  }
  for i in 1 2 3 4 5; do
    responses
    [ "$code" = 200 ]
    events | tail -n 1 | $JGET 'd["type"]' | grep -qx response.completed
  done
  healthy oa
  set_mock oa '{"error_after":1,"echo_key":true}'
  for i in 1 2 3; do
    responses
    [ "$code" = 200 ]
    no_key_anywhere
    events | grep '"type":"error"' | head -n 1 | $JGET 'd["message"]' | grep -q 'Incorrect API key provided: \[redacted\]'
    # the upstream's own error event, and no "ended early" event of relay's after it
    [ "$(printf '%s\n' "$body" | grep -c '^event: error')" = 1 ]
  done
  [ "$(health oa breaker)" = open ]
  [ "$(channel_status oa)" = enabled ]
}
