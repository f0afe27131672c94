#!/usr/bin/env bats
# gwtui shows what relayd refuses and what failed (issue #21): refusals raise the error rate and are
# in the log (tagged "refused" with the code) and the top panels; a 502's upstream text is in the
# log detail; an attempt retried on another channel counts on the channel where it failed; the help
# overlay at 80x24 says more keys exist and pages with PgDn; gwtui finds an installed relayd's
# socket and database as gwctl does. A private tmux server, a live relayd, mock upstreams.

load helpers
load gwtui_helpers

setup() {
  relay_env
  mock_start good
  mock_start flaky --status 500
  gwctl user add alice --quota 100000000 > /dev/null
  printf 'sk-1\n' | gwctl channel add --name good --type openai --base-url "$MOCK_GOOD_URL" \
    --models gpt-4o-mini > /dev/null
  printf 'sk-2\n' | gwctl channel add --name flaky --type openai --base-url "$MOCK_FLAKY_URL" \
    --models gpt-4o > /dev/null
  gwctl price set gpt-4o --ratio 1 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  TM="$BATS_TEST_TMPDIR/tmux.sock"
  LIMIT=$(_relay_scale 10)
}

teardown() { gwtui_teardown; }

# wait_fixed TEXT: polls until a line of the screen holds TEXT as it is (no regex)
wait_fixed() {
  local i
  for ((i = 0; i < LIMIT * 10; i++)); do
    screen | grep -qF -- "$1" && return 0
    sleep 0.1
  done
  echo "the screen never showed '$1':" >&2
  screen >&2
  return 1
}

# chat KEY MODEL: prints the HTTP status
chat() {
  curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $1" \
    -d "{\"model\":\"$2\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
}

@test "gwtui: refusals raise the error rate, are tagged in the log and counted in the top panels" {
  gwctl config set retry_times 0 > /dev/null
  relayd_start
  gwtui_start 100 30
  wait_screen '^ relay gwtui .* connected'
  wait_screen 'errors \(1m\) +- '          # no event yet
  [ "$(chat "$KEY" gpt-4o-mini)" = 200 ]
  for i in 1 2 3; do [ "$(chat sk-wrong-$i gpt-4o-mini)" = 401 ]; done
  # 3 of 4 answers were refusals: the rate is 75 %, not 0 % (before, refusals were no events)
  wait_screen 'errors \(1m\) +75\.0% 3r'
  keys 6
  wait_screen '^ [0-9:]{8} +- +- +- +401 .*refused invalid_api_key'
  [ "$(screen | grep -c 'refused invalid_api_key')" -eq 3 ]
  wait_screen '^ [0-9:]{8} +t1 +gpt-4o-mini +good +200 .* done'
  # the top tokens: the refused requests have a row of their own, all errors
  keys 5
  wait_screen '^ \(no valid key\) +3 +3 '
  # a 502: its log detail says what the upstream said
  keys 6
  [ "$(chat "$KEY" gpt-4o)" = 502 ]
  wait_screen '^ [0-9:]{8} +t1 +gpt-4o +flaky +502 .*upstream_error bad_upstream_status'
  keys g Enter
  wait_screen 'error +bad_upstream_status'
  wait_screen 'message +The upstream of channel 2 answered 500: mock error 500'
}

@test "gwtui: an attempt that failed on a channel and was retried on another shows on that channel" {
  gwctl config set retry_times 1 > /dev/null
  gwctl config set breaker_failures 0 > /dev/null
  gwctl channel edit flaky --models gpt-4o,gpt-4o-mini --priority 10 > /dev/null
  relayd_start
  for i in 1 2; do [ "$(chat "$KEY" gpt-4o-mini)" = 200 ]; done
  gwtui_start 120 30
  keys 2
  wait_screen '^ +ID +NAME .* INFL +REQUESTS +FAIL +LAST TEST'
  # flaky: no request of its own, 2 failed attempts; good: 2 requests, none failed
  wait_screen '^ +2 flaky +enabled .* 0 +0 +2  never'
  wait_screen '^ +1 good +enabled .* 0 +2 +0  never'
  keys j Enter
  wait_screen 'channel 2: flaky'
  wait_screen 'attempts +2 failed here \(retried on another channel or not\)'
}

@test "gwtui: the help overlay at 80x24 says more keys exist; PgDn reaches and shows the last binding" {
  relayd_start
  gwtui_start 80 24
  last=$("$RELAY_BIN/gwtui" --list-keys | tail -n 1 | cut -f 3)
  first_hidden=$("$RELAY_BIN/gwtui" --list-keys | sed -n 20p | cut -f 3)
  keys '?'
  wait_screen 'gwtui keys'
  # 80x24 shows fewer keys than the table has: the overlay says so, and how to scroll
  wait_screen "keys 1-[0-9]+ of $("$RELAY_BIN/gwtui" --list-keys | wc -l) +v more below +j/k line +PgUp/PgDn page"
  ! screen | grep -qF -- "$last"
  keys NPage
  wait_fixed "$last"
  wait_screen '\^ more above'
  ! screen | grep -q 'more below'
  # and back up a page: the first keys again
  keys PPage
  wait_screen 'quit \(closes an overlay first\)'
  ! screen | grep -qF -- "$last"
  [ -n "$first_hidden" ]
}

@test "gwtui: with RELAY_SOCKET and RELAY_DB unset it finds the installed relayd's socket and database" {
  # a gwtui and gwctl built with install paths of their own: the test's data directory plays the
  # installed relayd's state and runtime directories (relay.db and admin.sock are both there)
  B="$BATS_TEST_TMPDIR/build"
  ROOT="$BATS_TEST_DIRNAME/../.."
  mkdir -p "$B"
  # the objects already built are reused: only what includes paths.h is compiled again
  cp -a "$ROOT/$BUILD/common" "$ROOT/$BUILD/gwtui" "$ROOT/$BUILD/gwctl" "$ROOT/$BUILD/gen" "$B/"
  grep -l 'gen/paths\.h' "$B"/*/*.d | sed 's/\.d$/.o/' | xargs rm -f    # their .d name the old BUILD
  san=()                      # the sanitizer build's objects link only with its flags
  if [ "${RELAY_ASAN:-0}" = 1 ]; then san=(SAN=1 OPT=-O1); fi
  make -C "$ROOT" --no-print-directory -s BUILD="$B" RELAY_STATEDIR="$RELAY_DATA" RELAY_RUNDIR="$RELAY_DATA" \
    "${san[@]}" "$B/bin/gwtui" "$B/bin/gwctl" > /dev/null
  relayd_start
  [ "$(chat "$KEY" gpt-4o-mini)" = 200 ]
  # gwctl and gwtui, both with the variables unset, use the installed files
  run env -u RELAY_DB -u RELAY_SOCKET "$B/bin/gwctl" status --json
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *'"pid"'* ]]
  : > "$BATS_TEST_TMPDIR/gwtui.err"
  tmux -S "$TM" -f /dev/null new-session -d -s gw -x 100 -y 30 \
    "exec env -u RELAY_DB -u RELAY_SOCKET '$B/bin/gwtui' 2>>'$BATS_TEST_TMPDIR/gwtui.err'"
  wait_screen '^ relay gwtui .* connected'
  keys 2
  # the database gives priority and weight ("-" without it) and the last test beside relayd's counters
  wait_screen '^ +1 good +enabled +0 +0 '
  wait_screen '^ +2 flaky +enabled +0 +0 '
  "$B/bin/gwtui" --help | grep -qF "$RELAY_DATA/admin.sock"
}
