#!/usr/bin/env bats
# gwctl export / apply: the round trip (export, apply to an empty database, export again), apply twice
# is a no-op, one bad entry among many changes nothing and every error names entry and field,
# --dry-run lists exactly what apply then does (exit 2 on drift), --prune, secret references, key
# files, manage log rows, and a running relayd serving what apply created.

load helpers
load gwctl_helpers

setup() {
  relay_env
  KEYS="$BATS_TEST_TMPDIR/keys"
  mkdir -p "$KEYS"
}

# provision: a database with something of every kind, made with the ordinary commands
provision() {
  gwctl user add alice --quota 5000000
  gwctl user add bob --quota 10 --role admin
  gwctl group set vip --ratio 1.5 --selectable yes
  gwctl user edit bob --group vip
  printf 'sk-upstream-1\n' | gwctl channel add --name oa-main --type openai --base-url "${1:-http://127.0.0.1:9}" \
    --models gpt-4o-mini,gpt-4o --weight 3 --priority 2 --group default,vip --tag fleet \
    --model-map '{"gpt-4o":"gpt-4o-2024"}' > /dev/null
  gwctl channel add --name az --type azure --base-url http://127.0.0.1:9 --models gpt-4o \
    --api-version 2024-06-01 --no-key > /dev/null
  gwctl channel disable az
  gwctl token create --user alice --name laptop --quota 1000 --models gpt-4o-mini \
    --ips 10.0.0.0/8 --expires 2099-01-01T00:00:00Z > /dev/null
  gwctl token create --user bob --name ci --unlimited --group vip > /dev/null
  gwctl price set my-model --ratio 0.5 --completion-ratio 2 --cache-write-ratio 1.5 --max-output-tokens 4096
  gwctl price set img --price 0.04 --per image
  gwctl config set retry_times 4
}

# sorted JSON of an export, for comparisons
canon() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))'; }

@test "export: every kind, no secret; --kinds; --key-refs env and file:DIR" {
  provision
  run gwctl export
  [ "$status" -eq 0 ]
  echo "$output" > "$BATS_TEST_TMPDIR/all.json"
  [ "$(echo "$output" | $JGET 'sorted(d.keys())')" = '["channels", "fallbacks", "groups", "options", "prices", "tokens", "users", "version"]' ]
  [ "$(echo "$output" | $JGET 'd["version"]')" = 1 ]
  ( ! grep -q 'sk-upstream-1' "$BATS_TEST_TMPDIR/all.json" )
  ( ! grep -q '"key"' "$BATS_TEST_TMPDIR/all.json" )
  [ "$(echo "$output" | $JGET '[c["name"] for c in d["channels"]]')" = '["az", "oa-main"]' ]
  [ "$(echo "$output" | $JGET '[c for c in d["channels"] if c["name"] == "oa-main"][0]["model_mapping"]')" = '{"gpt-4o": "gpt-4o-2024"}' ]
  [ "$(echo "$output" | $JGET '[c for c in d["channels"] if c["name"] == "az"][0]["status"]')" = disabled ]
  [ "$(echo "$output" | $JGET '[[t["user"], t["name"], t["unlimited"], t["quota"]] for t in d["tokens"]]')" = '[["alice", "laptop", false, 1000], ["bob", "ci", true, 0]]' ]
  [ "$(echo "$output" | $JGET 'd["options"]')" = '{"retry_times": "4"}' ]
  [ "$(echo "$output" | $JGET '[[p["fixed_price"], p["unit"]] for p in d["prices"] if p["model"] == "img"]')" = '[[0.04, "image"]]' ]
  run gwctl export --kinds users,groups
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET 'sorted(d.keys())')" = '["groups", "users", "version"]' ]
  # references: only channels that have a key get one
  run gwctl export --kinds channels --key-refs env
  [ "$(echo "$output" | $JGET '[c.get("key") for c in d["channels"]]')" = '[null, {"env": "RELAY_CHANNEL_KEY_OA_MAIN"}]' ]
  run gwctl export --kinds channels --key-refs "file:$KEYS"
  [ "$(echo "$output" | $JGET '[c.get("key") for c in d["channels"]]')" = "[null, {\"file\": \"$KEYS/oa-main\"}]" ]
  refused 2 "unknown kind 'channel'" gwctl export --kinds channel
  refused 2 "--key-refs must be" gwctl export --key-refs vault
}

