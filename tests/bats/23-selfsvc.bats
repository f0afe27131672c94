#!/usr/bin/env bats
# Key holders help themselves through the API (issue #21), authenticated by their key:
# POST /v1/relay/redeem redeems a code into the key's owner's balance (gwctl redeem use's rules and
# log row; the balance is live at once), GET /v1/relay/usage reads the key's own usage by day and
# model from the log rows. A key never sees another user's usage.

load helpers
load gwctl_helpers

setup() {
  relay_env
  mock_start up
  printf 'k\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini,gpt-4o > /dev/null
  gwctl user add alice --quota 0
}

# redeem KEY CODE: POST /v1/relay/redeem; sets HTTP_STATUS and HTTP_BODY
redeem() {
  http POST "$RELAY_URL/v1/relay/redeem" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    --data-binary "{\"code\":\"$2\"}"
}

# usage KEY QUERY: GET /v1/relay/usage?QUERY
usage() {
  http GET "$RELAY_URL/v1/relay/usage?$2" -H "Authorization: Bearer $1"
}

err_code() { echo "$HTTP_BODY" | json_get 'd["error"]["code"]'; }

@test "redeem: the owner's balance goes up at once, code used, topup logged; a second redeem is 409" {
  key=$(gwctl token create --user alice --name t --unlimited)
  relayd_start
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 429 ]
  code=$(gwctl redeem create --count 1 --quota 1000000)
  redeem "$key" "$code"
  [ "$HTTP_STATUS" = 200 ]
  [ "$(echo "$HTTP_BODY" | json_get '[d["object"], d["id"], d["username"], d["added"], d["added_usd"], d["balance"], d["balance_usd"]]')" = '["relay.redemption", 1, "alice", 1000000, 2, 1000000, 2]' ]
  [ "$(sql 'SELECT quota FROM users WHERE username = '"'alice'")" = 1000000 ]
  [ "$(sql 'SELECT status, redeemed_time > 0, used_user_id FROM redemptions')" = "$(printf '3\t1\t1')" ]
  [ "$(sql 'SELECT type, quota, username, token_name, content FROM logs WHERE type = 1')" = "$(printf '1\t1000000\talice\tt\tredemption code 1 used')" ]
  # no reload, no gwctl: the running relayd spends the new balance now
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 200 ]
  redeem "$key" "$code"
  [ "$HTTP_STATUS" = 409 ]
  [ "$(err_code)" = redemption_code_used ]
  [ "$(sql 'SELECT count(*) FROM logs WHERE type = 1')" = 1 ]
  # the code is never written into a log row or a log line
  ( ! grep -q "$code" "$BATS_TEST_TMPDIR/relayd.log" )
  ( ! sql 'SELECT content FROM logs' | grep -q "$code" )
}

@test "redeem credits the user, not a limited token: the token's own quota is unchanged" {
  gwctl user edit alice --quota 100
  key=$(gwctl token create --user alice --name lim --quota 50)
  relayd_start
  redeem "$key" "$(gwctl redeem create --count 1 --quota 700)"
  [ "$HTTP_STATUS" = 200 ]
  [ "$(echo "$HTTP_BODY" | json_get 'd["balance"]')" = 800 ]
  [ "$(sql 'SELECT quota FROM users')" = 800 ]
  [ "$(sql 'SELECT remain_quota FROM tokens')" = 50 ]
}

