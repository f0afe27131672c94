#!/usr/bin/env bats
# Rate limits (RPM/TPM per token and per user, per model or overall) and the dashboard billing
# endpoints: a real relayd, the mock upstream, gwctl for provisioning. Windows are made short with
# option rate_limit_window_s so a limit can be hit and seen to reset without waiting a minute.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000
  printf 'sk-upstream-1\n' | gwctl channel add --name c1 --type openai \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models gpt-4o-mini,gpt-4o
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
}

# req PATH BODY [curl args...]: POST with the test key; sets status_code, body, headers
req() {
  local path=$1 data=$2 out="$BATS_TEST_TMPDIR/resp"
  shift 2
  status_code=$(curl -s -o "$out.body" -D "$out.headers" -w '%{http_code}' "$RELAY_URL$path" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary "$data" "$@")
  body=$(cat "$out.body")
  headers=$(tr -d '\r' < "$out.headers")
}

chat() { req /v1/chat/completions "{\"model\":\"${1:-gpt-4o-mini}\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]${2:-}}"; }

# header NAME: the value of response header NAME of the last req
header() { echo "$headers" | awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1)==n{print $2}'; }

admin() {
  python3 - "$RELAY_SOCKET" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline(); f.write(sys.argv[2] + "\n"); f.flush(); print(f.readline().strip())
PY
}

@test "limit set/list/rm: stored per token or user and model, bad input refused" {
  gwctl limit set --token t1 --rpm 3
  gwctl limit set --user alice --model gpt-4o --tpm 5000
  gwctl limit set --user alice --model gpt-4o --rpm 7      # adds rpm, keeps tpm
  run gwctl limit list --json
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET 'len(d)')" = 2 ]
  [ "$(echo "$output" | $JGET '[x for x in d if x["scope"]=="user"][0]["tpm"]')" = 5000 ]
  [ "$(echo "$output" | $JGET '[x for x in d if x["scope"]=="user"][0]["rpm"]')" = 7 ]
  [ "$(echo "$output" | $JGET '[x for x in d if x["scope"]=="token"][0]["name"]')" = t1 ]
  [ "$(echo "$output" | $JGET '[x for x in d if x["scope"]=="token"][0]["user"]')" = alice ]
  run gwctl limit set --token t1 --rpm -1
  [ "$status" -eq 2 ]
  run gwctl limit set --token nosuch --rpm 1
  [ "$status" -eq 3 ]
  run gwctl limit set --token t1
  [ "$status" -eq 2 ]
  run gwctl limit rm --user alice --model gpt-4o
  [ "$status" -eq 0 ]
  run gwctl limit rm --user alice --model gpt-4o
  [ "$status" -eq 3 ]
  # --rpm 0 --tpm 0 removes the row
  gwctl limit set --token t1 --rpm 0 --tpm 0
  [ "$(gwctl limit list --json | $JGET 'len(d)')" = 0 ]
  # a deleted token takes its limits with it
  gwctl limit set --token t1 --rpm 3
  gwctl token rm t1 --yes
  [ "$(sql 'SELECT count(*) FROM rate_limits')" = 0 ]
}

@test "RPM per token: the limit is hit with 429 + retry-after + x-ratelimit headers, then resets" {
  # a bucket of 3 that refills one request every 10 s: the burst below is refused even on a
  # loaded machine, and the test waits at most 10 s for the reset
  gwctl config set rate_limit_window_s 30
  gwctl limit set --token t1 --rpm 3
  relayd_start
  for i in 1 2 3; do
    chat
    [ "$status_code" = 200 ]
    [ "$(header x-ratelimit-limit-requests)" = 3 ]
    [ "$(header x-ratelimit-remaining-requests)" = $((3 - i)) ]
    [ -n "$(header x-ratelimit-reset-requests)" ]
  done
  chat
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = rate_limit_exceeded ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = requests ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'may make 3 requests per 30 s'
  ra=$(header retry-after)
  [ "$ra" -ge 1 ] && [ "$ra" -le 10 ]
  [ "$(header retry-after-ms)" -gt 0 ]
  [ "$(header x-ratelimit-remaining-requests)" = 0 ]
  [ "$(header x-ratelimit-limit-requests)" = 3 ]
  # the refused request reached no upstream and cost nothing
  [ "$(mock_requests up | wc -l)" = 3 ]
  # the same refusal in Anthropic's shape on /v1/messages
  req /v1/messages '{"model":"gpt-4o-mini","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}' \
    -H 'anthropic-version: 2023-06-01'
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["type"]')" = error ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = rate_limit_error ]
  [ -n "$(header retry-after)" ]
  # after retry-after the bucket has room again
  sleep "$ra"
  chat
  [ "$status_code" = 200 ]
  [ "$(admin '{"cmd":"stats"}' | $JGET 'd["rate_limited"]["token"]')" = 2 ]
  run gwctl stats --json
  [ "$status" -eq 0 ]
}

