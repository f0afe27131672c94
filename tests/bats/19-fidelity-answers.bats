#!/usr/bin/env bats
# Wire fidelity of ANSWERS across formats (issue #20): what a reasoning model signs (Gemini's
# thoughtSignature, Anthropic's signed and redacted thinking) reaches a client of another format in
# the field doc/design.md "Signatures across formats" names, whole and streamed; a blocked Gemini
# prompt is Google's answer, not a failure; usage detail (reasoning, cached) reaches each client in
# its own fields; errors are in the client's terms. Upstream answers are replayed by the mock: the
# ones written here follow the providers' documented shapes (pages cited at each); the recorded ones
# are real provider output (RELAY_RECORDED, see tests/bats/46-money.bats), skipped when absent.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"
ROOT="$BATS_TEST_DIRNAME/../.."
RECORDED="${RELAY_RECORDED:-$BATS_TEST_DIRNAME/../../../shared/fixtures/recorded}"
need_recorded() {
  [ -f "$RECORDED/$1" ] || skip "recorded provider output $RECORDED/$1 is not here (shared/fixtures/recorded)"
}

setup() {
  relay_env
}

teardown() {
  relay_teardown
}

post() {
  local path=$1 data=$2; shift 2
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s --max-time 60 -o "$out.body" -w '%{http_code}' "$RELAY_URL$path" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "$data" "$@") || true
  body=$(cat "$out.body" 2>/dev/null || true)
}

# setup_replay TYPE MODEL FILE CTYPE [STATUS] [STREAM_FILE]: a channel of TYPE serving MODEL that
# answers every request with FILE; with STREAM_FILE, a second one serving MODEL-s answering with it
setup_replay() {
  local st=${5:-200}
  mock_start up --mock "{\"replay\":{\"file\":\"$3\",\"content_type\":\"$4\",\"status\":$st,\"chunk_bytes\":61}}"
  printf 'sk-up\n' | gwctl channel add --name c1 --type "$1" --base-url "$MOCK_UP_URL" --models "$2"
  if [ -n "${6:-}" ]; then
    mock_start st --mock "{\"replay\":{\"file\":\"$6\",\"content_type\":\"text/event-stream\",\"chunk_bytes\":61}}"
    printf 'sk-up\n' | gwctl channel add --name c2 --type "$1" --base-url "$MOCK_ST_URL" --models "$2-s"
  fi
  gwctl price set "$2" --ratio 1 >/dev/null
  gwctl price set "$2-s" --ratio 1 >/dev/null
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

# frames: the JSON of every data: line of $body, one a line ([DONE] left out)
frames() {
  printf '%s\n' "$body" | tr -d '\r' | sed -n 's/^data: *//p' | grep -v '^\[DONE\]$'
}

# pj EXPR: EXPR (Python) over d, the JSON document on stdin, printed as Python prints it
pj() {
  python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}

# fj EXPR: EXPR (Python) over F, the list of parsed frames of $body
fj() {
  frames | python3 -c 'import json, sys; F = [json.loads(l) for l in sys.stdin if l.strip()]; print(eval(sys.argv[1]))' "$1"
}

OAI='{"model":"M","messages":[{"role":"user","content":"Is AA100 on time?"}]}'
OAI_S='{"model":"M","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Is AA100 on time?"}]}'
ANT='{"model":"M","max_tokens":1024,"messages":[{"role":"user","content":"Is AA100 on time?"}]}'
ANT_S='{"model":"M","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"Is AA100 on time?"}]}'
GEM='{"contents":[{"role":"user","parts":[{"text":"Is AA100 on time?"}]}]}'

# A Gemini 3 function call with its thoughtSignature, whole and streamed: the shape of
# https://ai.google.dev/gemini-api/docs/thought-signatures ("functionCall" part with
# "thoughtSignature" beside it) and https://ai.google.dev/api/generate-content#UsageMetadata.
gemini_call_fixtures() {
  python3 - "$BATS_TEST_TMPDIR" <<'PY'
import json, sys
d = sys.argv[1]
um = {"promptTokenCount": 30, "candidatesTokenCount": 10, "thoughtsTokenCount": 50, "totalTokenCount": 90}
call = {"functionCall": {"name": "check_flight", "args": {"flight": "AA100"}}, "thoughtSignature": "Sig_A=="}
whole = {"candidates": [{"content": {"role": "model", "parts": [call]}, "finishReason": "STOP", "index": 0}],
         "usageMetadata": um, "modelVersion": "gemini-3-pro-preview", "responseId": "r1"}
open(d + "/g-call.json", "w").write(json.dumps(whole, indent=2))
f1 = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Checking the flight.", "thought": True,
                                                                 "thoughtSignature": "Sig_T=="}]},
                      "index": 0}], "usageMetadata": {"promptTokenCount": 30, "totalTokenCount": 30},
      "modelVersion": "gemini-3-pro-preview", "responseId": "r1"}