@test "export, apply to an empty database, export again: the same document" {
  provision
  gwctl export --key-refs "file:$KEYS" > "$BATS_TEST_TMPDIR/a.json"
  printf 'sk-upstream-1\n' > "$KEYS/oa-main"
  export RELAY_DB="sqlite:$BATS_TEST_TMPDIR/empty.db"
  gwctl init > /dev/null
  run gwctl apply -f "$BATS_TEST_TMPDIR/a.json"
  [ "$status" -eq 0 ]
  [[ "$output" == *"create channel oa-main"* ]]
  [[ "$output" == *"applied: "* ]]
  # the token keys are new (printed once), every other value is the same
  [ "$(echo "$output" | grep -c '^key of token ')" = 2 ]
  gwctl export --key-refs "file:$KEYS" > "$BATS_TEST_TMPDIR/b.json"
  [ "$(canon < "$BATS_TEST_TMPDIR/a.json")" = "$(canon < "$BATS_TEST_TMPDIR/b.json")" ]
  # cache write ratios and output bounds come through (null = relayd's default / unknown)
  [ "$($JGET '[[p["cache_write_ratio"], p["cache_write_1h_ratio"], p["max_output_tokens"]] for p in d["prices"] if p["model"] in ("my-model", "gpt-4o", "img")]' < "$BATS_TEST_TMPDIR/b.json")" = '[[null, null, 16384], [null, null, null], [1.5, null, 4096]]' ]
  [ "$(sql "SELECT cache_write_ratio, cache_write_1h_ratio IS NULL, max_output_tokens FROM prices WHERE model = 'my-model'")" = "$(printf '1.5\t1\t4096')" ]
  # so do the audio ratios (migration 013; the seeded realtime models have them, the others null)
  [ "$($JGET '[[p["audio_ratio"], p["audio_completion_ratio"]] for p in d["prices"] if p["model"] in ("gpt-realtime", "my-model")]' < "$BATS_TEST_TMPDIR/b.json")" = '[[8, 2], [null, null]]' ]
  [ "$(sql "SELECT audio_ratio, audio_completion_ratio FROM prices WHERE model = 'gpt-realtime'")" = "$(printf '8.0\t2.0')" ]
  # the channel key came through the reference (compared, not read: it may be sealed at rest)
  [ "$(sql "SELECT name, key <> '' FROM channels ORDER BY name" | tr '\t\n' ' |')" = "az 0|oa-main 1|" ]
  run gwctl apply --dry-run -f "$BATS_TEST_TMPDIR/a.json"
  [ "$status" -eq 0 ]
  printf 'sk-upstream-2\n' > "$KEYS/oa-main"
  run gwctl apply --dry-run -f "$BATS_TEST_TMPDIR/a.json"
  [ "$status" -eq 2 ]
  [ "$output" = "$(printf 'update channel oa-main: key: (secret) -> (changed)\nplan: 0 to create, 1 to update, 0 to delete')" ]
}

@test "apply twice: the second run changes nothing and says so; dry-run exits 0" {
  provision
  gwctl export --key-refs env > "$BATS_TEST_TMPDIR/a.json"
  export RELAY_DB="sqlite:$BATS_TEST_TMPDIR/second.db" RELAY_CHANNEL_KEY_OA_MAIN=sk-upstream-1
  gwctl init > /dev/null
  gwctl apply -f "$BATS_TEST_TMPDIR/a.json" > /dev/null
  before=$(db_dump)
  run gwctl apply -f "$BATS_TEST_TMPDIR/a.json"
  [ "$status" -eq 0 ]
  [ "$output" = "nothing to do: the database matches $BATS_TEST_TMPDIR/a.json" ]
  [ "$(db_dump)" = "$before" ]
  run gwctl apply --dry-run -f "$BATS_TEST_TMPDIR/a.json"
  [ "$status" -eq 0 ]
  run gwctl apply --dry-run --json -f - < "$BATS_TEST_TMPDIR/a.json"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET '[d["changes"], d["create"], d["update"], d["delete"]]')" = '[[], 0, 0, 0]' ]
  [ "$(db_dump)" = "$before" ]
  # a changed channel key is a change (named, never shown); the same key again is not
  RELAY_CHANNEL_KEY_OA_MAIN=sk-other run gwctl apply --dry-run -f "$BATS_TEST_TMPDIR/a.json"
  [ "$status" -eq 2 ]
  [[ "$output" == *"update channel oa-main: key: (secret) -> (changed)"* ]]
  ( ! grep -q sk-other <<< "$output" )
}

