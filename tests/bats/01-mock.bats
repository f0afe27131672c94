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
  ( ! grep -q usage "$BATS_TEST_TMPDIR/http.body" )
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
  ( ! grep -q 'DONE' "$BATS_TEST_TMPDIR/http.body" )
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
  # (plus the time to start 200 curl processes, which on a loaded shared machine is many seconds)
  [ "$(cat "$BATS_TEST_TMPDIR"/t* | awk '$1 >= 1.0' | wc -l)" -eq 200 ]
  [ $(( (end - start) / 1000000 )) -lt 40000 ]   # serially 200 s; generous for a loaded machine
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

# ---- Anthropic, Gemini and Azure shapes ------------------------------------------------------

ANTH_KEY=(-H 'x-api-key: sk-ant-test' -H 'anthropic-version: 2023-06-01')

# anth_body EXTRA: a Messages API request (one user message) with EXTRA members added
anth_body() {
  printf '{"model":"claude-mock","max_tokens":64,"messages":[{"role":"user","content":"hi"}]%s}' "${1:+,$1}"
}

# gem_body EXTRA: a generateContent request (one content) with EXTRA members added
gem_body() {
  printf '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]%s}' "${1:+,$1}"
}

GEM=/v1beta/models/gemini-mock

# anth_events < BODY: checks Anthropic SSE framing (every frame "event: NAME\ndata: JSON\n\n" with
# the JSON's type equal to NAME) and prints one line per event: NAME<TAB>compact JSON
anth_events() {
  python3 -c '
import json, sys
raw = sys.stdin.read()
assert raw.endswith("\n\n"), "body must end with a blank line"
for frame in raw[:-2].split("\n\n"):
    lines = frame.split("\n")
    assert len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: "), frame
    name, d = lines[0][7:], json.loads(lines[1][6:])
    assert d["type"] == name, frame
    print(name + "\t" + json.dumps(d, separators=(",", ":")))'
}

# gem_frames < BODY: checks Gemini SSE framing ("data: JSON\r\n\r\n" each) and prints the JSONs
gem_frames() {
  python3 -c '
import json, sys
raw = sys.stdin.buffer.read().decode()
assert raw.endswith("\r\n\r\n"), "body must end with CRLF CRLF"
for frame in raw[:-4].split("\r\n\r\n"):
    assert frame.startswith("data: ") and "\n" not in frame, repr(frame)
    print(json.dumps(json.loads(frame[6:]), separators=(",", ":")))'
}

@test "mock anthropic: non-streaming message shape and usage (10 + messages + system)" {
  post /v1/messages '{"model":"claude-mock","max_tokens":64,"system":"be brief","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"yo"},{"role":"user","content":"again"}]}' "${ANTH_KEY[@]}"
  [ "$HTTP_STATUS" = 200 ]
  echo "$HTTP_HEADERS" | grep -qi '^content-type: application/json'
  run json_get 'd' <<< "$HTTP_BODY"
  [ "$output" = '{"id": "msg_mock", "type": "message", "role": "assistant", "model": "claude-mock", "content": [{"type": "text", "text": "hello hello hello hello hello "}], "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 14, "output_tokens": 5}}' ]
  post /v1/messages "$(anth_body '"mock":{"chunks":2,"prompt_tokens":100,"completion_tokens":7}')" "${ANTH_KEY[@]}"
  [ "$(json_get '[d["content"][0]["text"], d["usage"]]' <<< "$HTTP_BODY")" = '["hello hello ", {"input_tokens": 100, "output_tokens": 7}]' ]
  post /v1/messages "$(anth_body '"mock":{"no_usage":true}')" "${ANTH_KEY[@]}"
  [ "$(json_get '["usage" in d, d["stop_reason"]]' <<< "$HTTP_BODY")" = '[false, "end_turn"]' ]
  # the keys are recorded
  run json_get '[d["path"], d["headers"]["x-api-key"], d["headers"]["anthropic-version"]]' <<< "$(mock_requests | tail -n 1)"
  [ "$output" = '["/v1/messages", "sk-ant-test", "2023-06-01"]' ]
}

@test "mock anthropic: stream event sequence, names, deltas and usage" {
  post /v1/messages "$(anth_body '"stream":true,"system":"s","mock":{"chunks":3}')" "${ANTH_KEY[@]}" -N
  [ "$HTTP_STATUS" = 200 ]
  [ "$HTTP_RC" -eq 0 ]
  echo "$HTTP_HEADERS" | grep -qi '^content-type: text/event-stream'
  run anth_events < "$BATS_TEST_TMPDIR/http.body"
  [ "$status" -eq 0 ]
  [ "$(printf '%s\n' "${lines[@]}" | cut -f1 | tr '\n' ' ')" = \
    "message_start content_block_start ping content_block_delta content_block_delta content_block_delta content_block_stop message_delta message_stop " ]
  [ "$(cut -f2 <<< "${lines[0]}" | json_get 'd["message"]')" = \
    '{"id": "msg_mock", "type": "message", "role": "assistant", "model": "claude-mock", "content": [], "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 12, "output_tokens": 0}}' ]
  [ "$(cut -f2 <<< "${lines[1]}")" = '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}' ]
  for i in 3 4 5; do
    [ "$(cut -f2 <<< "${lines[$i]}")" = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello "}}' ]
  done
  [ "$(cut -f2 <<< "${lines[6]}")" = '{"type":"content_block_stop","index":0}' ]
  [ "$(cut -f2 <<< "${lines[7]}")" = '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":3}}' ]
  [ "$(cut -f2 <<< "${lines[8]}")" = '{"type":"message_stop"}' ]
  # no_usage: neither message_start nor message_delta carries usage
  post /v1/messages "$(anth_body '"stream":true,"mock":{"no_usage":true}')" "${ANTH_KEY[@]}" -N
  run anth_events < "$BATS_TEST_TMPDIR/http.body"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 11 ]
  [ "$(grep -c usage "$BATS_TEST_TMPDIR/http.body")" -eq 0 ]
}

