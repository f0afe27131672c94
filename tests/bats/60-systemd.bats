#!/usr/bin/env bats
# systemd integration: the notify protocol spoken by relayd (READY=1 after the listener is up,
# RELOADING=1 + MONOTONIC_USEC then READY=1 around SIGHUP, STOPPING=1 on SIGTERM, STATUS= lines),
# to a path socket and to an abstract one, and the shipped unit checked by systemd-analyze verify.

load helpers

# notify_listen ADDR: a datagram receiver at ADDR (a path, or @name for the abstract
# namespace) writing each message to $BATS_TEST_TMPDIR/notify.log as one line, fields joined by '|'.
# On a READY=1 message whose STATUS= says "serving on HOST:PORT" it connects there at once and
# appends "|connect=ok" or "|connect=refused" to the line.
notify_listen() {
  local ready="$BATS_TEST_TMPDIR/notify.ready"
  rm -f "$ready"
  : > "$BATS_TEST_TMPDIR/notify.log"
  _spawn notify "$BATS_TEST_TMPDIR/notify.err" python3 -c '
import socket, sys
import re
addr, out, ready = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
open(ready, "w").close()
while True:
    msg = s.recv(4096).decode()
    line = "|".join(msg.split("\n"))
    m = re.search(r"STATUS=serving on ([0-9.]+):([0-9]+)", msg)
    if m and "READY=1" in msg.split("\n"):
        try:
            socket.create_connection((m.group(1), int(m.group(2))), timeout=2).close()
            line += "|connect=ok"
        except OSError:
            line += "|connect=refused"
    with open(out, "a") as f:
        f.write(line + "\n")
' "$1" "$BATS_TEST_TMPDIR/notify.log" "$ready"
  wait_until 5 test -e "$ready"
}

notify_log() { cat "$BATS_TEST_TMPDIR/notify.log"; }

# pings_at_least N: N WATCHDOG=1 messages arrived
pings_at_least() { [ "$(grep -c '^WATCHDOG=1$' "$BATS_TEST_TMPDIR/notify.log")" -ge "$1" ]; }

# notified N: the notify log has at least N messages
notified() { [ "$(wc -l < "$BATS_TEST_TMPDIR/notify.log")" -ge "$1" ]; }

@test "notify: READY=1 once the API answers, RELOADING=1/READY=1 on SIGHUP, STOPPING=1 on SIGTERM" {
  notify_listen "$BATS_TEST_TMPDIR/notify.sock"
  NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify.sock" relayd_start
  wait_until 10 notified 1
  first=$(notify_log | head -n 1)
  [[ "$first" == READY=1* ]]
  [[ "$first" == *"STATUS=serving on 127.0.0.1:$RELAY_PORT"* ]]
  [[ "$first" == *"MAINPID=$RELAYD_PID"* ]]
  # the receiver connected to the API port the moment READY=1 arrived: the listener was up
  [[ "$first" == *"|connect=ok" ]]
  [ "$(notify_log | wc -l)" -eq 1 ]

  kill -HUP "$RELAYD_PID"
  wait_until 10 notified 3
  reloading=$(notify_log | sed -n 2p)
  [[ "$reloading" == RELOADING=1* ]]
  [[ "$reloading" =~ MONOTONIC_USEC=[0-9]{4,} ]]
  # MONOTONIC_USEC is CLOCK_MONOTONIC in microseconds: close to the receiver's own clock
  usec=$(echo "$reloading" | sed -E 's/.*MONOTONIC_USEC=([0-9]+).*/\1/')
  now=$(python3 -c 'import time; print(int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6))')
  [ $((now - usec)) -ge 0 ] && [ $((now - usec)) -lt 60000000 ]
  ready2=$(notify_log | sed -n 3p)
  [[ "$ready2" == READY=1* ]]
  [[ "$ready2" == *"STATUS=reloaded:"* ]]

  relayd_stop
  wait_until 10 notified 4
  [[ "$(notify_log | sed -n 4p)" == STOPPING=1* ]]
  [[ "$(notify_log | sed -n 4p)" == *"STATUS=stopping"* ]]
}

