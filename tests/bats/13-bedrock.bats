#!/usr/bin/env bats
# AWS Bedrock channels (issue #23): Claude through InvokeModel and InvokeModelWithResponseStream,
# every request signed with SigV4. The mock upstream checks the signature as AWS computes it
# (canonical request, string to sign, key derived from the secret it is started with) and answers
# 403 in AWS's error shape when it does not match; it streams in AWS's binary event-stream framing.
# OpenAI, Anthropic and Gemini clients, stream and not, tool calls, billing, faults, gwctl.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"
AK=AKIDEXAMPLE
SK='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
MODEL_ID='anthropic.claude-sonnet-4-20250514-v1:0'

setup() {
  relay_env
  gwctl user add alice --quota 100000000
}

teardown() {
  relay_teardown
}

# bedrock KEY [mock flags...]: a mock that wants AK/SK in us-east-1 and a bedrock channel "br"
# with KEY, serving claude-sonnet-4-0 as MODEL_ID
bedrock() {
  local key=$1; shift
  mock_start up --aws-access-key "$AK" --aws-secret "$SK" --aws-region us-east-1 "$@"
  printf '%s\n' "$key" | gwctl channel add --name br --type bedrock --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models claude-sonnet-4-0 --model-map "{\"claude-sonnet-4-0\":\"$MODEL_ID\"}"
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

# post PATH BODY [curl args]: sets status_code and body
post() {
  local path=$1 data=$2; shift 2
  local out="$BATS_TEST_TMPDIR/resp"
  status_code=$(curl -s -N -o "$out.body" -w '%{http_code}' "$RELAY_URL$path" -H 'content-type: application/json' \
    --data-binary "$data" "$@")
  body=$(cat "$out.body")
}
chat() { post /v1/chat/completions "$1" -H "Authorization: Bearer $KEY"; }
messages() { post /v1/messages "$1" -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01'; }

logs_at_least() { [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" -ge "$1" ]; }
wait_logs() { wait_until "$(_relay_scale 5)" logs_at_least "$1"; }

mock_defaults() {
  curl -sf -o /dev/null -X POST "http://127.0.0.1:$MOCK_PORT/__mock/defaults" -d "$1"
}

@test "bedrock: an OpenAI chat request goes out signed to InvokeModel and comes back as chat, billed" {
  bedrock "$AK|$SK|us-east-1"
  chat '{"model":"claude-sonnet-4-0","max_tokens":64,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["object"], d["choices"][0]["message"]["content"], d["choices"][0]["finish_reason"]')" = '["chat.completion", "hello hello hello hello hello ", "stop"]' ]
  up=$(mock_requests up | tail -1)
  # the mock decoded the path; the signature it checked was over the path as sent (%3A)
  [ "$(echo "$up" | $JGET 'd["path"]')" = "/model/$MODEL_ID/invoke" ]
  [ "$(echo "$up" | $JGET 'd["body"]["anthropic_version"], "model" in d["body"], "stream" in d["body"], d["body"]["system"], d["body"]["max_tokens"]')" = '["bedrock-2023-05-31", false, false, "be brief", 64]' ]
  echo "$up" | $JGET 'd["headers"]["authorization"]' | grep -Eq "^AWS4-HMAC-SHA256 Credential=$AK/[0-9]{8}/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$"
  [ "$(echo "$up" | $JGET '"x-api-key" in d["headers"], "x-amz-security-token" in d["headers"]')" = '[false, false]' ]
  # mock: input = 10 + 1 message + 1 system = 12, output 5; claude-sonnet-4-0: (12 + 5 * 5) * 1.5 = 55.5 -> 56
  [ "$(echo "$body" | $JGET 'd["usage"]["prompt_tokens"], d["usage"]["completion_tokens"]')" = '[12, 5]' ]
  wait_logs 1
  [ "$(sql 'SELECT quota, usage_source, prompt_tokens, completion_tokens FROM logs WHERE type=2')" = "$(printf '56\tupstream\t12\t5')" ]
  # embeddings: refused before any upstream call, in the client's shape
  n=$(mock_requests up | wc -l)
  post /v1/embeddings '{"model":"claude-sonnet-4-0","input":"x"}' -H "Authorization: Bearer $KEY"
  [ "$status_code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'a bedrock channel serves only chat requests'
  [ "$(mock_requests up | wc -l)" = "$n" ]
  # the key never shows in gwctl's listing
  ( ! gwctl channel show br --json | grep -q "$SK" )
}

@test "bedrock: an OpenAI stream comes back from event-stream frames as chunks with [DONE] and usage" {
  bedrock "$AK|$SK|us-east-1" --chunks 3
  chat '{"model":"claude-sonnet-4-0","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | python3 -c '
import json, sys
data = [l[6:] for l in sys.stdin.read().split("\n") if l.startswith("data: ")]
assert data[-1] == "[DONE]", data
chunks = [json.loads(d) for d in data[:-1]]
text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
assert text == "hello " * 3, text
assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop", chunks
assert chunks[-1]["usage"]["prompt_tokens"] == 11 and chunks[-1]["usage"]["completion_tokens"] == 3, chunks[-1]
'
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"]')" = "/model/$MODEL_ID/invoke-with-response-stream" ]
  wait_logs 1
  [ "$(sql 'SELECT usage_source, prompt_tokens, completion_tokens FROM logs WHERE type=2')" = "$(printf 'upstream\t11\t3')" ]
}

@test "bedrock: a stream split one byte per read reads the same; a tool call streams and not" {
  bedrock "$AK|$SK|us-east-1" --chunks 2
  mock_defaults '{"drip_ms":1}'
  chat '{"model":"claude-sonnet-4-0","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(printf '%s\n' "$body" | grep '^data: ' | tail -1)" = 'data: [DONE]' ]
  [ "$(printf '%s\n' "$body" | grep '^data: {' | sed 's/^data: //' | python3 -c '
import json, sys
print("".join(json.loads(l)["choices"][0]["delta"].get("content") or "" for l in sys.stdin if json.loads(l)["choices"]))')" = 'hello hello ' ]
  mock_defaults '{}'
  tools='"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}]'
  chat '{"model":"claude-sonnet-4-0",'"$tools"',"messages":[{"role":"user","content":"use tool please"}]}'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["choices"][0]["finish_reason"], d["choices"][0]["message"]["tool_calls"][0]["function"]["name"]')" = '["tool_calls", "lookup"]' ]
  [ "$(echo "$body" | $JGET 'd["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]' | $JGET 'd')" = '{"q": "x"}' ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["body"]["tools"][0]["name"], d["body"]["tools"][0]["input_schema"]["type"]')" = '["lookup", "object"]' ]
  chat '{"model":"claude-sonnet-4-0","stream":true,'"$tools"',"messages":[{"role":"user","content":"use tool please"}]}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | python3 -c '
import json, sys
data = [l[6:] for l in sys.stdin.read().split("\n") if l.startswith("data: ")]
assert data[-1] == "[DONE]", data
calls = [tc for d in data[:-1] for c in json.loads(d)["choices"] for tc in c["delta"].get("tool_calls") or []]
assert calls[0]["function"]["name"] == "lookup", calls
assert json.loads("".join(tc["function"].get("arguments") or "" for tc in calls)) == {"q": "x"}, calls
'
}

@test "bedrock: an Anthropic client is served natively, stream and not; its tool call passes" {
  bedrock "$AK|$SK|us-east-1" --chunks 2
  messages '{"model":"claude-sonnet-4-0","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["id"], d["type"], d["content"][0]["text"], d["usage"]["input_tokens"], d["usage"]["output_tokens"]')" = '["msg_mock", "message", "hello hello ", 11, 2]' ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["body"]["messages"], d["body"]["anthropic_version"], "model" in d["body"]')" = '[[{"role": "user", "content": "hi"}], "bedrock-2023-05-31", false]' ]
  messages '{"model":"claude-sonnet-4-0","max_tokens":32,"stream":true,"tools":[{"name":"lookup","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"use tool"}]}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | python3 -c '
import json, sys
lines = sys.stdin.read().split("\n")
names = [l[7:] for l in lines if l.startswith("event: ")]
assert names[0] == "message_start" and names[-1] == "message_stop", names
data = [json.loads(l[6:]) for l in lines if l.startswith("data: ")]
assert [d["type"] for d in data] == names, (names, data)
assert data[1]["content_block"]["name"] == "lookup", data[1]
js = "".join(d["delta"]["partial_json"] for d in data if d["type"] == "content_block_delta")
assert json.loads(js) == {"q": "x"}, js
'
  wait_logs 2
  [ "$(sql 'SELECT group_concat(usage_source), group_concat(prompt_tokens) FROM logs WHERE type=2')" = "$(printf 'upstream,upstream\t11,11')" ]
}

@test "bedrock: a Gemini client gets generateContent and its stream, a functionCall included" {
  bedrock "$AK|$SK|us-east-1" --chunks 2
  post /v1beta/models/claude-sonnet-4-0:generateContent '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["candidates"][0]["content"]["parts"][0]["text"], d["candidates"][0]["finishReason"], d["usageMetadata"]["promptTokenCount"]')" = '["hello hello ", "STOP", 11]' ]
  post '/v1beta/models/claude-sonnet-4-0:streamGenerateContent?alt=sse' '{"contents":[{"role":"user","parts":[{"text":"use tool"}]}],"tools":[{"functionDeclarations":[{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}]}]}' -H "x-goog-api-key: $KEY"
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | python3 -c '
import json, sys
data = [json.loads(l[6:]) for l in sys.stdin.read().split("\n") if l.startswith("data: ")]
calls = [p["functionCall"] for d in data for c in d.get("candidates", []) for p in c["content"].get("parts", []) if "functionCall" in p]
assert calls and calls[0]["name"] == "lookup" and calls[0]["args"] == {"q": "x"}, data
'
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"]')" = "/model/$MODEL_ID/invoke-with-response-stream" ]
}