f2 = {"candidates": [{"content": {"role": "model", "parts": [call]}, "finishReason": "STOP", "index": 0}],
      "usageMetadata": um, "modelVersion": "gemini-3-pro-preview", "responseId": "r1"}
open(d + "/g-call.sse", "w").write("".join("data: " + json.dumps(f) + "\r\n\r\n" for f in (f1, f2)))
PY
}

@test "Gemini 3 call signature -> OpenAI client: tool_calls[0].extra_content.google.thought_signature (whole); reasoning tokens in completion_tokens_details" {
  gemini_call_fixtures
  setup_replay gemini M "$BATS_TEST_TMPDIR/g-call.json" application/json
  post /v1/chat/completions "$OAI"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["choices"][0]["message"]["tool_calls"][0]["extra_content"]["google"]["thought_signature"]')" = Sig_A== ]
  [ "$(echo "$body" | $JGET 'd["choices"][0]["message"]["tool_calls"][0]["function"]["name"]')" = check_flight ]
  [ "$(echo "$body" | $JGET 'd["usage"]["completion_tokens_details"]["reasoning_tokens"]')" = 50 ]
  [ "$(echo "$body" | $JGET 'd["usage"]["completion_tokens"]')" = 60 ]
}

@test "Gemini 3 call signature -> OpenAI client, streamed (CRLF frames): on the tool call's delta; usage chunk with reasoning tokens" {
  gemini_call_fixtures
  setup_replay gemini M "$BATS_TEST_TMPDIR/g-call.sse" text/event-stream
  post /v1/chat/completions "$OAI_S"
  [ "$status_code" = 200 ]
  [ "$(fj '[tc["extra_content"]["google"]["thought_signature"] for d in F for c in d.get("choices",[]) for tc in c.get("delta",{}).get("tool_calls",[]) if "extra_content" in tc]')" = "['Sig_A==']" ]
  [ "$(fj 'F[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"]')" = 50 ]
  # the thought part's own signature: a reasoning_details item after its reasoning_content
  [ "$(fj '"".join(c["delta"].get("reasoning_content","") for d in F for c in d.get("choices",[]))')" = "Checking the flight." ]
  [ "$(fj '[(x["type"], x["text"], x["signature"], x["format"]) for d in F for c in d.get("choices",[]) for x in c.get("delta",{}).get("reasoning_details",[])]')" = \
    "[('reasoning.text', '', 'Sig_T==', 'google-gemini-v1')]" ]
  printf '%s' "$body" | grep -q '^data: \[DONE\]'
}

@test "Gemini 3 call signature -> Anthropic client: a signed thinking block right before the tool_use, whole and streamed" {
  gemini_call_fixtures
  setup_replay gemini M "$BATS_TEST_TMPDIR/g-call.json" application/json 200 "$BATS_TEST_TMPDIR/g-call.sse"
  post /v1/messages "$ANT"
  [ "$status_code" = 200 ]
  echo "$body" >&2
  [ "$(echo "$body" | pj '[b["type"] for b in d["content"]]')" = "['thinking', 'tool_use']" ]
  [ "$(echo "$body" | $JGET 'd["content"][0]["signature"]')" = Sig_A== ]
  [ "$(echo "$body" | $JGET 'd["content"][1]["input"]["flight"]')" = AA100 ]
  [ "$(echo "$body" | $JGET 'd["stop_reason"]')" = tool_use ]
  post /v1/messages "${ANT_S/\"M\"/\"M-s\"}"
  [ "$status_code" = 200 ]
  # the block order the client rebuilds: thinking (the thought text), thinking (signed), tool_use
  [ "$(fj '[d["content_block"]["type"] for d in F if "content_block" in d]')" = "['thinking', 'thinking', 'tool_use']" ]
  [ "$(fj '[d["delta"]["signature"] for d in F if d.get("delta",{}).get("type") == "signature_delta"]')" = "['Sig_T==', 'Sig_A==']" ]
  [ "$(fj '"".join(d["delta"].get("thinking","") for d in F if d.get("type") == "content_block_delta")')" = "Checking the flight." ]
}

