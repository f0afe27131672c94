#!/usr/bin/env bats
# relayd's operator safety (issue #21): an address already served refuses the start (exit 75),
# /healthz and /readyz for load balancers, `relayd -T` (the effective configuration), a
# --check-config that reports every error, and [section] lines refused.

load helpers

# second_relayd ARGS...: runs another relayd in the foreground with its own database, admin socket
# and node name (so neither the node lease nor the admin socket stops it), for at most 20 s; its
# status and output are bats' $status and $output. A relayd that starts runs until the timeout (124).
second_relayd() {
  mkdir -p "$BATS_TEST_TMPDIR/two"
  run timeout "$(_relay_scale 20)" "$RELAY_BIN/relayd" --db "sqlite:$BATS_TEST_TMPDIR/two/relay.db" \
    --admin-socket "$BATS_TEST_TMPDIR/two/admin.sock" --node-name second --metrics-listen off "$@"
}

@test "listen: a second relayd on the same address refuses to start with exit 75 and says why" {
  relayd_start
  second_relayd --listen "127.0.0.1:$RELAY_PORT"
  echo "$output"
  [ "$status" -eq 75 ]
  [[ "$output" == *"listen 127.0.0.1:$RELAY_PORT is already served by another relayd"* ]]
  # nothing of the second one was created: it stopped before touching its database
  [ ! -e "$BATS_TEST_TMPDIR/two/relay.db" ]
  # the first one still serves, alone
  run curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/healthz"
  [ "$output" = 200 ]
  # "localhost" is the same address where it resolves to 127.0.0.1 first; where ::1 comes first (a
  # Debian 12 /etc/hosts lists both) it is [::1], another address, which a relayd may take
  if [ "$(getent ahosts localhost | awk 'NR == 1 { print $1 }')" = 127.0.0.1 ]; then
    second_relayd --listen "localhost:$RELAY_PORT"
    [ "$status" -eq 75 ]
  fi
}

# listener_start REUSEPORT: a Python program listening on a free port (with SO_REUSEPORT when
# REUSEPORT is 1, as relayd's own workers do); exports OTHER_PORT.
listener_start() {
  OTHER_PORT=$(free_port)
  _spawn other "$BATS_TEST_TMPDIR/other.log" python3 -c '
import socket, sys, time
s = socket.socket()
if sys.argv[2] == "1":
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
open(sys.argv[3], "w").close()
time.sleep(600)
' "$OTHER_PORT" "$1" "$BATS_TEST_TMPDIR/other.ready"
  wait_until 10 test -e "$BATS_TEST_TMPDIR/other.ready"
}

@test "listen: an address another program serves (even with SO_REUSEPORT) refuses the start with exit 75" {
  listener_start 1
  second_relayd --listen "127.0.0.1:$OTHER_PORT"
  echo "$output"
  [ "$status" -eq 75 ]
  [[ "$output" == *"listen 127.0.0.1:$OTHER_PORT is already served by another program"* ]]
  _stop other 5 || true
  rm -f "$BATS_TEST_TMPDIR/other.ready"
  listener_start 0
  second_relayd --listen "127.0.0.1:$OTHER_PORT"
  [ "$status" -eq 75 ]
  [[ "$output" == *"already served by another program"* ]]
}

@test "listen: relayd's own workers still share the address (4 workers serve), and a restart gets it back" {
  relayd_start --workers 4
  for i in 1 2 3 4 5 6 7 8; do
    run curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/healthz"
    [ "$output" = 200 ]
  done
  # stopped: the address is free again at once (the lock went with the process)
  port=$RELAY_PORT
  relayd_stop
  mkdir -p "$BATS_TEST_TMPDIR/two"
  _spawn relayd2 "$BATS_TEST_TMPDIR/relayd2.log" "$RELAY_BIN/relayd" --listen "127.0.0.1:$port" \
    --db "sqlite:$BATS_TEST_TMPDIR/two/relay.db" --admin-socket "$BATS_TEST_TMPDIR/two/admin.sock" \
    --metrics-listen off
  wait_until "$(_relay_scale 10)" curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"
  _stop relayd2 "$(_relay_scale 15)"
}

