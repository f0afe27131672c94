#!/usr/bin/env bats
# The official SDKs as clients (tests/sdk/client.mjs: openai, @anthropic-ai/sdk, @google/genai,
# unmodified: only base URL and key point at relayd) against a real relayd and the mock upstream,
# through each channel type (openai, azure, anthropic, gemini, bedrock): non-streaming and streaming calls,
# a function tool round trip both ways, and billing checked against the usage the mock returned.

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
  # one price for the test model: (prompt + completion * 3) * 2, rounded up
  gwctl price set sdk-model --ratio 2 --completion-ratio 3
}

# sdk_channel TYPE [mock flags...]: a mock and one channel of TYPE serving sdk-model, a token, relayd
sdk_channel() {
  local type=$1; shift
  local extra=() key=sk-provider
  if [ "$type" = bedrock ]; then   # the mock checks every request's SigV4 signature
    mock_start up --aws-access-key AKIDSDK --aws-secret sdk-secret --aws-region us-east-1 "$@"
    key='AKIDSDK|sdk-secret|us-east-1'
    extra=(--model-map '{"sdk-model":"anthropic.sdk-model-v1:0"}')
  else
    mock_start up "$@"
  fi
  [ "$type" = azure ] && extra=(--api-version 2024-10-21)
  printf '%s\n' "$key" | gwctl channel add --name ch --type "$type" --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models sdk-model "${extra[@]}"
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  export RELAY_KEY
  relayd_start
}

# sdk SDK SCENARIO [MODEL]: runs the client; its JSON in $out (fails when the SDK failed)
sdk() {
  out=$(cd "$SDK_DIR" && node client.mjs "$1" "$2" "${3:-sdk-model}")
  echo "$1 $2: $out" >&3
}

# The quota the mock's answers cost: the mock returns prompt = 10 + messages (contents, +1 for a
# system prompt), completion = its chunk count; each request costs ceil((p + 3c) * 2).
expected_quota() {
  local chunks=$1
  mock_requests up | python3 -c '
import json, math, sys
chunks = int(sys.argv[1])
total = 0
for line in sys.stdin:
    r = json.loads(line)
    b, p = r["body"], r["path"]
    if p.startswith("/v1/messages") or p.startswith("/model/"):   # the Messages API, on Bedrock too
        n = len(b["messages"]) + (1 if b.get("system") else 0)
    elif p.startswith("/v1beta/"):
        n = len(b["contents"]) + (1 if b.get("systemInstruction") or b.get("system_instruction") else 0)
    else:
        n = len(b["messages"])
    total += math.ceil((10 + n + 3 * chunks) * 2 - 1e-9)
print(total)' "$chunks"
}

# billing_exact CHUNKS N: N requests logged, and the token's used quota (and the logs' sum) equal
# the formula over what the mock returned
billing_exact() {
  local want
  for _ in $(seq 1 50); do [ "$(sql 'SELECT count(*) FROM logs WHERE type=2')" -ge "$2" ] && break; sleep 0.1; done
  [ "$(sql 'SELECT count(*) FROM logs WHERE type=2')" = "$2" ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=2 AND usage_source='upstream'")" = "$2" ]
  [ "$(mock_requests up | wc -l)" = "$2" ]
  want=$(expected_quota "$1")
  [ "$(sql 'SELECT sum(quota) FROM logs WHERE type=2')" = "$want" ]
  for _ in $(seq 1 50); do [ "$(sql 'SELECT used_quota FROM tokens')" = "$want" ] && break; sleep 0.1; done
  [ "$(sql 'SELECT used_quota FROM tokens')" = "$want" ]
}