@test "bedrock: a wrong secret is AWS's 403 (signature mismatch): each client's error, nothing billed" {
  mock_start up --aws-access-key "$AK" --aws-secret "$SK" --aws-region us-east-1
  printf '%s\n' "$AK|not-the-secret|us-east-1" | gwctl channel add --name br --type bedrock \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models claude-sonnet-4-0 --model-map "{\"claude-sonnet-4-0\":\"$MODEL_ID\"}"
  gwctl channel edit br --auto-disable false     # every client below reaches it
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  chat '{"model":"claude-sonnet-4-0","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 403 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'The request signature we calculated does not match'
  messages '{"model":"claude-sonnet-4-0","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 403 ]
  [ "$(echo "$body" | $JGET 'd["type"], d["error"]["type"]')" = '["error", "permission_error"]' ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'signature we calculated'
  post /v1beta/models/claude-sonnet-4-0:generateContent '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' -H "x-goog-api-key: $KEY"
  [ "$status_code" = 403 ]
  [ "$(echo "$body" | $JGET 'd["error"]["status"]')" = PERMISSION_DENIED ]
  # the mock got all three, checked each signature and refused it
  [ "$(mock_requests up | python3 -c 'import json, sys; print(sorted(set(json.loads(l)["path"] for l in sys.stdin)))')" = "['/model/$MODEL_ID/invoke']" ]
  [ "$(mock_requests up | wc -l)" = 3 ]
  [ "$(sql 'SELECT count(*) FROM logs WHERE type=2')" = 0 ]
  [ "$(sql "SELECT used_quota FROM users WHERE username='alice'")" = 0 ]
}

@test "bedrock: AWS's throttling (429 ThrottlingException) is each client's 429 in its own shape" {
  bedrock "$AK|$SK|us-east-1" --status 429
  chat '{"model":"claude-sonnet-4-0","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 429 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'mock error 429'
  messages '{"model":"claude-sonnet-4-0","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["type"], d["error"]["type"]')" = '["error", "rate_limit_error"]' ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"]')" = "/model/$MODEL_ID/invoke-with-response-stream" ]
  [ "$(sql 'SELECT count(*) FROM logs WHERE type=2')" = 0 ]
}