@test "one bad entry among many changes nothing; every error names the entry and the field" {
  provision
  python3 - "$BATS_TEST_TMPDIR" <<'PY'
import json, sys
d = {"version": 1,
     "users": [{"name": "u%d" % i, "quota": i} for i in range(20)],
     "channels": [{"name": "c%d" % i, "type": "openai", "base_url": "http://127.0.0.1:9",
                   "models": ["m"], "weight": i} for i in range(5)],
     "tokens": [{"user": "u1", "name": "t1", "quota": 5}]}
d["channels"][3]["name"] = "openai-main"
d["channels"][3]["weight"] = -1
d["users"][7]["grop"] = "vip"
d["tokens"].append({"user": "nobody", "name": "t2", "unlimited": True})
d["channels"][1]["key"] = {"file": sys.argv[1] + "/missing-key"}
d["channels"][2]["key"] = {"env": "RELAY_TEST_UNSET_VARIABLE"}
json.dump(d, open(sys.argv[1] + "/bad.json", "w"))
PY
  refused 1 'bad.json: 5 errors; nothing changed' gwctl apply -f "$BATS_TEST_TMPDIR/bad.json"
  err="$BATS_TEST_TMPDIR/refused.err"
  grep -qxF 'gwctl: channels[3] "openai-main": field "weight": must be an integer >= 0' "$err"
  grep -qxF 'gwctl: users[7] "u7": field "grop": unknown field (known: name, role, status, group, quota)' "$err"
  grep -qF 'gwctl: tokens[1] "nobody/t2": field "user": no user named '"'nobody'" "$err"
  grep -qF "gwctl: channels[1] \"c1\": field \"key\": cannot read $BATS_TEST_TMPDIR/missing-key: No such file or directory" "$err"
  grep -qxF 'gwctl: channels[2] "c2": field "key": environment variable RELAY_TEST_UNSET_VARIABLE is not set' "$err"
  # the same under --dry-run: 1 (an invalid file is an error, not drift)
  refused 1 '5 errors' gwctl apply --dry-run -f "$BATS_TEST_TMPDIR/bad.json"
  # not JSON, wrong version, unknown section
  printf '{"version": 1, "users": [' > "$BATS_TEST_TMPDIR/cut.json"
  refused 1 'cut.json:1:.*not valid JSON' gwctl apply -f "$BATS_TEST_TMPDIR/cut.json"
  echo '{"version": 2}' > "$BATS_TEST_TMPDIR/v2.json"
  refused 1 'field "version": this gwctl reads version 1 only' gwctl apply -f "$BATS_TEST_TMPDIR/v2.json"
  echo '{"version": 1, "chanels": []}' > "$BATS_TEST_TMPDIR/sec.json"
  refused 1 'field "chanels": unknown section' gwctl apply -f "$BATS_TEST_TMPDIR/sec.json"
  echo '{"version": 1, "prices": [{"model": "a", "model_ratio": 1, "cache_write_ratio": -1}, {"model": "b", "model_ratio": 1, "max_output_tokens": 1.5}]}' > "$BATS_TEST_TMPDIR/cw.json"
  refused 1 '2 errors' gwctl apply -f "$BATS_TEST_TMPDIR/cw.json"
  grep -qxF 'gwctl: prices[0] "a": field "cache_write_ratio": must be a number from 0 to 1e+06' "$BATS_TEST_TMPDIR/refused.err"
  grep -qxF 'gwctl: prices[1] "b": field "max_output_tokens": must be an integer >= 0' "$BATS_TEST_TMPDIR/refused.err"
  echo '{"version": 1, "users": [{"name": "a"}, {"name": "a"}]}' > "$BATS_TEST_TMPDIR/dup.json"
  refused 1 "users\\[1\\] \"a\": field \"name\": 'a' is already listed as users\\[0\\]" gwctl apply -f "$BATS_TEST_TMPDIR/dup.json"
  refused 2 'missing -f FILE' gwctl apply
  refused 3 'cannot open' gwctl apply -f "$BATS_TEST_TMPDIR/nope.json"
}

@test "dry-run lists exactly the changes apply then makes (exit 2), apply logs each one" {
  provision
  python3 - "$BATS_TEST_TMPDIR" <<'PY'
import json, sys
d = {"version": 1,
     "groups": [{"name": "default", "ratio": 1, "selectable": True}, {"name": "vip", "ratio": 2},
                {"name": "team"}],
     "users": [{"name": "alice", "group": "team", "status": "disabled"}, {"name": "carol"}],
     "channels": [{"name": "oa-main", "type": "openai", "base_url": "http://127.0.0.1:9",
                   "models": "gpt-4o-mini, gpt-4o", "group": ["default", "vip"], "priority": 2,
                   "weight": 7, "tag": "fleet", "model_mapping": {"gpt-4o": "gpt-4o-2024"}}],
     "tokens": [{"user": "carol", "name": "new", "quota": 3}],
     "prices": [{"model": "img", "fixed_price": 0.05}],
     "options": {"retry_times": 1}}
json.dump(d, open(sys.argv[1] + "/change.json", "w"))
PY
  before=$(db_dump)
  run gwctl apply --dry-run --json -f "$BATS_TEST_TMPDIR/change.json"
  [ "$status" -eq 2 ]
  [ "$(db_dump)" = "$before" ]
  plan=$(echo "$output" | $JGET 'd["changes"]')
  [ "$(echo "$output" | $JGET '[d["create"], d["update"], d["delete"]]')" = '[3, 5, 0]' ]
  [ "$(echo "$output" | $JGET '[[c["op"], c["kind"], c["name"]] for c in d["changes"]]')" = '[["update", "group", "vip"], ["create", "group", "team"], ["update", "price", "img"], ["update", "option", "retry_times"], ["update", "user", "alice"], ["create", "user", "carol"], ["update", "channel", "oa-main"], ["create", "token", "carol/new"]]' ] || {
    echo "$output"; false; }
  [ "$(echo "$output" | $JGET '[c["changes"] for c in d["changes"] if c["kind"] == "channel" and c["op"] == "update"][0]')" = '[{"field": "weight", "old": 3, "new": 7}]' ]
  [ "$(echo "$output" | $JGET '[c["changes"] for c in d["changes"] if c["kind"] == "user" and c["op"] == "update"][0]')" = '[{"field": "status", "old": "enabled", "new": "disabled"}, {"field": "group", "old": "default", "new": "team"}]' ]
  # the text plan says the same, one line per change
  run gwctl apply --dry-run -f "$BATS_TEST_TMPDIR/change.json"
  [ "$status" -eq 2 ]
  [[ "${lines[0]}" == "update group vip: ratio: 1.5 -> 2, selectable: true -> false" ]]
  [[ "$output" == *"update channel oa-main: weight: 3 -> 7"* ]]
  [ "${lines[-1]}" = "plan: 3 to create, 5 to update, 0 to delete" ]
  # apply does exactly that
  run gwctl apply --json -f "$BATS_TEST_TMPDIR/change.json"
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET 'd["changes"]')" = "$plan" ]
  [ "$(echo "$output" | $JGET '[[k["user"], k["name"], k["key"][:3]] for k in d["keys"]]')" = '[["carol", "new", "sk-"]]' ]
  [ "$(sql "SELECT weight, tag FROM channels WHERE name = 'oa-main'")" = "$(printf '7\tfleet')" ]
  [ "$(sql "SELECT status, \"group\", quota FROM users WHERE username = 'alice'")" = "$(printf '2\tteam\t5000000')" ]
  # one manage row per change, with who did it, and no key
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 3 AND content LIKE 'apply: %'")" = 8 ]
  me=$(id -un)
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 3 AND content LIKE 'apply: % (by $me)'")" = 8 ]
  [ "$(sql "SELECT content FROM logs WHERE type = 3 AND content LIKE 'apply: update channel%'")" = "apply: update channel oa-main: weight: 3 -> 7 (by $me)" ]
  [ "$(sql "SELECT username, token_name FROM logs WHERE content LIKE 'apply: create token%'")" = "$(printf 'carol\tnew')" ]
  # now it matches
  run gwctl apply --dry-run -f "$BATS_TEST_TMPDIR/change.json"
  [ "$status" -eq 0 ]
}

