#!/usr/bin/env bats
# make bench's harness works (quick mode: a few seconds, figures meaningless, speed never asserted).

load helpers

@test "bench quick mode runs every measurement and prints the table" {
  cd "$BATS_TEST_DIRNAME/../.."
  run env BENCH_QUICK=1 BUILD="$BUILD" sh bench/run.sh
  echo "$output"
  [ "$status" -eq 0 ]
  for metric in "saturation req/s" "proxy CPU us/request" "one conn added p50 ms" "streams: TTFD p50 ms" \
                "streams: failures" "held streams: open" "idle RSS MB" "writer: billed rows/s persisted"; do
    echo "$output" | grep -q "$metric"
  done
  # bench.py exits non-zero when a relayd figure is missing or the writer lost a row
  echo "$output" | grep -q 'none lost: True'
  ls bench/results/bench-*-quick.json
}
