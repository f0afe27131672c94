#!/usr/bin/env bats
# gwctl channel: add (the existing form and the new options), list, show, edit (one and by tag),
# enable, disable, rm, test and models against the mock upstream; bad input refused with the
# database unchanged; a new channel is used by a running relayd.

load helpers
load gwctl_helpers

setup() {
  relay_env
  mock_start up --models up-a,up-b,up-c
}

add() {  # add NAME [options]: a channel on the mock with key "k"
  local name=$1
  shift
  printf 'k\n' | gwctl channel add --name "$name" --type openai --base-url "$MOCK_URL" --models gpt-4o-mini "$@"
}

@test "channel add: the existing form, every type, tag and api-version; list and show" {
  run add c1
  [ "$status" -eq 0 ]
  [ "$output" = 1 ]
  for t in azure anthropic gemini deepseek ollama vllm custom; do
    printf 'k\n' | gwctl channel add --name "ch-$t" --type "$t" --base-url http://127.0.0.1:9/ --models m --tag fleet > /dev/null
  done
  printf 'k\n' | gwctl channel add --name az --type azure --base-url https://x.openai.azure.com --models gpt-4o \
    --api-version 2024-10-21 --group default --priority 3 --weight 7 --model-map '{"gpt-4o":"my-deploy"}' --json > "$BATS_TEST_TMPDIR/out"
  [ "$($JGET 'd["name"]' < "$BATS_TEST_TMPDIR/out")" = az ]
  [ "$(sql "SELECT other FROM channels WHERE name='az'")" = '{"api_version":"2024-10-21"}' ]
  run gwctl channel list
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == "ID  NAME          TYPE       STATUS   PRIORITY  WEIGHT  TAG    GROUP    MODELS       BASE_URL  "* ]]
  [[ "${lines[0]}" == *"  MAXCONC  NO_PRICE"*"REASON" ]]
  [ "${#lines[@]}" -eq 10 ]
  [ "$(gwj 'len(d)' channel list --tag fleet)" = 7 ]
  run gwctl channel show az
  echo "$output" | grep -Eq '^other +\{"api_version":"2024-10-21"\}$'
  [ "$(gwj '[d["type"], d["priority"], d["weight"], d["model_mapping"], d["has_key"], d["tag"]]' channel show az)" = '["azure", 3, 7, {"gpt-4o": "my-deploy"}, true, ""]' ]
  # the key is never shown, nor logged
  ( ! gwctl channel show c1 --json | grep -q '"key"' )
}

@test "channel edit: every field of one channel, the key from stdin, and logs no secret" {
  add c1 > /dev/null
  run gwctl channel edit c1 --name c1b --type vllm --base-url http://127.0.0.1:7/// --models a,b \
    --priority -2 --weight 9 --group default,x --model-map '{"a":"b"}' --tag t --api-version v1
  [ "$status" -eq 0 ]
  [ "$(sql "SELECT name, type, base_url, models, priority, weight, \"group\", model_mapping, tag, other FROM channels")" = \
    "$(printf 'c1b\tvllm\thttp://127.0.0.1:7\ta,b\t-2\t9\tdefault,x\t{"a":"b"}\tt\t{"api_version":"v1"}')" ]
  printf 'new-secret-key\n' | gwctl channel edit c1b --key-stdin
  # stored sealed (enc:v1:..., 42-secrets.bats tests the format); --reveal opens it
  [[ "$(sql "SELECT key FROM channels")" == enc:v1:* ]]
  [ "$(gwctl channel show c1b --reveal --json | json_get 'd["key"]')" = new-secret-key ]
  ( ! sql "SELECT content FROM logs" | grep -q new-secret-key )
  [ "$(sql "SELECT content FROM logs WHERE content LIKE 'channel edit c1b%'")" = "channel edit c1b key=changed" ]
}

