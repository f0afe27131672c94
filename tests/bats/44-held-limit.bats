#!/usr/bin/env bats
# Held streams up to the open file limit (issue #26): relayd lowers max_connections to what its
# RLIMIT_NOFILE holds (two descriptors a stream, plus the descriptors it has open itself: worker.h)
# and that number is one budget for the whole daemon, shared by its workers (connections are not
# split evenly between them: relayd/gate.h) and by both libmicrohttpd daemons of each (the small pool and
# the usual one: gate.h). Every stream within the number it logs is held; the one after gets 503
# too_many_connections in the client's format. Raw sockets (tests/bats/held_limit.py). On the code
# before this change (per-worker shares of a limit under a reserve of 136 + 72 a worker) it fails:
# streams within the logged number got 503 at a worker's share.
# serial: holds about a thousand streams (two descriptors each, relayd and the mock) under ulimit -n

load helpers

setup() {
  relay_env
  # before any ulimit: the mock holds as many connections as relayd; every stream lasts a minute
  mock_start up --chunks 120 --chunk-gap-ms 500
  gwctl user add alice --quota 100000000000
  printf 'sk-upstream-1\n' | gwctl channel add --name c1 --type openai \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models gpt-4o-mini
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
}

teardown() {
  relay_teardown
}

# held N [IDLE]: holds N streams at once on relayd, opens IDLE connections that send nothing, then
# asks for two more streams; leaves the JSON in $answer
held() {
  answer=$(python3 "$BATS_TEST_DIRNAME/held_limit.py" "$RELAY_PORT" "$KEY" "$1" "$(_relay_scale 60)" "${2:-0}")
  echo "held $1: $answer" >&2
}
a() { echo "$answer" | json_get "$1"; }

@test "with ulimit -n 1024 and 8 workers relayd holds every stream of the max_connections it logs, on both pools of its workers; the next one gets a 503 in the client's format" {
  ulimit -n 1024
  relayd_start --workers 8 --stream-small-pool-from 0 --metrics-listen off
  n=$(sed -n 's/.*max_connections lowered.* effective=\([0-9]*\) open_file_limit=1024 .*/\1/p' "$BATS_TEST_TMPDIR/relayd.log")
  echo "max_connections in force: $n" >&2
  # half the descriptors at least (two a stream): the reserve is what relayd has open, not a guess
  [ -n "$n" ] && [ "$n" -ge 200 ] && [ "$n" -lt 512 ]
  for round in 1 2; do   # the second: every closed stream gave its place back
    held "$n"
    [ "$(a 'd["other"]')" = "[]" ]
    [ "$(a 'd["held"]')" = "$n" ]
    [ "$(a 'd["small"]')" -ge $((n / 2 - 1)) ]   # both daemons of the workers held streams
    [ "$(a 'd["usual"]')" -ge $((n / 2 - 1)) ]
    [ "$(a 'd["over"][0][0]')" = 503 ]
    [ "$(a 'd["over"][0][1]["error"]["code"]')" = too_many_connections ]
    [ "$(a 'd["over"][1][0]')" = 503 ]
    [ "$(a 'd["over"][1][1]["type"] + " " + d["over"][1][1]["error"]["type"]')" = "error overloaded_error" ]
    # all of them are closed: relayd holds none before the next round
    wait_until 30 bash -c "[ \$(ls /proc/$RELAYD_PID/fd | wc -l) -lt 200 ]"
  done
  grep -q 'max_connections reached: new connections get 503' "$BATS_TEST_TMPDIR/relayd.log"
  [ -z "$(grep -e 'backstop full' -e 'cannot accept client connections' "$BATS_TEST_TMPDIR/relayd.log")" ]
}

@test "past max_connections and its backstop of connections waiting for a 503, new connections wait in the listen queue and get their 503 in turn, never a silent close" {
  ulimit -n 256
  relayd_start --workers 1 --stream-small-pool-from 0 --metrics-listen off
  n=$(sed -n 's/.*max_connections lowered.* effective=\([0-9]*\) open_file_limit=256 .*/\1/p' "$BATS_TEST_TMPDIR/relayd.log")
  [ -n "$n" ] && [ "$n" -ge 64 ]
  # 70 connections that never send a header: 8 at a time are taken (each closed after a second),
  # the two requests queued behind them get their 503 once their turn comes
  held "$n" 70
  [ "$(a 'd["other"]')" = "[]" ]
  [ "$(a 'd["held"]')" = "$n" ]
  [ "$(a 'd["over"][0][0]')" = 503 ]
  [ "$(a 'd["over"][0][1]["error"]["code"]')" = too_many_connections ]
  [ "$(a 'd["over"][1][0]')" = 503 ]
  [ "$(a 'd["over"][1][1]["type"] + " " + d["over"][1][1]["error"]["type"]')" = "error overloaded_error" ]
  grep -q 'the 503 backstop full: new connections wait in the listen queue' "$BATS_TEST_TMPDIR/relayd.log"
}
