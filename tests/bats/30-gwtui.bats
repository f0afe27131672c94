#!/usr/bin/env bats
# gwtui, the live dashboard: run inside a private tmux server against a live relayd with traffic
# from the mock upstreams, read the screen with `tmux capture-pane -p`, drive it with send-keys.

load helpers
load gwctl_helpers
load gwtui_helpers

setup() {
  relay_env
  mock_start up
  mock_start up2
  gwctl user add alice --quota 100000000 > /dev/null
  printf 'sk-upstream\n' | gwctl channel add --name c1 --type openai \
    --base-url "$MOCK_UP_URL" --models gpt-4o-mini,gpt-4o > /dev/null
  printf 'sk-upstream\n' | gwctl channel add --name c2 --type openai \
    --base-url "$MOCK_UP2_URL" --models only-c2 > /dev/null
  gwctl price set only-c2 --ratio 1 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  relayd_start
  TM="$BATS_TEST_TMPDIR/tmux.sock"
  LIMIT=$(_relay_scale 10)
}

teardown() { gwtui_teardown; }

connected() { screen | head -n 1 | grep -qw connected; }

header_width() { [ "$(screen | head -n 1 | wc -L)" -eq "$1" ]; }

chat() {
  curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -d "{\"model\":\"$1\",\"messages\":[{}]${2:+,$2}}"
}

@test "gwtui: --help, --version, --list-keys; bad options exit 2" {
  run "$RELAY_BIN/gwtui" --help
  [ "$status" -eq 0 ] && [[ "$output" == *"usage: gwtui"* ]]
  run "$RELAY_BIN/gwtui" --version
  [ "$status" -eq 0 ] && [ "$output" = "gwtui 0.1.0" ]
  run "$RELAY_BIN/gwtui" --list-keys
  [ "$status" -eq 0 ] && [ "$(echo "$output" | wc -l)" -ge 20 ]
  run "$RELAY_BIN/gwtui" --bogus
  [ "$status" -eq 2 ] && [[ "$output" == *"unknown option '--bogus'"* ]]
  run "$RELAY_BIN/gwtui" --refresh-ms 5
  [ "$status" -eq 2 ]
  run "$RELAY_BIN/gwtui" extra
  [ "$status" -eq 2 ]
  # every entry of the key table is in the manual
  while IFS=$'\t' read -r k _ help; do
    grep -qF -- "$help" "$BATS_TEST_DIRNAME/../../man/gwtui.1" || { echo "man/gwtui.1 lacks: $k $help"; return 1; }
  done < <("$RELAY_BIN/gwtui" --list-keys)
}

@test "gwtui: the overview numbers move when requests are sent" {
  gwtui_start
  wait_screen '^ relay gwtui .* connected'
  wait_screen 'requests [0-9]+ total'
  n=$(screen | sed -n 's/^ requests \([0-9]*\) total.*/\1/p')
  for i in 1 2 3; do [ "$(chat gpt-4o-mini)" = 200 ]; done
  wait_screen "requests $((n + 3)) total"
  # the rate of the sample that saw them is above zero
  wait_screen 'requests/s +([1-9]|0\.[0-9]*[1-9])'
  wait_screen 'rows written [1-9]'
}

@test "gwtui: channels listed; one disabled with keys is no longer used by relayd" {
  gwtui_start
  keys 2
  wait_screen '^ +1 c1 +enabled'
  wait_screen '^ +2 c2 +enabled'
  wait_screen 'ERR% +INFL +REQUESTS'
  [ "$(chat only-c2)" = 200 ]
  before=$(mock_requests up2 | wc -l)
  keys j d
  wait_screen 'disable channel c2\? .*\[y/N\]'
  keys y
  wait_screen 'gwctl channel disable c2: ok'
  wait_screen '^ +2 c2 +disabled'
  [ "$(sql 'SELECT status FROM channels WHERE name = "c2"')" = 2 ]
  [ "$(chat only-c2)" = 503 ]
  [ "$(mock_requests up2 | wc -l)" = "$before" ]
  # a refused confirmation changes nothing
  keys k d
  wait_screen 'disable channel c1\?'
  keys n
  wait_screen 'cancelled: nothing changed'
  [ "$(chat gpt-4o-mini)" = 200 ]
  # priority through a prompt, enable again
  keys j p
  wait_screen 'priority of channel c2: 0'
  keys BSpace 7 Enter
  wait_screen 'gwctl channel edit c2 --priority 7: ok'
  [ "$(sql 'SELECT priority FROM channels WHERE name = "c2"')" = 7 ]
  keys e
  wait_screen 'gwctl channel enable c2: ok'
  [ "$(chat only-c2)" = 200 ]
}

