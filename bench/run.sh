#!/bin/sh
# bench/run.sh: make bench's driver. Builds the load generators, then runs bench/bench.py, which
# prints the summary table and writes bench/results/bench-*.json. BENCH_QUICK=1 for the quick mode.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
if [ "${RELAY_ASAN:-0}" = 1 ]; then
  make --no-print-directory BUILD="$BUILD" SAN=1 OPT=-O1 bench-tools >/dev/null
else
  make --no-print-directory BUILD="$BUILD" bench-tools >/dev/null
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
RELAY_BIN="$PWD/$BUILD/bin" python3 bench/bench.py
# what a key pool and the routing features cost, each against a plain relayd in the same run
RELAY_BIN="$PWD/$BUILD/bin" python3 bench/keypool.py
RELAY_BIN="$PWD/$BUILD/bin" python3 bench/routing.py
