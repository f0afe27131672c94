#!/usr/bin/env bats
# How relayd's workers share the API address (issue #26, light streams; relayd/worker.h, gate.h):
# ONE listening socket, in every worker's epoll set with EPOLLEXCLUSIVE, so the kernel wakes the
# first idle worker; a worker more than GATE_LIGHT (16) connections above the daemon's average, or
# worker i > 0 while the daemon holds fewer than 16 i, leaves new connections to the others. So a
# light load lands on one worker and a heavy one on all. Before session 10 each worker bound the
# address with its own SO_REUSEPORT socket (the kernel spread connections by hash): the tests of the
# one socket and of the light loads fail there (checked with that code plus worker_requests: 4
# sockets with --workers 4, [10, 11] and [41, 60]); the held and wrk tests pass there too and
# guard the spreading (EPOLLEXCLUSIVE without the cap put all 64 of wrk's connections on worker 0).
# Per-worker evidence: the admin status's worker_requests (requests_total by worker).
# serial: which worker the kernel wakes depends on what the CPUs are doing; wrk loads both cores

load helpers

setup() {
  relay_env
  gwctl user add alice --quota 100000000000
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
}

# upstream MOCK-FLAGS...: the mock (streams as its flags say) behind channel c1
upstream() {
  mock_start up "$@"
  printf 'sk-upstream-1\n' | gwctl channel add --name c1 --type openai \
    --base-url "http://127.0.0.1:$MOCK_PORT" --models gpt-4o-mini
}

teardown() {
  relay_teardown
}

# listen_sockets PID PORT: how many distinct LISTEN sockets on 127.0.0.1:PORT process PID holds
# (inodes of /proc/net/tcp rows in state 0A, matched against the process's descriptors)
listen_sockets() { python3 "$BATS_TEST_DIRNAME/tcp_sockets.py" listen "$1" "$2"; }

# per_worker: the admin status's worker_requests, e.g. [12, 0]
per_worker() { gwctl status --json | json_get 'd["worker_requests"]'; }

# stream: one light stream through relayd (4 events 20 ms apart), checked whole
stream() {
  curl -sS --max-time 30 "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
    | grep -q 'data: \[DONE\]'
}

@test "the API address has one listening socket whatever the number of workers" {
  for w in 1 4; do
    relayd_start --workers "$w"
    n=$(listen_sockets "$RELAYD_PID" "$RELAY_PORT")
    echo "--workers $w: $n listening socket(s) on port $RELAY_PORT" >&2
    [ "$n" = 1 ]
    [ "$(gwctl status --json | json_get 'len(d["worker_requests"])')" = "$w" ]
    relayd_stop
  done
}

@test "a sequence of light streams, one at a time, is served by one worker" {
  upstream --chunks 4 --chunk-gap-ms 20
  relayd_start --workers 2
  for i in $(seq 20); do stream; done
  per=$(per_worker)
  echo "worker_requests after 20 streams one at a time: $per" >&2
  # every stream (and relayd_start's probe of /v1/models) on one worker, none on the other
  [ "$(echo "$per" | json_get 'sorted(d)[0] == 0 and sum(d) >= 20')" = true ]
}

@test "ten light streams at a time are served by one worker (the other takes at most a few)" {
  upstream --chunks 20 --chunk-gap-ms 50
  relayd_start --workers 2
  export KEY RELAY_URL
  seq 100 | xargs -P10 -I{} curl -sS -o /dev/null --max-time 30 "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  per=$(per_worker)
  echo "worker_requests after 100 streams, 10 at a time: $per" >&2
  # worker 1 takes a connection only when the kernel wakes it (worker 0 busy): it then stands aside
  # while the daemon holds fewer than 16 connections (measured [100, 1]; without that rule [86, 15])
  [ "$(echo "$per" | json_get 'min(d) <= 5 and sum(d) == 101')" = true ]
}

@test "80 streams held at once are spread: no worker holds more than GATE_LIGHT (16) over the average" {
  upstream --chunks 120 --chunk-gap-ms 500
  relayd_start --workers 2
  answer=$(python3 "$BATS_TEST_DIRNAME/held_limit.py" "$RELAY_PORT" "$KEY" 80 "$(_relay_scale 60)")
  echo "held 80: $answer" >&2
  [ "$(echo "$answer" | json_get 'd["held"]')" = 80 ]
  per=$(per_worker)
  echo "worker_requests: $per" >&2
  # 80 held (+ 2 asked while they were, + relayd_start's probe): the average is 40, so each worker
  # took at least 40 - 16 of the held ones
  [ "$(echo "$per" | json_get 'min(d) >= 24 and sum(d) == 83')" = true ]
}

@test "under a saturating load (wrk -c64: 64 connections opened at once and kept) both workers serve a fair share" {
  relayd_start --workers 2
  wrk -t2 -c64 -d2s -H "Authorization: Bearer $KEY" "$RELAY_URL/v1/models" >&2
  per=$(per_worker)
  echo "worker_requests: $per" >&2
  # each worker holds 64 / 2 - 16 connections at least (gate.h): a fifth of the requests is far
  # below what that gives whatever the scheduling (measured 45-55 %)
  [ "$(echo "$per" | json_get 'min(d) * 5 >= sum(d) and sum(d) > 1000')" = true ]
}