@test "bedrock: a wrong secret disables the channel with AWS's reason" {
  bedrock "$AK|not-the-secret|us-east-1"
  chat '{"model":"claude-sonnet-4-0","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 403 ]
  wait_until "$(_relay_scale 5)" sql_is 3 "SELECT status FROM channels WHERE name='br'"
  sql "SELECT status_reason FROM channels WHERE name='br'" | grep -q 'HTTP 403: The request signature we calculated'
}

@test "bedrock: a session token is signed and sent; the region may come from --region" {
  mock_start up --aws-access-key "$AK" --aws-secret "$SK" --aws-region us-west-2 --aws-session-token 'FQoGZXIvYXdzEXAMPLE/token+'
  printf '%s\n' "$AK|$SK||FQoGZXIvYXdzEXAMPLE/token+" | gwctl channel add --name br --type bedrock --region us-west-2 \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models claude-sonnet-4-0 --model-map "{\"claude-sonnet-4-0\":\"$MODEL_ID\"}"
  [ "$(sql "SELECT other FROM channels WHERE name='br'")" = '{"region":"us-west-2"}' ]
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  chat '{"model":"claude-sonnet-4-0","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["headers"]["x-amz-security-token"]')" = 'FQoGZXIvYXdzEXAMPLE/token+' ]
  echo "$up" | $JGET 'd["headers"]["authorization"]' | grep -q '/us-west-2/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,'
}