@test "balances are set at creation; --set-balances makes apply set them too" {
  gwctl user add alice --quota 100
  echo '{"version": 1, "users": [{"name": "alice", "quota": 999}]}' > "$BATS_TEST_TMPDIR/q.json"
  run gwctl apply --dry-run -f "$BATS_TEST_TMPDIR/q.json"
  [ "$status" -eq 0 ]
  run gwctl apply --dry-run --set-balances -f "$BATS_TEST_TMPDIR/q.json"
  [ "$status" -eq 2 ]
  [ "${lines[0]}" = "update user alice: quota: 100 -> 999" ]
  gwctl apply --set-balances -f "$BATS_TEST_TMPDIR/q.json"
  [ "$(sql "SELECT quota FROM users WHERE username = 'alice'")" = 999 ]
}

@test "--prune deletes only what the file no longer lists, in the kinds the file has" {
  provision
  gwctl export > "$BATS_TEST_TMPDIR/all.json"
  python3 - "$BATS_TEST_TMPDIR" <<'PY'
import json, sys
d = json.load(open(sys.argv[1] + "/all.json"))
d["channels"] = [c for c in d["channels"] if c["name"] != "az"]
d["tokens"] = [t for t in d["tokens"] if t["name"] != "laptop"]
d["prices"] = [p for p in d["prices"] if p["model"] != "img"]
del d["users"]       # a kind the file does not have is never pruned
del d["options"]
json.dump(d, open(sys.argv[1] + "/less.json", "w"))
PY
  # without --prune nothing goes
  run gwctl apply -f "$BATS_TEST_TMPDIR/less.json"
  [ "$status" -eq 0 ]
  [ "$output" = "nothing to do: the database matches $BATS_TEST_TMPDIR/less.json" ]
  run gwctl apply --prune --dry-run -f "$BATS_TEST_TMPDIR/less.json"
  [ "$status" -eq 2 ]
  [ "$output" = "$(printf 'delete token alice/laptop\ndelete channel az\ndelete price img\nplan: 0 to create, 0 to update, 3 to delete')" ]
  gwctl apply --prune -f "$BATS_TEST_TMPDIR/less.json"
  [ "$(sql 'SELECT name FROM channels')" = oa-main ]
  [ "$(sql 'SELECT name FROM tokens')" = ci ]
  [ "$(sql "SELECT count(*) FROM prices WHERE model IN ('img', 'my-model')")" = 1 ]
  [ "$(sql 'SELECT count(*) FROM users')" = 2 ]
  [ "$(sql "SELECT value FROM options WHERE key = 'retry_times'")" = 4 ]
  # pruning a group still in use is refused, naming who uses it
  echo '{"version": 1, "groups": [{"name": "default", "selectable": true}]}' > "$BATS_TEST_TMPDIR/g.json"
  refused 1 "group 'vip' is still used by user 'bob'" gwctl apply --prune -f "$BATS_TEST_TMPDIR/g.json"
  # a user whose tokens stay cannot be pruned
  echo '{"version": 1, "users": [{"name": "alice"}]}' > "$BATS_TEST_TMPDIR/u.json"
  refused 1 "user 'bob' is not in the file but still has token 'ci'" gwctl apply --prune -f "$BATS_TEST_TMPDIR/u.json"
}

