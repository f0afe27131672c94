#!/usr/bin/env bats
# An idle relayd sleeps: after some traffic, with nothing to do, its threads do not wake on timers
# (bench/README.md "an idle relayd"). Counted from /proc (context switches), not timed.
# serial: counts an idle relayd's context switches; other suites' load beside it adds involuntary ones

load helpers

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000
  printf 'sk-upstream-1\n' | gwctl channel add --name c1 --type openai \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models gpt-4o-mini
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
}

# The bound: before this change an idle relayd with 2 workers woke 49.6 times a second (writer 20,
# each worker 10, the Vertex refresher 4, the monitor and balance poller 2 each, webhooks 1); after
# it 1.4 (the balance poller at its 2 s reload, the main and admin threads). 10/s leaves room for a
# monitor or heartbeat at its configured interval and for stray wake-ups (the measuring itself, a
# slow machine, ASan), and still fails on the old code by 5x.
IDLE_MAX_WAKEUPS=10

@test "idle relayd after traffic wakes at most $IDLE_MAX_WAKEUPS times a second over all its threads" {
  relayd_start --workers 2
  for i in 1 2 3 4 5; do
    run curl -sf "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' \
      -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":'"$([ $((i % 2)) = 0 ] && echo true || echo false)"'}'
    [ "$status" -eq 0 ]
  done
  # the traffic is billed (the writer did its work), then the relay is left alone
  wait_until "$(_relay_scale 10)" sql_is 5 'SELECT count(*) FROM logs WHERE type = 2'
  sleep 6    # past the writer's memory trim after traffic (at most every 5 s)
  run python3 "$BATS_TEST_DIRNAME/idle_wakeups.py" "$RELAYD_PID" 5
  echo "$output" >&2
  rate=${lines[${#lines[@]}-1]}
  echo "idle wake-ups/s: $rate (bound $IDLE_MAX_WAKEUPS)" >&2
  python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)' "$rate" "$IDLE_MAX_WAKEUPS"
  # and it still answers at once when woken
  run curl -sf "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$status" -eq 0 ]
  wait_until "$(_relay_scale 10)" sql_is 6 'SELECT count(*) FROM logs WHERE type = 2'
}

# Thread by thread (2026-12-07 session 10): every thread that waits for an event makes no wake-up
# at all when there is none; only the node lease's heartbeat has work on a clock (one UPDATE every
# LEASE_HEARTBEAT_S = 5 s, relayd/lease.h). The OpenAI channel publishes a balance and the poll
# interval is its default (3600 s): the balance poller has a poll due in an hour and no reason to
# re-read the figures meanwhile (no low threshold; /metrics re-reads them when scraped). Before
# this change the poller re-read channel_balances every 2 s (~0.6 wake-ups/s) and a heartbeat with
# its fsync was ~6 wake-ups (1.2/s): 10 s counted, over 5 and 11 against the bounds below.
@test "idle relayd: no thread wakes without work; the lease heartbeat once a beat" {
  MPORT=$(free_port)
  relayd_start --workers 2 --metrics-listen "127.0.0.1:$MPORT"
  for i in 1 2 3 4; do
    run curl -sf "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' \
      -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":'"$([ $((i % 2)) = 0 ] && echo true || echo false)"'}'
    [ "$status" -eq 0 ]
  done
  wait_until "$(_relay_scale 10)" sql_is 4 'SELECT count(*) FROM logs WHERE type = 2'
  sleep 6    # past the writer's memory trim after traffic (at most every 5 s)
  secs=10
  run python3 "$BATS_TEST_DIRNAME/idle_wakeups.py" "$RELAYD_PID" "$secs" json
  echo "$output" >&2
  counts=${lines[${#lines[@]}-1]}
  # the heartbeat: one wake-up a beat (its timed wait ending), at most secs/5 + 1 beats in the window
  echo "$counts" | python3 -c '
import json, sys
c = json.load(sys.stdin)
beats = int(sys.argv[1]) // 5 + 1
bad = {n: w for n, w in c.items() if w > (beats if n == "relayd-lease" else 0)}
print("over the bound:", bad, file=sys.stderr)
sys.exit(1 if bad else 0)' "$secs"
  # the figures it did not re-read while idle: a figure gwctl stores now is in the very next scrape
  # of /metrics (it re-reads figures older than BALPOLL_RELOAD_S for the scrape)
  bal=$(gwctl channel balance c1 --json | "$BATS_TEST_DIRNAME/jget" '"%.6f %s" % (d["balance"], d["balance_currency"])')
  run curl -sf "http://127.0.0.1:$MPORT/metrics"
  [ "$status" -eq 0 ]
  echo "$output" | grep -F 'relayd_channel_balance{' >&2 || true
  [ "$(echo "$output" | grep -F 'relayd_channel_balance{channel="c1",currency="'"${bal#* }"'"}' | awk '{print $2}')" = "${bal% *}" ]
}

# upstream_conns: relayd's established connections to the mock (/proc/net/tcp: remote port, state 01)
upstream_conns() { python3 "$BATS_TEST_DIRNAME/tcp_sockets.py" conns "$MOCK_PORT"; }
conns_at_most() { [ "$(upstream_conns)" -le "$1" ]; }

# After a burst, the upstream connections it leaves idle are closed once a light load is all there
# is (workercurl.c UPSTREAM_IDLE_KEEP): libcurl walks its whole cache once a second while transfers
# run, a system call per connection, and kept an idle connection for 118 s by default. Before this
# change the 48 connections stayed (until 118 s idle); now a light load's transfers give them a
# 5 s idle age, the next walk closes them, and the light load's own connection is reused.
@test "upstream connections a burst left idle are closed under a light load; the load's own is reused" {
  relayd_start --workers 1
  body='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}],"mock":{"chunks":5,"chunk_gap_ms":200}}'
  pids=()
  for i in $(seq 48); do
    curl -sf -o /dev/null --max-time 30 "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' -d "$body" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  burst=$(upstream_conns)
  echo "after the burst: $burst upstream connections" >&2
  [ "$burst" -ge 40 ]
  # a light load: one request at a time; within 20 s only what it needs stays (bound: the kept 16
  # and the one in use)
  light() {
    curl -sf -o /dev/null "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
      -H 'Content-Type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' &&
      conns_at_most 17
  }
  wait_until "$(_relay_scale 20)" light
  left=$(upstream_conns)
  echo "under the light load: $left" >&2
  # and the light load reuses its connection: 10 more requests open at most one more
  for i in $(seq 10); do light || true; done
  [ "$(upstream_conns)" -le $((left + 1)) ]
}