@test "bedrock: a bad frame CRC ends the stream with an error in the client's format" {
  bedrock "$AK|$SK|us-east-1" --chunks 3
  mock_defaults '{"bad_crc":4}'
  chat '{"model":"claude-sonnet-4-0","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  ! printf '%s\n' "$body" | grep -q '^data: \[DONE\]'
  printf '%s\n' "$body" | grep '^data: {"error"' | tail -1 | sed 's/^data: //' | $JGET 'd["error"]["message"]' | grep -q 'message CRC does not match'
  messages '{"model":"claude-sonnet-4-0","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  ! printf '%s\n' "$body" | grep -q '^event: message_stop'
  printf '%s\n' "$body" | grep -A1 '^event: error' | grep '^data: ' | sed 's/^data: //' | $JGET 'd["error"]["message"]' | grep -q 'CRC does not match'
}

@test "bedrock: a stream exception reaches each client as its error; usage from invocationMetrics" {
  bedrock "$AK|$SK|us-east-1" --chunks 3
  mock_defaults '{"error_after":1}'
  messages '{"model":"claude-sonnet-4-0","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep -A1 '^event: error' | grep '^data: ' | sed 's/^data: //' | $JGET 'd["error"]["type"], d["error"]["message"]' | grep -q '"api_error", "Bedrock modelStreamErrorException: mock stream error"'
  chat '{"model":"claude-sonnet-4-0","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
  printf '%s\n' "$body" | grep '^data: {"error"' | sed 's/^data: //' | $JGET 'd["error"]["message"]' | grep -q 'modelStreamErrorException'
  # no usage in the Anthropic events: the stream's amazon-bedrock-invocationMetrics bill it
  mock_defaults '{"no_usage":true}'
  chat '{"model":"claude-sonnet-4-0","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  [ "$(printf '%s\n' "$body" | grep '^data: ' | tail -1)" = 'data: [DONE]' ]
  messages '{"model":"claude-sonnet-4-0","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
  printf '%s\n' "$body" | grep -q '^event: message_stop'
  wait_logs 4
  [ "$(sql "SELECT group_concat(usage_source || ':' || prompt_tokens || ':' || completion_tokens) FROM (SELECT * FROM logs WHERE type=2 ORDER BY id DESC LIMIT 2) AS l")" = 'upstream:11:3,upstream:11:3' ]
}

