#!/usr/bin/env bats
# The mock upstream itself: proves the test harness (mock-upstream + helpers) before relayd is used.

load helpers

setup() {
  mock_start up
}

CHAT='{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}'

# chat_body EXTRA: the chat request with EXTRA (JSON members) added at the top level
chat_body() {
  printf '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]%s}' "${1:+,$1}"
}

# post PATH BODY [curl args...]
post() {
  local path=$1 body=$2
  shift 2
  http POST "$MOCK_URL$path" -H 'Content-Type: application/json' --data-binary "$body" "$@"
}

@test "mock: non-streaming chat has the OpenAI shape and deterministic usage" {
  post /v1/chat/completions "$CHAT"
  [ "$HTTP_STATUS" = 200 ]
  echo "$HTTP_HEADERS" | grep -qi '^content-type: application/json'
  run json_get '[d["id"], d["object"], d["model"], type(d["created"]).__name__, len(d["choices"])]' <<< "$HTTP_BODY"
  [ "$output" = '["chatcmpl-mock", "chat.completion", "gpt-4o-mini", "int", 1]' ]
  run json_get 'd["choices"][0]' <<< "$HTTP_BODY"
  [ "$output" = '{"index": 0, "message": {"role": "assistant", "content": "hello hello hello hello hello "}, "logprobs": null, "finish_reason": "stop"}' ]
  # 10 + 2 messages; 5 chunks by default
  run json_get 'd["usage"]' <<< "$HTTP_BODY"
  [ "$output" = '{"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}' ]
}

@test "mock: chunks, forced token counts and no_usage change the answer" {
  post /v1/chat/completions "$(chat_body '"mock":{"chunks":3,"prompt_tokens":1000,"completion_tokens":200}')"
  [ "$HTTP_STATUS" = 200 ]
  [ "$(json_get 'd["choices"][0]["message"]["content"]' <<< "$HTTP_BODY")" = "hello hello hello " ]
  [ "$(json_get 'd["usage"]' <<< "$HTTP_BODY")" = '{"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}' ]
  post /v1/chat/completions "$(chat_body '"mock":{"no_usage":true}')"
  [ "$HTTP_STATUS" = 200 ]
  [ "$(json_get '"usage" in d' <<< "$HTTP_BODY")" = false ]
  [ "$(json_get 'd["choices"][0]["finish_reason"]' <<< "$HTTP_BODY")" = stop ]
}

@test "mock: stream framing: role first, one chunk per word, stop on the last, [DONE] last, no usage" {
  post /v1/chat/completions "$(chat_body '"stream":true,"mock":{"chunks":3}')" -N
  [ "$HTTP_STATUS" = 200 ]
  echo "$HTTP_HEADERS" | grep -qi '^content-type: text/event-stream'
  # every event is "data: ...\n\n"
  python3 -c '
import sys
raw = open(sys.argv[1]).read()
events = raw.split("\n\n")
assert events[-1] == "", "body must end with a blank line"
for e in events[:-1]:
    assert e.startswith("data: ") and "\n" not in e, "bad event %r" % e
' "$BATS_TEST_TMPDIR/http.body"
  run sse_data < "$BATS_TEST_TMPDIR/http.body"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 5 ]          # role + 3 words + [DONE]
  [ "${lines[4]}" = "[DONE]" ]
  [ "$(json_get 'd["choices"][0]["delta"]' <<< "${lines[0]}")" = '{"role": "assistant", "content": ""}' ]
  for i in 1 2 3; do
    [ "$(json_get '[d["object"], d["id"], d["model"], d["choices"][0]["delta"]["content"]]' <<< "${lines[$i]}")" = \
      '["chat.completion.chunk", "chatcmpl-mock", "gpt-4o-mini", "hello "]' ]
    [ "$(json_get '"usage" in d' <<< "${lines[$i]}")" = false ]
  done
  [ "$(json_get 'd["choices"][0]["finish_reason"]' <<< "${lines[2]}")" = null ]
  [ "$(json_get 'd["choices"][0]["finish_reason"]' <<< "${lines[3]}")" = stop ]
}

@test "mock: stream usage chunk only with stream_options.include_usage, other chunks carry usage:null" {
  post /v1/chat/completions "$(chat_body '"stream":true,"stream_options":{"include_usage":true}')" -N
  [ "$HTTP_STATUS" = 200 ]
  run sse_data < "$BATS_TEST_TMPDIR/http.body"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 8 ]          # role + 5 words + usage + [DONE]
  [ "${lines[7]}" = "[DONE]" ]
  [ "$(json_get '[d["choices"], d["usage"]]' <<< "${lines[6]}")" = \
    '[[], {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}]' ]
  for i in 0 1 2 3 4 5; do
    [ "$(json_get '"usage" in d and d["usage"] is None' <<< "${lines[$i]}")" = true ]
  done
  # no_usage wins over include_usage: no usage chunk and no usage:null
  post /v1/chat/completions "$(chat_body '"stream":true,"stream_options":{"include_usage":true},"mock":{"no_usage":true}')" -N
  run sse_data < "$BATS_TEST_TMPDIR/http.body"
  [ "${#lines[@]}" -eq 7 ]
  ! grep -q usage "$BATS_TEST_TMPDIR/http.body"
}

