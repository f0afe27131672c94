#!/usr/bin/env bats
# The OpenAI-compatible provider presets of common/provider.c (issue #23): for each, channel add
# without --base-url stores the provider's documented API root, gwctl channel types lists it, and a
# chat request through a real relayd reaches the upstream at the preset's exact path with its auth
# header (the base URL's host moved to the mock, its path kept). Keyless presets (Ollama, vLLM
# without a key) send no Authorization header at all. Fails on the code before the presets
# ("unknown channel type 'moonshot'", exit 2).

load helpers
load gwctl_helpers

setup() {
  relay_env
}

# TYPE DEFAULT_BASE_URL PATH_OF_A_CHAT_REQUEST: written from each provider's docs (cited beside its
# row in common/provider.c), not read from the table under test. CF_ACCOUNT stands for the account.
PRESETS='deepseek https://api.deepseek.com /v1/chat/completions
moonshot https://api.moonshot.cn/v1 /v1/chat/completions
zhipu https://open.bigmodel.cn/api/paas/v4 /api/paas/v4/chat/completions
qwen https://dashscope.aliyuncs.com/compatible-mode/v1 /compatible-mode/v1/chat/completions
doubao https://ark.cn-beijing.volces.com/api/v3 /api/v3/chat/completions
minimax https://api.minimax.io/v1 /v1/chat/completions
siliconflow https://api.siliconflow.cn/v1 /v1/chat/completions
openrouter https://openrouter.ai/api /api/v1/chat/completions
xai https://api.x.ai/v1 /v1/chat/completions
mistral https://api.mistral.ai/v1 /v1/chat/completions
groq https://api.groq.com/openai/v1 /openai/v1/chat/completions
together https://api.together.ai/v1 /v1/chat/completions
cloudflare https://api.cloudflare.com/client/v4/accounts/CF_ACCOUNT/ai/v1 /client/v4/accounts/CF_ACCOUNT/ai/v1/chat/completions
ollama http://localhost:11434/v1 /v1/chat/completions
vllm http://localhost:8000/v1 /v1/chat/completions'
CF_ACCOUNT=0123456789abcdef0123456789abcdef

# the account option a type needs (cloudflare names it in its URL)
acct() { [ "$1" = cloudflare ] && echo "--account-id $CF_ACCOUNT" || true; }

