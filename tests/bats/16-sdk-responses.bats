#!/usr/bin/env bats
# The OpenAI Responses API as a fourth client format (issue #24): the official openai SDK's
# Responses client (tests/sdk/client.mjs "responses": client.responses.create and .stream,
# unmodified) against a real relayd and the mock upstream in every channel format -- Anthropic,
# Gemini, an OpenAI chat-only channel (deepseek) converted; an openai channel native -- with a
# function tool round trip whose turn 2 sends the function_call item and its function_call_output
# back to a "strict" mock (tests/mock_upstream.c strict_refusal). The other way: chat, Anthropic and
# Gemini clients of a model offered only through Responses (channel type responses).
# Billing and the log row (api=responses) as for chat; previous_response_id on a converted path is
# the client's 400 in OpenAI's error shape, with nothing billed or logged.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"
SDK_DIR="$BATS_TEST_DIRNAME/../sdk"

setup() {
  [ -d "$SDK_DIR/node_modules/openai" ] || {
    echo "tests/sdk/node_modules is missing: make check runs npm ci there" >&2
    return 1
  }
  relay_env
  gwctl user add alice --quota 100000000
  gwctl price set sdk-model --ratio 2 --completion-ratio 3
}

# chan TYPE [mock flags...]: a mock and one channel of TYPE serving sdk-model, a token, relayd
chan() {
  local type=$1; shift
  mock_start up "$@"
  printf 'sk-provider\n' | gwctl channel add --name ch --type "$type" --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models sdk-model
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  export RELAY_KEY
  relayd_start
}

# the mock refuses, with the provider's own 400, what its real API refuses (turn 2 of the loops)
strict() {
  curl -sS -X POST "$MOCK_URL/__mock/defaults" -H 'Content-Type: application/json' -d '{"strict":true}' > /dev/null
}

sdk() {
  out=$(cd "$SDK_DIR" && node client.mjs "$1" "$2" "${3:-sdk-model}")
  echo "$1 $2: $out" >&3
}

# every log row says the client spoke the Responses API and was billed from the upstream's usage
rows_ok() {
  local n=$1
  wait_until 10 sql_is "$n" "SELECT count(*) FROM logs WHERE type=2"
  [ "$(sql "SELECT count(*) FROM logs WHERE type=2 AND usage_source='upstream'")" = "$n" ]
  [ "$(gwctl log list --json --type consume | $JGET 'sorted(set(r["api"] for r in d))')" = '["responses"]' ]
  [ "$(sql 'SELECT count(*) FROM logs WHERE type=2 AND quota > 0')" = "$n" ]
}

# text and stream, then the tool loop both ways, through a channel of TYPE
loop_matrix() {
  chan "$1" --chunks 4
  sdk responses text
  [ "$(echo "$out" | $JGET 'd["text"], d["finish"], d["usage"]["output"], d["items"]')" = '["hello hello hello hello ", "completed", 4, ["message"]]' ]
  sdk responses stream
  [ "$(echo "$out" | $JGET 'd["text"], d["finish"], d["usage"]["output"], d["ordered"]')" = '["hello hello hello hello ", "completed", 4, true]' ]
  # the named events in order (response.created ... response.completed)
  [ "$(echo "$out" | $JGET '" ".join(d["events"])')" = "response.created response.in_progress response.output_item.added response.content_part.added response.output_text.delta response.output_text.delta response.output_text.delta response.output_text.delta response.output_text.done response.content_part.done response.output_item.done response.completed" ]
  strict
  for sc in tools tools-stream; do
    sdk responses $sc
    [ "$(echo "$out" | $JGET 'd["call"]["name"], d["call"]["args"], d["first"]["items"]')" = '["lookup", {"q": "x"}, ["function_call"]]' ]
    [ "$(echo "$out" | $JGET 'd["final"]["text"], d["final"]["finish"], d["final"]["calls"]')" = '["hello hello hello hello ", "completed", []]' ]
    # turn 2 reached the upstream in its own format: the call, then its result with the same id
    mock_requests up | tail -1 | python3 -c '
import json, sys
r = json.loads(sys.stdin.read()); b = r["body"]; p = r["path"]
if p.startswith("/v1/messages"):
    m = b["messages"]
    use = [c for c in m[-2]["content"] if c["type"] == "tool_use"]
    assert m[-2]["role"] == "assistant" and use and use[0]["name"] == "lookup" and use[0]["input"] == {"q": "x"}, m
    res = [c for c in m[-1]["content"] if c["type"] == "tool_result"]
    assert m[-1]["role"] == "user" and res[0]["tool_use_id"] == use[0]["id"] and "42" in json.dumps(res[0]["content"]), m
elif p.startswith("/v1beta/"):
    c = b["contents"]
    assert c[-2]["role"] == "model" and c[-2]["parts"][0]["functionCall"]["name"] == "lookup", c
    fr = [x["functionResponse"] for x in c[-1]["parts"] if "functionResponse" in x]
    assert fr and fr[0]["name"] == "lookup" and "42" in json.dumps(fr[0]["response"]), c
else:
    assert p == "/v1/chat/completions", p
    m = b["messages"]
    calls = m[-2]["tool_calls"]
    assert m[-2]["role"] == "assistant" and calls[0]["function"]["name"] == "lookup", m
    assert json.loads(calls[0]["function"]["arguments"]) == {"q": "x"}, calls
    assert m[-1]["role"] == "tool" and m[-1]["tool_call_id"] == calls[0]["id"] and m[-1]["content"] == "42", m
'
  done
  rows_ok 6
}