@test "mock anthropic: tool_use when tools are given and the last user message says 'use tool'" {
  local tools='"tools":[{"name":"lookup","description":"d","input_schema":{"type":"object"}},{"name":"other","input_schema":{"type":"object"}}]'
  post /v1/messages "{\"model\":\"claude-mock\",\"max_tokens\":64,$tools,\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"please use tool now\"}]}]}" "${ANTH_KEY[@]}"
  [ "$HTTP_STATUS" = 200 ]
  [ "$(json_get '[d["content"], d["stop_reason"], d["usage"]]' <<< "$HTTP_BODY")" = \
    '[[{"type": "tool_use", "id": "toolu_mock", "name": "lookup", "input": {"q": "x"}}], "tool_use", {"input_tokens": 11, "output_tokens": 5}]' ]
  # streamed: a tool_use block whose input_json_delta pieces join to {"q":"x"}
  post /v1/messages "{\"model\":\"claude-mock\",\"max_tokens\":64,\"stream\":true,$tools,\"messages\":[{\"role\":\"user\",\"content\":\"use tool\"}]}" "${ANTH_KEY[@]}" -N
  run anth_events < "$BATS_TEST_TMPDIR/http.body"
  [ "$status" -eq 0 ]
  [ "$(cut -f2 <<< "${lines[1]}" | json_get 'd["content_block"]')" = '{"type": "tool_use", "id": "toolu_mock", "name": "lookup", "input": {}}' ]
  [ "$(printf '%s\n' "${lines[@]}" | grep '^content_block_delta' | cut -f2 | python3 -c '
import json, sys
print("".join(json.loads(l)["delta"]["partial_json"] for l in sys.stdin if json.loads(l)["delta"]["type"] == "input_json_delta"))')" = '{"q":"x"}' ]
  printf '%s\n' "${lines[@]}" | grep -q '"stop_reason":"tool_use"'
  # without the phrase in the LAST user message, or without tools: plain text
  post /v1/messages "{\"model\":\"claude-mock\",\"max_tokens\":64,$tools,\"messages\":[{\"role\":\"user\",\"content\":\"use tool\"},{\"role\":\"assistant\",\"content\":\"ok\"},{\"role\":\"user\",\"content\":\"thanks\"}]}" "${ANTH_KEY[@]}"
  [ "$(json_get '[d["content"][0]["type"], d["stop_reason"]]' <<< "$HTTP_BODY")" = '["text", "end_turn"]' ]
  post /v1/messages "$(anth_body)" "${ANTH_KEY[@]}"
  [ "$(json_get 'd["content"][0]["type"]' <<< "$HTTP_BODY")" = text ]
}

@test "mock anthropic: key and version checks, request validation, error bodies by status" {
  post /v1/messages "$(anth_body)" -H 'anthropic-version: 2023-06-01'
  [ "$HTTP_STATUS" = 401 ]
  [ "$(json_get '[d["type"], d["error"]["type"]]' <<< "$HTTP_BODY")" = '["error", "authentication_error"]' ]
  post /v1/messages "$(anth_body)" -H 'x-api-key: k'
  [ "$HTTP_STATUS" = 400 ]
  [ "$(json_get 'd["error"]["type"]' <<< "$HTTP_BODY")" = invalid_request_error ]
  local bad
  for bad in '{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}' \
             '{"model":"m","messages":[{"role":"user","content":"hi"}]}' \
             '{"model":"m","max_tokens":1.5,"messages":[{"role":"user","content":"hi"}]}' \
             '{"model":"m","max_tokens":"5","messages":[{"role":"user","content":"hi"}]}' \
             '{"model":"m","max_tokens":5,"messages":[]}' \
             '{"model":"m","max_tokens":5}' \
             'not json'; do
    post /v1/messages "$bad" "${ANTH_KEY[@]}"
    [ "$HTTP_STATUS" = 400 ]
    [ "$(json_get '[d["type"], d["error"]["type"], type(d["error"]["message"]).__name__]' <<< "$HTTP_BODY")" = '["error", "invalid_request_error", "str"]' ]
  done
  local pair
  for pair in 400:invalid_request_error 401:authentication_error 403:permission_error 404:not_found_error \
              429:rate_limit_error 500:api_error 529:overloaded_error; do
    post /v1/messages "$(anth_body '"stream":true')" "${ANTH_KEY[@]}" -H "X-Mock: {\"status\":${pair%%:*}}"
    [ "$HTTP_STATUS" = "${pair%%:*}" ]
    [ "$(json_get '[d["type"], d["error"]["type"], d["error"]["message"]]' <<< "$HTTP_BODY")" = \
      "[\"error\", \"${pair#*:}\", \"mock error ${pair%%:*}\"]" ]
  done
  # the status from the body's "mock" too
  post /v1/messages "$(anth_body '"mock":{"status":529}')" "${ANTH_KEY[@]}"
  [ "$HTTP_STATUS" = 529 ]
}

@test "mock anthropic: disconnect_after cuts after N deltas; error_after sends an error event" {
  post /v1/messages "$(anth_body '"stream":true,"mock":{"chunks":10,"disconnect_after":2}')" "${ANTH_KEY[@]}" -N --max-time 10
  [ "$HTTP_STATUS" = 200 ]
  [ "$HTTP_RC" -eq 18 ]
  [ "$(grep -c '^event: content_block_delta' "$BATS_TEST_TMPDIR/http.body")" -eq 2 ]
  [ "$(grep -c 'message_stop\|content_block_stop' "$BATS_TEST_TMPDIR/http.body")" -eq 0 ]
  post /v1/messages "$(anth_body '"stream":true,"mock":{"chunks":10,"disconnect_after":1,"chunk_gap_ms":20}')" "${ANTH_KEY[@]}" -N --max-time 10
  [ "$HTTP_RC" -eq 18 ]
  [ "$(grep -c '^event: content_block_delta' "$BATS_TEST_TMPDIR/http.body")" -eq 1 ]
  post /v1/messages "$(anth_body '"mock":{"disconnect_after":0}')" "${ANTH_KEY[@]}" --max-time 10
  [ "$HTTP_RC" -eq 52 ]
  post /v1/messages "$(anth_body '"stream":true,"mock":{"chunks":5,"error_after":1}')" "${ANTH_KEY[@]}" -N
  [ "$HTTP_RC" -eq 0 ]
  run anth_events < "$BATS_TEST_TMPDIR/http.body"
  [ "$status" -eq 0 ]
  [ "$(printf '%s\n' "${lines[@]}" | cut -f1 | tr '\n' ' ')" = "message_start content_block_start ping content_block_delta error " ]
  [ "$(cut -f2 <<< "${lines[4]}" | json_get 'd["error"]["type"]')" = api_error ]
}

@test "mock gemini: generateContent shape and usage (10 + contents + systemInstruction), key in the query" {
  post "$GEM:generateContent?key=AIza-q" '{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"yo"}]},{"role":"user","parts":[{"text":"x"}]}],"systemInstruction":{"parts":[{"text":"s"}]}}'
  [ "$HTTP_STATUS" = 200 ]
  run json_get 'd' <<< "$HTTP_BODY"
  [ "$output" = '{"candidates": [{"content": {"role": "model", "parts": [{"text": "hello hello hello hello hello "}]}, "finishReason": "STOP", "index": 0}], "usageMetadata": {"promptTokenCount": 14, "candidatesTokenCount": 5, "totalTokenCount": 19}, "modelVersion": "gemini-mock"}' ]
  run json_get '[d["path"], d["query"]]' <<< "$(mock_requests | tail -n 1)"
  [ "$output" = '["/v1beta/models/gemini-mock:generateContent", {"key": "AIza-q"}]' ]
  post "$GEM:generateContent" "$(gem_body '"mock":{"chunks":2,"prompt_tokens":40,"completion_tokens":9}')" -H 'x-goog-api-key: AIza-h'
  [ "$(json_get '[d["candidates"][0]["content"]["parts"][0]["text"], d["usageMetadata"]]' <<< "$HTTP_BODY")" = \
    '["hello hello ", {"promptTokenCount": 40, "candidatesTokenCount": 9, "totalTokenCount": 49}]' ]
  [ "$(mock_requests | tail -n 1 | json_get 'd["headers"]["x-goog-api-key"]')" = AIza-h ]
  post "$GEM:generateContent" "$(gem_body '"mock":{"no_usage":true}')" -H 'x-goog-api-key: k'
  [ "$(json_get '["usageMetadata" in d, d["candidates"][0]["finishReason"]]' <<< "$HTTP_BODY")" = '[false, "STOP"]' ]
}

@test "mock gemini: streamGenerateContent?alt=sse: one CRLF frame per chunk, STOP and usage on the last, no [DONE]" {
  post "$GEM:streamGenerateContent?alt=sse&key=k1" "$(gem_body '"mock":{"chunks":3}')" -N
  [ "$HTTP_STATUS" = 200 ]
  [ "$HTTP_RC" -eq 0 ]
  echo "$HTTP_HEADERS" | grep -qi '^content-type: text/event-stream'
  run gem_frames < "$BATS_TEST_TMPDIR/http.body"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 3 ]
  [ "$(grep -c DONE "$BATS_TEST_TMPDIR/http.body")" -eq 0 ]
  for i in 0 1; do
    [ "${lines[$i]}" = '{"candidates":[{"content":{"role":"model","parts":[{"text":"hello "}]},"index":0}],"modelVersion":"gemini-mock"}' ]
  done
  [ "${lines[2]}" = '{"candidates":[{"content":{"role":"model","parts":[{"text":"hello "}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":3,"totalTokenCount":14},"modelVersion":"gemini-mock"}' ]
  run json_get 'd["query"]' <<< "$(mock_requests | tail -n 1)"
  [ "$output" = '{"alt": "sse", "key": "k1"}' ]
  # no_usage: no usageMetadata anywhere; chunks 0: one empty closing frame
  post "$GEM:streamGenerateContent?alt=sse" "$(gem_body '"mock":{"no_usage":true,"chunks":0}')" -H 'x-goog-api-key: k' -N
  run gem_frames < "$BATS_TEST_TMPDIR/http.body"
  [ "${#lines[@]}" -eq 1 ]
  [ "$(json_get '["usageMetadata" in d, d["candidates"][0]["finishReason"]]' <<< "${lines[0]}")" = '[false, "STOP"]' ]
}