# Anthropic extended thinking, whole and streamed: the shapes of
# https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking (a "thinking" block with
# "signature", a "redacted_thinking" block with "data"; streamed: thinking_delta then signature_delta).
anthropic_thinking_fixtures() {
  python3 - "$BATS_TEST_TMPDIR" <<'PY'
import json, sys
d = sys.argv[1]
whole = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
         "content": [{"type": "thinking", "thinking": "Let me look it up.", "signature": "EqQBSigT=="},
                     {"type": "redacted_thinking", "data": "EmwKAhgBRedact=="},
                     {"type": "tool_use", "id": "toolu_1", "name": "check_flight", "input": {"flight": "AA100"}}],
         "stop_reason": "tool_use", "stop_sequence": None,
         "usage": {"input_tokens": 40, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 70}}
open(d + "/a-think.json", "w").write(json.dumps(whole))
ev = lambda t, o: "event: %s\ndata: %s\n\n" % (t, json.dumps(o))
s = ev("message_start", {"type": "message_start", "message": dict(whole, content=[], stop_reason=None,
        usage={"input_tokens": 40, "output_tokens": 1})})
s += ev("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
s += ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me look it up."}})
s += ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBSigT=="}})
s += ev("content_block_stop", {"type": "content_block_stop", "index": 0})
s += ev("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "EmwKAhgBRedact=="}})
s += ev("content_block_stop", {"type": "content_block_stop", "index": 1})
s += ev("content_block_start", {"type": "content_block_start", "index": 2, "content_block": {"type": "text", "text": ""}})
s += ev("content_block_delta", {"type": "content_block_delta", "index": 2, "delta": {"type": "text_delta", "text": "On time."}})
s += ev("content_block_stop", {"type": "content_block_stop", "index": 2})
s += ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 70}})
s += ev("message_stop", {"type": "message_stop"})
open(d + "/a-think.sse", "w").write(s)
PY
}

@test "Anthropic signed and redacted thinking -> OpenAI client: reasoning_content plus reasoning_details, whole and streamed" {
  anthropic_thinking_fixtures
  setup_replay anthropic M "$BATS_TEST_TMPDIR/a-think.json" application/json 200 "$BATS_TEST_TMPDIR/a-think.sse"
  post /v1/chat/completions "$OAI"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["choices"][0]["message"]["reasoning_content"]')" = "Let me look it up." ]
  [ "$(echo "$body" | pj '[(x["type"], x.get("text"), x.get("signature"), x.get("data"), x["format"]) for x in d["choices"][0]["message"]["reasoning_details"]]')" = \
    "[('reasoning.text', 'Let me look it up.', 'EqQBSigT==', None, 'anthropic-claude-v1'), ('reasoning.encrypted', None, None, 'EmwKAhgBRedact==', 'anthropic-claude-v1')]" ]
  post /v1/chat/completions "${OAI_S/\"M\"/\"M-s\"}"
  [ "$status_code" = 200 ]
  [ "$(fj '[(x["type"], x.get("signature"), x.get("data")) for d in F for c in d.get("choices",[]) for x in c.get("delta",{}).get("reasoning_details",[])]')" = \
    "[('reasoning.text', 'EqQBSigT==', None), ('reasoning.encrypted', None, 'EmwKAhgBRedact==')]" ]
  [ "$(fj '"".join(c["delta"].get("reasoning_content","") for d in F for c in d.get("choices",[]))')" = "Let me look it up." ]
}

