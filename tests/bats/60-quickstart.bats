#!/usr/bin/env bats
# The README quick start, as written: relayd and the mock upstream started the way `make run` and
# `make mock` start them (their recipes printed by make -n, on free ports), then the README's
# quickstart block (between its quickstart markers) run by bash in a fresh directory where
# build/bin is the built binaries; the chat request must get the mock's answer, billed.
# Only the two addresses are substituted (127.0.0.1:8080 and :9999 may be taken on a shared machine).

load helpers

ROOT="$BATS_TEST_DIRNAME/../.."

# recipe TARGET VAR=VALUE...: the exec line `make -n TARGET` prints, without "exec"
recipe() {
  make -s -n -C "$ROOT" --no-print-directory "$@" BIN="$RELAY_BIN" BUILD="${BUILD:-build}" \
    | sed -n 's/^exec //p' | tail -n 1
}

billed() {
  [ "$(gwctl token show laptop --json | "$BATS_TEST_DIRNAME/jget" 'd["used_quota"] > 0')" = true ]
}

@test "README quick start: make run, make mock and the quickstart block answer a chat request" {
  work="$BATS_TEST_TMPDIR/qs"
  mkdir -p "$work/build"
  ln -s "$RELAY_BIN" "$work/build/bin"
  rport=$(free_port)
  mport=$(free_port)
  run_cmd=$(recipe run RUN_LISTEN="127.0.0.1:$rport" RUN_DATA="$work/data")
  mock_cmd=$(recipe mock MOCK_PORT="$mport")
  [[ "$run_cmd" == "$RELAY_BIN/relayd --listen 127.0.0.1:$rport "* ]]
  [[ "$mock_cmd" == "$RELAY_BIN/mock-upstream --port $mport "* ]]
  mkdir -p "$work/data"
  # shellcheck disable=SC2086
  _spawn mock "$BATS_TEST_TMPDIR/mock-qs.log" $mock_cmd
  # shellcheck disable=SC2086
  _spawn relayd "$BATS_TEST_TMPDIR/relayd.log" $run_cmd
  wait_until 20 curl -sf -o /dev/null "http://127.0.0.1:$mport/v1/models"
  wait_until 20 curl -s -o /dev/null "http://127.0.0.1:$rport/v1/models"

  # the block between the markers, fence lines dropped, the two addresses pointed at this test's
  sed -n '/^<!-- quickstart:/,/^<!-- quickstart end -->/p' "$ROOT/README.md" \
    | grep -v -e '^<!--' -e '^```' \
    | sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$rport/g" -e "s/127\.0\.0\.1:9999/127.0.0.1:$mport/g" \
    > "$BATS_TEST_TMPDIR/quickstart.sh"
  grep -q 'gwctl channel add' "$BATS_TEST_TMPDIR/quickstart.sh"
  grep -q 'curl ' "$BATS_TEST_TMPDIR/quickstart.sh"
  cd "$work"
  run env -u RELAY_DB -u RELAY_SOCKET bash -eo pipefail "$BATS_TEST_TMPDIR/quickstart.sh"
  echo "$output"
  [ "$status" -eq 0 ]
  # the unpriced model was flagged when the channel was added
  [[ "$output" == *"warning: no price for my-model"* ]]
  # the chat answer (a JSON line with choices) and the token's usage after it
  python3 - "$output" <<'PY'
import json, sys
objs = []
for line in sys.argv[1].splitlines():
    try:
        objs.append(json.loads(line))
    except ValueError:
        pass
chat = [o for o in objs if isinstance(o, dict) and o.get("object") == "chat.completion"]
assert chat and chat[0]["choices"][0]["message"]["content"], objs
assert [o for o in objs if isinstance(o, dict) and o.get("name") == "laptop"], objs
PY
  # billed: relayd's writer commits the charge soon after the answer
  export RELAY_DB="sqlite:$work/data/relay.db" RELAY_SOCKET="$work/data/admin.sock"
  wait_until 20 billed
}