@test "mock gemini: key check, contents check, error statuses, disconnect and in-band error" {
  post "$GEM:generateContent" "$(gem_body)"
  [ "$HTTP_STATUS" = 400 ]
  [ "$(json_get '[d["error"]["code"], d["error"]["status"], d["error"]["details"][0]["reason"]]' <<< "$HTTP_BODY")" = '[400, "INVALID_ARGUMENT", "API_KEY_INVALID"]' ]
  post "$GEM:streamGenerateContent?alt=sse" "$(gem_body)"
  [ "$HTTP_STATUS" = 400 ]
  post "$GEM:generateContent?key=k" '{"contents":[]}'
  [ "$HTTP_STATUS" = 400 ]
  [ "$(json_get 'd["error"]["status"]' <<< "$HTTP_BODY")" = INVALID_ARGUMENT ]
  post "$GEM:generateContent?key=k" '{"mock":{"chunks":1}}'
  [ "$HTTP_STATUS" = 400 ]
  local pair
  for pair in 400:INVALID_ARGUMENT 403:PERMISSION_DENIED 404:NOT_FOUND 429:RESOURCE_EXHAUSTED 500:INTERNAL 503:UNAVAILABLE; do
    post "$GEM:streamGenerateContent?alt=sse&key=k" "$(gem_body)" -H "X-Mock: {\"status\":${pair%%:*}}"
    [ "$HTTP_STATUS" = "${pair%%:*}" ]
    [ "$(json_get 'd' <<< "$HTTP_BODY")" = "{\"error\": {\"code\": ${pair%%:*}, \"message\": \"mock error ${pair%%:*}\", \"status\": \"${pair#*:}\"}}" ]
  done
  post "$GEM:streamGenerateContent?alt=sse&key=k" "$(gem_body '"mock":{"chunks":10,"disconnect_after":2}')" -N --max-time 10
  [ "$HTTP_STATUS" = 200 ]
  [ "$HTTP_RC" -eq 18 ]
  [ "$(grep -c '^data: ' "$BATS_TEST_TMPDIR/http.body")" -eq 2 ]
  [ "$(grep -c STOP "$BATS_TEST_TMPDIR/http.body")" -eq 0 ]
  post "$GEM:generateContent?key=k" "$(gem_body '"mock":{"disconnect_after":0}')" --max-time 10
  [ "$HTTP_RC" -eq 52 ]
  post "$GEM:streamGenerateContent?alt=sse&key=k" "$(gem_body '"mock":{"chunks":5,"error_after":2}')" -N
  run gem_frames < "$BATS_TEST_TMPDIR/http.body"
  [ "${#lines[@]}" -eq 3 ]
  [ "$(json_get 'd["error"]["status"]' <<< "${lines[2]}")" = INTERNAL ]
  # unknown method on a model, GET on generateContent
  post "$GEM:predict?key=k" "$(gem_body)"
  [ "$HTTP_STATUS" = 404 ]
  http GET "$MOCK_URL$GEM:generateContent?key=k"
  [ "$HTTP_STATUS" = 405 ]
}

