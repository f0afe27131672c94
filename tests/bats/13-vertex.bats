#!/usr/bin/env bats
# Google Vertex AI channels (type vertex): Gemini and Claude on Vertex with a service-account key.
# The test makes an RSA key with openssl and a service-account JSON whose token_uri is the mock; the
# mock (tests/mock_upstream.c, section "vertex") verifies the JWT's RS256 signature with the public
# key and its claims, issues access tokens with expires_in, and refuses Vertex calls whose Bearer is
# not a live token it issued.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 100000000
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BATS_TEST_TMPDIR/sa.pem" 2>/dev/null
  openssl pkey -in "$BATS_TEST_TMPDIR/sa.pem" -pubout -out "$BATS_TEST_TMPDIR/sa.pub"
}

teardown() {
  relay_teardown
}

# sa_json PRIVATE_KEY_PEM TOKEN_URI: a service-account key as Google's console writes it
sa_json() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
print(json.dumps({
    "type": "service_account", "project_id": "relay-test", "private_key_id": "0123456789abcdef",
    "private_key": open(sys.argv[1]).read(), "client_email": "relay@relay-test.iam.gserviceaccount.com",
    "client_id": "1234567890", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
    "token_uri": sys.argv[2], "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
    "universe_domain": "googleapis.com"}, indent=2))
EOF
}

# vertex_channel [mock flags...]: a mock (token endpoint and Vertex AI) and channel vx serving
# gemini-2.5-flash (Gemini on Vertex) and claude-sonnet-4-0 (mapped to Claude on Vertex's name)
vertex_channel() {
  local pem=${PEM:-$BATS_TEST_TMPDIR/sa.pem}
  mock_start up --gcp-public-key "$BATS_TEST_TMPDIR/sa.pub" "$@"
  sa_json "$pem" "$MOCK_URL/token" > "$BATS_TEST_TMPDIR/sa.json"
  gwctl channel add --name vx --type vertex --region us-east5 --base-url "$MOCK_URL" \
    --models gemini-2.5-flash,claude-sonnet-4-0 --model-map '{"claude-sonnet-4-0":"claude-sonnet-4@20250514"}' \
    --priority 10 < "$BATS_TEST_TMPDIR/sa.json"
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
}

token_requests() { mock_requests up | grep -c '"path":"/token"' || true; }
tokens_at_least() { [ "$(token_requests)" -ge "$1" ]; }
vertex_requests() { mock_requests up | grep '"path":"/v1/projects/' || true; }

# call FORMAT MODEL STREAM: one request in a client's format; sets status_code and body
call() {
  local fmt=$1 model=$2 stream=$3 out="$BATS_TEST_TMPDIR/resp"
  case $fmt in
  openai)
    status_code=$(curl -s -N -o "$out.body" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
      -H "Authorization: Bearer $KEY" -H 'content-type: application/json' \
      --data-binary "{\"model\":\"$model\",\"stream\":$stream,\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}") ;;
  anthropic)
    status_code=$(curl -s -N -o "$out.body" -w '%{http_code}' "$RELAY_URL/v1/messages" \
      -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
      --data-binary "{\"model\":\"$model\",\"stream\":$stream,\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}") ;;
  gemini)
    local path=":generateContent"
    [ "$stream" = true ] && path=":streamGenerateContent?alt=sse"
    status_code=$(curl -s -N -o "$out.body" -w '%{http_code}' "$RELAY_URL/v1beta/models/$model$path" \
      -H "x-goog-api-key: $KEY" -H 'content-type: application/json' \
      --data-binary '{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":64}}') ;;
  esac
  body=$(cat "$out.body")
}