@test "presets: channel add without --base-url stores each provider's API root; channel types and list/show name it" {
  while read -r t base path; do
    base=${base//CF_ACCOUNT/$CF_ACCOUNT}
    # shellcheck disable=SC2046
    printf 'k-%s\n' "$t" | gwctl channel add --name "d-$t" --type "$t" --models m $(acct "$t") > /dev/null
    [ "$(sql "SELECT type || ' ' || base_url FROM channels WHERE name = 'd-$t'")" = "$t $base" ] ||
      { echo "$t: $(sql "SELECT base_url FROM channels WHERE name = 'd-$t'") != $base" >&2; false; }
    [ "$(gwj '[d["type"], d["base_url"], d["has_key"]]' channel show "d-$t")" = "[\"$t\", \"$base\", true]" ]
  done <<< "$PRESETS"
  # channel list --json names every type
  [ "$(gwj '" ".join(c["type"] for c in d)' channel list)" = "$(cut -d' ' -f1 <<< "$PRESETS" | tr '\n' ' ' | sed 's/ $//')" ]

  # channel types: every type of the table, the presets with their default, Bearer, what they serve
  gwctl channel types --json > "$BATS_TEST_TMPDIR/types"
  python3 - "$BATS_TEST_TMPDIR/types" "$PRESETS" <<'PY'
import json, sys
rows = {r["type"]: r for r in json.load(open(sys.argv[1]))}
for line in sys.argv[2].splitlines():
    t, base, path = line.split()
    base, path = base.replace("CF_ACCOUNT", "{account-id}"), path.replace("CF_ACCOUNT", "{account-id}")
    r = rows[t]
    assert r["base_url"] == base, (t, r)
    assert r["api"] == "openai" and r["auth"] == "Authorization: Bearer", (t, r)
    host = base.split("/")[0] + "//" + base.split("/")[2]
    assert r["probe_url"] == host + path, (t, r["probe_url"], host + path)
    assert "chat" in r["endpoints"], (t, r)
    assert r["key"] == ("optional" if t in ("ollama", "vllm") else "required"), (t, r)
    assert r["account_id"] == (t == "cloudflare"), (t, r)
assert rows["deepseek"]["endpoints"] == ["chat"], rows["deepseek"]
assert rows["cohere"]["endpoints"] == ["rerank"] and rows["cohere"]["auth"] == "Authorization: Bearer"
assert rows["anthropic"]["auth"] == "x-api-key" and rows["azure"]["base_url"] == ""
assert set(rows) >= {"openai", "azure", "anthropic", "gemini", "custom", "compatible"}, sorted(rows)
PY
  # the table for people has the same rows
  [ "$(gwctl channel types | sed 1d | wc -l)" = "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$BATS_TEST_TMPDIR/types")" ]
  gwctl channel types | grep -Eq '^zhipu +openai +Authorization: Bearer +required +chat,embeddings,rerank,media +https://open.bigmodel.cn/api/paas/v4 '
}

@test "presets: a chat request through relayd reaches each preset's exact path with its Bearer key" {
  mock_start up
  local host=${MOCK_URL%/}
  while read -r t base path; do
    base=${base//CF_ACCOUNT/$CF_ACCOUNT}
    # the preset's base with the mock's scheme and host: the path (the API root) kept
    local root=/${base#*//*/}
    [ "$root" = "/$base" ] && root=   # no path (https://api.deepseek.com)
    gwctl price set "m-$t" --ratio 1 > /dev/null
    printf 'k-%s\n' "$t" | gwctl channel add --name "c-$t" --type "$t" --base-url "$host$root" --models "m-$t" > /dev/null
  done <<< "$PRESETS"
  # keyless: ollama and a second vllm with no key (stdin empty, no --no-key needed)
  gwctl channel rm c-ollama --yes
  gwctl channel add --name c-ollama --type ollama --base-url "$host/v1" --models m-ollama < /dev/null > /dev/null
  gwctl price set m-vllm-nokey --ratio 1 > /dev/null
  gwctl channel add --name c-vllm-nokey --type vllm --base-url "$host/v1" --models m-vllm-nokey < /dev/null > /dev/null
  [ "$(gwj '[d["has_key"]]' channel show c-ollama)" = '[false]' ]
  gwctl user add alice --quota 100000000 > /dev/null
  key=$(gwctl token create --user alice --name t --unlimited)
  relayd_start

  while read -r t base path; do
    path=${path//CF_ACCOUNT/$CF_ACCOUNT}
    chat_as "$key" "m-$t"
    [ "$status_code" = 200 ] || { echo "$t: HTTP $status_code $body" >&2; false; }
    up=$(mock_requests up | tail -1)
    want_auth="Bearer k-$t"
    [ "$t" = ollama ] && want_auth=none
    [ "$(echo "$up" | $JGET '[d["path"], d["headers"].get("authorization", "none"), d["body"]["model"]]')" = \
      "[\"$path\", \"$want_auth\", \"m-$t\"]" ] || { echo "$t: $up" >&2; false; }
  done <<< "$PRESETS"
  chat_as "$key" m-vllm-nokey
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET '"authorization" in d["headers"]')" = false ]

  # a preset refuses what its provider does not serve, in OpenAI's error shape, before any upstream call
  n=$(mock_requests up | wc -l)
  run curl -s -w ' %{http_code}' "$RELAY_URL/v1/embeddings" -H "Authorization: Bearer $key" \
    -H 'content-type: application/json' -d '{"model":"m-deepseek","input":"x"}'
  [[ "$output" == *'"error"'*"a deepseek channel serves only chat requests"*' 400' ]]
  [ "$(mock_requests up | wc -l)" = "$n" ]

  # channel test and models of an API-root preset use its root too
  run gwctl channel test c-zhipu --json
  [ "$status" -eq 0 ]
  [ "$(mock_requests up | tail -1 | $JGET '[d["path"], d["headers"]["authorization"], d["body"]["max_tokens"]]')" = \
    '["/api/paas/v4/chat/completions", "Bearer k-zhipu", 5]' ]
  run gwctl channel models c-doubao   # the mock has no /api/v3/models: the path is what counts
  [ "$(mock_requests up | tail -1 | $JGET '[d["method"], d["path"]]')" = '["GET", "/api/v3/models"]' ]
  run gwctl channel test c-ollama --json
  [ "$status" -eq 0 ]
  [ "$(mock_requests up | tail -1 | $JGET '[d["path"], "authorization" in d["headers"]]')" = '["/v1/chat/completions", false]' ]
}

@test "presets: cloudflare's account id, keyless and keyed types; bad input refused with the database unchanged" {
  refused 2 "missing --account-id ID: a cloudflare channel's URL names the account" \
    gwctl channel add --name cf --type cloudflare --models m --no-key
  refused 2 "--account-id: an account id is 1 to 64 letters" \
    gwctl channel add --name cf --type cloudflare --models m --no-key --account-id 'a/../b'
  refused 2 "--account-id: a groq channel's URL names no account" \
    gwctl channel add --name g --type groq --models m --no-key --account-id abc
  refused 2 "give --base-url URL or --account-id ID, not both" \
    gwctl channel add --name cf --type cloudflare --models m --no-key --account-id abc --base-url https://x.example
  # a type that needs a key still refuses an empty one; a keyless one takes none
  refused 2 "no upstream API key on stdin" gwctl channel add --name g --type groq --models m
  gwctl channel add --name o --type ollama --models m < /dev/null
  [ "$(sql "SELECT base_url, key FROM channels WHERE name = 'o'")" = "$(printf 'http://localhost:11434/v1\t')" ]
  # an explicit --base-url wins over a preset's default (a mainland MiniMax account)
  printf 'k\n' | gwctl channel add --name mm --type minimax --base-url https://api.minimaxi.com/v1/ --models m
  [ "$(sql "SELECT base_url FROM channels WHERE name = 'mm'")" = https://api.minimaxi.com/v1 ]
  # types without a default still need --base-url
  refused 2 "missing --base-url URL: a custom channel has no default \(.*moonshot.*vllm do\)" \
    gwctl channel add --name x --type custom --models m --no-key
}