@test "a per-model user limit leaves other models free" {
  gwctl config set rate_limit_window_s 30
  gwctl limit set --user alice --model gpt-4o --rpm 1
  relayd_start
  chat gpt-4o
  [ "$status_code" = 200 ]
  chat gpt-4o
  [ "$status_code" = 429 ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q "this user may make 1 requests per 30 s on model 'gpt-4o'"
  chat gpt-4o-mini
  [ "$status_code" = 200 ]
  chat gpt-4o-mini
  [ "$status_code" = 200 ]
  [ "$(admin '{"cmd":"stats"}' | $JGET 'd["rate_limited"]["user"]')" = 1 ]
}

@test "TPM counts the estimate up front and what the request really used at settle" {
  gwctl config set rate_limit_window_s 30
  gwctl limit set --token t1 --tpm 1000
  relayd_start
  # larger than the whole limit: refused for good, not to be retried
  chat gpt-4o-mini ',"max_tokens":2000'
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = tokens ]
  [ "$(header x-should-retry)" = false ]
  echo "$body" | $JGET 'd["error"]["message"]' | grep -q 'Request too large'
  # estimate ~300: admitted; it reports the token bucket
  chat gpt-4o-mini ',"max_tokens":300,"mock":{"prompt_tokens":5,"completion_tokens":5}'
  [ "$status_code" = 200 ]
  [ "$(header x-ratelimit-limit-tokens)" = 1000 ]
  rem=$(header x-ratelimit-remaining-tokens)
  [ "$rem" -ge 600 ] && [ "$rem" -le 700 ]
  # settled at 10 tokens: the estimate came back, so this one fits too, and it really uses 900
  chat gpt-4o-mini ',"max_tokens":300,"mock":{"prompt_tokens":100,"completion_tokens":800}'
  [ "$status_code" = 200 ]
  # now ~910 of 1000 are used: a 300-token estimate no longer fits
  chat gpt-4o-mini ',"max_tokens":300'
  [ "$status_code" = 429 ]
  [ "$(echo "$body" | $JGET 'd["error"]["type"]')" = tokens ]
  [ -n "$(header retry-after)" ]
  [ "$(mock_requests up | wc -l)" = 2 ]
}

@test "dashboard billing: a quota key's figures, an unlimited key's, the user's, in USD or quota" {
  relayd_start
  get() {
    local out="$BATS_TEST_TMPDIR/get"
    status_code=$(curl -s -o "$out" -w '%{http_code}' "$RELAY_URL$1" -H "Authorization: Bearer ${2:-$KEY}")
    body=$(cat "$out")
  }
  get /dashboard/billing/subscription
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["object"]')" = billing_subscription ]
  [ "$(echo "$body" | $JGET 'd["has_payment_method"]')" = true ]
  [ "$(echo "$body" | $JGET 'd["hard_limit_usd"]')" = 100 ]
  [ "$(echo "$body" | $JGET 'd["soft_limit_usd"]')" = 100 ]
  [ "$(echo "$body" | $JGET 'd["system_hard_limit_usd"]')" = 100 ]
  [ "$(echo "$body" | $JGET 'd["access_until"]')" = 0 ]
  get /v1/dashboard/billing/usage
  [ "$status_code" = 200 ]
  [ "$(echo "$body" | $JGET 'd["object"]')" = list ]
  [ "$(echo "$body" | $JGET 'd["total_usage"]')" = 0 ]
  # one request: (1000 + 200 * 4) * 0.075 = 135 quota = 0.00027 USD = 0.027 cents
  chat gpt-4o-mini ',"mock":{"prompt_tokens":1000,"completion_tokens":200}'
  [ "$status_code" = 200 ]
  get /v1/dashboard/billing/usage
  [ "$(echo "$body" | $JGET 'd["total_usage"]')" = 0.027 ]
  get /v1/dashboard/billing/subscription
  [ "$(echo "$body" | $JGET 'd["hard_limit_usd"]')" = 100 ]      # remain + used stays the same
  # an unlimited key with an expiry
  UKEY=$(gwctl token create --user alice --name unl --unlimited --expires 2099-01-01)
  exp=$(gwctl token show unl --json | $JGET 'd["expired_time"]')
  get /dashboard/billing/subscription "$UKEY"
  [ "$(echo "$body" | $JGET 'd["hard_limit_usd"]')" = 100000000 ]
  [ "$(echo "$body" | $JGET 'd["access_until"]')" = "$exp" ]
  KEY=$UKEY chat gpt-4o-mini ',"mock":{"prompt_tokens":1000,"completion_tokens":200}'
  get /dashboard/billing/usage "$UKEY"
  [ "$(echo "$body" | $JGET 'd["total_usage"]')" = 0.027 ]
  # the user's figures instead of the key's, in quota units: 100000000 quota, 270 used
  gwctl config set display_token_stat 0
  gwctl config set display_in_currency 0
  get /dashboard/billing/subscription
  [ "$(echo "$body" | $JGET 'd["hard_limit_usd"]')" = 100000000 ]
  [ "$(echo "$body" | $JGET 'd["access_until"]')" = 0 ]
  get /dashboard/billing/usage "$UKEY"
  [ "$(echo "$body" | $JGET 'd["total_usage"]')" = 27000 ]
  # a bad key is refused like on any endpoint
  get /v1/dashboard/billing/subscription sk-nosuchkey
  [ "$status_code" = 401 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = invalid_api_key ]
}

@test "config: text options are checked (routing choices, webhook URL) and a webhook URL is not logged" {
  gwctl config set routing latency
  [ "$(gwctl config get routing)" = latency ]
  run gwctl config set routing fastest
  [ "$status" -eq 2 ]
  [[ "$output" == *"routing must be one of weighted|latency, not 'fastest'"* ]]
  run gwctl config set webhook_url ftp://x
  [ "$status" -eq 2 ]
  gwctl config set webhook_url 'https://hooks.example/T0/secret-path'
  [ "$(gwctl config get webhook_url)" = 'https://hooks.example/T0/secret-path' ]
  [ "$(sql "SELECT count(*) FROM logs WHERE content LIKE '%secret-path%'")" = 0 ]
  run gwctl config set rate_limit_window_s 0
  [ "$status" -eq 2 ]
}
