#!/usr/bin/env bats
# The endpoints beyond chat (doc/endpoints.md): /v1/responses (and its stream), images
# (generations, multipart edits), audio (speech, transcriptions, translations), moderations and
# rerank (cohere and jina channels), each relayed to the mock upstream and billed exactly: the
# expected charge is computed here from the answer's usage and the documented rule, and compared
# with the log row and the token's used_quota.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"
MODELS=gpt-4o,dall-e-2,dall-e-3,gpt-image-1,tts-1,tts-1-hd,whisper-1,gpt-4o-transcribe,omni-moderation-latest,text-moderation-latest

setup() {
  relay_env
  gwctl user add alice --quota 100000000
}

teardown() {
  relay_teardown
}

# start [mock flags...]: mock "up" and an openai channel serving $MODELS, token t1, relayd
start() {
  mock_start up "$@"
  printf 'sk-upstream\n' | gwctl channel add --name oai --type openai --base-url "$MOCK_URL" --models "$MODELS"
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

# post PATH [curl args...]: POST to relayd with the key; sets code, body (and the body file $out)
post() {
  local path=$1; shift
  out="$BATS_TEST_TMPDIR/resp.body"
  code=$(curl -s -N -o "$out" -D "$BATS_TEST_TMPDIR/resp.headers" -w '%{http_code}' "$RELAY_URL$path" \
    -H "Authorization: Bearer $KEY" "$@")
  body=$(cat "$out")
}

# pj PATH JSON: post a JSON body
pj() { post "$1" -H 'content-type: application/json' --data-binary "$2"; }

logs() { sql 'SELECT count(*) FROM logs WHERE type IN (2,5)'; }
wait_logs() {
  for _ in $(seq 1 100); do
    [ "$(logs)" -ge "$1" ] && return 0
    sleep 0.1
  done
  echo "expected $1 log rows, have $(logs)" >&2
  return 1
}
last_log() { sql "SELECT $1 FROM logs WHERE type IN (2,5) ORDER BY id DESC LIMIT 1"; }
used() { sql "SELECT used_quota FROM tokens WHERE name='t1'"; }

# charged Q: the last log row charged Q and the token's used_quota grew by Q since $before
used_is() { [ "$(used)" = "$1" ]; }
charged() {
  # the writer commits the log row and the token's used_quota in one batch: wait for it first
  wait_until 5 used_is "$((before + $1))"
  [ "$(last_log quota)" = "$1" ] || { echo "log quota $(last_log quota), expected $1" >&2; return 1; }
}

# multipart OUTFILE BOUNDARY FIELD=VALUE... FILEFIELD=@NAME:BYTES...: a multipart body made here
# byte by byte (binary file parts hold CR LF, dashes and NULs), so the test knows every byte sent
multipart() {
  python3 - "$@" <<'PY'
import sys
out, boundary, parts = sys.argv[1], sys.argv[2].encode(), sys.argv[3:]
b = b""
for p in parts:
    name, val = p.split("=", 1)
    b += b"--" + boundary + b"\r\n"
    if val.startswith("@"):
        fname, n = val[1:].split(":")
        data = bytes((i * 31 + 7) % 256 for i in range(int(n))) + b"\r\n--not-the-boundary\r\n\x00end"
        b += b'Content-Disposition: form-data; name="%s"; filename="%s"\r\n' % (name.encode(), fname.encode())
        b += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    else:
        b += b'Content-Disposition: form-data; name="%s"\r\n\r\n' % name.encode() + val.encode() + b"\r\n"
b += b"--" + boundary + b"--\r\n"
open(out, "wb").write(b)
PY
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

@test "responses: non-stream relayed as is, billed from input/output tokens with cached tokens at the cache ratio" {
  start
  before=$(used)
  pj /v1/responses '{"model":"gpt-4o","input":"hi","instructions":"be brief","mock":{"cached_tokens":4}}'
  [ "$code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["object"], d["status"], d["output"][0]["content"][0]["text"]')" = '["response", "completed", "hello hello hello hello hello "]' ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"]')" = /v1/responses ]
  [ "$(echo "$up" | $JGET 'd["headers"]["authorization"]')" = "Bearer sk-upstream" ]
  # nothing added to a Responses request (no stream_options)
  [ "$(echo "$up" | $JGET 'sorted(d["body"].keys())')" = '["input", "instructions", "mock", "model"]' ]
  wait_logs 1
  # gpt-4o: ratio 1.25, completion 4, cache 0.5: (input - cached + cached * 0.5 + output * 4) * 1.25, up
  expect=$(echo "$body" | python3 -c '
import json, math, sys
u = json.load(sys.stdin)["usage"]
i, c, o = u["input_tokens"], u["input_tokens_details"]["cached_tokens"], u["output_tokens"]
assert (i, c, o) == (12, 4, 5), u
print(math.ceil(((i - c) + c * 0.5 + o * 4) * 1.25 - 1e-9))')
  charged "$expect"
  [ "$(last_log 'prompt_tokens, completion_tokens, end_reason, usage_source, is_stream, model_name')" = "$(printf '12\t5\tdone\tupstream\t0\tgpt-4o')" ]
}

@test "responses: a stream comes through event by event with its named events; usage from response.completed" {
  start --chunks 3
  before=$(used)
  pj /v1/responses '{"model":"gpt-4o","input":[{"role":"user","content":"hi"}],"stream":true}'
  [ "$code" = 200 ]
  grep -qi '^content-type: text/event-stream' "$BATS_TEST_TMPDIR/resp.headers"
  sse_data < "$out" > /dev/null
  names=$(printf '%s\n' "$body" | sed -n 's/^event: //p' | tr '\n' ' ')
  [ "$names" = "response.created response.in_progress response.output_item.added response.content_part.added response.output_text.delta response.output_text.delta response.output_text.delta response.output_text.done response.content_part.done response.output_item.done response.completed " ]
  ( ! grep -q '\[DONE\]' "$out" )
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET '"stream_options" in d["body"]')" = false ]
  wait_logs 1
  usage=$(printf '%s\n' "$body" | grep '"response.completed"' | sed 's/^data: //' | $JGET 'd["response"]["usage"]')
  expect=$(echo "$usage" | python3 -c '
import json, math, sys
u = json.load(sys.stdin)
print(math.ceil((u["input_tokens"] + u["output_tokens"] * 4) * 1.25 - 1e-9))')
  charged "$expect"
  [ "$(last_log 'completion_tokens, end_reason, usage_source, is_stream')" = "$(printf '3\tdone\tupstream\t1')" ]
}

@test "responses: a stream cut before response.completed ends with an error event and is billed from what was seen" {
  start --chunks 5
  before=$(used)
  pj /v1/responses '{"model":"gpt-4o","input":"hi","stream":true,"mock":{"disconnect_after":2}}'
  [ "$code" = 200 ]
  [ "$(printf '%s\n' "$body" | grep -c '^event: response.output_text.delta')" = 2 ]
  printf '%s\n' "$body" | tail -3 | grep -q '^event: error'
  printf '%s\n' "$body" | grep '"type":"error"' | sed 's/^data: //' | $JGET 'd["code"]' | grep -qx stream_interrupted
  wait_logs 1
  [ "$(last_log 'end_reason, usage_source')" = "$(printf 'upstream_error\tlocal')" ]
  # local: prompt = ceil(2 chars / 4) = 1, completion = ceil(12 chars of text / 4) = 3
  charged "$(python3 -c 'import math; print(math.ceil((1 + 3 * 4) * 1.25))')"
}

@test "images/generations: dall-e-3 billed per image with the size and quality multiplier" {
  start
  before=$(used)
  pj /v1/images/generations '{"model":"dall-e-3","prompt":"a cat","n":2,"size":"1792x1024","quality":"hd"}'
  [ "$code" = 200 ]
  [ "$(echo "$body" | $JGET 'len(d["data"])')" = 2 ]
  echo "$body" | $JGET 'd["data"][0]["url"]' | grep -q '^https://'
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"]')" = /v1/images/generations ]
  wait_logs 1
  # 0.04 USD per image x 2 images x 2 (1792x1024) x 1.5 (hd off 1024x1024) x 500000
  charged "$(python3 -c 'print(round(0.04 * 2 * 2 * 1.5 * 500000))')"
  last_log content | grep -q 'images=2 size=1792x1024 quality=hd'
  [ "$(last_log 'end_reason, usage_source')" = "$(printf 'done\tupstream')" ]
  # dall-e-2 at 512x512: 0.016 x 1.125
  before=$(used)
  pj /v1/images/generations '{"model":"dall-e-2","prompt":"a dog","size":"512x512","response_format":"b64_json"}'
  [ "$code" = 200 ]
  echo "$body" | $JGET 'd["data"][0]["b64_json"]' | base64 -d | grep -qa 'mock image'
  wait_logs 2
  charged "$(python3 -c 'print(round(0.016 * 1.125 * 500000))')"
}

@test "images/generations: gpt-image-1 billed from its token usage" {
  start
  before=$(used)
  pj /v1/images/generations '{"model":"gpt-image-1","prompt":"a cat","n":3,"quality":"low"}'
  [ "$code" = 200 ]
  [ "$(echo "$body" | $JGET 'len(d["data"])')" = 3 ]
  wait_logs 1
  expect=$(echo "$body" | python3 -c '
import json, math, sys
u = json.load(sys.stdin)["usage"]
assert u["output_tokens"] == 3 * 272, u
print(math.ceil((u["input_tokens"] + u["output_tokens"] * 8) * 2.5 - 1e-9))')
  charged "$expect"
}

@test "images: bad requests are refused in OpenAI's shape and cost nothing" {
  start
  before=$(used)
  pj /v1/images/generations '{"prompt":"a cat"}'
  [ "$code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["param"], d["error"]["type"]')" = '["model", "invalid_request_error"]' ]
  pj /v1/images/generations '{"model":"dall-e-3","prompt":"a cat","size":"512x512"}'
  [ "$code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q "not supported by dall-e-3"
  pj /v1/images/generations '{"model":"dall-e-3","prompt":"a cat","n":11}'
  [ "$code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = n ]
  pj /v1/images/generations '{"model":"dall-e-3"}'
  [ "$code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = prompt ]
  pj /v1/images/generations '{"model":"dall-e-3","prompt":"x","stream":true}'
  [ "$code" = 400 ]
  post /v1/images/generations -F model=dall-e-3 -F prompt=x
  [ "$code" = 415 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = unsupported_media_type ]
  pj /v1/images/generations 'not json'
  [ "$code" = 400 ]
  [ -z "$(mock_requests up)" ]
  sleep 0.3
  [ "$(logs)" = 0 ]
  [ "$(used)" = "$before" ]
}

@test "images/edits: the multipart body reaches the upstream byte for byte, boundary and all; billed per image" {
  start
  before=$(used)
  multipart "$BATS_TEST_TMPDIR/form" 'b0uNd4ry-x' model=dall-e-2 'prompt=add a hat' n=2 size=256x256 image=@cat.png:5000 mask=@mask.png:700
  post /v1/images/edits -H 'content-type: multipart/form-data; boundary=b0uNd4ry-x' --data-binary @"$BATS_TEST_TMPDIR/form"
  [ "$code" = 200 ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"]')" = /v1/images/edits ]
  [ "$(echo "$up" | $JGET 'd["headers"]["content-type"]')" = 'multipart/form-data; boundary=b0uNd4ry-x' ]
  [ "$(echo "$up" | $JGET 'd["body_sha256"]')" = "$(sha "$BATS_TEST_TMPDIR/form")" ]
  [ "$(echo "$up" | $JGET 'd["body_len"]')" = "$(stat -c %s "$BATS_TEST_TMPDIR/form")" ]
  # what the mock parsed, echoed back to the client
  [ "$(echo "$body" | $JGET 'd["mock_form"]["model"], d["mock_form"]["prompt"], d["mock_form"]["n"], d["mock_form"]["mask"]["filename"]')" = '["dall-e-2", "add a hat", "2", "mask.png"]' ]
  # the image part as the upstream parsed it: the bytes multipart() wrote
  want=$(python3 -c '
import hashlib
data = bytes((i * 31 + 7) % 256 for i in range(5000)) + b"\r\n--not-the-boundary\r\n\x00end"
print(len(data), hashlib.sha256(data).hexdigest())')
  [ "$(echo "$body" | $JGET 'd["mock_form"]["image"]["bytes"]') $(echo "$body" | $JGET 'd["mock_form"]["image"]["sha256"]')" = "$want" ]
  [ "$(echo "$body" | $JGET 'len(d["data"])')" = 2 ]
  wait_logs 1
  charged "$(python3 -c 'print(round(0.016 * 2 * 1 * 500000))')"
}

@test "images/edits: a mapped model is renamed in its form field and every other byte is unchanged" {
  mock_start up
  printf 'sk-upstream\n' | gwctl channel add --name oai --type openai --base-url "$MOCK_URL" \
    --models my-painter --model-map '{"my-painter":"dall-e-2"}'
  gwctl price set my-painter --price 0.02 --per image
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  before=$(used)
  multipart "$BATS_TEST_TMPDIR/form" 'XyZ' image=@a.png:3000 model=my-painter 'prompt=p'
  post /v1/images/edits -H 'content-type: multipart/form-data; boundary=XyZ' --data-binary @"$BATS_TEST_TMPDIR/form"
  [ "$code" = 200 ]
  sed 's/my-painter/dall-e-2/' "$BATS_TEST_TMPDIR/form" > "$BATS_TEST_TMPDIR/form.mapped"
  ( ! cmp -s "$BATS_TEST_TMPDIR/form" "$BATS_TEST_TMPDIR/form.mapped" )
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["body_sha256"]')" = "$(sha "$BATS_TEST_TMPDIR/form.mapped")" ]
  [ "$(echo "$up" | $JGET 'd["form"]["model"]')" = dall-e-2 ]
  wait_logs 1
  [ "$(last_log 'model_name, upstream_model')" = "$(printf 'my-painter\tdall-e-2')" ]
  charged 10000
}

@test "images/edits and transcriptions: bad forms are refused and cost nothing" {
  start
  before=$(used)
  multipart "$BATS_TEST_TMPDIR/form" 'BB' model=dall-e-2 prompt=p image=@a.png:100
  head -c -8 "$BATS_TEST_TMPDIR/form" > "$BATS_TEST_TMPDIR/cut"
  post /v1/images/edits -H 'content-type: multipart/form-data; boundary=BB' --data-binary @"$BATS_TEST_TMPDIR/cut"
  [ "$code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'malformed or cut short'
  post /v1/images/edits -H 'content-type: multipart/form-data' --data-binary @"$BATS_TEST_TMPDIR/form"
  [ "$code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'boundary'
  post /v1/images/edits -H 'content-type: multipart/form-data; boundary="BB"' --data-binary @"$BATS_TEST_TMPDIR/form"
  [ "$code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'unquoted, with 2 to 70 characters'
  multipart "$BATS_TEST_TMPDIR/short" 'B' model=dall-e-2 prompt=p image=@a.png:100
  post /v1/images/edits -H 'content-type: multipart/form-data; boundary=B' --data-binary @"$BATS_TEST_TMPDIR/short"
  [ "$code" = 400 ]
  post /v1/images/edits -H 'content-type: application/json' --data-binary '{"model":"dall-e-2","prompt":"p"}'
  [ "$code" = 415 ]
  multipart "$BATS_TEST_TMPDIR/nomodel" 'BB' prompt=p image=@a.png:100
  post /v1/images/edits -H 'content-type: multipart/form-data; boundary=BB' --data-binary @"$BATS_TEST_TMPDIR/nomodel"
  [ "$code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = model ]
  multipart "$BATS_TEST_TMPDIR/noimage" 'BB' model=dall-e-2 prompt=p
  post /v1/images/edits -H 'content-type: multipart/form-data; boundary=BB' --data-binary @"$BATS_TEST_TMPDIR/noimage"
  [ "$code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = image ]
  multipart "$BATS_TEST_TMPDIR/twice" 'BB' model=dall-e-2 model=dall-e-3 prompt=p image=@a.png:100
  post /v1/images/edits -H 'content-type: multipart/form-data; boundary=BB' --data-binary @"$BATS_TEST_TMPDIR/twice"
  [ "$code" = 400 ]
  multipart "$BATS_TEST_TMPDIR/nofile" 'BB' model=whisper-1
  post /v1/audio/transcriptions -H 'content-type: multipart/form-data; boundary=BB' --data-binary @"$BATS_TEST_TMPDIR/nofile"
  [ "$code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = file ]
  post /v1/audio/transcriptions -H 'content-type: application/json' --data-binary '{"model":"whisper-1"}'
  [ "$code" = 415 ]
  [ -z "$(mock_requests up)" ]
  sleep 0.3
  [ "$(logs)" = 0 ]
  [ "$(used)" = "$before" ]
}

@test "multipart over the body limit: 413 before any upstream call, nothing charged" {
  mock_start up
  printf 'sk-upstream\n' | gwctl channel add --name oai --type openai --base-url "$MOCK_URL" --models whisper-1
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start --max-body-bytes 4096
  before=$(used)
  multipart "$BATS_TEST_TMPDIR/big" 'BB' model=whisper-1 file=@big.mp3:20000
  post /v1/audio/transcriptions -H 'content-type: multipart/form-data; boundary=BB' --data-binary @"$BATS_TEST_TMPDIR/big"
  [ "$code" = 413 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = request_too_large ]
  [ -z "$(mock_requests up)" ]
  sleep 0.3
  [ "$(logs)" = 0 ]
  [ "$(used)" = "$before" ]
}

@test "audio/speech: the audio bytes and their content type come through untouched; billed per character" {
  start
  before=$(used)
  input='Hello, wörld — ünïcode'
  pj /v1/audio/speech "{\"model\":\"tts-1\",\"input\":\"$input\",\"voice\":\"alloy\",\"response_format\":\"wav\"}"
  [ "$code" = 200 ]
  grep -qi '^content-type: audio/wav' "$BATS_TEST_TMPDIR/resp.headers"
  python3 - "$out" "$input" <<'PY'
import sys
got = open(sys.argv[1], "rb").read()
n = len(sys.argv[2].encode())          # the mock derives its bytes from the input's byte length
want = b"ID3\x04\x00" + bytes((i * 7 + n) & 0xff for i in range(100 + n))
assert got == want, (len(got), len(want))
PY
  wait_logs 1
  # tts-1: ratio 7.5 per character (code points), no completion
  chars=$(python3 -c 'import sys; print(len(sys.argv[1]))' "$input")
  charged "$(python3 -c "import math; print(math.ceil($chars * 7.5))")"
  [ "$(last_log 'prompt_tokens, usage_source')" = "$(printf '%s\trequest' "$chars")" ]
  pj /v1/audio/speech '{"model":"tts-1","voice":"alloy"}'
  [ "$code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = input ]
}

@test "audio/transcriptions and translations: whisper-1 billed per second of audio from the answer" {
  start
  before=$(used)
  multipart "$BATS_TEST_TMPDIR/a" 'AUDIO' model=whisper-1 file=@speech.mp3:9278
  post /v1/audio/transcriptions -H 'content-type: multipart/form-data; boundary=AUDIO' --data-binary @"$BATS_TEST_TMPDIR/a"
  [ "$code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["body_sha256"]')" = "$(sha "$BATS_TEST_TMPDIR/a")" ]
  secs=$(echo "$body" | $JGET 'd["usage"]["seconds"]')
  [ "$secs" = 10 ]
  wait_logs 1
  charged "$(python3 -c "print(round(0.0001 * $secs * 500000))")"
  [ "$(last_log 'content, usage_source')" = "$(printf 'seconds=10\tupstream')" ]
  # verbose_json: the duration field (9.3 s -> 10 s)
  before=$(used)
  multipart "$BATS_TEST_TMPDIR/b" 'AUDIO' model=whisper-1 response_format=verbose_json file=@speech.mp3:9278
  post /v1/audio/translations -H 'content-type: multipart/form-data; boundary=AUDIO' --data-binary @"$BATS_TEST_TMPDIR/b"
  [ "$code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["task"]')" = translate ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"]')" = /v1/audio/translations ]
  wait_logs 2
  charged "$(python3 -c "import math; print(round(0.0001 * math.ceil($(echo "$body" | $JGET 'd["duration"]')) * 500000))")"
  # text answers carry no duration: estimated from the transcript (15 characters a second)
  before=$(used)
  multipart "$BATS_TEST_TMPDIR/c" 'AUDIO' model=whisper-1 response_format=text file=@speech.mp3:9278
  post /v1/audio/transcriptions -H 'content-type: multipart/form-data; boundary=AUDIO' --data-binary @"$BATS_TEST_TMPDIR/c"
  [ "$code" = 200 ]
  grep -qi '^content-type: text/plain' "$BATS_TEST_TMPDIR/resp.headers"
  wait_logs 3
  chars=$(stat -c %s "$out")
  charged "$(python3 -c "import math; print(round(0.0001 * max(1, math.ceil($chars / 15)) * 500000))")"
  [ "$(last_log usage_source)" = local ]
}

@test "audio/transcriptions: a token-priced model (gpt-4o-transcribe) is billed from its token usage" {
  start
  gwctl price set gpt-4o-transcribe --ratio 1.25 --completion-ratio 4
  before=$(used)
  multipart "$BATS_TEST_TMPDIR/a" 'AUDIO' model=gpt-4o-transcribe file=@speech.wav:4500
  post /v1/audio/transcriptions -H 'content-type: multipart/form-data; boundary=AUDIO' --data-binary @"$BATS_TEST_TMPDIR/a"
  [ "$code" = 200 ]
  wait_logs 1
  expect=$(echo "$body" | python3 -c '
import json, math, sys
u = json.load(sys.stdin)["usage"]
assert u["type"] == "tokens"
print(math.ceil((u["input_tokens"] + u["output_tokens"] * 4) * 1.25 - 1e-9))')
  charged "$expect"
}

@test "moderations: billed per input token at the model's ratio; a missing model means omni-moderation-latest" {
  start
  gwctl price set omni-moderation-latest --ratio 2
  before=$(used)
  pj /v1/moderations '{"input":["some text to check","and more"]}'
  [ "$code" = 200 ]
  [ "$(echo "$body" | $JGET 'len(d["results"]), d["model"]')" = '[2, "omni-moderation-latest"]' ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["body"]["model"]')" = omni-moderation-latest ]
  wait_logs 1
  # local count: ceil(chars / 4) prompt tokens, ratio 2
  charged "$(python3 -c 'import math; print(math.ceil((len("some text to check") + len("and more") + 3) // 4 * 2))')"
  [ "$(last_log 'model_name, usage_source')" = "$(printf 'omni-moderation-latest\tlocal')" ]
  pj /v1/moderations '{"model":"text-moderation-latest"}'
  [ "$code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = input ]
}

@test "rerank: a cohere channel (Bearer, /v1/rerank) answers in Cohere's shape, billed per search unit" {
  mock_start up
  printf 'co-key\n' | gwctl channel add --name co --type cohere --base-url "$MOCK_URL" --models rerank-v3.5
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  before=$(used)
  docs=$(python3 -c 'import json; print(json.dumps(["doc %d" % i for i in range(149)] + ["the answer is cats"]))')
  pj /v1/rerank "{\"model\":\"rerank-v3.5\",\"query\":\"cats\",\"documents\":$docs,\"top_n\":3}"
  [ "$code" = 200 ]
  [ "$(echo "$body" | $JGET 'len(d["results"]), d["results"][0]["index"]')" = '[3, 149]' ]
  echo "$body" | $JGET 'd["results"][0]["relevance_score"] > d["results"][1]["relevance_score"]' | grep -qx true
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"], d["headers"]["authorization"]')" = '["/v1/rerank", "Bearer co-key"]' ]
  wait_logs 1
  units=$(echo "$body" | $JGET 'd["meta"]["billed_units"]["search_units"]')
  [ "$units" = 2 ]
  charged "$(python3 -c "print(round(0.002 * $units * 500000))")"
  last_log content | grep -q 'documents=150 search_units=2'
}

@test "rerank: a jina channel answers in Jina's shape, billed per token; they refuse chat" {
  mock_start up
  printf 'jina-key\n' | gwctl channel add --name ji --type jina --base-url "$MOCK_URL" \
    --models jina-reranker-v2-base-multilingual,gpt-4o
  gwctl price set jina-reranker-v2-base-multilingual --ratio 2
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  before=$(used)
  pj /v1/rerank '{"model":"jina-reranker-v2-base-multilingual","query":"q","documents":["a",{"text":"b q"},"c"],"return_documents":true}'
  [ "$code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["results"][0]["index"], d["results"][0]["document"]["text"]')" = '[1, "b q"]' ]
  wait_logs 1
  tokens=$(echo "$body" | $JGET 'd["usage"]["total_tokens"]')
  charged "$((tokens * 2))"
  # bad rerank requests
  pj /v1/rerank '{"model":"jina-reranker-v2-base-multilingual","query":"q","documents":[]}'
  [ "$code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = documents ]
  pj /v1/rerank '{"model":"jina-reranker-v2-base-multilingual","documents":["a"]}'
  [ "$code" = 400 ]
  [ "$(echo "$body" | $JGET 'd["error"]["param"]')" = query ]
  # chat on a jina channel: refused before any upstream call, nothing charged
  n=$(mock_requests up | wc -l)
  before=$(used)
  pj /v1/chat/completions '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
  [ "$code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'jina channel serves only'
  [ "$(mock_requests up | wc -l)" = "$n" ]
  wait_logs 2
  [ "$(last_log 'quota, type')" = "$(printf '0\t5')" ]
  [ "$(used)" = "$before" ]
}

@test "reservation, model checks and price units hold for the new endpoints" {
  start
  # a key that may not use the model
  limited=$(gwctl token create --user alice --name t2 --quota 50000000 --models gpt-4o)
  code=$(curl -s -o "$BATS_TEST_TMPDIR/x" -w '%{http_code}' "$RELAY_URL/v1/images/generations" -H "Authorization: Bearer $limited" \
    -H 'content-type: application/json' -d '{"model":"dall-e-3","prompt":"x"}')
  [ "$code" = 403 ]
  # a key with too little quota for one dall-e-3 image (20000)
  poor=$(gwctl token create --user alice --name t3 --quota 15000)
  code=$(curl -s -o "$BATS_TEST_TMPDIR/x" -w '%{http_code}' "$RELAY_URL/v1/images/generations" -H "Authorization: Bearer $poor" \
    -H 'content-type: application/json' -d '{"model":"dall-e-3","prompt":"x"}')
  [ "$code" = 429 ]
  $JGET 'd["error"]["message"]' < "$BATS_TEST_TMPDIR/x" | grep -q 'may cost up to 20000'
  # a per-image price on a Responses model: the endpoint cannot count images
  gwctl price set gpt-4o --price 0.01 --per image
  pj /v1/responses '{"model":"gpt-4o","input":"hi"}'
  [ "$code" = 403 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = model_price_unit ]
  pj /v1/chat/completions '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
  [ "$code" = 403 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = model_price_unit ]
  # a model nobody serves
  pj /v1/audio/speech '{"model":"no-such-tts","input":"x","voice":"alloy"}'
  [ "$code" = 404 ]
  [ -z "$(mock_requests up)" ]
  sleep 0.3
  [ "$(logs)" = 0 ]
}

@test "a failing channel is retried on another for the new endpoints, and billed once" {
  mock_start bad --status 500
  mock_start good
  printf 'k\n' | gwctl channel add --name bad --type openai --base-url "$MOCK_BAD_URL" --models dall-e-3 --priority 10
  printf 'k\n' | gwctl channel add --name good --type openai --base-url "$MOCK_GOOD_URL" --models dall-e-3
  gwctl config set retry_times 2
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  before=$(used)
  pj /v1/images/generations '{"model":"dall-e-3","prompt":"x"}'
  [ "$code" = 200 ]
  [ "$(mock_requests bad | wc -l)" = 1 ]
  [ "$(mock_requests good | wc -l)" = 1 ]
  wait_logs 1
  charged 20000
  [ "$(logs)" = 1 ]
  last_log content | grep -q 'channels tried: 1 2'
}

@test "azure channels serve images and audio on deployment paths; the Responses API on /openai/responses" {
  mock_start up
  printf 'az-key\n' | gwctl channel add --name az --type azure --base-url "$MOCK_URL" --models dall-e-3,whisper-1,gpt-4o
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  before=$(used)
  pj /v1/images/generations '{"model":"dall-e-3","prompt":"x"}'
  [ "$code" = 200 ]
  up=$(mock_requests up | tail -1)
  [ "$(echo "$up" | $JGET 'd["path"], d["headers"]["api-key"]')" = '["/openai/deployments/dall-e-3/images/generations", "az-key"]' ]
  [ "$(echo "$up" | $JGET 'd["query"]["api-version"]')" = 2024-12-01-preview ]
  multipart "$BATS_TEST_TMPDIR/a" 'AUDIO' model=whisper-1 file=@speech.mp3:2000
  post /v1/audio/transcriptions -H 'content-type: multipart/form-data; boundary=AUDIO' --data-binary @"$BATS_TEST_TMPDIR/a"
  [ "$code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"]')" = /openai/deployments/whisper-1/audio/transcriptions ]
  pj /v1/responses '{"model":"gpt-4o","input":"hi"}'
  [ "$code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"], d["body"]["model"]')" = '["/openai/responses", "gpt-4o"]' ]
  pj /v1/rerank '{"model":"gpt-4o","query":"q","documents":["a"]}'
  [ "$code" = 400 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'azure channel does not serve /v1/rerank'
  wait_logs 4
  [ "$(sql "SELECT count(*) FROM logs WHERE type=2 AND quota > 0")" = 3 ]
}

@test "responses: a client that goes away mid-stream pays for what it was sent, not nothing (New API #5235)" {
  start --chunks 50 --chunk-gap-ms 100
  before=$(used)
  run curl -s -N --max-time 1 "$RELAY_URL/v1/responses" -H "Authorization: Bearer $KEY" \
    -H 'content-type: application/json' -d '{"model":"gpt-4o","input":"hi","stream":true}'
  [ "$status" -eq 28 ]
  echo "$output" | grep -q '^event: response.output_text.delta'
  wait_logs 1
  [ "$(last_log 'end_reason, usage_source, is_stream')" = "$(printf 'client_gone\tlocal\t1')" ]
  q=$(last_log quota)
  [ "$q" -gt 0 ]
  charged "$q"
}