@test "tokens: matched by name and keep their keys; key_file gets a new key (0600); a key by reference" {
  gwctl user add alice --quota 100000
  old=$(gwctl token create --user alice --name laptop --quota 10)
  hash=$(sql "SELECT key_hash FROM tokens WHERE name = 'laptop'")
  printf 'sk-%s\n' abcdefgh12345678 > "$KEYS/given"
  cat > "$BATS_TEST_TMPDIR/t.json" <<EOF
{"version": 1, "tokens": [
  {"user": "alice", "name": "laptop", "quota": 10, "models": ["gpt-4o-mini"]},
  {"user": "alice", "name": "ci", "quota": 5, "key_file": "$KEYS/ci.key"},
  {"user": "alice", "name": "given", "unlimited": true, "key": {"file": "$KEYS/given"}}]}
EOF
  run gwctl apply -f "$BATS_TEST_TMPDIR/t.json"
  [ "$status" -eq 0 ]
  # no key on stdout: one went to its file, the other was given
  ( ! grep -q 'sk-' <<< "$output" )
  [ "$(sql "SELECT key_hash FROM tokens WHERE name = 'laptop'")" = "$hash" ]
  [ "$(stat -c %a "$KEYS/ci.key")" = 600 ]
  [[ "$(cat "$KEYS/ci.key")" =~ ^sk-[0-9A-Za-z]{48}$ ]]
  [ "$(sql "SELECT key_hash FROM tokens WHERE name = 'ci'")" = "$(printf '%s' "$(sed 's/^sk-//' "$KEYS/ci.key")" | sha256sum | cut -d' ' -f1)" ]
  [ "$(sql "SELECT key_hash FROM tokens WHERE name = 'given'")" = "$(printf abcdefgh12345678 | sha256sum | cut -d' ' -f1)" ]
  [ "$(ls "$KEYS")" = "$(printf 'ci.key\ngiven')" ]
  # a key already used by another token: refused, nothing changed, no key file left behind
  cat > "$BATS_TEST_TMPDIR/t2.json" <<EOF
{"version": 1, "tokens": [{"user": "alice", "name": "n1", "quota": 1, "key_file": "$KEYS/n1.key"},
  {"user": "alice", "name": "dup", "quota": 1, "key": {"file": "$KEYS/given"}}]}
EOF
  refused 4 'field "key": this key is already in use' gwctl apply -f "$BATS_TEST_TMPDIR/t2.json"
  [ "$(ls "$KEYS")" = "$(printf 'ci.key\ngiven')" ]
}

@test "a running relayd serves what apply created, right after apply" {
  mock_start up
  relayd_start
  cat > "$BATS_TEST_TMPDIR/live.json" <<EOF
{"version": 1,
 "users": [{"name": "dana", "quota": 100000000}],
 "channels": [{"name": "mock", "type": "openai", "base_url": "$MOCK_URL", "models": ["gpt-4o-mini"],
               "key": {"env": "MOCK_CHANNEL_KEY"}}],
 "tokens": [{"user": "dana", "name": "app", "unlimited": true, "key_file": "$KEYS/app.key"}]}
EOF
  MOCK_CHANNEL_KEY=sk-mock-key gwctl apply -f "$BATS_TEST_TMPDIR/live.json"
  chat_as "$(cat "$KEYS/app.key")" gpt-4o-mini
  [ "$status_code" = 200 ]
  [ "$(mock_requests up | $JGET 'd["headers"]["authorization"]')" = "Bearer sk-mock-key" ]
  # and a disable through apply is served at once too
  sed 's/"name": "mock",/"name": "mock", "status": "disabled",/' "$BATS_TEST_TMPDIR/live.json" > "$BATS_TEST_TMPDIR/off.json"
  MOCK_CHANNEL_KEY=sk-mock-key gwctl apply -f "$BATS_TEST_TMPDIR/off.json"
  chat_as "$(cat "$KEYS/app.key")" gpt-4o-mini
  [ "$status_code" != 200 ]
  [ "$(mock_requests up | wc -l)" -eq 1 ]
}

# provision_routing: what issues #23 and #25 added, made with the ordinary commands (keys on stdin)
provision_routing() {
  gwctl user add carol --quota 1000
  gwctl group set vip --ratio 1.5 --selectable yes
  printf 'sk-pool-key-aaaa1\nsk-pool-key-bbbb2\nsk-pool-key-cccc3\n' | gwctl channel add --name pool --type openai \
    --base-url http://127.0.0.1:9 --models gpt-4o,gpt-4o-mini --key-mode sticky > /dev/null
  gwctl channel edit pool --rpm 60 --tpm 90000 --max-concurrency 4 > /dev/null
  gwctl channel key limit pool 2 --rpm 5 --tpm 700 --concurrency 2
  gwctl channel key disable pool 3
  gwctl price set long-model --ratio 1.25 --completion-ratio 4 --tier 200000:ratio=2.5,completion=6
  gwctl token create --user carol --name app --unlimited > /dev/null
  gwctl token edit app --user carol --response-cache yes > /dev/null
  gwctl fallback set gpt-4o --chain gpt-4o-mini,long-model --on context,policy
  gwctl fallback set gpt-4o --chain long-model --group vip
  gwctl fallback set gpt-4o-mini --chain gpt-4o --token app --user carol
}

