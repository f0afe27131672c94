#!/usr/bin/env bats
# gwtui shows channel health: an auto-disabled channel with its reason (row and detail), a channel
# whose circuit breaker is open. A private tmux server, a live relayd, mock upstreams.

load helpers

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

teardown() {
  local rc=0 i
  if [ -S "${TM:-}" ]; then
    tmux -S "$TM" send-keys -t gw q 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      tmux -S "$TM" has-session -t gw 2>/dev/null || break
      sleep 0.1
    done
    tmux -S "$TM" kill-server 2>/dev/null || true
  fi
  if [ -f "$BATS_TEST_TMPDIR/gwtui.err" ]; then
    _sanitizer_clean "$BATS_TEST_TMPDIR/gwtui.err" || rc=1
  fi
  relay_teardown || rc=1
  return $rc
}

screen() { tmux -S "$TM" capture-pane -p -t gw; }
keys() { tmux -S "$TM" send-keys -t gw "$@"; }

wait_screen() {
  local i
  for ((i = 0; i < LIMIT * 10; i++)); do
    screen | grep -Eq -- "$1" && return 0
    sleep 0.1
  done
  echo "the screen never matched /$1/; it shows:" >&2
  screen >&2
  return 1
}

chat() {
  curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -d "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
}

@test "gwtui: an auto-disabled channel shows its reason; an open breaker shows" {
  [ "$(chat gpt-4o-mini)" = 401 ]         # retry_times 0: the 401 reaches the client, c1 is disabled
  [ "$(chat gpt-4o)" = 502 ]              # c3 fails once: its breaker opens
  : > "$BATS_TEST_TMPDIR/gwtui.err"
  tmux -S "$TM" -f /dev/null new-session -d -s gw -x 120 -y 30 \
    "exec '$RELAY_BIN/gwtui' --socket '$RELAY_SOCKET' --db '$RELAY_DB' 2>>'$BATS_TEST_TMPDIR/gwtui.err'"
  wait_screen 'relay gwtui'
  keys 2
  wait_screen '^ +1 c1 +auto-off .*off: authentication or account'
  wait_screen '^ +2 c2 +enabled'
  wait_screen '^ +3 c3 +breaker'
  keys Enter
  wait_screen 'reason +authentication or account error: HTTP 401'
}