@test "gwtui: a token disabled from the tokens panel is refused" {
  gwtui_start
  [ "$(chat gpt-4o-mini)" = 200 ]
  keys 5
  wait_screen '^ t1 +alice +1 '
  keys d
  wait_screen 'disable token t1 of user alice\?'
  keys y
  wait_screen 'gwctl token disable t1 --user alice: ok'
  [ "$(chat gpt-4o-mini)" = 401 ]
}

@test "gwtui: a resize redraws the whole screen" {
  gwtui_start 100 30
  wait_screen '^ relay gwtui .* connected'
  for size in "80 24" "132 40" "80 24"; do
    set -- $size
    tmux -S "$TM" resize-window -t gw -x "$1" -y "$2"
    # redrawn at the new size: the header's clock sits at the right edge (one blank column after
    # it, which capture-pane trims)
    wait_until "$LIMIT" header_width $(($1 - 1))
    wait_screen "^ relay gwtui 0\.1\.0 \| relayd 0\.1\.0 \| connected +[0-9]{2}:[0-9]{2}:[0-9]{2}\$"
    out=$(screen)
    [ "$(echo "$out" | wc -l)" -le "$2" ]
    # the header and the tabs are intact; no line is wider than the window
    echo "$out" | sed -n 2p | grep -q '^ 1 Overview  2 Channels  3 Models  4 Users  5 Tokens  6 Log'
    [ "$(echo "$out" | wc -L)" -le "$1" ]
    echo "$out" | tail -n 1 | grep -q 'q quit'
  done
}

@test "gwtui: survives a relayd restart (disconnected, then connected again)" {
  gwtui_start
  wait_screen '^ relay gwtui .* connected'
  old=$RELAYD_PID
  relayd_stop
  wait_screen '^ relay gwtui .* disconnected'
  wait_screen 'relayd disconnected for'
  relayd_start
  [ "$RELAYD_PID" != "$old" ]
  wait_until "$LIMIT" connected
  wait_screen "pid $RELAYD_PID "
  [ "$(chat gpt-4o-mini)" = 200 ]
  keys 6
  wait_screen 'gpt-4o-mini +c1 +200'
}

@test "gwtui: the live log shows requests; filter, pause and detail" {
  gwtui_start
  keys 6
  wait_screen 'waiting for requests'
  [ "$(chat gpt-4o-mini)" = 200 ]
  [ "$(chat gpt-4o '"mock":{"status":500}')" = 502 ]
  wait_screen '^ [0-9:]{8} t1 +gpt-4o-mini +c1 +200 .* done'
  wait_screen '^ [0-9:]{8} t1 +gpt-4o +c1 +502 .* upstream_error'
  # filter by typing
  keys / u p s t r
  wait_gone 'gpt-4o-mini'
  screen | grep -q 'upstream_error'
  keys Enter
  screen | sed -n 2p | grep -q '/upstr'
  keys / Escape
  wait_screen 'gpt-4o-mini'
  # pause: a new request does not show until space again
  keys Space
  wait_screen '\[paused\]'
  [ "$(chat only-c2)" = 200 ]
  sleep 1.5   # longer than relayd's 100 ms event batching plus a refresh: it would show by now
  ( ! screen | grep -q 'only-c2' )
  keys Space
  wait_screen 'only-c2 +c2 +200'
  # detail of the newest request
  keys g Enter
  wait_screen 'request [0-9a-zA-Z-]+'
  wait_screen 'model +only-c2'
  wait_screen 'end reason +done'
  keys Escape
  wait_gone 'end reason'
}

@test "gwtui: ? opens a help overlay listing every key of the key table" {
  gwtui_start
  keys '?'
  wait_screen 'gwtui keys'
  out=$(screen)
  n=0
  while IFS=$'\t' read -r k where help; do
    echo "$out" | grep -qF -- "$help" || { echo "help overlay lacks: $k $help"; echo "$out"; return 1; }
    n=$((n + 1))
  done < <("$RELAY_BIN/gwtui" --list-keys)
  [ "$n" -ge 20 ]
  keys '?'
  wait_gone 'gwtui keys'
}

@test "gwtui: NO_COLOR and a reload action; CPU stays low while idle" {
  : > "$BATS_TEST_TMPDIR/gwtui.err"
  tmux -S "$TM" -f /dev/null new-session -d -s gw -x 100 -y 30 \
    "exec env NO_COLOR=1 '$RELAY_BIN/gwtui' --socket '$RELAY_SOCKET' --db '$RELAY_DB' 2>>'$BATS_TEST_TMPDIR/gwtui.err'"
  wait_screen '^ relay gwtui .* connected'
  keys R
  wait_screen 'gwctl reload: ok'
  pid=$(tmux -S "$TM" list-panes -t gw -F '#{pane_pid}')
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  sleep 3
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  # 3 s at under 1% of a core is under 3 clock ticks (100 Hz); allow slack for slow machines / ASan
  [ $((t1 - t0)) -le $(_relay_scale 6) ]
}