@test "key pools, channel and key limits, price tiers, the response cache flag and fallback chains: export, apply to an empty database, export again: the same" {
  provision_routing
  gwctl export --key-refs "file:$KEYS" > "$BATS_TEST_TMPDIR/a.json"
  a="$BATS_TEST_TMPDIR/a.json"
  # no key of the pool in the document: each key a reference of its own, by its index
  ( ! grep -q 'sk-pool-key' "$a" )
  [ "$($JGET '[c["keys"] for c in d["channels"] if c["name"] == "pool"][0]' < "$a")" = "[{\"index\": 1, \"status\": \"enabled\", \"rpm\": 0, \"tpm\": 0, \"max_concurrency\": 0, \"key\": {\"file\": \"$KEYS/pool.1\"}}, {\"index\": 2, \"status\": \"enabled\", \"rpm\": 5, \"tpm\": 700, \"max_concurrency\": 2, \"key\": {\"file\": \"$KEYS/pool.2\"}}, {\"index\": 3, \"status\": \"disabled\", \"rpm\": 0, \"tpm\": 0, \"max_concurrency\": 0, \"key\": {\"file\": \"$KEYS/pool.3\"}}]" ]
  [ "$($JGET '[[c["key_mode"], c["rpm"], c["tpm"], c["max_concurrency"], "key" in c] for c in d["channels"] if c["name"] == "pool"][0]' < "$a")" = '["sticky", 60, 90000, 4, false]' ]
  [ "$($JGET '[[p["tier_above"], p["tier_model_ratio"], p["tier_completion_ratio"], p["tier_cache_ratio"]] for p in d["prices"] if p["model"] == "long-model"][0]' < "$a")" = '[200000, 2.5, 6, null]' ]
  [ "$($JGET '[t["response_cache"] for t in d["tokens"]]' < "$a")" = '[true]' ]
  [ "$($JGET 'sorted([f["model"], f["group"], f["token"], f["chain"], f["on"]] for f in d["fallbacks"])' < "$a")" = '[["gpt-4o", "", "", ["gpt-4o-mini", "long-model"], ["context", "policy"]], ["gpt-4o", "vip", "", ["long-model"], []], ["gpt-4o-mini", "", "carol/app", ["gpt-4o"], []]]' ]
  # --key-refs env: one variable per pool key
  run gwctl export --kinds channels --key-refs env
  [ "$(echo "$output" | $JGET '[k["key"]["env"] for k in d["channels"][0]["keys"]]')" = '["RELAY_CHANNEL_KEY_POOL_1", "RELAY_CHANNEL_KEY_POOL_2", "RELAY_CHANNEL_KEY_POOL_3"]' ]
  ( ! grep -q 'sk-pool-key' <<< "$output" )
  printf 'sk-pool-key-aaaa1\n' > "$KEYS/pool.1"
  printf 'sk-pool-key-bbbb2\n' > "$KEYS/pool.2"
  printf 'sk-pool-key-cccc3\n' > "$KEYS/pool.3"
  export RELAY_DB="sqlite:$BATS_TEST_TMPDIR/empty.db"
  gwctl init > /dev/null
  run gwctl apply -f "$a"
  [ "$status" -eq 0 ]
  ( ! grep -q 'sk-pool-key' <<< "$output" )
  [[ "$output" == *"create fallback gpt-4o-mini@token:carol/app"* ]]
  gwctl export --key-refs "file:$KEYS" > "$BATS_TEST_TMPDIR/b.json"
  [ "$(canon < "$a")" = "$(canon < "$BATS_TEST_TMPDIR/b.json")" ]
  # the keys are the pool's, in order, sealed at rest; channels.key follows key 1
  [ "$(gwctl channel key list pool --json | $JGET '[[k["index"], k["masked"][-4:], k["status"], k["rpm"]] for k in d]')" = '[[1, "aaa1", "enabled", 0], [2, "bbb2", "enabled", 5], [3, "ccc3", "disabled", 0]]' ]
  [ "$(sql "SELECT count(*) FROM channel_keys WHERE key LIKE '%sk-pool-key%'")" = 0 ]
  [ "$(sql "SELECT count(*) FROM channels c WHERE c.key = (SELECT k.key FROM channel_keys k WHERE k.channel_id = c.id AND k.idx = 1)")" = 1 ]
  [ "$(sql "SELECT rpm, tpm, max_concurrency, key_mode FROM channels WHERE name = 'pool'")" = "$(printf '60\t90000\t4\tsticky')" ]
  [ "$(sql "SELECT tier_above, tier_model_ratio, tier_completion_ratio, tier_cache_ratio IS NULL FROM prices WHERE model = 'long-model'")" = "$(printf '200000\t2.5\t6.0\t1')" ]
  [ "$(sql "SELECT response_cache FROM tokens WHERE name = 'app'")" = 1 ]
  [ "$(sql "SELECT f.subject = CAST(t.id AS TEXT) FROM fallbacks f, tokens t WHERE f.scope = 'token' AND t.name = 'app'")" = 1 ]
  # a second apply changes nothing
  before=$(db_dump)
  run gwctl apply -f "$a"
  [ "$status" -eq 0 ]
  [ "$output" = "nothing to do: the database matches $a" ]
  [ "$(db_dump)" = "$before" ]
}