@test "mock azure: deployment path answered like chat completions, api-key and api-version required" {
  local az=/openai/deployments/my-gpt4/chat/completions
  post "$az?api-version=2024-06-01" "$(chat_body)" -H 'api-key: az-key'
  [ "$HTTP_STATUS" = 200 ]
  [ "$(json_get '[d["object"], d["model"], d["choices"][0]["message"]["content"], d["usage"]]' <<< "$HTTP_BODY")" = \
    '["chat.completion", "gpt-4o-mini", "hello hello hello hello hello ", {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}]' ]
  # without a model in the body, the deployment is the model
  post "$az?api-version=2024-06-01" '{"messages":[{"role":"user","content":"hi"}],"stream":true,"mock":{"chunks":2}}' -H 'api-key: az-key' -N
  run sse_data < "$BATS_TEST_TMPDIR/http.body"
  [ "${#lines[@]}" -eq 4 ]
  [ "$(json_get 'd["model"]' <<< "${lines[1]}")" = my-gpt4 ]
  [ "${lines[3]}" = "[DONE]" ]
  run json_get '[d["path"], d["query"], d["headers"]["api-key"]]' <<< "$(mock_requests | tail -n 1)"
  [ "$output" = '["/openai/deployments/my-gpt4/chat/completions", {"api-version": "2024-06-01"}, "az-key"]' ]
  post "$az?api-version=2024-06-01" "$(chat_body)"
  [ "$HTTP_STATUS" = 401 ]
  [ "$(json_get 'd["error"]["code"]' <<< "$HTTP_BODY")" = 401 ]
  post "$az" "$(chat_body)" -H 'api-key: az-key'
  [ "$HTTP_STATUS" = 404 ]
  post "$az?api-version=1" "$(chat_body '"mock":{"status":429}')" -H 'api-key: az-key'
  [ "$HTTP_STATUS" = 429 ]
  [ "$(json_get 'd["error"]["code"]' <<< "$HTTP_BODY")" = mock_429 ]
}