@test "metrics_listen: an address already served refuses the start with exit 75; the API address too" {
  listener_start 0
  relay_env
  port=$(free_port)
  second_relayd --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$OTHER_PORT"
  echo "$output"
  [ "$status" -eq 75 ]
  [[ "$output" == *"metrics_listen 127.0.0.1:$OTHER_PORT is already served"* ]]
  second_relayd --listen "127.0.0.1:$port" --metrics-listen "127.0.0.1:$port"
  [ "$status" -eq 75 ]
  [[ "$output" == *"metrics_listen 127.0.0.1:$port is already served"* ]]
}

@test "admin_socket: a socket a live relayd answers on refuses the start with exit 75" {
  relayd_start
  port=$(free_port)
  run timeout "$(_relay_scale 20)" "$RELAY_BIN/relayd" --listen "127.0.0.1:$port" \
    --db "sqlite:$BATS_TEST_TMPDIR/other.db" --admin-socket "$RELAY_SOCKET" --node-name second \
    --metrics-listen off
  echo "$output"
  [ "$status" -eq 75 ]
  [[ "$output" == *"admin socket $RELAY_SOCKET is in use by a running relayd"* ]]
}

# probe PATH [METHOD]: prints "STATUS BODY" of one request to relayd, without a key
probe() {
  curl -s -X "${2:-GET}" -w ' %{http_code}' "$RELAY_URL$1"
}