@test "responses SDK through an anthropic channel: text, stream, a tool loop both ways, billed" {
  loop_matrix anthropic
}

@test "responses SDK through a gemini channel: text, stream, a tool loop both ways, billed" {
  loop_matrix gemini
}

@test "responses SDK through an OpenAI chat-only channel (deepseek): converted to chat completions" {
  loop_matrix deepseek
  # every request went to chat completions, with stream usage asked for on streams
  [ "$(mock_requests up | python3 -c 'import json, sys; print(sorted({json.loads(l)["path"] for l in sys.stdin}))')" = "['/v1/chat/completions']" ]
  mock_requests up | python3 -c '
import json, sys
for l in sys.stdin:
    b = json.loads(l)["body"]
    assert not b.get("stream") or b["stream_options"] == {"include_usage": True}, b
    assert "input" not in b and "instructions" not in b and b["max_tokens"] == 64, b
'

}

@test "responses SDK through an openai channel: native, the client's bytes and the upstream's events" {
  chan openai --chunks 3
  sdk responses text
  [ "$(echo "$out" | $JGET 'd["text"], d["finish"]')" = '["hello hello hello ", "completed"]' ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"]')" = /v1/responses ]
  sdk responses stream
  [ "$(echo "$out" | $JGET 'd["text"], d["finish"]')" = '["hello hello hello ", "completed"]' ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"], "stream_options" in d["body"]')" = '["/v1/responses", false]' ]
  rows_ok 2
}

