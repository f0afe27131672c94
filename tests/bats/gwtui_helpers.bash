# gwtui_helpers.bash: what the gwtui suites share (load after helpers). gwtui runs in a private
# tmux server ($TM, set by the suite's setup) in session "gw"; LIMIT is how long waits may take.
#
#   gwtui_start [W H]  gwtui in a detached session of W x H (default 100 x 30), stderr in gwtui.err;
#                      waits for its header
#   screen             prints the screen;  keys KEY...  sends keys
#   wait_screen REGEX  waits until a line matches;  wait_gone REGEX  until none does
#   gwtui_teardown     quits gwtui as a user does (so a sanitizer build reports leaks), checks its
#                      stderr for sanitizer reports, then relay_teardown

gwtui_teardown() {
  local rc=0 i
  if [ -S "${TM:-}" ]; then
    # quit the way a user does, so a sanitizer build reports leaks at exit
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

# gwtui_start [W H]: gwtui in a detached tmux session "gw" of W x H (default 100 x 30), its stderr
# in gwtui.err; waits until it shows its header.
gwtui_start() {
  local w=${1:-100} h=${2:-30}
  : > "$BATS_TEST_TMPDIR/gwtui.err"
  tmux -S "$TM" -f /dev/null new-session -d -s gw -x "$w" -y "$h" \
    "exec '$RELAY_BIN/gwtui' --socket '$RELAY_SOCKET' --db '$RELAY_DB' 2>>'$BATS_TEST_TMPDIR/gwtui.err'"
  tmux -S "$TM" set-option -t gw remain-on-exit off > /dev/null
  wait_screen 'relay gwtui'
}

screen() { tmux -S "$TM" capture-pane -p -t gw; }

keys() { tmux -S "$TM" send-keys -t gw "$@"; }

# wait_screen REGEX: polls the screen until a line matches REGEX (extended), for LIMIT seconds.
wait_screen() {
  local i
  for ((i = 0; i < LIMIT * 10; i++)); do
    screen | grep -Eq -- "$1" && return 0
    sleep 0.1
  done
  echo "the screen never matched /$1/; it shows:" >&2
  screen >&2
  cat "$BATS_TEST_TMPDIR/gwtui.err" >&2
  return 1
}

# wait_gone REGEX: polls until no line of the screen matches REGEX.
wait_gone() {
  local i
  for ((i = 0; i < LIMIT * 10; i++)); do
    screen | grep -Eq -- "$1" || return 0
    sleep 0.1
  done
  echo "the screen still matches /$1/:" >&2
  screen >&2
  return 1
}