@test "key pools and fallbacks converge: a changed key, a removed key, a removed chain; plan first, secrets never shown" {
  provision_routing
  gwctl export --key-refs "file:$KEYS" > "$BATS_TEST_TMPDIR/a.json"
  a="$BATS_TEST_TMPDIR/a.json"
  printf 'sk-pool-key-aaaa1\n' > "$KEYS/pool.1"
  printf 'sk-pool-key-bbbb2\n' > "$KEYS/pool.2"
  printf 'sk-pool-key-cccc3\n' > "$KEYS/pool.3"
  run gwctl apply --dry-run -f "$a"
  [ "$status" -eq 0 ]
  # a key rotated in its file: named by index, never shown
  printf 'sk-pool-key-dddd4\n' > "$KEYS/pool.2"
  run gwctl apply --dry-run -f "$a"
  [ "$status" -eq 2 ]
  [ "$output" = "$(printf 'update channel pool: keys[2].key: (secret) -> (changed)\nplan: 0 to create, 1 to update, 0 to delete')" ]
  gwctl apply -f "$a" > /dev/null
  [ "$(gwctl channel key list pool --json | $JGET '[k["masked"][-4:] for k in d]')" = '["aaa1", "ddd4", "ccc3"]' ]
  ( ! sql "SELECT content FROM logs WHERE type = 3" | grep -q 'sk-pool-key' )
  # key 1 and the group's chain left out, key 3 enabled with a limit, a tier changed, the cache off
  python3 - "$a" "$BATS_TEST_TMPDIR/less.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = [c for c in d["channels"] if c["name"] == "pool"][0]
c["keys"] = c["keys"][1:]
c["keys"][1]["status"] = "enabled"
c["keys"][1]["rpm"] = 9
c["key_mode"] = "round-robin"
d["fallbacks"] = [f for f in d["fallbacks"] if f["group"] != "vip"]
p = [p for p in d["prices"] if p["model"] == "long-model"][0]
p["tier_above"] = 100000
d["tokens"][0]["response_cache"] = False
json.dump(d, open(sys.argv[2], "w"))
PY
  run gwctl apply --dry-run --json --prune -f "$BATS_TEST_TMPDIR/less.json"
  [ "$status" -eq 2 ]
  [ "$(echo "$output" | $JGET '[[c["op"], c["kind"], c["name"]] for c in d["changes"]]')" = '[["update", "price", "long-model"], ["update", "channel", "pool"], ["update", "token", "carol/app"], ["delete", "fallback", "gpt-4o@group:vip"]]' ]
  [ "$(echo "$output" | $JGET '[x["field"] for c in d["changes"] if c["kind"] == "channel" for x in c["changes"]]')" = '["key_mode", "keys"]' ]
  gwctl apply --prune -f "$BATS_TEST_TMPDIR/less.json" > /dev/null
  [ "$(gwctl channel key list pool --json | $JGET '[[k["index"], k["masked"][-4:], k["status"], k["rpm"]] for k in d]')" = '[[2, "ddd4", "enabled", 5], [3, "ccc3", "enabled", 9]]' ]
  # channels.key follows the pool's first key, now key 2
  [ "$(sql "SELECT count(*) FROM channels c WHERE c.key = (SELECT k.key FROM channel_keys k WHERE k.channel_id = c.id AND k.idx = 2)")" = 1 ]
  [ "$(sql "SELECT count(*) FROM fallbacks")" = 2 ]
  [ "$(sql "SELECT tier_above FROM prices WHERE model = 'long-model'")" = 100000 ]
  [ "$(sql "SELECT response_cache FROM tokens WHERE name = 'app'")" = 0 ]
  run gwctl apply --prune -f "$BATS_TEST_TMPDIR/less.json"
  [ "$output" = "nothing to do: the database matches $BATS_TEST_TMPDIR/less.json" ]
  # a pruned token takes its chains with it
  python3 - "$BATS_TEST_TMPDIR/less.json" "$BATS_TEST_TMPDIR/notoken.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d = {"version": 1, "tokens": []}
json.dump(d, open(sys.argv[2], "w"))
PY
  gwctl apply --prune -f "$BATS_TEST_TMPDIR/notoken.json" > /dev/null
  [ "$(sql "SELECT count(*) FROM fallbacks WHERE scope = 'token'")" = 0 ]
}