# the text of an answer in any of the three formats, whole or streamed
answer_text() {
  python3 -c '
import json, sys
raw = sys.stdin.read()
datas = [l[6:] for l in raw.split("\n") if l.startswith("data: ") and l[6:] != "[DONE]"]
docs = [json.loads(d) for d in datas] if datas else [json.loads(raw)]
out = ""
for d in docs:
    for c in d.get("choices") or []:
        out += (c.get("message") or c.get("delta") or {}).get("content") or ""
    for b in d.get("content") or []:
        out += b.get("text") or ""
    out += (d.get("delta") or {}).get("text") or ""
    for c in d.get("candidates") or []:
        out += "".join(p.get("text", "") for p in c["content"]["parts"])
print(out)'
}

log_has() { grep -q "$1" "$BATS_TEST_TMPDIR/relayd.log"; }

@test "vertex: OpenAI, Anthropic and Gemini clients reach Gemini and Claude on Vertex, stream and not, with one token" {
  vertex_channel --chunks 3
  relayd_start
  wait_until 20 log_has 'vertex access token fetched'
  n=0
  for fmt in openai anthropic gemini; do
    for model in gemini-2.5-flash claude-sonnet-4-0; do
      for stream in false true; do
        call "$fmt" "$model" "$stream"
        echo "$fmt $model stream=$stream: $status_code $body"
        [ "$status_code" = 200 ]
        [ "$(printf '%s' "$body" | answer_text)" = "hello hello hello " ]
        n=$((n + 1))
      done
    done
  done
  # one token for all twelve calls, every call carrying it
  [ "$(token_requests)" = 1 ]
  vertex_requests > "$BATS_TEST_TMPDIR/vx.jsonl"
  [ "$(wc -l < "$BATS_TEST_TMPDIR/vx.jsonl")" = 12 ]
  python3 - "$BATS_TEST_TMPDIR/vx.jsonl" <<'EOF'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
auth = {r["headers"]["authorization"] for r in reqs}
assert len(auth) == 1 and auth.pop().startswith("Bearer ya29.mock-1-"), auth
base = "/v1/projects/relay-test/locations/us-east5/publishers/"
paths = {}
for r in reqs:
    paths[r["path"]] = paths.get(r["path"], 0) + 1
    if "/anthropic/" in r["path"]:
        b = r["body"]
        assert "model" not in b and b["anthropic_version"] == "vertex-2023-10-16", b
        assert bool(b.get("stream")) == r["path"].endswith(":streamRawPredict"), r
        assert "anthropic-version" not in r["headers"], r["headers"]
    else:
        assert "contents" in r["body"], r
        if r["path"].endswith(":streamGenerateContent"):
            assert r["query"]["alt"] == "sse", r
assert paths == {
    base + "google/models/gemini-2.5-flash:generateContent": 3,
    base + "google/models/gemini-2.5-flash:streamGenerateContent": 3,
    base + "anthropic/models/claude-sonnet-4@20250514:rawPredict": 3,
    base + "anthropic/models/claude-sonnet-4@20250514:streamRawPredict": 3,
}, paths
EOF
  # each call billed from the upstream's usage
  wait_until 10 sql_is 12 "SELECT count(*) FROM logs WHERE type = 2"
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 2 AND quota > 0 AND usage_source = 'upstream' AND channel_id = 1")" = 12 ]
}

@test "vertex: a token about to expire is refreshed off the hot path; an expired one is never sent" {
  vertex_channel --gcp-token-ttl 3
  relayd_start
  wait_until 20 log_has 'vertex access token fetched'
  call openai gemini-2.5-flash false
  [ "$status_code" = 200 ]
  # refreshed while a third of its 3 s life is left: three tokens within a few seconds, no request needed
  wait_until 20 tokens_at_least 3
  # the first token has expired by now (the mock refuses it): the call carries a later one
  call openai claude-sonnet-4-0 true
  [ "$status_code" = 200 ]
  last=$(vertex_requests | tail -1 | $JGET 'd["headers"]["authorization"]')
  case $last in "Bearer ya29.mock-1-"*) false ;; "Bearer ya29.mock-"*) true ;; *) false ;; esac
  # every token request carried a fresh, valid assertion (the mock answered 200 to each: no refusal logged)
  ! log_has 'vertex access token not fetched'
}