@test "mock: CLI defaults drive the Anthropic, Gemini and Azure endpoints" {
  mock_start c3 --chunks 3 --chunk-gap-ms 100 --prompt-tokens 50 --completion-tokens 30
  local t
  t=$(curl -sN -o "$BATS_TEST_TMPDIR/a.body" -w '%{time_total}' "$MOCK_C3_URL/v1/messages" "${ANTH_KEY[@]}" --data-binary "$(anth_body '"stream":true')")
  python3 -c 'import sys; assert float(sys.argv[1]) >= 0.3, sys.argv[1]' "$t"   # 3 gaps before the 3 deltas
  [ "$(grep -c '^event: content_block_delta' "$BATS_TEST_TMPDIR/a.body")" -eq 3 ]
  grep -q '"input_tokens":50' "$BATS_TEST_TMPDIR/a.body"
  grep -q '"usage":{"output_tokens":30}' "$BATS_TEST_TMPDIR/a.body"
  t=$(curl -sN -o "$BATS_TEST_TMPDIR/g.body" -w '%{time_total}' "$MOCK_C3_URL$GEM:streamGenerateContent?alt=sse&key=k" --data-binary "$(gem_body)")
  python3 -c 'import sys; assert float(sys.argv[1]) >= 0.2, sys.argv[1]' "$t"   # 2 gaps between 3 frames
  run gem_frames < "$BATS_TEST_TMPDIR/g.body"
  [ "${#lines[@]}" -eq 3 ]
  [ "$(json_get 'd["usageMetadata"]' <<< "${lines[2]}")" = '{"promptTokenCount": 50, "candidatesTokenCount": 30, "totalTokenCount": 80}' ]
  http POST "$MOCK_C3_URL/openai/deployments/d/chat/completions?api-version=1" -H 'api-key: a' --data-binary "$(chat_body)"
  [ "$(json_get '[d["choices"][0]["message"]["content"], d["usage"]["total_tokens"]]' <<< "$HTTP_BODY")" = '["hello hello hello ", 80]' ]

  mock_start nu --no-usage --first-byte-ms 300 --delay-ms 200
  t=$(curl -sN -o "$BATS_TEST_TMPDIR/a.body" -w '%{time_total}' "$MOCK_NU_URL/v1/messages" "${ANTH_KEY[@]}" --data-binary "$(anth_body '"stream":true')")
  python3 -c 'import sys; assert float(sys.argv[1]) >= 0.5, sys.argv[1]' "$t"
  grep -q '^event: message_stop' "$BATS_TEST_TMPDIR/a.body"
  [ "$(grep -c usage "$BATS_TEST_TMPDIR/a.body")" -eq 0 ]
  http POST "$MOCK_NU_URL$GEM:generateContent?key=k" --data-binary "$(gem_body)"
  [ "$(json_get '"usageMetadata" in d' <<< "$HTTP_BODY")" = false ]

  mock_start dc --disconnect-after 1 --chunks 4
  http POST "$MOCK_DC_URL/v1/messages" "${ANTH_KEY[@]}" --data-binary "$(anth_body '"stream":true')" -N --max-time 10
  [ "$HTTP_RC" -eq 18 ]
  [ "$(grep -c '^event: content_block_delta' "$BATS_TEST_TMPDIR/http.body")" -eq 1 ]
  http POST "$MOCK_DC_URL$GEM:streamGenerateContent?alt=sse&key=k" --data-binary "$(gem_body)" -N --max-time 10
  [ "$HTTP_RC" -eq 18 ]
  [ "$(grep -c '^data: ' "$BATS_TEST_TMPDIR/http.body")" -eq 1 ]
  http POST "$MOCK_DC_URL$GEM:generateContent?key=k" --data-binary "$(gem_body)" --max-time 10
  [ "$HTTP_RC" -eq 52 ]

  mock_start st --status 529
  http POST "$MOCK_ST_URL/v1/messages" "${ANTH_KEY[@]}" --data-binary "$(anth_body)"
  [ "$HTTP_STATUS" = 529 ]
  [ "$(json_get 'd["error"]["type"]' <<< "$HTTP_BODY")" = overloaded_error ]
  http POST "$MOCK_ST_URL$GEM:generateContent?key=k" --data-binary "$(gem_body)"
  [ "$HTTP_STATUS" = 529 ]
  [ "$(json_get 'd["error"]["status"]' <<< "$HTTP_BODY")" = INTERNAL ]
  # the key checks come before the status override
  http POST "$MOCK_ST_URL/v1/messages" --data-binary "$(anth_body)"
  [ "$HTTP_STATUS" = 401 ]
  # X-Mock still overrides the CLI default
  http POST "$MOCK_ST_URL$GEM:generateContent?key=k" --data-binary "$(gem_body)" -H 'X-Mock: {"status":200}'
  [ "$HTTP_STATUS" = 200 ]

  mock_start ea --error-after 0
  http POST "$MOCK_EA_URL/v1/messages" "${ANTH_KEY[@]}" --data-binary "$(anth_body '"stream":true')" -N
  grep -q '^event: error' "$BATS_TEST_TMPDIR/http.body"
  [ "$(grep -c content_block_delta "$BATS_TEST_TMPDIR/http.body")" -eq 0 ]
  for n in c3 nu dc st ea; do mock_stop "$n"; done
}

