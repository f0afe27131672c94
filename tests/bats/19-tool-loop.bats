#!/usr/bin/env bats
# The second turn of a tool loop, end to end (issue #20's "done when"): a client of each format
# (OpenAI chat, Anthropic Messages, Gemini) asks a reasoning model for a tool call through relayd,
# gets the answer in its own format, and sends back exactly what it got plus the tool's result, as
# every client library does. The upstream is Gemini 3 (its functionCall carries a thoughtSignature)
# and Anthropic with thinking on (the tool_use follows a signed thinking block). Turn 1 is answered
# by the mock replaying the provider's documented answer; for turn 2 the mock switches to "strict"
# (tests/mock_upstream.c strict_refusal): it refuses, with the provider's own 400, a Gemini 3 model
# turn whose functionCall has no thoughtSignature and an Anthropic thinking turn whose tool_use is
# not preceded by its thinking block -- what the real APIs refuse
# (ai.google.dev/gemini-api/docs/thought-signatures; docs.anthropic.com/en/docs/build-with-claude/
# extended-thinking, "Preserving thinking blocks"). The test also reads the turn-2 body the
# upstream received: the signature must be the one the upstream gave, not a placeholder.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  # turn 1's answers, in the providers' documented shapes
  python3 - "$BATS_TEST_TMPDIR" <<'PY'
import json, sys
d = sys.argv[1]
# https://ai.google.dev/gemini-api/docs/thought-signatures: the signature beside the functionCall part
g = {"candidates": [{"content": {"role": "model", "parts": [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "GSig/3+=="}]},
      "finishReason": "STOP", "index": 0}],
     "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 8, "thoughtsTokenCount": 40,
                       "totalTokenCount": 68}, "modelVersion": "gemini-3-pro-preview"}
json.dump(g, open(d + "/gemini3-call.json", "w"))
# https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking: thinking, then tool_use
a = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
     "content": [{"type": "thinking", "thinking": "The user wants Paris weather; call the tool.",
                  "signature": "ASig-EqQBCgIYAhIM=="},
                 {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}],
     "stop_reason": "tool_use", "stop_sequence": None,
     "usage": {"input_tokens": 20, "output_tokens": 30}}
json.dump(a, open(d + "/anthropic-call.json", "w"))
PY
  mock_start ge --mock "{\"replay\":{\"file\":\"$BATS_TEST_TMPDIR/gemini3-call.json\",\"content_type\":\"application/json\"}}"
  mock_start an --mock "{\"replay\":{\"file\":\"$BATS_TEST_TMPDIR/anthropic-call.json\",\"content_type\":\"application/json\"}}"
  printf 'k\n' | gwctl channel add --name ge --type gemini --base-url "$MOCK_GE_URL" --models gemini-3-pro-preview 2>/dev/null
  printf 'k\n' | gwctl channel add --name an --type anthropic --base-url "$MOCK_AN_URL" --models claude-sonnet-4-5 2>/dev/null
  gwctl price set gemini-3-pro-preview --ratio 1 --completion-ratio 1 > /dev/null
  gwctl price set claude-sonnet-4-5 --ratio 1 --completion-ratio 1 > /dev/null
  gwctl user add alice --quota 100000000 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

teardown() {
  relay_teardown
}