@test "mock: legacy completions, streaming and not" {
  post /v1/completions '{"model":"gpt-3.5-turbo-instruct","prompt":"say hi","mock":{"chunks":2}}'
  [ "$HTTP_STATUS" = 200 ]
  [ "$(json_get '[d["object"], d["choices"][0]["text"], d["choices"][0]["finish_reason"], d["usage"]["total_tokens"]]' <<< "$HTTP_BODY")" = \
    '["text_completion", "hello hello ", "stop", 13]' ]
  post /v1/completions '{"model":"gpt-3.5-turbo-instruct","prompt":["a","b"],"stream":true,"stream_options":{"include_usage":true},"mock":{"chunks":2}}' -N
  run sse_data < "$BATS_TEST_TMPDIR/http.body"
  [ "${#lines[@]}" -eq 4 ]          # 2 words + usage + [DONE]
  [ "$(json_get '[d["object"], d["choices"][0]["text"], d["choices"][0]["finish_reason"]]' <<< "${lines[1]}")" = \
    '["text_completion", "hello ", "stop"]' ]
  [ "$(json_get 'd["usage"]["prompt_tokens"]' <<< "${lines[2]}")" = 12 ]
  [ "${lines[3]}" = "[DONE]" ]
}

@test "mock: status override in the body, the X-Mock header and the CLI default" {
  post /v1/chat/completions "$(chat_body '"mock":{"status":429,"headers":{"Retry-After":"7"}}')"
  [ "$HTTP_STATUS" = 429 ]
  [ "$HTTP_BODY" = '{"error":{"message":"mock error 429","type":"mock_error","param":null,"code":"mock_429"}}' ]
  echo "$HTTP_HEADERS" | grep -qx 'Retry-After: 7'
  post /v1/chat/completions "$(chat_body '"stream":true')" -H 'X-Mock: {"status":503}'
  [ "$HTTP_STATUS" = 503 ]
  [ "$(json_get 'd["error"]["code"]' <<< "$HTTP_BODY")" = mock_503 ]
  # the header wins over the body
  post /v1/chat/completions "$(chat_body '"mock":{"status":500}')" -H 'X-Mock: {"status":200}'
  [ "$HTTP_STATUS" = 200 ]
  mock_start bad --status 502
  http POST "$MOCK_BAD_URL/v1/chat/completions" --data-binary "$CHAT"
  [ "$HTTP_STATUS" = 502 ]
  [ "$(json_get 'd["error"]["message"]' <<< "$HTTP_BODY")" = "mock error 502" ]
  mock_stop bad
}

@test "mock: disconnect_after cuts the stream after N content chunks, without [DONE]" {
  post /v1/chat/completions "$(chat_body '"stream":true,"mock":{"chunks":10,"disconnect_after":3}')" -N --max-time 10
  [ "$HTTP_STATUS" = 200 ]
  [ "$HTTP_RC" -eq 18 ]             # curl: transfer closed with outstanding read data
  ! grep -q 'DONE' "$BATS_TEST_TMPDIR/http.body"
  [ "$(grep -c '"content":"hello "' "$BATS_TEST_TMPDIR/http.body")" -eq 3 ]
  # the same with gaps between chunks (the cut then happens after a timer resume)
  post /v1/chat/completions "$(chat_body '"stream":true,"mock":{"chunks":10,"disconnect_after":2,"chunk_gap_ms":20}')" -N --max-time 10
  [ "$HTTP_RC" -eq 18 ]
  [ "$(grep -c '"content":"hello "' "$BATS_TEST_TMPDIR/http.body")" -eq 2 ]
  # non-streaming: the connection closes with no answer at all
  post /v1/chat/completions "$(chat_body '"mock":{"disconnect_after":0}')" --max-time 10
  [ "$HTTP_STATUS" = 000 ]
  [ "$HTTP_RC" -eq 52 ]             # curl: empty reply from server
}

@test "mock: error_after sends an in-band error event and ends the stream" {
  post /v1/chat/completions "$(chat_body '"stream":true,"mock":{"chunks":5,"error_after":2}')" -N
  [ "$HTTP_STATUS" = 200 ]
  [ "$HTTP_RC" -eq 0 ]
  run sse_data < "$BATS_TEST_TMPDIR/http.body"
  [ "${#lines[@]}" -eq 4 ]          # role, 2 words, error
  [ "$(json_get 'd["error"]["code"]' <<< "${lines[3]}")" = mock_stream_error ]
}