@test "notify: an abstract socket name (@name) works; a refused reload still reports READY with the reason" {
  name="@relay-test-$$-$RANDOM"
  notify_listen "$name"
  conf="$BATS_TEST_TMPDIR/relayd.conf"
  echo 'log_level = info' > "$conf"
  NOTIFY_SOCKET="$name" relayd_start -c "$conf"
  wait_until 10 notified 1
  [[ "$(notify_log | head -n 1)" == READY=1* ]]
  echo 'workers = lots' >> "$conf"
  kill -HUP "$RELAYD_PID"
  wait_until 10 notified 3
  [[ "$(notify_log | sed -n 2p)" == RELOADING=1* ]]
  [[ "$(notify_log | sed -n 3p)" == READY=1* ]]
  [[ "$(notify_log | sed -n 3p)" == *"STATUS=reload refused, previous configuration serving: $conf:2: workers: 'lots' is not an integer"* ]]
}

@test "no NOTIFY_SOCKET: relayd starts and stops without trying to notify" {
  unset NOTIFY_SOCKET
  relayd_start
  kill -HUP "$RELAYD_PID"
  wait_until 10 grep -q 'configuration reloaded' "$BATS_TEST_TMPDIR/relayd.log"
  relayd_stop
  run grep -c 'notify' "$BATS_TEST_TMPDIR/relayd.log"
  [ "$output" = 0 ]
}

@test "the shipped unit: Type=notify, SIGHUP reload, user relay, sandboxed, stop timeout above the drain grace; systemd-analyze verify" {
  unit="$BATS_TEST_DIRNAME/../../$BUILD/dist/relayd.service"
  [ -f "$unit" ]
  grep -qx 'Type=notify' "$unit"
  grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit"
  grep -qx 'User=relay' "$unit"
  for opt in 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'PrivateTmp=yes' 'StateDirectory=relay' \
             'RuntimeDirectory=relay' 'ConfigurationDirectory=relay' 'ProtectHome=yes'; do
    grep -qx "$opt" "$unit" || { echo "unit lacks $opt" >&2; false; }
  done
  # relayd raises RLIMIT_NOFILE: setrlimit must not be filtered out
  run grep -E '^SystemCallFilter=~.*@resources' "$unit"
  [ "$status" -ne 0 ]
  grep -qx 'SystemCallErrorNumber=EPERM' "$unit"
  grep -q '^ReadWritePaths=.*/var/lib/relay' "$unit"
  grep -q '^ReadWritePaths=.*/run/relay' "$unit"
  stop=$(sed -n 's/^TimeoutStopSec=//p' "$unit")
  grace=$("$RELAY_BIN/relayd" --dump-config=json | json_get '[k["default"] for k in d if k["name"] == "shutdown_grace_s"][0]')
  [ "$stop" -gt "$grace" ]
  # the ExecStart binary must exist for verify: point it at the built one
  grep -q '^ExecStart=.*/sbin/relayd -c /etc/relay/relayd.conf$' "$unit"
  if ! command -v systemd-analyze > /dev/null; then
    skip "systemd-analyze is not installed"
  fi
  mkdir -p "$BATS_TEST_TMPDIR/unit"
  sed -e "s|^ExecStart=[^ ]*|ExecStart=$RELAY_BIN/relayd|" \
      -e "s|^ExecStartPre=[^ ]*|ExecStartPre=$RELAY_BIN/relayd|" "$unit" > "$BATS_TEST_TMPDIR/unit/relayd.service"
  run systemd-analyze verify --man=no "$BATS_TEST_TMPDIR/unit/relayd.service"
  echo "$output"
  [ "$status" -eq 0 ]
  [ -z "$output" ]
}