@test "channel enable, disable, edit by tag; bulk disable needs --yes" {
  add a --tag blue > /dev/null
  add b --tag blue > /dev/null
  add c --tag green > /dev/null
  refused 2 "refusing to disable 2 channels tagged blue without --yes" gwctl channel disable --tag blue
  run gwctl channel disable --tag blue --yes
  [ "$status" -eq 0 ]
  [ "$output" = "2 channels disabled" ]
  [ "$(gwj '[c["name"] for c in d]' channel list --status disabled)" = '["a", "b"]' ]
  gwctl channel enable --tag blue
  [ "$(gwj '[c["name"] for c in d]' channel list --status enabled)" = '["a", "b", "c"]' ]
  gwctl channel disable c
  [ "$(gwj 'd["status"]' channel show c)" = disabled ]
  gwctl channel enable 3
  [ "$(gwj 'd["status"]' channel show c)" = enabled ]
  gwctl channel edit --tag blue --priority 5 --weight 2 --new-tag sky
  [ "$(sql "SELECT group_concat(name || ':' || priority || ':' || weight || ':' || tag) FROM (SELECT * FROM channels ORDER BY id) c")" = "a:5:2:sky,b:5:2:sky,c:0:0:green" ]
  refused 3 "no channel is tagged 'blue'" gwctl channel edit --tag blue --priority 1
  refused 2 "--name renames one channel" gwctl channel edit --tag sky --name z
  refused 2 "give NAME|ID or --tag T, not both" gwctl channel disable a --tag sky
  refused 2 "missing NAME|ID" gwctl channel enable
}

@test "channel rm" {
  add a > /dev/null
  refused 2 "without --yes" gwctl channel rm a
  gwctl channel rm a --yes
  [ "$(sql 'SELECT count(*) FROM channels')" = 0 ]
  [ "$(sql "SELECT channel_id, content FROM logs WHERE content LIKE 'channel rm%'")" = "$(printf '1\tchannel rm a')" ]
}

@test "channel test: a real upstream call, latency recorded; failures exit 5" {
  add good --models first-model,second > /dev/null
  run gwctl channel test good
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^"channel good: ok, HTTP 200 in "[0-9]+" ms (model first-model)"$ ]]
  req=$(mock_requests up | tail -1)
  [ "$(echo "$req" | $JGET '[d["method"], d["path"], d["body"]["model"], d["body"]["max_tokens"], d["body"]["messages"][0]["content"], d["headers"]["authorization"]]')" = \
    '["POST", "/v1/chat/completions", "first-model", 5, "hi", "Bearer k"]' ]
  [ "$(sql "SELECT test_time > 0, response_time >= 0 FROM channels")" = "$(printf '1\t1')" ]
  run gwctl channel test good --model second --json
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET '[d["ok"], d["status"], d["model"]]')" = '[true, 200, "second"]' ]
  mock_start slow --delay-ms 300
  printf 'k\n' | gwctl channel add --name slow --type openai --base-url "$MOCK_SLOW_URL" --models m > /dev/null
  gwctl channel test slow > /dev/null
  [ "$(sql "SELECT response_time >= 300 FROM channels WHERE name='slow'")" = 1 ]
  mock_start bad --status 500
  printf 'k\n' | gwctl channel add --name bad --type openai --base-url "$MOCK_BAD_URL" --models m > /dev/null
  run gwctl channel test bad
  [ "$status" -eq 5 ]
  [[ "$output" =~ "gwctl: channel bad: the upstream answered HTTP 500 in" ]]
  printf 'k\n' | gwctl channel add --name dead --type openai --base-url http://127.0.0.1:1 --models m > /dev/null
  run gwctl channel test dead
  [ "$status" -eq 5 ]
  [[ "$output" =~ "the upstream is unreachable" ]]
  refused 3 "no channel named 'nope'" gwctl channel test nope
}

@test "channel models lists the upstream's models" {
  add a > /dev/null
  run gwctl channel models a
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf 'up-a\nup-b\nup-c')" ]
  [ "$(gwj 'd' channel models a)" = '["up-a", "up-b", "up-c"]' ]
  mock_requests up | tail -1 | $JGET 'd["path"]' | grep -qx /v1/models
  printf 'k\n' | gwctl channel add --name dead --type openai --base-url http://127.0.0.1:1 --models m > /dev/null
  run gwctl channel models dead
  [ "$status" -eq 5 ]
}