@test "mock: first_byte_ms sends headers at once and delays the first event; delay_ms delays everything" {
  local t
  t=$(curl -sN -o "$BATS_TEST_TMPDIR/fb.body" -w '%{time_starttransfer} %{time_total}' "$MOCK_URL/v1/chat/completions" \
    --data-binary "$(chat_body '"stream":true,"mock":{"first_byte_ms":700}')")
  # headers come before the wait, the body after it
  python3 -c 'import sys; s, t = map(float, sys.argv[1].split()); assert s < 0.5 and t >= 0.7, (s, t)' "$t"
  grep -q 'DONE' "$BATS_TEST_TMPDIR/fb.body"
  t=$(curl -s -o /dev/null -w '%{time_starttransfer}' "$MOCK_URL/v1/chat/completions" \
    --data-binary "$(chat_body '"mock":{"delay_ms":600}')")
  python3 -c 'import sys; assert float(sys.argv[1]) >= 0.6, sys.argv[1]' "$t"
  # chunk_gap_ms: 4 content chunks -> 4 gaps of 150 ms
  t=$(curl -sN -o /dev/null -w '%{time_total}' "$MOCK_URL/v1/chat/completions" \
    --data-binary "$(chat_body '"stream":true,"mock":{"chunks":4,"chunk_gap_ms":150}')")
  python3 -c 'import sys; assert float(sys.argv[1]) >= 0.6, sys.argv[1]' "$t"
}

@test "mock: waits are event-driven: 200 delayed requests are served concurrently" {
  local start end pids=() pid
  start=$(date +%s%N)
  for i in $(seq 1 200); do
    curl -s -o "$BATS_TEST_TMPDIR/c$i" -w '%{time_total}\n' --max-time 20 "$MOCK_URL/v1/chat/completions" \
      --data-binary "$(chat_body '"mock":{"delay_ms":1000}')" > "$BATS_TEST_TMPDIR/t$i" 3>&- &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  end=$(date +%s%N)
  # each request waited its second; serially that would take 200 s, concurrently a little over 1 s
  [ "$(cat "$BATS_TEST_TMPDIR"/t* | awk '$1 >= 1.0' | wc -l)" -eq 200 ]
  [ $(( (end - start) / 1000000 )) -lt 8000 ]
  [ "$(cat "$BATS_TEST_TMPDIR"/c* | grep -c '"finish_reason":"stop"')" -eq 200 ]
}

@test "mock: the record file captures method, path, body and authorization / x-* headers" {
  post /v1/chat/completions "$CHAT" -H 'Authorization: Bearer sk-test-123' -H 'X-Trace: abc' -H 'User-Agent: nope'
  [ "$HTTP_STATUS" = 200 ]
  http GET "$MOCK_URL/v1/models?key=k1" -H 'x-goog-api-key: g'
  [ "$(mock_requests | wc -l)" -eq 2 ]
  run json_get '[d["method"], d["path"], d["body"]["messages"][1]["content"], d["body"]["model"]]' <<< "$(mock_requests | head -n 1)"
  [ "$output" = '["POST", "/v1/chat/completions", "hi", "gpt-4o-mini"]' ]
  run json_get 'd["headers"] == {"authorization": "Bearer sk-test-123", "x-trace": "abc", "content-type": "application/json"}' <<< "$(mock_requests | head -n 1)"
  [ "$output" = true ]
  run json_get '[d["method"], d["path"], d["query"], d["headers"], d["body"]]' <<< "$(mock_requests | tail -n 1)"
  [ "$output" = '["GET", "/v1/models", {"key": "k1"}, {"x-goog-api-key": "g"}, null]' ]
  # a body that is not JSON is recorded as a string (and answered 400)
  post /v1/chat/completions 'not json {'
  [ "$HTTP_STATUS" = 400 ]
  [ "$(mock_requests | tail -n 1 | json_get 'd["body"]')" = 'not json {' ]
  # the in-memory list and reset
  http GET "$MOCK_URL/__mock/requests"
  [ "$(json_get 'len(d)' <<< "$HTTP_BODY")" = 3 ]
  mock_reset
  [ "$(mock_requests | wc -l)" -eq 0 ]
  http GET "$MOCK_URL/__mock/requests"
  [ "$HTTP_BODY" = "[]" ]
}

