#!/bin/sh
# tests/fuzz/run.sh MODE TARGET...: runs the libFuzzer targets built in $BUILD/fuzz/ (make fuzz-build).
#   fuzz   each target for $FUZZ_SECONDS (default 60) from its corpus tests/fuzz/corpus/TARGET/;
#          new interesting inputs go to $BUILD/fuzz/work/TARGET/ (not the repository), crashes to
#          $BUILD/fuzz/crash-TARGET-*; copy a crash into the corpus once it is fixed.
#   check  TAP for tests/run.sh: per target, one line for replaying every corpus input (all the
#          seeds and every crash ever found) and one for a short fresh run of $FUZZ_CHECK_SECONDS
#          (default 6; 0 skips it).
# Exit status 0 only when every target passed. POSIX sh; run from the top of the checkout.
set -u
mode=${1:?usage: run.sh fuzz|check TARGET...}
shift
BUILD=${BUILD:-build}
dir="$BUILD/fuzz"
rc=0
n=0
# sanitizer reports must fail the run; leak detection stays on
ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1}
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS UBSAN_OPTIONS
for t in "$@"; do
  bin="$dir/fuzz_$t"
  corpus="tests/fuzz/corpus/$t"
  work="$dir/work/$t"
  mkdir -p "$work"
  log="$dir/fuzz_$t.log"
  if [ "$mode" = fuzz ]; then
    echo "== fuzz_$t: ${FUZZ_SECONDS:-60} s (corpus $corpus, new inputs in $work)"
    if ! "$bin" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$dir/crash-$t-" "$work" "$corpus"; then
      echo "fuzz_$t FAILED: see $dir/crash-$t-*" >&2
      rc=1
    fi
    continue
  fi
  n=$((n + 1))
  if [ ! -x "$bin" ]; then
    echo "not ok $n - fuzz_$t: not built ($bin; make fuzz-build)"
    rc=1
  else
    count=$(find "$corpus" -type f | wc -l)
    # replay: every corpus file once, no mutation
    if find "$corpus" -type f -print0 | xargs -0 "$bin" -runs=1 -timeout=10 > "$log" 2>&1 \
        && [ "$count" -gt 0 ]; then
      echo "ok $n - fuzz_$t: replayed $count corpus inputs"
    else
      echo "not ok $n - fuzz_$t: corpus replay failed ($count inputs):"
      tail -n 30 "$log" | sed 's/^/#   /'
      rc=1
    fi
  fi
  secs=${FUZZ_CHECK_SECONDS:-6}
  [ "$secs" -gt 0 ] || continue
  n=$((n + 1))
  if [ -x "$bin" ] && "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
      -artifact_prefix="$dir/crash-$t-" "$work" "$corpus" > "$log" 2>&1; then
    execs=$(sed -n 's/.*stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$execs" ] || execs=$(grep -o 'DONE *cov.*' "$log" | tail -n 1)
    echo "ok $n - fuzz_$t: ${secs} s of fresh fuzzing, no crash ${execs:+($execs)}"
  else
    echo "not ok $n - fuzz_$t: crash in ${secs} s of fuzzing (input in $dir/crash-$t-*):"
    tail -n 40 "$log" | sed 's/^/#   /'
    rc=1
  fi
done
[ "$mode" = check ] && echo "1..$n"
exit $rc