@test "responses: previous_response_id is a 400 on a converted path, passed through on a native one" {
  mock_start conv
  mock_start nat
  printf 'k\n' | gwctl channel add --name conv --type anthropic --base-url "$MOCK_CONV_URL" --models sdk-model
  printf 'k\n' | gwctl channel add --name nat --type openai --base-url "$MOCK_NAT_URL" --models gpt-native
  gwctl price set gpt-native --ratio 1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  code=$(curl -sS -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' "$RELAY_URL/v1/responses" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d '{"model":"sdk-model","input":"hi","previous_response_id":"resp_123"}')
  [ "$code" = 400 ]
  [ "$($JGET 'd["error"]["type"]' < "$BATS_TEST_TMPDIR/b")" = invalid_request_error ]
  $JGET 'd["error"]["message"]' < "$BATS_TEST_TMPDIR/b" | grep -q 'relay keeps no conversation state'
  [ -z "$(mock_requests conv)" ]
  sleep 0.3
  [ "$(sql 'SELECT count(*) FROM logs WHERE type <> 3')" = 0 ]   # only the management rows of setup
  [ "$(sql 'SELECT used_quota FROM tokens')" = 0 ]
  # a channel that serves Responses gets it as it is (the conversation state is the upstream's)
  code=$(curl -sS -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' "$RELAY_URL/v1/responses" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d '{"model":"gpt-native","input":"hi","previous_response_id":"resp_123","store":true}')
  [ "$code" = 200 ]
  [ "$(mock_requests nat | tail -1 | $JGET 'd["body"]["previous_response_id"], d["body"]["store"]')" = '["resp_123", true]' ]
}

@test "responses: an effort suffix on the model sets reasoning.effort, native and converted" {
  mock_start nat
  mock_start conv
  printf 'k\n' | gwctl channel add --name nat --type openai --base-url "$MOCK_NAT_URL" --models o4-mini
  printf 'k\n' | gwctl channel add --name conv --type deepseek --base-url "$MOCK_CONV_URL" --models deepseek-reasoner
  gwctl price set o4-mini --ratio 1
  gwctl price set deepseek-reasoner --ratio 1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  code=$(curl -sS -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/responses" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d '{"model":"o4-mini-high","input":"hi","reasoning":{"summary":"auto"}}')
  [ "$code" = 200 ]
  [ "$(mock_requests nat | tail -1 | $JGET 'd["body"]["model"], d["body"]["reasoning"]')" = '["o4-mini", {"summary": "auto", "effort": "high"}]' ]
  code=$(curl -sS -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/responses" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d '{"model":"deepseek-reasoner-low","input":"hi"}')
  [ "$code" = 200 ]
  [ "$(mock_requests conv | tail -1 | $JGET 'd["path"], d["body"]["model"], d["body"]["reasoning_effort"]')" = '["/v1/chat/completions", "deepseek-reasoner", "low"]' ]
}

@test "responses: OpenAI's own tools are not offered to a converted channel; forcing one is the client's 400" {
  chan anthropic
  # Codex's tool list: function tools, a namespace, web_search
  code=$(curl -sS -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' "$RELAY_URL/v1/responses" -H "Authorization: Bearer $RELAY_KEY" \
    -H 'Content-Type: application/json' -d '{"model":"sdk-model","input":"hi","tools":[{"type":"function","name":"exec_command","parameters":{"type":"object"}},{"type":"namespace","name":"ns","description":"d","tools":[{"type":"function","name":"f"}]},{"type":"web_search"}]}')
  [ "$code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET '[t["name"] for t in d["body"]["tools"]]')" = '["exec_command"]' ]
  n=$(mock_requests up | wc -l)
  code=$(curl -sS -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' "$RELAY_URL/v1/responses" -H "Authorization: Bearer $RELAY_KEY" \
    -H 'Content-Type: application/json' -d '{"model":"sdk-model","input":"hi","tools":[{"type":"web_search"}],"tool_choice":{"type":"web_search"}}')
  [ "$code" = 400 ]
  $JGET 'd["error"]["message"]' < "$BATS_TEST_TMPDIR/b" | grep -q "OpenAI's own tools run only there"
  [ "$(mock_requests up | wc -l)" = "$n" ]
}

# the other way: a model offered only through the Responses API
@test "chat, anthropic and gemini SDKs reach a responses channel: converted to /v1/responses" {
  chan responses --chunks 4
  for client in openai anthropic gemini; do
    for sc in text stream; do
      sdk "$client" $sc
      [ "$(echo "$out" | $JGET '[d["text"]]')" = '["hello hello hello hello "]' ]
      [ "$(echo "$out" | $JGET 'd["usage"]["output"]')" = 4 ]
      up=$(mock_requests up | tail -1)
      [ "$(echo "$up" | $JGET 'd["path"], d["body"]["store"], d["body"]["input"][0]["role"]')" = '["/v1/responses", false, "user"]' ]
    done
  done
  wait_until 10 sql_is 6 "SELECT count(*) FROM logs WHERE type=2 AND usage_source='upstream'"
  # its channel test is the smallest Responses request
  run gwctl channel test ch --json
  [ "$status" -eq 0 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"], d["body"]["input"], d["body"]["max_output_tokens"]')" = '["/v1/responses", "hi", 16]' ]
  # a responses channel serves no other endpoint (relay's own 400, nothing sent)
  n=$(mock_requests up | wc -l)
  code=$(curl -sS -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' "$RELAY_URL/v1/embeddings" -H "Authorization: Bearer $RELAY_KEY" \
    -H 'Content-Type: application/json' -d '{"model":"sdk-model","input":"hi"}')
  [ "$code" = 400 ]
  $JGET 'd["error"]["message"]' < "$BATS_TEST_TMPDIR/b" | grep -q 'a responses channel serves only chat requests'
  [ "$(mock_requests up | wc -l)" = "$n" ]
}

# ---- recorded real Responses output (RELAY_RECORDED; tests skip without it): OpenAI's own answers
# replayed by the mock, read by relay on the way to clients of every format
RECORDED="${RELAY_RECORDED:-$BATS_TEST_DIRNAME/../../../shared/fixtures/recorded}"
need_recorded() {
  [ -f "$RECORDED/$1" ] || skip "recorded provider output $RECORDED/$1 is not here (RELAY_RECORDED)"
}

# replay TYPE FILE CTYPE: a channel of TYPE serving sdk-model whose every answer is FILE, in pieces
replay() {
  chan "$1" --mock "{\"replay\":{\"file\":\"$RECORDED/$2\",\"content_type\":\"$3\",\"chunk_bytes\":97}}"
}

@test "recorded: a real Responses stream (reasoning summary, a call) reaches chat and anthropic clients whole, billed by its usage" {
  need_recorded openai-responses-stream-reasoning-call.sse
  replay responses openai-responses-stream-reasoning-call.sse text/event-stream
  sdk openai stream
  echo "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["text"] == "", d
calls = [(c["id"], c["name"], json.loads(c["args"])) for c in d["calls"]]
assert calls == [("call_AB6AaRZ1FYZB2RwS6A5vbdqn", "calculator", {"a": 12, "b": 7, "op": "add"})], calls
assert d["reasoning"].startswith("**Calculating step-by-step using calculator**") and len(d["reasoning"]) == 163, d["reasoning"]
assert d["finish"] == "tool_calls" and d["usage"] == {"input": 134, "output": 28}, d
'
  wait_until 10 sql_is 1 "SELECT count(*) FROM logs WHERE type=2"
  [ "$(sql "SELECT prompt_tokens, completion_tokens, usage_source FROM logs WHERE type=2")" = "$(printf '134\t28\tupstream')" ]
  # the anthropic SDK gets the same calls as tool_use blocks
  sdk anthropic stream
  [ "$(echo "$out" | $JGET '[(c["id"], c["input"]) for c in d["content"] if c["type"] == "tool_use"], d["finish"], d["usage"]')" = '[[["call_AB6AaRZ1FYZB2RwS6A5vbdqn", {"a": 12, "b": 7, "op": "add"}]], "tool_use", {"input": 134, "output": 28}]' ]
  echo "$out" | $JGET 'd["thinking"]' | grep -q 'Calculating step-by-step using calculator'
}

@test "recorded: a real Responses answer (reasoning and text) reaches chat and gemini clients with its reasoning tokens" {
  need_recorded openai-responses-reasoning.json
  replay responses openai-responses-reasoning.json application/json
  sdk openai text
  echo "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["text"] == "12 + 7 = 19\n19 \u00d7 3 = 57\n57 \u00d7 10 = 570\n\nFinal result: 570", d
assert d["reasoning"].startswith("**Reporting final result**"), d
assert d["finish"] == "stop" and d["usage"] == {"input": 865, "output": 163}, d
'
  sdk gemini text
  [ "$(echo "$out" | $JGET 'd["usage"], d["finish"]')" = '[{"input": 865, "output": 35}, "STOP"]' ]   # Gemini counts output without the 128 thoughts
  wait_until 10 sql_is 2 "SELECT count(*) FROM logs WHERE type=2 AND usage_source='upstream' AND prompt_tokens=865"
}

@test "recorded: a real Responses stream relayed natively reaches the Responses SDK as OpenAI sent it" {
  need_recorded openai-responses-stream-reasoning-call.sse
  replay openai openai-responses-stream-reasoning-call.sse text/event-stream
  sdk responses stream
  [ "$(echo "$out" | $JGET 'd["items"], d["calls"], d["usage"]["input"], d["ordered"]')" = '[["reasoning", "function_call"], [{"id": "call_AB6AaRZ1FYZB2RwS6A5vbdqn", "name": "calculator", "args": "{\"a\":12,\"b\":7,\"op\":\"add\"}"}], 134, true]' ]
  wait_until 10 sql_is 1 "SELECT count(*) FROM logs WHERE type=2 AND usage_source='upstream' AND prompt_tokens=134 AND completion_tokens=28"
}

@test "responses: a converted stream cut or failed mid-way reaches the Responses SDK as an error after the text" {
  local i=0 kind type url cases=()
  for kind in disconnect_after error_after; do
    for type in anthropic gemini deepseek; do
      i=$((i + 1))
      mock_start "m$i" --chunks 5 --mock "{\"$kind\":2}"
      url="MOCK_M${i}_URL"
      printf 'k\n' | gwctl channel add --name "c$i" --type "$type" --base-url "${!url}" --models "m$i" > /dev/null
      gwctl price set "m$i" --ratio 1 > /dev/null
      cases+=("$i $kind")
    done
  done
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  export RELAY_KEY
  relayd_start
  for c in "${cases[@]}"; do
    set -- $c
    sdk responses stream-error "m$1"
    [ "$(mock_requests "m$1" | tail -1 | $JGET 'd["path"] != "/v1/responses"')" = true ]   # converted
    [ "$(echo "$out" | $JGET '"unexpected" in d, d["text"]')" = '[false, "hello hello "]' ]
    [ "$(echo "$out" | $JGET 'd["events"][:3]')" = '["response.created", "response.in_progress", "response.output_item.added"]' ]
    # one error event, the last: relay's own for a cut stream, the upstream's message for its error
    [ "$(echo "$out" | $JGET 'd["events"].count("error"), d["events"][-1]')" = '[1, "error"]' ]
    if [ "$2" = disconnect_after ]; then
      [ "$(echo "$out" | $JGET 'd["error_event"]["code"]')" = stream_interrupted ]
    else
      echo "$out" | $JGET 'd["error_event"]["message"]' | grep -q 'mock stream error'
    fi
  done
}