@test "probes: /healthz and /readyz answer 200 without a key, HEAD too, and are never logged or billed" {
  relayd_start
  run curl -s -D "$BATS_TEST_TMPDIR/h" -w ' %{http_code}' "$RELAY_URL/healthz"
  [ "$output" = '{"status":"ok"} 200' ]
  grep -qi '^Cache-Control: no-store' "$BATS_TEST_TMPDIR/h"
  grep -qi '^Content-Type: application/json' "$BATS_TEST_TMPDIR/h"
  run probe /readyz
  [ "$output" = '{"status":"ready"} 200' ]
  run probe '/readyz?verbose=1'
  [ "$output" = '{"status":"ready"} 200' ]
  run curl -s -I -w '%{http_code}' "$RELAY_URL/readyz"
  [[ "$output" == *"HTTP/1.1 200 OK"* ]]
  [[ "$output" == *"Content-Length: 18"* ]]
  for i in $(seq 1 20); do probe /healthz >/dev/null; probe /readyz >/dev/null; done
  # other methods and near paths are not probes: relay's routes answer them (404 / 405, logged)
  run probe /healthz POST
  [[ "$output" != *'"status":"ok"'* ]]
  run probe /healthzz
  [[ "$output" != *'"status":"ok"'* ]]
  # a marker request is in the access log (refusals are no log rows, their access line is what
  # there is); the 42 probes before it are not
  run curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/after-the-probes"
  [ "$output" = 404 ]
  wait_until "$(_relay_scale 10)" grep -q 'path="GET /v1/after-the-probes"' "$BATS_TEST_TMPDIR/relayd.log"
  # (the POST and /healthzz requests were relay's, and are logged)
  wait_until "$(_relay_scale 10)" grep -q 'path="POST /healthz"' "$BATS_TEST_TMPDIR/relayd.log"
  [ "$(grep -cE '"(GET|HEAD) /(healthz|readyz)[?"]' "$BATS_TEST_TMPDIR/relayd.log")" = 0 ]
}

@test "probes: /readyz is 503 with the reason while draining, /healthz stays 200; undrain makes it ready" {
  relayd_start
  gwctl --socket "$RELAY_SOCKET" drain
  run probe /readyz
  [ "$output" = '{"status":"not_ready","reason":"draining"} 503' ]
  run probe /healthz
  [ "$output" = '{"status":"ok"} 200' ]
  gwctl --socket "$RELAY_SOCKET" undrain
  run probe /readyz
  [ "$output" = '{"status":"ready"} 200' ]
}

@test "metrics_listen's default port is not Prometheus's: outside 9090-9999 and OpenTelemetry's 9464-9470" {
  run "$RELAY_BIN/relayd" --dump-config=json
  [ "$status" -eq 0 ]
  def=$(echo "$output" | python3 -c 'import json,sys; print([k["default"] for k in json.load(sys.stdin) if k["name"] == "metrics_listen"][0])')
  echo "default: $def"
  port=${def##*:}
  [ "$port" -gt 0 ]
  [ "$port" -lt 9090 ] || [ "$port" -gt 9999 ]
  [ "$def" = 127.0.0.1:8079 ]
  # the shipped relayd.conf example and the man pages say the same
  grep -q '^#metrics_listen = 127.0.0.1:8079$' "$BUILD/dist/relayd.conf"
  grep -q 'Default: \\fB127.0.0.1:8079\\fR' "$BUILD/man/relayd.conf.5"
}

@test "--check-config reports every error (file lines, environment, command line), then exits 78" {
  conf="$BATS_TEST_TMPDIR/relayd.conf"
  printf '%s\n' '# relayd.conf' 'workers = lots' 'listen = 127.0.0.1:8080' 'bogus = 1' 'no equals sign' \
    'log_level = loud' > "$conf"
  RELAY_LOG_FORMAT=xml run "$RELAY_BIN/relayd" --check-config -c "$conf" --shutdown-grace-s -1
  echo "$output"
  [ "$status" -eq 78 ]
  [[ "$output" == *"$conf:2: workers: 'lots' is not an integer"* ]]
  [[ "$output" == *"$conf:4: unknown setting 'bogus'"* ]]
  [[ "$output" == *"$conf:5: expected 'key = value'"* ]]
  [[ "$output" == *"$conf:6: log_level: 'loud' is not one of"* ]]
  [[ "$output" == *"environment RELAY_LOG_FORMAT: log_format: 'xml'"* ]]
  [[ "$output" == *"command line: shutdown_grace_s: '-1'"* ]]
  [[ "$output" == *"6 errors in the configuration"* ]]
  [ "$(echo "$output" | grep -c '^relayd: ')" -eq 7 ]
  # relayd itself refuses to start the same way, with the whole list
  run timeout 20 "$RELAY_BIN/relayd" -c "$conf"
  [ "$status" -eq 78 ]
  [[ "$output" == *"$conf:6: log_level"* ]]
}

@test "a [section] line in relayd.conf is an error naming its line, never ignored" {
  conf="$BATS_TEST_TMPDIR/relayd.conf"
  printf '%s\n' 'workers = 2' '' '[metrics]' 'metrics_listen = off' > "$conf"
  run "$RELAY_BIN/relayd" --check-config -c "$conf"
  echo "$output"
  [ "$status" -eq 78 ]
  [[ "$output" == *"$conf:3: '[metrics]': sections are not supported"* ]]
  [[ "$output" == *"1 error in the configuration"* ]]
}

@test "relayd -T prints every key with its value and where it came from; passwords as ***" {
  conf="$BATS_TEST_TMPDIR/relayd.conf"
  printf '%s\n' '# comment' 'db = postgres://relay:s3cret@db.example/relay' 'workers = 3' > "$conf"
  RELAY_LOG_FORMAT=json run "$RELAY_BIN/relayd" -T -c "$conf" --log-level debug
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" != *s3cret* ]]
  echo "$output" | grep -qE "^db = postgres://relay:\*\*\*@db.example/relay +# file $conf:2$"
  echo "$output" | grep -qE "^workers = 3 +# file $conf:3$"
  echo "$output" | grep -qE '^log_format = json +# environment RELAY_LOG_FORMAT$'
  echo "$output" | grep -qE '^log_level = debug +# argument --log-level$'
  echo "$output" | grep -qE '^metrics_listen = 127.0.0.1:0 +# environment RELAY_METRICS_LISTEN$'   # helpers.bash
  echo "$output" | grep -qE '^writer_buffer_max = 100000 +# default$'
  # every key of the table, once each, and nothing else but comments
  keys=$("$RELAY_BIN/relayd" --dump-config=json | python3 -c 'import json,sys; print("\n".join(sorted(k["name"] for k in json.load(sys.stdin))))')
  shown=$(echo "$output" | grep -v '^#' | sed -E 's/ = .*//' | sort)
  [ "$keys" = "$shown" ]
  # an invalid configuration is not printed: the errors are, and the status is 78
  run "$RELAY_BIN/relayd" -T -c "$conf" --workers many
  [ "$status" -eq 78 ]
  [[ "$output" != *"# default"* ]]
  [[ "$output" == *"command line: workers: 'many'"* ]]
}