# loop CLIENT MODEL MOCK: turn 1, then the mock turns strict, then turn 2 built from turn 1's answer
# as the client got it. Prints the two statuses.
loop() {
  python3 - "$1" "$2" "$RELAY_URL" "$KEY" "http://127.0.0.1:$(port_of "$3")" <<'PY'
import json, sys, urllib.request, urllib.error
client, model, relay, key, mock = sys.argv[1:6]

def post(url, body, headers):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")

tool_oa = [{"type": "function", "function": {"name": "get_weather", "description": "weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
tool_an = [{"name": "get_weather", "description": "weather of a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
tool_ge = [{"functionDeclarations": [{"name": "get_weather", "description": "weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}]
user = "What is the weather in Paris?"

if client == "openai":
    url, hdr = relay + "/v1/chat/completions", {"Authorization": "Bearer " + key}
    body = {"model": model, "messages": [{"role": "user", "content": user}], "tools": tool_oa}
    s1, a1 = post(url, body, hdr)
    msg = a1["choices"][0]["message"]                       # sent back as it came
    body["messages"] += [msg, {"role": "tool", "tool_call_id": msg["tool_calls"][0]["id"], "content": "sunny, 21 C"}]
elif client == "anthropic":
    url, hdr = relay + "/v1/messages", {"x-api-key": key, "anthropic-version": "2023-06-01"}
    body = {"model": model, "max_tokens": 8000, "messages": [{"role": "user", "content": user}], "tools": tool_an,
            "thinking": {"type": "enabled", "budget_tokens": 2048}}
    s1, a1 = post(url, body, hdr)
    use = [b for b in a1["content"] if b["type"] == "tool_use"][0]
    body["messages"] += [{"role": "assistant", "content": a1["content"]},
                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "sunny, 21 C"}]}]
elif client == "responses":
    # the OpenAI Responses API (issue #24): the output items go back as they came, then the result
    url, hdr = relay + "/v1/responses", {"Authorization": "Bearer " + key}
    tool_rs = [dict(type="function", **tool_oa[0]["function"])]
    body = {"model": model, "input": [{"role": "user", "content": user}], "tools": tool_rs,
            "reasoning": {"effort": "medium"}, "max_output_tokens": 8000}
    s1, a1 = post(url, body, hdr)
    call = [o for o in a1["output"] if o["type"] == "function_call"][0]
    body["input"] += a1["output"] + [{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 21 C"}]
else:
    url, hdr = relay + "/v1beta/models/" + model + ":generateContent", {"x-goog-api-key": key}
    body = {"contents": [{"role": "user", "parts": [{"text": user}]}], "tools": tool_ge,
            "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}}}
    s1, a1 = post(url, body, hdr)
    content = a1["candidates"][0]["content"]
    call = [p for p in content["parts"] if "functionCall" in p][0]["functionCall"]
    body["contents"] += [content, {"role": "user", "parts": [{"functionResponse": {"name": call["name"],
                                                                                   "response": {"result": "sunny, 21 C"}}}]}]
# turn 2 against the strict upstream
req = urllib.request.Request(mock + "/__mock/defaults", json.dumps({"strict": True, "replay": None}).encode(),
                             {"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=10).read()
s2, a2 = post(url, body, hdr)
print(s1, s2, json.dumps(a2)[:300] if s2 != 200 else "")
PY
}

port_of() {
  local v="MOCK_$(echo "$1" | tr a-z A-Z)_PORT"
  echo "${!v}"
}

# the turn-2 body the mock received (the last request it recorded)
turn2() { mock_requests "$1" | tail -1 | $JGET "$2"; }

# Gemini 3: the functionCall part of the model turn carries the signature Gemini gave
gemini_signed() {
  [ "$(turn2 ge '[p.get("thoughtSignature") for c in d["body"]["contents"] if c.get("role") == "model" for p in c["parts"] if "functionCall" in p]')" = '["GSig/3+=="]' ]
}

# Anthropic: the assistant turn starts with the thinking block Anthropic signed, then the tool_use
anthropic_signed() {
  [ "$(turn2 an '[(b["type"], b.get("signature")) for m in d["body"]["messages"] if m["role"] == "assistant" for b in m["content"]][:2]')" = \
    '[["thinking", "ASig-EqQBCgIYAhIM=="], ["tool_use", null]]' ]
  [ "$(turn2 an 'd["body"]["thinking"]["type"]')" = enabled ]
}

@test "tool loop turn 2, OpenAI client -> Gemini 3 (converted): the call's signature comes back on its functionCall" {
  run loop openai gemini-3-pro-preview ge
  echo "$output"
  [ "$output" = "200 200 " ]
  gemini_signed
}

@test "tool loop turn 2, Anthropic client -> Gemini 3 (converted): the signed thinking block brings the signature back" {
  run loop anthropic gemini-3-pro-preview ge
  echo "$output"
  [ "$output" = "200 200 " ]
  gemini_signed
}

@test "tool loop turn 2, Gemini client -> Gemini 3 (native): the model turn goes back as it came" {
  run loop gemini gemini-3-pro-preview ge
  echo "$output"
  [ "$output" = "200 200 " ]
  gemini_signed
}

@test "tool loop turn 2, OpenAI client -> Anthropic with thinking on (-thinking): the signed thinking block comes first" {
  run loop openai claude-sonnet-4-5-thinking an
  echo "$output"
  [ "$output" = "200 200 " ]
  anthropic_signed
}

@test "tool loop turn 2, Gemini client -> Anthropic with the client's thinkingConfig: the signed thinking block comes first" {
  run loop gemini claude-sonnet-4-5 an
  echo "$output"
  [ "$output" = "200 200 " ]
  anthropic_signed
}

@test "tool loop turn 2, Anthropic client -> Anthropic with thinking (native): the turn goes back as it came" {
  run loop anthropic claude-sonnet-4-5 an
  echo "$output"
  [ "$output" = "200 200 " ]
  anthropic_signed
}


@test "tool loop turn 2, Responses client -> Gemini 3 (converted): the call's signature rides a reasoning item and comes back" {
  run loop responses gemini-3-pro-preview ge
  echo "$output"
  [ "$output" = "200 200 " ]
  gemini_signed
}

@test "tool loop turn 2, Responses client -> Anthropic with thinking (converted): the signed thinking comes back first" {
  run loop responses claude-sonnet-4-5 an
  echo "$output"
  [ "$output" = "200 200 " ]
  anthropic_signed
}