@test "Anthropic signed and redacted thinking -> Gemini client: thought parts with thoughtSignature, whole and streamed" {
  anthropic_thinking_fixtures
  setup_replay anthropic M "$BATS_TEST_TMPDIR/a-think.json" application/json 200 "$BATS_TEST_TMPDIR/a-think.sse"
  post /v1beta/models/M:generateContent "$GEM"
  [ "$status_code" = 200 ]
  parts=$(echo "$body" | pj '[(p.get("text"), p.get("thought"), p.get("thoughtSignature")) for p in d["candidates"][0]["content"]["parts"] if "functionCall" not in p]')
  [ "$parts" = "[('Let me look it up.', True, 'EqQBSigT=='), ('', True, 'redacted_thinking:EmwKAhgBRedact==')]" ]
  post '/v1beta/models/M-s:streamGenerateContent?alt=sse' "$GEM"
  [ "$status_code" = 200 ]
  [ "$(fj '[p["thoughtSignature"] for d in F for c in d.get("candidates",[]) for p in c["content"]["parts"] if "thoughtSignature" in p]')" = \
    "['EqQBSigT==', 'redacted_thinking:EmwKAhgBRedact==']" ]
}

# A blocked prompt: promptFeedback.blockReason and no candidates
# (https://ai.google.dev/api/generate-content#PromptFeedback, BlockReason SAFETY).
blocked_fixture() {
  printf 'data: {"promptFeedback": {"blockReason": "SAFETY"},"usageMetadata": {"promptTokenCount": 8,"totalTokenCount": 8},"modelVersion": "gemini-2.5-flash"}\r\n\r\n' \
    > "$BATS_TEST_TMPDIR/blocked.sse"
  printf '{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}, "modelVersion": "gemini-2.5-flash"}' \
    > "$BATS_TEST_TMPDIR/blocked.json"
}

@test "a blocked Gemini prompt on the native path is Google's answer as it came: no error event, not an upstream failure" {
  blocked_fixture
  setup_replay gemini gemini-2.5-flash "$BATS_TEST_TMPDIR/blocked.sse" text/event-stream
  post '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse' "$GEM"
  [ "$status_code" = 200 ]
  [ "$body" = "$(cat "$BATS_TEST_TMPDIR/blocked.sse")" ]
  ! printf '%s' "$body" | grep -q 'ended early'
  wait_until "$(_relay_scale 10)" sql_is 1 'SELECT count(*) FROM logs WHERE type IN (2,5)'
  [ "$(sql 'SELECT type, end_reason FROM logs WHERE type IN (2,5)')" = "$(printf '2\tdone')" ]
}

@test "a blocked Gemini prompt on converted paths: a content-filter stop in the client's own shape" {
  blocked_fixture
  setup_replay gemini gemini-2.5-flash "$BATS_TEST_TMPDIR/blocked.sse" text/event-stream
  post /v1/chat/completions '{"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"x"}]}'
  [ "$status_code" = 200 ]
  [ "$(fj '[c["finish_reason"] for d in F for c in d.get("choices",[]) if c.get("finish_reason")]')" = "['content_filter']" ]
  ! printf '%s' "$body" | grep -q 'ended early'
  post /v1/messages '{"model":"gemini-2.5-flash","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"x"}]}'
  [ "$status_code" = 200 ]
  [ "$(fj '[d["delta"]["stop_reason"] for d in F if d.get("type") == "message_delta"]')" = "['refusal']" ]
  ! printf '%s' "$body" | grep -q 'ended early'
}

