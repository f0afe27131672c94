#!/usr/bin/env bats
# Wire fidelity (issue #20), end to end through relayd: counts without upstream usage by the model's
# own tokenizer (relayd/tokenizer.h, data from `make tokenizer-data`), compared with tiktoken run
# under node from the same npm package; and an upstream stream read by the SSE standard's rules
# (CR line ends, multi-line data, cut into small reads) through the mock's replay.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"
ROOT="$BATS_TEST_DIRNAME/../.."

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000
  printf 'sk-upstream-1\n' | gwctl channel add --name c1 --type openai \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models gpt-4o-mini,gpt-4o
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  TOKDIR="${RELAY_BIN%/bin}/share/tokenizer"
}

teardown() {
  relay_teardown
}

chat() {
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s -o "$out.body" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $KEY" --data-binary "$1")
  body=$(cat "$out.body")
}

wait_logs() {
  for _ in $(seq 1 50); do
    [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" -ge "$1" ] && return 0
    sleep 0.1
  done
  echo "expected $1 request log rows" >&2
  return 1
}

# tiktoken ENCODING TEXT: the token count tiktoken itself gives (the package make tokenizer-data installs)
tiktoken() {
  node -e 'const {get_encoding} = require(process.argv[1]); const e = get_encoding(process.argv[2]);
           process.stdout.write(String(e.encode_ordinary(process.argv[3]).length)); e.free()' \
    "$ROOT/dist/tokenizer/node_modules/tiktoken" "$1" "$2"
}

@test "no usage from the upstream: counted by o200k_base as tiktoken counts, the counter named in the log row" {
  [ -f "$TOKDIR/o200k_base.json" ] || { echo "no tokenizer data in $TOKDIR: make tokenizer-data" >&2; return 1; }
  relayd_start --tokenizer-dir "$TOKDIR"
  grep -q 'counted by BPE' "$BATS_TEST_TMPDIR/relayd.log"
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello eight times, please."}],"mock":{"no_usage":true,"chunks":8}}'
  [ "$status_code" = 200 ]
  chat '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello eight times, please."}],"mock":{"no_usage":true,"chunks":8}}'
  [ "$status_code" = 200 ]
  wait_logs 2
  local out prompt
  out=$(tiktoken o200k_base "hello hello hello hello hello hello hello hello ")
  prompt=$(tiktoken o200k_base "Say hello eight times, please.")
  [ "$out" -gt 0 ] && [ "$out" -ne 12 ]          # not what characters/4 gives (48 / 4)
  sql "SELECT usage_source, completion_tokens, prompt_tokens, billing FROM logs WHERE type=2" >&2; echo "want $out $prompt" >&2
  [ "$(sql 'SELECT group_concat(usage_source), group_concat(completion_tokens), group_concat(prompt_tokens) FROM logs WHERE type=2')" = \
    "$(printf 'local,local\t%s,%s\t%s,%s' "$out" "$out" "$prompt" "$prompt")" ]
  for b in $(sql "SELECT billing FROM logs WHERE type=2" | tr -d ' '); do
    [ "$(echo "$b" | $JGET 'd["counter"]')" = o200k_base ]
  done
}

@test "no tokenizer data: characters/4, said at start and in the log row" {
  relayd_start --tokenizer-dir "$BATS_TEST_TMPDIR/none"
  grep -q 'counted as characters/4' "$BATS_TEST_TMPDIR/relayd.log"
  chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mock":{"no_usage":true,"chunks":8}}'
  [ "$status_code" = 200 ]
  wait_logs 1
  [ "$(sql 'SELECT usage_source, completion_tokens FROM logs WHERE type=2')" = "$(printf 'local\t12')" ]
  [ "$(sql 'SELECT billing FROM logs WHERE type=2' | $JGET 'd["counter"]')" = chars/4 ]
}

@test "an upstream stream with CR line ends and multi-line data, in 7-byte reads: text relayed, usage read" {
  local f="$BATS_TEST_TMPDIR/cr.sse"
  python3 - "$f" <<'PY'
import sys
chunk = lambda s: b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}\r\r' % s
sse = (b': keep-alive\r\r'
       + chunk(b'Hello') + chunk(b' world')
       # one event, its JSON over two data lines: joined with LF it parses
       + b'data: {"id":"c1","object":"chat.completion.chunk","choices":[],\r'
       + b'data: "usage":{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16}}\r\r'
       + b'data: [DONE]\r\r')
open(sys.argv[1], "wb").write(sse)
PY
  relayd_start
  chat "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"mock\":{\"replay\":{\"file\":\"$f\",\"content_type\":\"text/event-stream\",\"chunk_bytes\":7}}}"
  [ "$status_code" = 200 ]
  printf '%s' "$body" | grep -q 'Hello'
  printf '%s' "$body" | grep -q 'DONE'
  wait_logs 1
  sql "SELECT usage_source, prompt_tokens, completion_tokens, billing FROM logs WHERE type=2" >&2; echo "$body" | head -c 600 >&2
  [ "$(sql 'SELECT usage_source, prompt_tokens, completion_tokens FROM logs WHERE type=2')" = "$(printf 'upstream\t11\t5')" ]
}