@test "vertex: a key the token endpoint refuses is a clear error and the channel's auth failure; no quota taken" {
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BATS_TEST_TMPDIR/other.pem" 2>/dev/null
  PEM=$BATS_TEST_TMPDIR/other.pem vertex_channel
  relayd_start
  wait_until 20 log_has 'vertex access token not fetched'
  grep 'vertex access token not fetched' "$BATS_TEST_TMPDIR/relayd.log" | grep -q 'Invalid JWT Signature'
  before=$(sql "SELECT quota FROM users WHERE username = 'alice'")
  call openai gemini-2.5-flash false
  echo "$body"
  [ "$status_code" = 401 ]
  msg=$(echo "$body" | $JGET 'd["error"]["message"]')
  [[ "$msg" == *"Vertex AI channel 1 has no access token"*"Invalid JWT Signature."* ]]
  # no Vertex call was made without a token
  [ -z "$(vertex_requests)" ]
  # the channel's authentication failure: auto-disabled with the reason
  wait_until 10 sql_is 3 "SELECT status FROM channels WHERE name = 'vx'"
  sql "SELECT status_reason FROM channels WHERE name = 'vx'" | grep -q 'Invalid JWT Signature'
  [ "$(sql "SELECT quota FROM users WHERE username = 'alice'")" = "$before" ]
  [ "$(sql 'SELECT count(*) FROM logs WHERE type = 2')" = 0 ]
  # the right key, given to the running relayd: a token for it, and the channel serves again
  sa_json "$BATS_TEST_TMPDIR/sa.pem" "$MOCK_URL/token" | gwctl channel edit vx --key-stdin
  gwctl channel enable vx
  wait_until 20 log_has 'vertex access token fetched'
  call openai gemini-2.5-flash false
  [ "$status_code" = 200 ]
}

@test "vertex: before the first token a request gets a clear 503 and the channel's health is untouched" {
  vertex_channel --gcp-token-hold
  gwctl config set channel_disable_failures 3
  relayd_start
  wait_until 20 tokens_at_least 1           # relay's first fetch is at the token endpoint, held there
  for _ in 1 2 3 4 5 6 7 8; do
    call openai gemini-2.5-flash false
    [ "$status_code" = 503 ]
    [[ "$(echo "$body" | $JGET 'd["error"]["message"]')" == *"Vertex AI channel 1 has no access token yet"* ]]
  done
  [ -z "$(vertex_requests)" ]
  # eight attempts without a token: neither disabled (3 failures would) nor its breaker opened (5 would)
  [ "$(sql "SELECT status FROM channels WHERE name = 'vx'")" = 1 ]
  curl -sf -o /dev/null -X POST "$MOCK_URL/__mock/gcp-release"
  wait_until 20 log_has 'vertex access token fetched'
  call openai gemini-2.5-flash false
  [ "$status_code" = 200 ]
  [ "$(sql "SELECT status FROM channels WHERE name = 'vx'")" = 1 ]
  [ "$(token_requests)" = 1 ]
}

@test "vertex: without a token the attempt fails over to the next channel" {
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BATS_TEST_TMPDIR/other.pem" 2>/dev/null
  PEM=$BATS_TEST_TMPDIR/other.pem vertex_channel
  mock_start fallback
  printf 'sk-fallback\n' | gwctl channel add --name fb --type openai --base-url "$MOCK_FALLBACK_URL" \
    --models gemini-2.5-flash --priority 0
  relayd_start
  wait_until 20 log_has 'vertex access token not fetched'
  call anthropic gemini-2.5-flash false
  [ "$status_code" = 200 ]
  [ "$(mock_requests fallback | $JGET 'd["path"]')" = /v1/chat/completions ]
  [ -z "$(vertex_requests)" ]
  wait_until 10 sql_is 1 "SELECT count(*) FROM logs WHERE type = 2 AND channel_id = 2"
}