# Anthropic's overload: 529 overloaded_error (https://docs.anthropic.com/en/api/errors)
@test "an Anthropic overload reaches a Gemini client as 503 UNAVAILABLE and an OpenAI client as 503" {
  printf '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}' > "$BATS_TEST_TMPDIR/overloaded.json"
  setup_replay anthropic M "$BATS_TEST_TMPDIR/overloaded.json" application/json 529
  post /v1beta/models/M:generateContent "$GEM"
  [ "$status_code" = 503 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = UNAVAILABLE ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = 503 ]
  post /v1/chat/completions "$OAI"
  [ "$status_code" = 503 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q Overloaded
}

@test "relay's own refusal (a chat-only channel asked for embeddings) is worded as relay's, in the client's format, and asks no upstream" {
  anthropic_thinking_fixtures   # an Anthropic channel serves only chat (a Gemini one takes embeddings)
  setup_replay anthropic M "$BATS_TEST_TMPDIR/a-think.json" application/json
  post /v1/embeddings '{"model":"M","input":"x"}'
  [ "$status_code" = 400 ]
  msg=$(echo "$body" | $JGET 'd["error"]["message"]')
  echo "$msg" >&2
  [[ "$msg" == "relay cannot send this request to channel "*"serves only chat requests"* ]]
  [[ "$msg" != *"upstream answered"* ]]
  [ "$(mock_requests up | wc -l)" -eq 0 ]
}

@test "a converted Anthropic stream's message_start input_tokens is the request counted by the model's tokenizer" {
  TOKDIR="${RELAY_BIN%/bin}/share/tokenizer"
  [ -f "$TOKDIR/o200k_base.json" ] || { echo "no tokenizer data in $TOKDIR: make tokenizer-data" >&2; return 1; }
  mock_start up
  printf 'sk-up\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_UP_URL" --models gpt-4o
  gwctl user add alice --quota 100000000
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start --tokenizer-dir "$TOKDIR"
  text="Say hello eight times, please, and then tell me about the weather in Lisbon."
  post /v1/messages "{\"model\":\"gpt-4o\",\"max_tokens\":50,\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"$text\"}]}"
  [ "$status_code" = 200 ]
  want=$(node -e 'const {get_encoding} = require(process.argv[1]); const e = get_encoding("o200k_base");
           process.stdout.write(String(e.encode_ordinary(process.argv[2]).length)); e.free()' \
    "$ROOT/dist/tokenizer/node_modules/tiktoken" "$text")
  got=$(fj 'F[0]["message"]["usage"]["input_tokens"]')
  echo "message_start input_tokens $got, tiktoken $want" >&2
  [ "$got" = "$want" ]
}

# ---- recorded provider output ----

@test "recorded Gemini 3 thinking answer (vercel/ai google-reasoning.json) -> OpenAI and Anthropic clients: reasoning tokens in their fields" {
  need_recorded gemini-generate-thinking.json
  setup_replay gemini M "$RECORDED/gemini-generate-thinking.json" application/json
  post /v1/chat/completions "$OAI"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | pj '(d["usage"]["prompt_tokens"], d["usage"]["completion_tokens"], d["usage"]["completion_tokens_details"]["reasoning_tokens"])')" = "(9, 311, 282)" ]
  post /v1/messages "$ANT"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | pj '(d["usage"]["input_tokens"], d["usage"]["output_tokens"])')" = "(9, 311)" ]
}

@test "recorded Gemini 2.5 thinking stream (pydantic-ai, CRLF) -> OpenAI client: usage chunk with reasoning tokens, billed as reported" {
  need_recorded gemini-stream-thinking.sse
  setup_replay gemini M "$RECORDED/gemini-stream-thinking.sse" text/event-stream
  post /v1/chat/completions "$OAI_S"
  [ "$status_code" = 200 ]
  [ "$(fj '(F[-1]["usage"]["prompt_tokens"], F[-1]["usage"]["completion_tokens"], F[-1]["usage"]["completion_tokens_details"]["reasoning_tokens"])')" = "(34, 1256, 787)" ]
  printf '%s' "$body" | grep -q '"reasoning_content"'
  wait_until "$(_relay_scale 10)" sql_is 1 'SELECT count(*) FROM logs WHERE type IN (2,5)'
  [ "$(sql 'SELECT prompt_tokens, completion_tokens, usage_source FROM logs WHERE type IN (2,5)')" = "$(printf '34\t1256\tupstream')" ]
}

@test "recorded Anthropic answer with cache reads and writes (pydantic-ai) -> OpenAI and Gemini clients: cached tokens in their fields" {
  need_recorded anthropic-message-cache.json
  setup_replay anthropic M "$RECORDED/anthropic-message-cache.json" application/json
  post /v1/chat/completions "$OAI"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | pj '(d["usage"]["prompt_tokens"], d["usage"]["prompt_tokens_details"]["cached_tokens"], d["usage"]["completion_tokens"])')" = "(1532, 1111, 33)" ]
  post /v1beta/models/M:generateContent "$GEM"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | pj '(d["usageMetadata"]["promptTokenCount"], d["usageMetadata"]["cachedContentTokenCount"], d["usageMetadata"]["candidatesTokenCount"])')" = "(1532, 1111, 33)" ]
}