@test "redeem: unknown 404, used 409, expired 410, disabled 403, bad body 400, bad key 401; nothing changes" {
  key=$(gwctl token create --user alice --name t --unlimited)
  relayd_start
  redeem "$key" 0123456789abcdef0123456789abcdef
  [ "$HTTP_STATUS" = 404 ]
  [ "$(err_code)" = redemption_code_not_found ]
  c=$(gwctl redeem create --count 1 --quota 10)
  gwctl redeem disable "$c"
  redeem "$key" "$c"
  [ "$HTTP_STATUS" = 403 ]
  [ "$(err_code)" = redemption_code_disabled ]
  c=$(gwctl redeem create --count 1 --quota 10 --expires 30d)
  sql "UPDATE redemptions SET expired_time = $(($(date +%s) - 1)) WHERE key = '$c'"
  redeem "$key" "$c"
  [ "$HTTP_STATUS" = 410 ]
  [ "$(err_code)" = redemption_code_expired ]
  [ "$(echo "$HTTP_BODY" | json_get 'd["error"]["param"]')" = code ]
  c=$(gwctl redeem create --count 1 --quota 10)
  gwctl redeem use "$c" --user alice > /dev/null
  redeem "$key" "$c"
  [ "$HTTP_STATUS" = 409 ]
  [ "$(err_code)" = redemption_code_used ]
  http POST "$RELAY_URL/v1/relay/redeem" -H "Authorization: Bearer $key" --data-binary '{"code":42}'
  [ "$HTTP_STATUS" = 400 ]
  [ "$(err_code)" = invalid_code ]
  http POST "$RELAY_URL/v1/relay/redeem" -H "Authorization: Bearer $key" --data-binary 'not json'
  [ "$HTTP_STATUS" = 400 ]
  c=$(gwctl redeem create --count 1 --quota 10)
  redeem sk-not-a-key "$c"
  [ "$HTTP_STATUS" = 401 ]
  [ "$(sql "SELECT status FROM redemptions WHERE key = '$c'")" = 1 ]
  # only gwctl's own use above moved a balance
  [ "$(sql 'SELECT quota FROM users')" = 10 ]
  [ "$(sql 'SELECT count(*) FROM logs WHERE type = 1')" = 1 ]
}

@test "redeem: failed attempts are limited per key, logged, and do not lock out other keys" {
  key=$(gwctl token create --user alice --name t --unlimited)
  gwctl user add bob --quota 0
  bkey=$(gwctl token create --user bob --name b --unlimited)
  relayd_start
  for i in $(seq 1 10); do
    redeem "$key" "$(printf '%032x' "$i")"
    [ "$HTTP_STATUS" = 404 ]
  done
  good=$(gwctl redeem create --count 1 --quota 10)
  redeem "$key" "$good"
  [ "$HTTP_STATUS" = 429 ]
  [ "$(err_code)" = too_many_redeem_attempts ]
  [ "$(sql "SELECT status FROM redemptions WHERE key = '$good'")" = 1 ]
  grep -q 'redeem refused.*reason=too_many_failures' "$BATS_TEST_TMPDIR/relayd.log"
  [ "$(grep -c 'redeem refused.*reason=redemption_code_not_found' "$BATS_TEST_TMPDIR/relayd.log")" = 10 ]
  redeem "$bkey" "$good"
  [ "$HTTP_STATUS" = 200 ]
  [ "$(sql "SELECT quota FROM users WHERE username = 'bob'")" = 10 ]
}

