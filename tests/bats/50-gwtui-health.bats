#!/usr/bin/env bats
# gwtui shows channel health: an auto-disabled channel with its reason (row and detail), a channel
# whose circuit breaker is open. A private tmux server, a live relayd, mock upstreams.

load helpers
load gwtui_helpers

setup() {
  relay_env
  mock_start bad --status 401
  mock_start flaky --status 500
  mock_start good
  gwctl user add alice --quota 100000000 > /dev/null
  printf 'sk-1\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_BAD_URL" \
    --models gpt-4o-mini --priority 10 > /dev/null
  printf 'sk-2\n' | gwctl channel add --name c2 --type openai --base-url "$MOCK_GOOD_URL" \
    --models gpt-4o-mini > /dev/null
  printf 'sk-3\n' | gwctl channel add --name c3 --type openai --base-url "$MOCK_FLAKY_URL" \
    --models gpt-4o > /dev/null
  gwctl config set breaker_failures 1 > /dev/null
  gwctl config set breaker_open_s 600 > /dev/null
  gwctl config set retry_times 0 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  TM="$BATS_TEST_TMPDIR/tmux.sock"
  LIMIT=$(_relay_scale 10)
}

teardown() { gwtui_teardown; }

chat() {
  curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -d "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
}

@test "gwtui: an auto-disabled channel shows its reason; an open breaker shows" {
  [ "$(chat gpt-4o-mini)" = 401 ]         # retry_times 0: the 401 reaches the client, c1 is disabled
  [ "$(chat gpt-4o)" = 502 ]              # c3 fails once: its breaker opens
  gwtui_start 120 30
  keys 2
  wait_screen '^ +1 c1 +auto-off .*off: authentication'   # the whole reason: the detail below
  wait_screen '^ +2 c2 +enabled'
  wait_screen '^ +3 c3 +breaker'
  keys Enter
  wait_screen 'reason +authentication or account error: HTTP 401'
}