# img_setup: a PNG served on loopback by a second mock (every path answers the file), and a gemini
# channel on the first mock
img_setup() {
  IMG="$BATS_TEST_TMPDIR/cat.png"
  python3 -c 'import sys; open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) * 4)' "$IMG"
  mock_start img --mock "{\"replay\":{\"file\":\"$IMG\",\"content_type\":\"image/png\"}}"
  printf 'gemini-key\n' | gwctl channel add --name gm --type gemini --base-url "http://127.0.0.1:$MOCK_UP_PORT" \
    --models gemini-2.5-flash
  IMG_BODY="{\"model\":\"gemini-2.5-flash\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"what is it?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://127.0.0.1:$MOCK_IMG_PORT/cat.png\"}}]}]}"
}

@test "an image URL to a gemini channel: fetched (allowance for loopback configured) and sent inline" {
  img_setup
  relayd_start --image-fetch-allow-private yes
  chat "$IMG_BODY"
  [ "$status_code" = 200 ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"]')" = '/v1beta/models/gemini-2.5-flash:generateContent' ]
  part=$(echo "$up" | $JGET 'd["body"]["contents"][0]["parts"][1]')
  [ "$(echo "$part" | $JGET 'd["inlineData"]["mimeType"]')" = image/png ]
  [ "$(echo "$part" | $JGET 'd["inlineData"]["data"]')" = "$(base64 -w0 "$IMG")" ]
  [ "$(mock_requests img | wc -l)" -eq 1 ]
}

@test "an image URL on loopback without the allowance: refused before any upstream call, nothing billed" {
  img_setup
  relayd_start
  chat "$IMG_BODY"
  [ "$status_code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'private, loopback or link-local'
  [ "$(mock_requests img | wc -l)" -eq 0 ]
  [ "$(mock_requests up | wc -l)" -eq 0 ]
  [ "$(sql 'SELECT count(*) FROM logs WHERE type=2')" -eq 0 ]
}

@test "an image fetch waits off the worker: the worker serves other requests meanwhile; a client that leaves cancels it" {
  IMG="$BATS_TEST_TMPDIR/cat.png"
  python3 -c 'import sys; open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) * 4)' "$IMG"
  # the image server holds its answer's first byte for ten minutes (mock.first_byte_ms)
  mock_start img --mock "{\"replay\":{\"file\":\"$IMG\",\"content_type\":\"image/png\",\"chunk_bytes\":4096},\"first_byte_ms\":600000}"
  # a second one trickles it: 64 bytes at a time
  mock_start trickle --mock "{\"replay\":{\"file\":\"$IMG\",\"content_type\":\"image/png\",\"chunk_bytes\":64},\"chunk_gap_ms\":20}"
  printf 'gemini-key\n' | gwctl channel add --name gm --type gemini --base-url "http://127.0.0.1:$MOCK_UP_PORT" \
    --models gemini-2.5-flash
  # one worker: every request below is on the one that waits for the image
  relayd_start --workers 1 --image-fetch-allow-private yes --image-fetch-timeout-ms 600000
  img_body() {
    echo "{\"model\":\"gemini-2.5-flash\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"what is it?\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"$1\"}}]}]}"
  }
  curl -s -o "$BATS_TEST_TMPDIR/held.body" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $KEY" \
    --data-binary "$(img_body "http://127.0.0.1:$MOCK_IMG_PORT/cat.png")" > "$BATS_TEST_TMPDIR/held.status" &
  held=$!
  # the worker has asked for the image and waits for it
  wait_until 10 sh -c "[ \$(cat '$BATS_TEST_TMPDIR/img.jsonl' 2>/dev/null | wc -l) -ge 1 ]"
  # meanwhile the same worker answers others: a chat relayed to another channel, a listing, a
  # count (an old worker blocked in the fetch answers none of them before the image: curl gives up)
  chat_out=$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H 'Content-Type: application/json' -H "Authorization: Bearer $KEY" \
    --data-binary '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}') || true
  [ "$chat_out" = 200 ]
  [ "$(curl -s --max-time 30 -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/models" -H "Authorization: Bearer $KEY")" = 200 ]
  # ... while the image request still waits: no answer yet, nothing sent to Gemini
  kill -0 "$held"
  [ ! -s "$BATS_TEST_TMPDIR/held.body" ]
  [ "$(mock_requests up | grep -c generateContent)" = 0 ]
  # the client leaves: the fetch is cancelled, the request settled as client_gone, nothing charged
  kill "$held"; wait "$held" || true
  wait_until 10 sql_is 1 "SELECT count(*) FROM logs WHERE end_reason='client_gone'"
  [ "$(sql "SELECT quota FROM logs WHERE end_reason='client_gone'")" = 0 ]
  [ "$(mock_requests up | grep -c generateContent)" = 0 ]
  # an image that trickles in is inlined whole once it is all there
  chat "$(img_body "http://127.0.0.1:$MOCK_TRICKLE_PORT/cat.png")"
  [ "$status_code" = 200 ]
  part=$(mock_requests up | grep generateContent | tail -1 | $JGET 'd["body"]["contents"][0]["parts"][1]')
  [ "$(echo "$part" | $JGET 'd["inlineData"]["mimeType"]')" = image/png ]
  [ "$(echo "$part" | $JGET 'd["inlineData"]["data"]')" = "$(base64 -w0 "$IMG")" ]
}