@test "usage by day and model matches the log rows; scope=user; another user's usage never appears" {
  gwctl user edit alice --quota 10usd
  gwctl user add bob --quota 10usd
  a1=$(gwctl token create --user alice --name a1 --unlimited)
  a2=$(gwctl token create --user alice --name a2 --unlimited)
  b1=$(gwctl token create --user bob --name b1 --unlimited)
  relayd_start
  for m in gpt-4o-mini gpt-4o-mini gpt-4o; do chat_as "$a1" "$m"; [ "$status_code" = 200 ]; done
  chat_as "$a2" gpt-4o
  [ "$status_code" = 200 ]
  for m in gpt-4o gpt-4o-mini; do chat_as "$b1" "$m"; [ "$status_code" = 200 ]; done
  wait_until 10 sql_is 6 'SELECT count(*) FROM logs WHERE type = 2'
  day=$(date -u +%F)
  expect() {   # the log rows of one token or user, as the API should sum them
    sql "SELECT '$day', model_name, count(*), sum(prompt_tokens), sum(completion_tokens), sum(quota), 0 FROM logs WHERE type IN (2, 5) AND $1 GROUP BY model_name ORDER BY model_name"
  }
  rows='"\n".join("\t".join(str(x) for x in (r["day"], r["model"], r["requests"], r["prompt_tokens"], r["completion_tokens"], r["quota"], r["errors"])) for r in d["data"])'
  usage "$a1" 'by=day,model'
  [ "$HTTP_STATUS" = 200 ]
  [ "$(echo "$HTTP_BODY" | json_get '[d["object"], d["scope"], d["truncated"]]')" = '["list", "token", false]' ]
  [ "$(echo "$HTTP_BODY" | json_get "$rows")" = "$(expect "token_id = 1")" ]
  [ "$(echo "$HTTP_BODY" | json_get '[r["requests"] for r in d["data"]]')" = '[1, 2]' ]
  # USD beside quota units
  [ "$(echo "$HTTP_BODY" | json_get 'all(abs(r["usd"] * 500000 - r["quota"]) < 1e-6 for r in d["data"])')" = true ]
  usage "$a2" 'by=day,model&scope=user'
  [ "$(echo "$HTTP_BODY" | json_get "$rows")" = "$(expect "user_id = 1")" ]
  [ "$(echo "$HTTP_BODY" | json_get '[r["requests"] for r in d["data"]]')" = '[2, 2]' ]
  usage "$b1" 'scope=user'
  [ "$(echo "$HTTP_BODY" | json_get "$rows")" = "$(expect "user_id = 2")" ]
  [ "$(echo "$HTTP_BODY" | json_get 'sum(r["requests"] for r in d["data"])')" = 2 ]
  # by model only, by day only
  usage "$a1" 'by=model'
  [ "$(echo "$HTTP_BODY" | json_get '[(r["model"], r["requests"], "day" in r) for r in d["data"]]')" = '[["gpt-4o", 1, false], ["gpt-4o-mini", 2, false]]' ]
  usage "$a1" 'by=day&scope=user'
  [ "$(echo "$HTTP_BODY" | json_get '[(r["day"], r["requests"], "model" in r) for r in d["data"]]')" = "[[\"$day\", 4, false]]" ]
  # a range that holds none of them
  usage "$a1" 'since=2020-01-01&until=2020-01-02'
  [ "$HTTP_STATUS" = 200 ]
  [ "$(echo "$HTTP_BODY" | json_get 'd["data"]')" = '[]' ]
}

@test "usage: bad parameters and a bad key are refused in OpenAI's error shape" {
  key=$(gwctl token create --user alice --name t --unlimited)
  relayd_start
  usage "$key" 'by=channel'
  [ "$HTTP_STATUS" = 400 ]
  [ "$(err_code)" = invalid_by ]
  usage "$key" 'by=day,day'
  [ "$HTTP_STATUS" = 400 ]
  [ "$(err_code)" = invalid_by ]
  usage "$key" 'since=yesterday-ish'
  [ "$HTTP_STATUS" = 400 ]
  [ "$(err_code)" = invalid_time ]
  usage "$key" 'since=2026-01-02&until=2026-01-01'
  [ "$HTTP_STATUS" = 400 ]
  [ "$(err_code)" = invalid_time ]
  usage "$key" 'since=2020-01-01&until=2021-01-01'
  [ "$HTTP_STATUS" = 400 ]
  [ "$(err_code)" = range_too_long ]
  usage "$key" 'scope=everyone'
  [ "$HTTP_STATUS" = 400 ]
  [ "$(err_code)" = invalid_scope ]
  usage sk-nope 'by=day'
  [ "$HTTP_STATUS" = 401 ]
  http POST "$RELAY_URL/v1/relay/usage" -H "Authorization: Bearer $key"
  [ "$HTTP_STATUS" = 405 ]
}