# --- mock.replay: a recorded body sent as it is ------------------------------------------------

# replay_files: writes $R_SSE (an SSE text with CRLF and LF lines, UTF-8, a NUL and a 0xff byte, no
# final newline: whatever is in the file must come out) and $R_JSON (a JSON body with spaces).
replay_files() {
  R_SSE=$BATS_TEST_TMPDIR/rec.sse R_JSON=$BATS_TEST_TMPDIR/rec.json
  python3 - "$R_SSE" "$R_JSON" <<'PY'
import sys
sse = (b'event: message_start\ndata: {"type": "message_start", "usage": {"input_tokens": 7}}\n\n'
       + b'event: content_block_delta\r\ndata: {"text": "caf\xc3\xa9 \xe2\x82\xac"}\r\n\r\n'
       + b': comment \x00 \xff\n\n'
       + b''.join(b'data: {"i": %d, "pad": "%s"}\n\n' % (i, b"x" * (i % 50)) for i in range(200))
       + b'data: [DONE]')
open(sys.argv[1], "wb").write(sse)
open(sys.argv[2], "wb").write(b'{"id": "cmpl-1", "usage": {"prompt_tokens": 12, "completion_tokens": 3}}\n')
PY
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

@test "mock replay: any endpoint answers the file byte for byte, whatever the model, stream flag or keys" {
  replay_files
  local rp="{\"replay\":{\"file\":\"$R_SSE\",\"content_type\":\"text/event-stream\"}}"
  # in the body, on a streaming chat request
  post /v1/chat/completions "$(chat_body "\"stream\":true,\"mock\":$rp")" -N
  [ "$HTTP_STATUS" = 200 ]
  [ "$(sha "$BATS_TEST_TMPDIR/http.body")" = "$(sha "$R_SSE")" ]
  echo "$HTTP_HEADERS" | grep -qix 'content-type: text/event-stream'
  echo "$HTTP_HEADERS" | grep -qix "content-length: $(stat -c %s "$R_SSE")"
  # in X-Mock: Anthropic without its key headers, Gemini, an unknown path, a GET, a non-stream request
  for path in /v1/messages "$GEM:streamGenerateContent?alt=sse" "$GEM:generateContent" /no/such/path /v1/embeddings; do
    post "$path" '{"model":"other","stream":false}' -H "X-Mock: $rp"
    [ "$HTTP_STATUS" = 200 ]
    [ "$(sha "$BATS_TEST_TMPDIR/http.body")" = "$(sha "$R_SSE")" ]
  done
  http GET "$MOCK_URL/v1/models" -H "X-Mock: $rp"
  [ "$(sha "$BATS_TEST_TMPDIR/http.body")" = "$(sha "$R_SSE")" ]
  # a POST with no body, or a body that is no JSON
  http POST "$MOCK_URL/v1/messages" -H "X-Mock: $rp"
  [ "$HTTP_STATUS" = 200 ]
  [ "$(sha "$BATS_TEST_TMPDIR/http.body")" = "$(sha "$R_SSE")" ]
  post /v1/chat/completions 'not json' -H "X-Mock: $rp"
  [ "$(sha "$BATS_TEST_TMPDIR/http.body")" = "$(sha "$R_SSE")" ]
  # a media endpoint, with status, content type and extra headers
  post /v1/responses '{"model":"gpt-4o"}' \
    -H "X-Mock: {\"headers\":{\"request-id\":\"req_1\"},\"replay\":{\"file\":\"$R_JSON\",\"status\":529}}"
  [ "$HTTP_STATUS" = 529 ]
  [ "$(sha "$BATS_TEST_TMPDIR/http.body")" = "$(sha "$R_JSON")" ]
  echo "$HTTP_HEADERS" | grep -qix 'content-type: application/json'
  echo "$HTTP_HEADERS" | grep -qix 'request-id: req_1'
  # the defaults (POST /__mock/defaults) replay too, until replaced; "replay":null turns it off
  curl -sf -o /dev/null -X POST "$MOCK_URL/__mock/defaults" --data-binary "{\"replay\":{\"file\":\"$R_JSON\"}}"
  post /v1/chat/completions "$CHAT"
  [ "$(sha "$BATS_TEST_TMPDIR/http.body")" = "$(sha "$R_JSON")" ]
  post /v1/chat/completions "$(chat_body '"mock":{"replay":null}')"
  [ "$(json_get 'd["object"]' <<< "$HTTP_BODY")" = chat.completion ]
  curl -sf -o /dev/null -X POST "$MOCK_URL/__mock/defaults" --data-binary '{}'
  post /v1/chat/completions "$CHAT"
  [ "$(json_get 'd["usage"]["prompt_tokens"]' <<< "$HTTP_BODY")" = 12 ]
  [ "$(json_get 'd["object"]' <<< "$HTTP_BODY")" = chat.completion ]
  # requests are still recorded
  [ "$(mock_requests | grep -c '"path":"/no/such/path"')" -eq 1 ]
}

