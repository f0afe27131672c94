#!/usr/bin/env bats
# make bench's harness works (quick mode: a few seconds, figures meaningless, speed never asserted).
# serial: the bench harness loads both cores itself (wrk, nginx, relayd)

load helpers

@test "bench quick mode runs every measurement and prints the table" {
  cd "$BATS_TEST_DIRNAME/../.."
  run env BENCH_QUICK=1 BUILD="$BUILD" sh bench/run.sh
  echo "$output"
  [ "$status" -eq 0 ]
  for metric in "saturation req/s" "proxy CPU us/request" "one conn added p50 ms" "streams: TTFD p50 ms" \
                "streams: failures" "held streams: open" "idle RSS MB" "writer: billed rows/s persisted" \
                "context switches/request" "relayd/floor"; do
    echo "$output" | grep -q "$metric"
  done
  # bench.py exits non-zero when a relayd figure is missing or the writer lost a row
  echo "$output" | grep -q 'none lost: True'
  # the floor (bench/floor.c) was measured: its column holds a number in the CPU row
  echo "$output" | awk '/^proxy CPU us\/request/ { if ($6 ~ /^[0-9.]+$/ && $6 > 0) ok = 1 } END { exit !ok }'
  # 10 light SSE streams (issue #26): CPU per stream of nginx, the floor and relayd, all measured
  echo "$output" | awk '/^10 SSE streams: CPU us\/stream/ {
      if ($7 ~ /^[0-9.]+$/ && $7 > 0 && $8 ~ /^[0-9.]+$/ && $8 > 0 && $9 ~ /^[0-9.]+$/ && $9 > 0) ok = 1 }
    END { exit !ok }'
  echo "$output" | grep -Eq '^10 SSE streams: failures +- +0 +0 +0 '
  # and each round's ratio to nginx, for the floor and relayd: median (lowest-highest)
  echo "$output" | grep -Eq '^10 SSE streams: x nginx by round +[0-9.]+ \([0-9.]+-[0-9.]+\) +[0-9.]+ \([0-9.]+-[0-9.]+\)'
  echo "$output" | grep -Eq '^10 SSE streams: CPU us/event +- +[0-9.]+ +[0-9.]+ +[0-9.]+'
  # and its split: the floor with one worker beside relayd's whole cost, its workers' and its writer's
  for part in "relayd" "relayd's workers" "relayd's log writer"; do
    echo "$output" | grep -Eq "^10 SSE streams, the floor with one worker: $part us/stream +- +[0-9.]+ +([0-9.]+|-) +[0-9.]+ "
  done
  # and one round on the same proxies after the stream sets (the idle connections they leave)
  echo "$output" | grep -Eq '^10 SSE streams after [0-9]+: CPU us/stream +- +[0-9.]+ +[0-9.]+ +[0-9.]+'
  # what each proxy costs left alone after the warm-up (informative): nginx, the floor and relayd
  echo "$output" | grep -Eq '^idle: CPU us a second +- +[0-9.]+ +[0-9.]+ +[0-9.]+'
  echo "$output" | grep -Eq '^idle: wake-ups a second +- +[0-9.]+ +[0-9.]+ +[0-9.]+'
  ls bench/results/bench-*-quick.json
  # a key pool's choice and the routing features are measured beside a plain relayd (issues #23, #25)
  echo "$output" | grep -Eq '^16-key round-robin pool +[0-9]+ +[0-9.]+'
  echo "$output" | grep -Eq '^one key +[0-9]+ +[0-9.]+'
  echo "$output" | grep -Eq '^this build, limits\+affinity +[0-9]+ +[0-9.]+'
}