@test "gwctl: vertex channels: the key is checked and sealed, region and project kept, types lists it, test probes with a token" {
  mock_start up --gcp-public-key "$BATS_TEST_TMPDIR/sa.pub"
  sa_json "$BATS_TEST_TMPDIR/sa.pem" "$MOCK_URL/token" > "$BATS_TEST_TMPDIR/sa.json"
  # not a service-account key: refused, nothing stored
  run gwctl channel add --name bad --type vertex --models gemini-2.5-flash <<< 'sk-not-a-json-key'
  [ "$status" = 2 ]
  [[ "$output" == *"service-account key"* ]]
  run gwctl channel add --name bad --type vertex --region 'US East' --models gemini-2.5-flash < "$BATS_TEST_TMPDIR/sa.json"
  [ "$status" = 2 ]
  run gwctl channel add --name bad --type openai --region us-east5 --models gpt-4o <<< 'sk-x'
  [ "$status" = 2 ]
  [ "$(sql 'SELECT count(*) FROM channels')" = 0 ]
  # the default base is the region's endpoint; the project comes from the key
  gwctl channel add --name v1 --type vertex --region europe-west4 --models gemini-2.5-flash < "$BATS_TEST_TMPDIR/sa.json"
  gwctl channel show v1 --json > "$BATS_TEST_TMPDIR/show.json"
  [ "$($JGET 'd["base_url"]' < "$BATS_TEST_TMPDIR/show.json")" = https://europe-west4-aiplatform.googleapis.com ]
  [ "$($JGET 'd["other"]["region"], d["other"]["project"]' < "$BATS_TEST_TMPDIR/show.json")" = '["europe-west4", "relay-test"]' ]
  sql "SELECT key FROM channels WHERE name = 'v1'" | grep -q '^enc:'
  ! sql "SELECT key FROM channels WHERE name = 'v1'" | grep -q PRIVATE
  # global is the default region; --project overrides the key's
  gwctl channel add --name v2 --type vertex --project other-proj --models gemini-2.5-flash < "$BATS_TEST_TMPDIR/sa.json"
  [ "$(gwctl channel show v2 --json | $JGET 'd["base_url"], d["other"]')" = '["https://aiplatform.googleapis.com", {"region": "global", "project": "other-proj"}]' ]
  # edit: the region moves the base that followed it; a new key over many lines; refusals
  gwctl channel edit v1 --region us-central1
  [ "$(gwctl channel show v1 --json | $JGET 'd["base_url"], d["other"]["region"], d["other"]["project"]')" = '["https://us-central1-aiplatform.googleapis.com", "us-central1", "relay-test"]' ]
  before=$(sql "SELECT key FROM channels WHERE name = 'v1'")
  gwctl channel edit v1 --key-stdin < "$BATS_TEST_TMPDIR/sa.json"
  [ "$(sql "SELECT key FROM channels WHERE name = 'v1'")" != "$before" ]
  [ "$(gwctl channel show v1 --reveal --json | $JGET 'd["key"]' | wc -l)" = 1 ]
  run gwctl channel edit v1 --key-stdin <<< 'sk-not-a-json-key'
  [ "$status" = 2 ]
  [[ "$output" == *"service-account key"* ]]
  printf 'sk-x\n' | gwctl channel add --name plain --type openai --models gpt-4o
  run gwctl channel edit plain --project p1
  [ "$status" = 2 ]
  run gwctl channel edit plain --key-stdin < "$BATS_TEST_TMPDIR/sa.json"
  [ "$status" = 2 ]
  [ "$(gwctl channel show plain --json | $JGET 'd["other"]')" = '{}' ]
  # apply: a key file over many lines is the service-account JSON, stored compact; a wrong one is refused
  printf '{"version":1,"channels":[{"name":"va","type":"vertex","base_url":"https://us-east5-aiplatform.googleapis.com","models":["gemini-2.5-flash"],"other":{"region":"us-east5","project":"relay-test"},"key":{"file":"%s"}}]}' \
    "$BATS_TEST_TMPDIR/sa.json" > "$BATS_TEST_TMPDIR/doc.json"
  gwctl export --kinds channels > "$BATS_TEST_TMPDIR/before.json"
  python3 - "$BATS_TEST_TMPDIR/before.json" "$BATS_TEST_TMPDIR/doc.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[2]))
have = json.load(open(sys.argv[1]))["channels"]
for c in have:                      # keep the channels made above (apply deletes what a document omits)
    c.pop("key", None)
doc["channels"] = have + doc["channels"]
json.dump(doc, open(sys.argv[2], "w"))
PY
  gwctl apply -f "$BATS_TEST_TMPDIR/doc.json"
  [ "$(gwctl channel show va --reveal --json | $JGET 'd["type"], d["other"]["region"], len(d["key"].splitlines())')" = '["vertex", "us-east5", 1]' ]
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["channels"][-1]["key"]={"file":"/dev/null"}; d["channels"][-1]["name"]="vb"; json.dump(d, open(sys.argv[1],"w"))' "$BATS_TEST_TMPDIR/doc.json"
  echo '{"type":"authorized_user"}' > "$BATS_TEST_TMPDIR/user.json"
  sed -i "s|/dev/null|$BATS_TEST_TMPDIR/user.json|" "$BATS_TEST_TMPDIR/doc.json"
  run gwctl apply -f "$BATS_TEST_TMPDIR/doc.json"
  [ "$status" != 0 ]
  [[ "$output" == *"service-account key"* ]]
  [ "$(sql "SELECT count(*) FROM channels WHERE name = 'vb'")" = 0 ]
  # types
  gwctl channel types --json | $JGET '[t for t in d if t["type"] == "vertex"][0]' > "$BATS_TEST_TMPDIR/type.json"
  [ "$($JGET 'd["api"], d["url_rule"], d["endpoints"]' < "$BATS_TEST_TMPDIR/type.json")" = '["vertex", "vertex", ["chat"]]' ]
  # channel test: a token from the key, then the publisher's probe
  gwctl channel add --name vt --type vertex --region us-east5 --base-url "$MOCK_URL" \
    --models gemini-2.5-flash,claude-sonnet-4@20250514 < "$BATS_TEST_TMPDIR/sa.json"
  run gwctl channel test vt
  [ "$status" = 0 ]
  [[ "$output" == *"ok, HTTP 200"* ]]
  run gwctl channel test vt --model claude-sonnet-4@20250514
  [ "$status" = 0 ]
  [ "$(token_requests)" = 2 ]
  [ "$(vertex_requests | python3 -c 'import json,sys; print(" ".join(json.loads(l)["path"] for l in sys.stdin))')" = "/v1/projects/relay-test/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent /v1/projects/relay-test/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict" ]
  run gwctl channel models vt
  [ "$status" = 2 ]
  [[ "$output" == *"no model list"* ]]
  # a refused key: the token endpoint's reason, exit 5
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BATS_TEST_TMPDIR/other.pem" 2>/dev/null
  sa_json "$BATS_TEST_TMPDIR/other.pem" "$MOCK_URL/token" | gwctl channel add --name vbad --type vertex \
    --base-url "$MOCK_URL" --models gemini-2.5-flash
  run gwctl channel test vbad
  [ "$status" = 5 ]
  [[ "$output" == *"Invalid JWT Signature."* ]]
}

# src_db FLAVOR PATH KEYFILE: a One API (type 42) or New API (type 41) database with Vertex AI channels
src_db() {
  PYTHONPATH="$BATS_TEST_DIRNAME" PYTHONDONTWRITEBYTECODE=1 python3 - "$@" <<'PY'
import json, sqlite3, sys
from import_sources import ONEAPI_SQLITE, NEWAPI_SQLITE
flavor, path, keyfile = sys.argv[1:4]
key = open(keyfile).read()          # indented JSON over many lines, as pasted into the web UI
c = sqlite3.connect(path)
if flavor == "oneapi":
    c.executescript(ONEAPI_SQLITE)
    cfg = json.dumps({"region": "us-east5", "vertex_ai_project_id": "oneapi-proj", "vertex_ai_adc": key})
    c.execute("INSERT INTO channels(id, type, `key`, status, name, base_url, other, models, `group`, model_mapping, "
              "priority, weight, created_time, config) VALUES (1, 42, '', 1, 'vx', '', '', 'gemini-2.5-flash', "
              "'default', '', 0, 0, 1700000000, ?)", (cfg,))
else:
    c.executescript(NEWAPI_SQLITE)
    rows = [(1, key, "vx", json.dumps({"default": "europe-west4", "gemini-2.5-pro": "us-central1"})),
            (2, "AIzaSy-express-mode-api-key", "vx-express", "global")]
    for i, k, name, other in rows:
        c.execute("INSERT INTO channels(id, type, `key`, status, name, base_url, other, models, `group`, "
                  "model_mapping, priority, weight, tag, status_code_mapping, auto_ban, created_time) "
                  "VALUES (?, 41, ?, 1, ?, '', ?, 'gemini-2.5-flash', 'default', '{}', 0, 0, '', '', 1, 1700000000)",
                  (i, k, name, other))
c.commit()
PY
}

@test "import: One API's and New API's Vertex AI channels become vertex channels with their key, region and project" {
  sa_json "$BATS_TEST_TMPDIR/sa.pem" "https://oauth2.googleapis.com/token" > "$BATS_TEST_TMPDIR/sa.json"
  src_db oneapi "$BATS_TEST_TMPDIR/one.db" "$BATS_TEST_TMPDIR/sa.json"
  run gwctl import oneapi --from "sqlite:$BATS_TEST_TMPDIR/one.db"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(sql "SELECT type, base_url, other FROM channels WHERE name = 'vx'")" = "$(printf 'vertex\thttps://us-east5-aiplatform.googleapis.com\t{"region":"us-east5","project":"oneapi-proj"}')" ]
  # the key is the service-account JSON (One API's config.vertex_ai_adc), on one line, sealed
  gwctl channel show vx --reveal --json | $JGET 'd["key"]' > "$BATS_TEST_TMPDIR/k1"
  [ "$(wc -l < "$BATS_TEST_TMPDIR/k1")" = 1 ]
  python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); b=json.loads(open(sys.argv[2]).read()); assert a == b' \
    "$BATS_TEST_TMPDIR/sa.json" "$BATS_TEST_TMPDIR/k1"
  sql "SELECT key FROM channels WHERE name = 'vx'" | grep -q '^enc:'
  [[ "$output" != *"config dropped"* ]]

  sql "DELETE FROM channels"
  sql "DELETE FROM import_sources"
  src_db newapi "$BATS_TEST_TMPDIR/new.db" "$BATS_TEST_TMPDIR/sa.json"
  run gwctl import oneapi --from "sqlite:$BATS_TEST_TMPDIR/new.db"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  # New API: the key column, the region in other (its default; per-model regions said dropped), the key's project
  [ "$(sql "SELECT type, base_url, other FROM channels WHERE name = 'vx'")" = "$(printf 'vertex\thttps://europe-west4-aiplatform.googleapis.com\t{"region":"europe-west4","project":"relay-test"}')" ]
  [[ "$output" == *"per-model regions dropped"* ]]
  # an express-mode API key is no service-account key: skipped, said why
  [[ "$output" == *"vx-express"*"not a service-account key"* ]]
  [ "$(sql "SELECT count(*) FROM channels WHERE name = 'vx-express'")" = 0 ]
}