@test "bad key pools, limits, tiers, cache flags and fallback chains: every error named, nothing changed" {
  provision_routing
  python3 - "$BATS_TEST_TMPDIR" <<'PY'
import json, sys
t = sys.argv[1]
d = {"version": 1,
     "channels": [{"name": "pool", "type": "openai", "base_url": "http://127.0.0.1:9", "models": ["gpt-4o"],
                   "key_mode": "weighted", "rpm": -1,
                   "keys": [{"index": 1}, {"index": 9}, {"index": 2, "tpm": 1.5}]},
                  {"name": "both", "type": "openai", "base_url": "http://127.0.0.1:9", "models": ["m"],
                   "key": {"file": t + "/k"}, "keys": [{"key": {"file": t + "/k"}}]}],
     "prices": [{"model": "long-model", "model_ratio": 1, "tier_above": 1000},
                {"model": "fixed", "fixed_price": 1, "tier_above": 5, "tier_model_ratio": 2}],
     "tokens": [{"user": "carol", "name": "app", "unlimited": True, "response_cache": "yes"}],
     "fallbacks": [{"model": "gpt-4o", "chain": ["gpt-4o"]},
                   {"model": "gpt-4o", "group": "nogroup", "chain": ["m"]},
                   {"model": "x", "token": "carol/nope", "chain": ["m"], "on": ["timeout"]}]}
open(t + "/k", "w").write("sk-given-key-1234\n")
json.dump(d, open(t + "/bad.json", "w"))
PY
  refused 1 'bad.json: 10 errors; nothing changed' gwctl apply -f "$BATS_TEST_TMPDIR/bad.json"
  err="$BATS_TEST_TMPDIR/refused.err"
  grep -qxF 'gwctl: channels[0] "pool": field "key_mode": must be one of random, round-robin, sticky, not '"'weighted'" "$err"
  grep -qxF 'gwctl: channels[0] "pool": field "rpm": must be an integer >= 0' "$err"
  grep -qxF 'gwctl: channels[0] "pool": keys[2]: field "tpm": must be an integer >= 0' "$err"
  grep -qxF 'gwctl: channels[1] "both": field "keys": a key pool'"'"'s keys go in "keys", not with "key"' "$err"
  grep -qxF 'gwctl: prices[0] "long-model": field "tier_model_ratio": is required with tier_above (the input price above the threshold)' "$err"
  grep -qxF 'gwctl: prices[1] "fixed": field "tier_above": a tier goes with model_ratio, not fixed_price' "$err"
  grep -qxF 'gwctl: tokens[0] "carol/app": field "response_cache": must be true or false, not a string' "$err"
  grep -qxF "gwctl: fallbacks[0] \"gpt-4o\": field \"chain\": 'gpt-4o' cannot fall back to itself" "$err"
  grep -qxF "gwctl: fallbacks[2] \"x\": field \"on\": unknown error kind 'timeout' (context, policy)" "$err"
  # references: checked against what the database will hold
  python3 - "$BATS_TEST_TMPDIR" <<'PY'
import json, sys
t = sys.argv[1]
d = {"version": 1,
     "channels": [{"name": "pool", "type": "openai", "base_url": "http://127.0.0.1:9", "models": ["gpt-4o"],
                   "keys": [{"index": 1}, {"index": 9}]},
                  {"name": "pool2", "type": "openai", "base_url": "http://127.0.0.1:9", "models": ["gpt-4o"],
                   "keys": [{"index": 1, "key": {"env": "RELAY_TEST_UNSET_VARIABLE"}}]}],
     "fallbacks": [{"model": "gpt-4o", "group": "nogroup", "chain": ["m"]},
                   {"model": "x", "token": "carol/nope", "chain": ["m"]}]}
json.dump(d, open(t + "/refs.json", "w"))
PY
  refused 1 'refs.json: 4 errors; nothing changed' gwctl apply -f "$BATS_TEST_TMPDIR/refs.json"
  grep -qxF 'gwctl: channels[0] "pool": field "keys": key 9 is new: it needs "key" (a reference)' "$err"
  grep -qxF 'gwctl: channels[1] "pool2": keys[0]: field "key": environment variable RELAY_TEST_UNSET_VARIABLE is not set' "$err"
  grep -qxF "gwctl: fallbacks[0] \"gpt-4o@group:nogroup\": field \"group\": no group named 'nogroup'" "$err"
  grep -qxF "gwctl: fallbacks[1] \"x@token:carol/nope\": field \"token\": no token named 'carol/nope'" "$err"
}

@test "apply refuses what the commands refuse, by the same rule (common/rules.c): a model map naming a model twice, a base URL without host, a 9-model chain, a tier on a fixed price" {
  # the commands
  refused 2 "--model-map names 'a' twice" gwctl channel add --name dup --type openai --base-url http://127.0.0.1:9 \
    --models a --no-key --model-map '{"a":"x","a":"y"}'
  refused 2 "--base-url 'http://' has no host" gwctl channel add --name nohost --type openai --base-url http:// \
    --models a --no-key
  refused 2 "--chain: give 1 to 8 models" gwctl fallback set a --chain m1,m2,m3,m4,m5,m6,m7,m8,m9
  refused 2 "does not go with --price" gwctl price set f --price 1 --tier 1000:ratio=2
  # the same values in an apply file (raw JSON: a model map with a name twice)
  cat > "$BATS_TEST_TMPDIR/same.json" <<'JSON'
{"version": 1,
 "channels": [{"name": "dup", "type": "openai", "base_url": "http://127.0.0.1:9", "models": ["a"],
               "model_mapping": {"a": "x", "a": "y"}},
              {"name": "nohost", "type": "openai", "base_url": "http://", "models": ["a"]}],
 "fallbacks": [{"model": "a", "chain": ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"]}],
 "prices": [{"model": "f", "fixed_price": 1, "tier_above": 1000, "tier_model_ratio": 2}]}
JSON
  refused 1 'same.json: 4 errors; nothing changed' gwctl apply -f "$BATS_TEST_TMPDIR/same.json"
  err="$BATS_TEST_TMPDIR/refused.err"
  grep -qxF "gwctl: channels[0] \"dup\": field \"model_mapping\": names 'a' twice" "$err"
  grep -qxF 'gwctl: channels[1] "nohost": field "base_url": has no host' "$err"
  grep -qxF 'gwctl: fallbacks[0] "a": field "chain": give 1 to 8 models' "$err"
  grep -qxF 'gwctl: prices[0] "f": field "tier_above": a tier goes with model_ratio, not fixed_price' "$err"
  [ "$(sql "SELECT count(*) FROM channels")" = 0 ]
}