@test "notify: WATCHDOG_USEC asks for WATCHDOG=1 pings; a WATCHDOG_PID of another process does not" {
  notify_listen "$BATS_TEST_TMPDIR/notify.sock"
  NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify.sock" WATCHDOG_USEC=400000 relayd_start
  wait_until 10 pings_at_least 3
  relayd_stop
  : > "$BATS_TEST_TMPDIR/notify.log"
  NOTIFY_SOCKET="$BATS_TEST_TMPDIR/notify.sock" WATCHDOG_USEC=400000 WATCHDOG_PID=1 relayd_start
  wait_until 10 notified 1
  sleep 1.5
  run grep -c '^WATCHDOG=1$' "$BATS_TEST_TMPDIR/notify.log"
  [ "$output" = 0 ]
}

@test "the shipped unit: RestartPreventExitStatus is relayd's config-error status (78); LimitNOFILE holds max_connections by relayd's own rule" {
  unit="$BATS_TEST_DIRNAME/../../$BUILD/dist/relayd.service"
  # the status relayd really exits with on an invalid configuration
  printf 'workers = many\n' > "$BATS_TEST_TMPDIR/bad.conf"
  run "$RELAY_BIN/relayd" --check-config -c "$BATS_TEST_TMPDIR/bad.conf"
  [ "$status" -eq 78 ]
  grep -qE "^RestartPreventExitStatus=(.* )?$status( .*)?$" "$unit"
  grep -qx 'Restart=on-failure' "$unit"
  # the rule, as relayd documents it: (open file limit - D - E per worker - S) / 2 connections, D
  # the descriptors relayd has open at start (counted; 64 is far above what it opens) and 6 more
  # with metrics_listen (on here: the default)
  help=$("$RELAY_BIN/relayd" --dump-config=json | json_get '[k["help"] for k in d if k["name"] == "max_connections"][0]')
  [[ "$help" =~ \(open\ file\ limit\ -\ D\ -\ ([0-9]+)\ per\ worker\ -\ ([0-9]+)\)\ /\ 2 ]]
  each=${BASH_REMATCH[1]} reserve=$(( BASH_REMATCH[2] + 6 + 64 ))
  maxconn=$("$RELAY_BIN/relayd" --dump-config=json | json_get '[k["default"] for k in d if k["name"] == "max_connections"][0]')
  maxworkers=$("$RELAY_BIN/relayd" --dump-config=json | json_get '[k["max"] for k in d if k["name"] == "workers"][0]')
  nofile=$(sed -n 's/^LimitNOFILE=//p' "$unit")
  echo "LimitNOFILE=$nofile reserve=$reserve each=$each max_connections=$maxconn workers<=$maxworkers"
  # the unit's limit holds the default max_connections with the most workers relayd accepts
  [ $(( (nofile - reserve - each * maxworkers) / 2 )) -ge "$maxconn" ]
  # and relayd applies that very rule: under a small limit it lowers max_connections and says so
  relay_env
  port=$(free_port)
  _spawn lowfd "$BATS_TEST_TMPDIR/lowfd.log" prlimit --nofile=2000:2000 "$RELAY_BIN/relayd" \
    --listen "127.0.0.1:$port" --db "$RELAY_DB" --admin-socket "$RELAY_SOCKET" --workers 2
  wait_until "$(_relay_scale 10)" grep -q 'relayd ready' "$BATS_TEST_TMPDIR/lowfd.log"
  eff=$(sed -n "s/.*max_connections lowered.*max_connections=$maxconn effective=\([0-9]*\) open_file_limit=2000 workers=2.*/\1/p" \
    "$BATS_TEST_TMPDIR/lowfd.log")
  echo "effective=$eff" >&2
  # D between 8 (standard streams, database, log, admin socket: more than that) and 64
  [ -n "$eff" ] && [ "$eff" -ge $(( (2000 - reserve - each * 2) / 2 )) ] && [ "$eff" -le $(( (2000 - (reserve - 56) - each * 2) / 2 )) ]
  _stop lowfd "$(_relay_scale 15)"
}