@test "gwctl: bedrock in channel types; add checks region and key; channel test signs its probe" {
  run gwctl channel types --json
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET '[(t["api"], t["auth"], t["endpoints"]) for t in d if t["type"] == "bedrock"]')" = '[["bedrock", "AWS SigV4", ["chat"]]]' ]
  # no --region and no --base-url: usage error, nothing stored
  run bash -c "printf '%s\n' '$AK|$SK' | '$RELAY_BIN/gwctl' channel add --name b0 --type bedrock --models m"
  [ "$status" -eq 2 ]
  [[ "$output" == *"--region"* ]]
  # --region alone: the regional URL; a key without a region and no --region: refused
  printf '%s\n' "$AK|$SK" | gwctl channel add --name b1 --type bedrock --region eu-central-1 --models m
  [ "$(sql "SELECT base_url FROM channels WHERE name='b1'")" = 'https://bedrock-runtime.eu-central-1.amazonaws.com' ]
  run bash -c "printf '%s\n' '$AK|$SK' | '$RELAY_BIN/gwctl' channel add --name b2 --type bedrock --base-url http://127.0.0.1:1 --models m"
  [ "$status" -eq 2 ]
  [[ "$output" == *"region"* ]]
  run bash -c "printf '%s\n' 'just-a-key' | '$RELAY_BIN/gwctl' channel add --name b3 --type bedrock --region us-east-1 --models m"
  [ "$status" -eq 2 ]
  [[ "$output" == *"ACCESS_KEY_ID|SECRET_ACCESS_KEY|REGION"* ]]
  [ "$(sql "SELECT count(*) FROM channels WHERE name IN ('b0','b2','b3')")" = 0 ]
  run gwctl channel add --name b4 --type openai --region us-east-1 --models m --no-key
  [ "$status" -eq 2 ]
  # channel test: the signed probe reaches the mock (200); with a wrong secret AWS's 403 message
  mock_start up --aws-access-key "$AK" --aws-secret "$SK" --aws-region us-east-1
  printf '%s\n' "$AK|$SK|us-east-1" | gwctl channel add --name ok --type bedrock --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models claude-sonnet-4-0 --model-map "{\"claude-sonnet-4-0\":\"$MODEL_ID\"}"
  run gwctl channel test ok     # the first model, by its Bedrock id
  [ "$status" -eq 0 ]
  [[ "$output" == *"ok, HTTP 200"* ]]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"], d["body"]["anthropic_version"], d["body"]["max_tokens"]')" = "[\"/model/$MODEL_ID/invoke\", \"bedrock-2023-05-31\", 5]" ]
  printf '%s\n' "$AK|wrong|us-east-1" | gwctl channel add --name bad --type bedrock --base-url "http://127.0.0.1:$MOCK_PORT" \
    --models "$MODEL_ID"
  run gwctl channel test bad
  [ "$status" -ne 0 ]
  [[ "$output" == *"HTTP 403"*"signature we calculated does not match"* ]]
}

@test "mock: AWS's own SDK signer (botocore) is accepted, and its event-stream parser reads the frames" {
  python3 -c 'import botocore' 2>/dev/null || skip "botocore is not installed"
  mock_start up --aws-access-key "$AK" --aws-secret "$SK" --aws-region us-east-1 --chunks 2
  cat > "$BATS_TEST_TMPDIR/boto.py" <<'PY'
import base64, json, sys, urllib.error, urllib.parse, urllib.request
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.eventstream import EventStreamBuffer
port, ak, sk, model, secret = sys.argv[1:6]
body = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8,
                   "messages": [{"role": "user", "content": "hi"}]})
url = "http://127.0.0.1:%s/model/%s/invoke-with-response-stream" % (port, urllib.parse.quote(model, safe=""))
req = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
SigV4Auth(Credentials(ak, secret), "bedrock", "us-east-1").add_auth(req)
try:
    r = urllib.request.urlopen(urllib.request.Request(url, data=body.encode(), headers=dict(req.headers.items()),
                                                      method="POST"))