@test "mock: embeddings shape for a string and an array, float and base64" {
  post /v1/embeddings '{"model":"text-embedding-3-small","input":"hello"}'
  [ "$HTTP_STATUS" = 200 ]
  [ "$(json_get '[d["object"], d["model"], len(d["data"]), d["data"][0]["object"], d["data"][0]["index"], len(d["data"][0]["embedding"]), all(isinstance(x, float) and -1 <= x <= 1 for x in d["data"][0]["embedding"]), d["usage"]]' <<< "$HTTP_BODY")" = \
    '["list", "text-embedding-3-small", 1, "embedding", 0, 8, true, {"prompt_tokens": 11, "total_tokens": 11}]' ]
  local one=$HTTP_BODY
  post /v1/embeddings '{"model":"text-embedding-3-small","input":["hello","world","x"]}'
  [ "$(json_get '[[e["index"] for e in d["data"]], d["usage"]["prompt_tokens"]]' <<< "$HTTP_BODY")" = '[[0, 1, 2], 13]' ]
  # deterministic: the same text gives the same vector, another text another one
  [ "$(json_get 'd["data"][0]["embedding"]' <<< "$HTTP_BODY")" = "$(json_get 'd["data"][0]["embedding"]' <<< "$one")" ]
  [ "$(json_get 'd["data"][1]["embedding"] != d["data"][0]["embedding"]' <<< "$HTTP_BODY")" = true ]
  post /v1/embeddings '{"model":"text-embedding-3-small","input":"hello","encoding_format":"base64"}'
  python3 -c '
import base64, json, struct, sys
d, one = json.loads(sys.argv[1]), json.loads(sys.argv[2])
v = struct.unpack("<8f", base64.b64decode(d["data"][0]["embedding"]))
assert all(abs(a - b) < 1e-5 for a, b in zip(v, one["data"][0]["embedding"])), v
' "$HTTP_BODY" "$one"
  post /v1/embeddings '{"model":"text-embedding-3-small"}'
  [ "$HTTP_STATUS" = 400 ]
}

@test "mock: models, unknown paths, bad JSON, bad mock keys, oversized bodies" {
  http GET "$MOCK_URL/v1/models"
  [ "$HTTP_STATUS" = 200 ]
  [ "$(json_get '[d["object"], "gpt-4o-mini" in [m["id"] for m in d["data"]], d["data"][0]["object"]]' <<< "$HTTP_BODY")" = '["list", true, "model"]' ]
  http GET "$MOCK_URL/v1/models/gpt-4o"
  [ "$(json_get 'd["id"]' <<< "$HTTP_BODY")" = gpt-4o ]
  http GET "$MOCK_URL/v1/models/nope"
  [ "$HTTP_STATUS" = 404 ]
  [ "$(json_get 'd["error"]["code"]' <<< "$HTTP_BODY")" = model_not_found ]
  http GET "$MOCK_URL/v2/whatever"
  [ "$HTTP_STATUS" = 404 ]
  [ "$(json_get 'sorted(d["error"])' <<< "$HTTP_BODY")" = '["code", "message", "param", "type"]' ]
  post /v1/chat/completions '{"model":'
  [ "$HTTP_STATUS" = 400 ]
  [ "$(json_get 'd["error"]["type"]' <<< "$HTTP_BODY")" = invalid_request_error ]
  post /v1/chat/completions "$(chat_body '"mock":{"chunkz":1}')"
  [ "$HTTP_STATUS" = 400 ]
  [[ "$(json_get 'd["error"]["message"]' <<< "$HTTP_BODY")" == *chunkz* ]]
  post /v1/chat/completions '{"messages":[]}'
  [ "$HTTP_STATUS" = 400 ]
  head -c $((9 * 1024 * 1024)) /dev/zero | tr '\0' ' ' > "$BATS_TEST_TMPDIR/big"
  http POST "$MOCK_URL/v1/chat/completions" --data-binary "@$BATS_TEST_TMPDIR/big"
  [ "$HTTP_STATUS" = 413 ]
  # a large but allowed body (1 MiB prompt) is read in pieces and parsed
  python3 -c 'import json; print(json.dumps({"model":"m","messages":[{"role":"user","content":"x"*1048576}]}))' > "$BATS_TEST_TMPDIR/mid"
  http POST "$MOCK_URL/v1/chat/completions" --data-binary "@$BATS_TEST_TMPDIR/mid"
  [ "$HTTP_STATUS" = 200 ]
}

@test "mock: SIGTERM with requests waiting and streams open exits 0 and cleanly" {
  local pids=() pid
  for i in $(seq 1 20); do
    curl -s -o /dev/null --max-time 30 "$MOCK_URL/v1/chat/completions" --data-binary "$(chat_body '"mock":{"delay_ms":60000}')" 3>&- &
    pids+=($!)
    curl -sN -o /dev/null --max-time 30 "$MOCK_URL/v1/chat/completions" \
      --data-binary "$(chat_body '"stream":true,"mock":{"chunks":1000,"chunk_gap_ms":50}')" 3>&- &
    pids+=($!)
  done
  sleep 1
  mock_stop up
  for pid in "${pids[@]}"; do wait "$pid" || true; done
}