@test "channel: bad input is refused and changes nothing" {
  add a > /dev/null
  refused 4 "channel 'a' already exists" add a
  refused 2 "unknown channel type 'foo'" gwctl channel add --name x --type foo --base-url http://h --models m --no-key
  refused 2 "--model-map is not valid JSON" gwctl channel add --name x --type openai --base-url http://h --models m --no-key --model-map '{"a":'
  refused 2 "--model-map is not valid JSON" gwctl channel edit a --model-map 'not json'
  refused 2 "must be a JSON object" gwctl channel edit a --model-map '["a"]'
  refused 2 "must be a string" gwctl channel edit a --model-map '{"a":1}'
  refused 2 "--base-url must start with http" gwctl channel edit a --base-url ftp://x
  refused 2 "--priority must be an integer" gwctl channel edit a --priority high
  refused 2 "--weight must be a non-negative integer" gwctl channel edit a --weight -1
  refused 2 "--models needs at least one" gwctl channel edit a --models ' , '
  refused 2 "unknown channel type 'bogus'" gwctl channel edit a --type bogus
  refused 2 "nothing to change" gwctl channel edit a
  refused 3 "no channel named 'nope'" gwctl channel edit nope --priority 1
  refused 3 "no channel named 'nope'" gwctl channel show nope
  refused 3 "no channel with name or id '42'" gwctl channel disable 42
  refused 3 "no channel named 'nope'" gwctl channel rm nope --yes
  add b > /dev/null
  refused 4 "channel 'b' already exists" gwctl channel edit a --name b
  refused 2 "--key-stdin: no key on stdin" gwctl channel edit a --key-stdin
}

@test "a new channel is used by a running relayd; a disabled one is not" {
  gwctl user add alice --quota 100000000
  key=$(gwctl token create --user alice --name t --unlimited)
  relayd_start
  chat_as "$key" gpt-4o-mini
  [ "$status_code" != 200 ]
  add c1 > /dev/null
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | wc -l)" -eq 1 ]
  gwctl channel disable c1
  chat_as "$key" gpt-4o-mini
  [ "$status_code" != 200 ]
  [ "$(mock_requests up | wc -l)" -eq 1 ]
  mock_start two
  gwctl channel edit c1 --base-url "$MOCK_TWO_URL"
  gwctl channel enable c1
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 200 ]
  [ "$(mock_requests two | wc -l)" -eq 1 ]
}

# The provider table (common/provider.c): a preset is one row. Fails on the code before it
# ("unknown channel type 'openrouter'", exit 2).
@test "channel add --type openrouter: the preset's base URL by default; relayd relays to it with Bearer" {
  printf 'k-or\n' | gwctl channel add --name or --type openrouter --models gpt-4o-mini > /dev/null
  [ "$(sql "SELECT type || ' ' || base_url FROM channels WHERE name='or'")" = "openrouter https://openrouter.ai/api" ]
  [ "$(gwj '[d["type"], d["base_url"]]' channel show or)" = '["openrouter", "https://openrouter.ai/api"]' ]
  # the preset is in every list of types gwctl prints
  refused 2 "supported: .*openrouter" gwctl channel add --name x --type nope --models m --no-key
  refused 2 "no default \(.*openrouter.*do\)" gwctl channel add --name x --type custom --models m --no-key
  # relayd speaks OpenAI chat to it, the key as a Bearer token (the base URL moved to the mock)
  gwctl channel edit or --base-url "$MOCK_URL"
  gwctl user add alice --quota 100000000
  key=$(gwctl token create --user alice --name t --unlimited)
  relayd_start
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | tail -1 | $JGET '[d["path"], d["headers"]["authorization"]]')" = '["/v1/chat/completions", "Bearer k-or"]' ]
  # channel test sends the same probe as for openai
  run gwctl channel test or --json
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET 'd["ok"], d["status"]')" = '[true, 200]' ]
  [ "$(mock_requests up | tail -1 | $JGET 'd["path"], d["body"]["max_tokens"]')" = '["/v1/chat/completions", 5]' ]
}