except urllib.error.HTTPError as e:
    print(e.code, e.headers["x-amzn-ErrorType"], json.loads(e.read())["message"][:40])
    sys.exit(0)
buf = EventStreamBuffer()
buf.add_data(r.read())
types = [json.loads(base64.b64decode(json.loads(m.payload)["bytes"]))["type"] for m in buf]
print(r.status, r.headers["Content-Type"], " ".join(types))
PY
  run python3 "$BATS_TEST_TMPDIR/boto.py" "$MOCK_PORT" "$AK" "$SK" "$MODEL_ID" "$SK"
  [ "$status" -eq 0 ]
  [ "$output" = '200 application/vnd.amazon.eventstream message_start content_block_start ping content_block_delta content_block_delta content_block_stop message_delta message_stop' ]
  run python3 "$BATS_TEST_TMPDIR/boto.py" "$MOCK_PORT" "$AK" "$SK" "$MODEL_ID" wrong-secret
  [ "$output" = '403 InvalidSignatureException The request signature we calculated does' ]
}

@test "import: One API's AWS channel (type 33, key AK|SK|REGION) becomes a bedrock channel of that region" {
  src="$BATS_TEST_TMPDIR/oneapi.db"
  PYTHONPATH="$BATS_TEST_DIRNAME" PYTHONDONTWRITEBYTECODE=1 python3 - "$src" "$AK|$SK|ap-northeast-1" <<'PY'
import sqlite3, sys
from import_sources import ONEAPI_SQLITE
c = sqlite3.connect(sys.argv[1])
c.executescript(ONEAPI_SQLITE)
c.execute("INSERT INTO channels(id, type, `key`, status, name, base_url, other, models, `group`, model_mapping, priority, weight, config, created_time) VALUES (1, 33, ?, 1, 'aws', '', '', 'claude-3-5-sonnet-20240620', 'default', '', 0, 0, '', 1700000000)", (sys.argv[2],))
c.commit()
PY
  run gwctl import oneapi --from "sqlite:$src" --json
  [ "$status" -eq 0 ]
  echo "$output" | $JGET "[i['note'] for i in d['items'] if i['kind'] == 'channels']" | grep -q 'type 33 (AWS) -> bedrock'
  [ "$(sql "SELECT type, base_url FROM channels WHERE name='aws'")" = "$(printf 'bedrock\thttps://bedrock-runtime.ap-northeast-1.amazonaws.com')" ]
  [ "$(gwctl channel show aws --reveal --json | $JGET 'd["key"]')" = "$AK|$SK|ap-northeast-1" ]
}

@test "bedrock: relayd's periodic test signs its probe; a passing one re-enables the channel" {
  bedrock "$AK|$SK|us-east-1"
  mock_defaults '{"status":403}'     # AWS's AccessDeniedException, after the signature passed
  chat '{"model":"claude-sonnet-4-0","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 403 ]
  wait_until "$(_relay_scale 5)" sql_is 3 "SELECT status FROM channels WHERE name='br'"
  mock_reset up
  mock_defaults '{}'
  gwctl config set channel_test_interval_s 1
  wait_until "$(_relay_scale 10)" sql_is 1 "SELECT status FROM channels WHERE name='br'"
  # the probe: InvokeModel of the model's Bedrock id, Bedrock's body, a signature the mock accepted
  probe=$(mock_requests up | head -1)
  [ "$(echo "$probe" | $JGET 'd["path"], d["body"]["anthropic_version"], d["body"]["max_tokens"], "model" in d["body"]')" = "[\"/model/$MODEL_ID/invoke\", \"bedrock-2023-05-31\", 5, false]" ]
  echo "$probe" | $JGET 'd["headers"]["authorization"]' | grep -q "^AWS4-HMAC-SHA256 Credential=$AK/"
  chat '{"model":"claude-sonnet-4-0","messages":[{"role":"user","content":"hi"}]}'
  [ "$status_code" = 200 ]
}