# The four scenarios of one SDK through one channel type, then billing.
matrix() {
  local client=$1 type=$2
  sdk_channel "$type" --chunks 4
  case $client in
    openai) stop=stop; tool_stop=tool_calls ;;
    anthropic) stop=end_turn; tool_stop=tool_use ;;
    gemini) stop=STOP; tool_stop=STOP ;;
  esac
  sdk "$client" text
  [ "$(echo "$out" | $JGET 'd["text"], d["finish"]')" = "[\"hello hello hello hello \", \"$stop\"]" ]
  [ "$(echo "$out" | $JGET 'd["usage"]["output"]')" = 4 ]
  sdk "$client" stream
  [ "$(echo "$out" | $JGET 'd["text"], d["finish"]')" = "[\"hello hello hello hello \", \"$stop\"]" ]
  [ "$(echo "$out" | $JGET 'd["usage"]["output"]')" = 4 ]
  for sc in tools tools-stream; do
    sdk "$client" $sc
    [ "$(echo "$out" | $JGET 'd["call"]["name"], d["call"]["args"], d["first"]["finish"]')" = "[\"lookup\", {\"q\": \"x\"}, \"$tool_stop\"]" ]
    [ "$(echo "$out" | $JGET 'd["final"]["text"], d["final"]["finish"], d["final"]["calls"]')" = "[\"hello hello hello hello \", \"$stop\", []]" ]
    # the tool result reached the upstream in the upstream's own format
    mock_requests up | tail -1 | python3 -c '
import json, sys
r = json.loads(sys.stdin.read()); b = r["body"]; p = r["path"]
if p.startswith("/v1/messages") or p.startswith("/model/"):
    m = b["messages"]
    assert m[-2]["role"] == "assistant" and any(c["type"] == "tool_use" and c["name"] == "lookup" for c in m[-2]["content"]), m
    res = [c for c in m[-1]["content"] if c["type"] == "tool_result"]
    assert m[-1]["role"] == "user" and res and res[0]["tool_use_id"] == [c for c in m[-2]["content"] if c["type"] == "tool_use"][0]["id"], m
    assert "42" in json.dumps(res[0].get("content")), res
elif p.startswith("/v1beta/"):
    c = b["contents"]
    assert c[-2]["role"] == "model" and c[-2]["parts"][0]["functionCall"]["name"] == "lookup", c
    fr = [x["functionResponse"] for x in c[-1]["parts"] if "functionResponse" in x]
    assert fr and fr[0]["name"] == "lookup" and "42" in json.dumps(fr[0]["response"]), c
else:
    m = b["messages"]
    calls = m[-2]["tool_calls"]
    assert m[-2]["role"] == "assistant" and calls[0]["function"]["name"] == "lookup", m
    assert json.loads(calls[0]["function"]["arguments"]) == {"q": "x"}, calls
    assert m[-1]["role"] == "tool" and m[-1]["tool_call_id"] == calls[0]["id"] and "42" in json.dumps(m[-1]["content"]), m
'
  done
  billing_exact 4 6
}

@test "openai SDK through an openai channel: text, stream, tools both ways, exact billing" {
  matrix openai openai
}

@test "openai SDK through an azure channel: text, stream, tools both ways, exact billing" {
  matrix openai azure
}

@test "openai SDK through an anthropic channel: text, stream, tools both ways, exact billing" {
  matrix openai anthropic
}

@test "openai SDK through a gemini channel: text, stream, tools both ways, exact billing" {
  matrix openai gemini
}

@test "anthropic SDK through an openai channel: text, stream, tools both ways, exact billing" {
  matrix anthropic openai
}

@test "anthropic SDK through an azure channel: text, stream, tools both ways, exact billing" {
  matrix anthropic azure
}

@test "anthropic SDK through an anthropic channel: text, stream, tools both ways, exact billing" {
  matrix anthropic anthropic
}

@test "anthropic SDK through a gemini channel: text, stream, tools both ways, exact billing" {
  matrix anthropic gemini
}

@test "gemini SDK through an openai channel: text, stream, tools both ways, exact billing" {
  matrix gemini openai
}

@test "gemini SDK through an azure channel: text, stream, tools both ways, exact billing" {
  matrix gemini azure
}

@test "gemini SDK through an anthropic channel: text, stream, tools both ways, exact billing" {
  matrix gemini anthropic
}

@test "gemini SDK through a gemini channel: text, stream, tools both ways, exact billing" {
  matrix gemini gemini
}

@test "openai SDK through a bedrock channel: text, stream, tools both ways, exact billing" {
  matrix openai bedrock
}

@test "anthropic SDK through a bedrock channel: text, stream, tools both ways, exact billing" {
  matrix anthropic bedrock
}

@test "gemini SDK through a bedrock channel: text, stream, tools both ways, exact billing" {
  matrix gemini bedrock
}