@test "mock replay: chunk_bytes sends the body in HTTP chunks of N bytes, the same bytes in all" {
  replay_files
  local size
  size=$(stat -c %s "$R_SSE")
  for n in 1 7 1000; do
    post /v1/chat/completions "$(chat_body "\"stream\":true,\"mock\":{\"replay\":{\"file\":\"$R_SSE\",\"chunk_bytes\":$n}}")" -N --raw
    [ "$HTTP_STATUS" = 200 ]
    echo "$HTTP_HEADERS" | grep -qix 'transfer-encoding: chunked'
    # undo the chunked framing: every chunk but the last has n bytes, then the 0 chunk ends it
    run python3 - "$BATS_TEST_TMPDIR/http.body" "$n" "$R_SSE" <<'PY'
import sys
raw, n, want = open(sys.argv[1], "rb").read(), int(sys.argv[2]), open(sys.argv[3], "rb").read()
sizes, body, i = [], b"", 0
while True:
    j = raw.index(b"\r\n", i)
    k = int(raw[i:j], 16)
    assert raw[j + 2 + k:j + 4 + k] == b"\r\n", "bad chunk framing at %d" % i
    body += raw[j + 2:j + 2 + k]
    i = j + 4 + k
    if k == 0:
        break
    sizes.append(k)
assert i == len(raw), "bytes after the last chunk"
assert body == want, "body differs"
assert all(s == n for s in sizes[:-1]) and 0 < sizes[-1] <= n, sizes[:5]
assert len(sizes) == -(-len(want) // n), (len(sizes), len(want))
print(len(sizes))
PY
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$output" -eq $(( (size + n - 1) / n )) ]
  done
  # without --raw curl sees the plain file, here with a gap between pieces and a first-byte wait
  post /v1/messages '{}' -H "X-Mock: {\"chunk_gap_ms\":5,\"first_byte_ms\":20,\"replay\":{\"file\":\"$R_SSE\",\"chunk_bytes\":4096}}"
  [ "$HTTP_RC" -eq 0 ]
  [ "$(sha "$BATS_TEST_TMPDIR/http.body")" = "$(sha "$R_SSE")" ]
}

@test "mock replay: stop_after_bytes closes the connection after N bytes, with no end of body" {
  replay_files
  local size
  size=$(stat -c %s "$R_SSE")
  for args in '"stop_after_bytes":100' '"stop_after_bytes":100,"chunk_bytes":9' '"stop_after_bytes":0'; do
    : > "$BATS_TEST_TMPDIR/http.body"   # curl leaves the file alone when no byte arrives
    post /v1/chat/completions "$(chat_body "\"mock\":{\"replay\":{\"file\":\"$R_SSE\",$args}}")" -N --max-time 10
    [ "$HTTP_STATUS" = 200 ]
    [ "$HTTP_RC" -eq 18 ]      # curl: transfer closed with outstanding read data remaining
    local n=${args#*:}
    n=${n%%,*}
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/http.body")" -eq "$n" ]
    cmp "$BATS_TEST_TMPDIR/http.body" <(head -c "$n" "$R_SSE")
  done
  # N at or past the end: every byte arrives, and still no clean end
  post /v1/chat/completions "$(chat_body "\"mock\":{\"replay\":{\"file\":\"$R_SSE\",\"stop_after_bytes\":$size}}")" -N --max-time 10
  [ "$HTTP_RC" -eq 18 ]
  [ "$(sha "$BATS_TEST_TMPDIR/http.body")" = "$(sha "$R_SSE")" ]
  # the mock is still well after the cuts
  post /v1/chat/completions "$CHAT"
  [ "$HTTP_STATUS" = 200 ]
  mock_stop
}

@test "mock replay: a missing, oversized or non-regular file and bad options answer 400 mock_invalid" {
  replay_files
  truncate -s $(( (8 << 20) + 1 )) "$BATS_TEST_TMPDIR/big"
  truncate -s $(( 8 << 20 )) "$BATS_TEST_TMPDIR/max"
  local t
  for t in "{\"file\":\"$BATS_TEST_TMPDIR/none\"}|mock.replay.file '$BATS_TEST_TMPDIR/none': No such file or directory" \
           "{\"file\":\"$BATS_TEST_TMPDIR/big\"}|mock.replay.file '$BATS_TEST_TMPDIR/big' has 8388609 bytes, more than the limit of 8388608" \
           "{\"file\":\"$BATS_TEST_TMPDIR\"}|mock.replay.file '$BATS_TEST_TMPDIR' is not a regular file" \
           "{\"file\":\"\"}|mock.replay.file must be a non-empty path" \
           "{\"content_type\":\"text/event-stream\"}|mock.replay.file is required" \
           "{\"file\":\"$R_SSE\",\"chunk_bytes\":0}|mock.replay.chunk_bytes must be an integer in [1, 8388608]" \
           "{\"file\":\"$R_SSE\",\"stop_after_bytes\":1.5}|mock.replay.stop_after_bytes must be an integer in [0, 8388608]" \
           "{\"file\":\"$R_SSE\",\"status\":99}|mock.replay.status must be an integer in [100, 599]" \
           "{\"file\":\"$R_SSE\",\"content_type\":\"a\\nb\"}|mock.replay.content_type must be a media type of 1 to 200 printable characters" \
           "{\"file\":\"$R_SSE\",\"speed\":1}|unknown mock.replay key 'speed'" \
           "\"$R_SSE\"|mock.replay must be an object {\"file\": PATH, ...}"; do
    post /v1/chat/completions "$(chat_body "\"mock\":{\"replay\":${t%%|*}}")"
    [ "$HTTP_STATUS" = 400 ]
    [ "$(json_get '[d["error"]["code"], d["error"]["message"]]' <<< "$HTTP_BODY")" = \
      "$(python3 -c 'import json,sys; print(json.dumps(["mock_invalid", sys.argv[1]]))' "${t#*|}")" ]
  done
  # in the endpoint's API format: Anthropic's error shape on /v1/messages
  post /v1/messages '{}' -H "X-Mock: {\"replay\":{\"file\":\"$BATS_TEST_TMPDIR/none\"}}"
  [ "$HTTP_STATUS" = 400 ]
  [ "$(json_get '[d["type"], d["error"]["type"]]' <<< "$HTTP_BODY")" = '["error", "invalid_request_error"]' ]
  # the defaults refuse a bad replay object, and keep the old ones
  http POST "$MOCK_URL/__mock/defaults" --data-binary '{"replay":{"file":1}}'
  [ "$HTTP_STATUS" = 400 ]
  post /v1/chat/completions "$CHAT"
  [ "$(json_get 'd["object"]' <<< "$HTTP_BODY")" = chat.completion ]
  # exactly 8 MiB is allowed
  post /v1/chat/completions "$(chat_body "\"mock\":{\"replay\":{\"file\":\"$BATS_TEST_TMPDIR/max\"}}")"
  [ "$HTTP_STATUS" = 200 ]
  [ "$(sha "$BATS_TEST_TMPDIR/http.body")" = "$(sha "$BATS_TEST_TMPDIR/max")" ]
}

@test "mock agent: a call of the named tool with its args, then the answer only when a tool result has the word" {
  local agent='"mock":{"agent":{"tool":"Read","args":{"file_path":"/w/n.txt"},"expect":"W-42","answer":"It is W-42."}}'
  local tools='"tools":[{"type":"function","function":{"name":"Other","parameters":{}}},{"type":"function","function":{"name":"Read","parameters":{}}}]'
  post /v1/chat/completions "$(chat_body "$agent,$tools")"
  [ "$HTTP_STATUS" = 200 ]
  [ "$(json_get '[d["choices"][0]["message"]["tool_calls"][0]["function"][k] for k in ("name", "arguments")]' <<< "$HTTP_BODY")" = '["Read", "{\"file_path\":\"/w/n.txt\"}"]' ]
  # turn 2: the tool result carries the word -> the answer; without it -> says so
  local m='"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"Read","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":'
  post /v1/chat/completions "{\"model\":\"m\",$agent,$tools,$m\"the word: W-42\"}]}"
  [ "$(json_get 'd["choices"][0]["message"]["content"], d["usage"]["completion_tokens"]' <<< "$HTTP_BODY")" = '["It is W-42.", 1]' ]
  post /v1/chat/completions "{\"model\":\"m\",$agent,$tools,$m\"nothing\"}]}"
  [ "$(json_get 'd["choices"][0]["message"]["content"]' <<< "$HTTP_BODY")" = "mock agent: no tool result contains 'W-42'" ]
  # Gemini and Anthropic streams: the call with the args (Anthropic with thinking on: signed thinking first)
  http POST "$MOCK_URL/v1beta/models/g:streamGenerateContent?alt=sse" -H 'x-goog-api-key: k' -H 'Content-Type: application/json' \
    --data-binary "{$agent,\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}],\"tools\":[{\"functionDeclarations\":[{\"name\":\"Read\"}]}]}"
  [ "$(tr -d "\r" < "$BATS_TEST_TMPDIR/http.body" | sse_data | head -n 1 | json_get 'd["candidates"][0]["content"]["parts"][0]["functionCall"]')" = '{"name": "Read", "args": {"file_path": "/w/n.txt"}}' ]
  http POST "$MOCK_URL/v1/messages" -H 'x-api-key: k' -H 'anthropic-version: 2023-06-01' -H 'Content-Type: application/json' \
    --data-binary "{$agent,\"model\":\"c\",\"max_tokens\":9,\"stream\":true,\"thinking\":{\"type\":\"adaptive\"},\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"name\":\"Read\",\"input_schema\":{}}]}"
  sse_data < "$BATS_TEST_TMPDIR/http.body" | python3 -c '
import json, sys
ev = [json.loads(l) for l in sys.stdin]
starts = [e["content_block"]["type"] for e in ev if e["type"] == "content_block_start"]
args = "".join(e["delta"]["partial_json"] for e in ev if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta")
sig = [e["delta"]["signature"] for e in ev if e["type"] == "content_block_delta" and e["delta"]["type"] == "signature_delta"]
assert starts == ["thinking", "tool_use"] and json.loads(args) == {"file_path": "/w/n.txt"} and sig, (starts, args, sig)'
  post /v1/chat/completions "$(chat_body '"mock":{"agent":{"tool":"Read","args":{},"expect":"x"}}')"
  [ "$HTTP_STATUS" = 400 ]
  [ "$(json_get 'd["error"]["message"]' <<< "$HTTP_BODY")" = "mock.agent.answer is required" ]
}
