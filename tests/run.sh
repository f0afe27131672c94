#!/bin/sh
# tests/run.sh: runs every test relay has and prints "N passed, N failed" as its very last line.
#   1. each unit test binary in $BUILD/bin/unit/ (TAP lines "ok N ..." / "not ok N ...")
#   2. the libFuzzer targets of tests/fuzz/: corpus replay and a short run each (tests/fuzz/run.sh)
#   3. bats --tap tests/bats (every *.bats file)
#   4. the relay, gwctl and limits/health/budget suites (10-14, 20-gwctl-*, 50-*) again on
#      PostgreSQL (RELAY_TEST_PG=0: not)
# Output goes to the terminal and to $BUILD/test.log. Exit status 0 only when nothing failed.
# Environment: BUILD (default build), RELAY_ASAN=1 for the sanitizer build (sets ASAN_OPTIONS,
# UBSAN_OPTIONS, LSAN_OPTIONS unless already set). Exports BUILD, RELAY_BIN for the bats files.
# Run from the top of the checkout (make check does). POSIX sh.
set -u

BUILD=${BUILD:-build}
RELAY_BIN="$PWD/$BUILD/bin"
export BUILD RELAY_BIN

if [ "${RELAY_ASAN:-0}" = 1 ]; then
  export RELAY_ASAN
  : "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:print_summary=1}"
  : "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
  if [ -f tests/lsan.supp ]; then
    : "${LSAN_OPTIONS:=suppressions=$PWD/tests/lsan.supp:print_suppressions=0}"
    export LSAN_OPTIONS
  fi
  export ASAN_OPTIONS UBSAN_OPTIONS
fi
# A hung test must not hang make check forever (bats >= 1.7 honours this, per test, in seconds).
: "${BATS_TEST_TIMEOUT:=300}"
export BATS_TEST_TIMEOUT

mkdir -p "$BUILD"
LOG="$BUILD/test.log"
: > "$LOG"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/relay-run.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
skipped=0

say() {
  printf '%s\n' "$*" | tee -a "$LOG"
}

# count_tap FILE RC NAME: adds FILE's TAP results to the totals. A suite that exits non-zero without
# reporting a failure, or reports fewer results than its plan ("1..N") announced, counts the
# missing part as failures, so a crash can never pass silently.
count_tap() {
  f=$1 rc=$2 name=$3
  ok=$(grep -c '^ok ' "$f")
  nok=$(grep -c '^not ok ' "$f")
  skip=$(grep -ciE '^ok [0-9]+.*# skip' "$f")
  plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\).*/\1/p' "$f" | head -n 1)
  missing=0
  if [ -n "$plan" ] && [ $((ok + nok)) -lt "$plan" ]; then
    missing=$((plan - ok - nok))
    say "not ok - $name: $missing of $plan planned tests did not report (exit status $rc)"
  elif [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
    missing=1
    say "not ok - $name exited with status $rc without reporting a failure"
  fi
  passed=$((passed + ok - skip))
  skipped=$((skipped + skip))
  failed=$((failed + nok + missing))
}

# run_suite NAME CMD...: runs CMD with output to the terminal and the log, then counts it.
run_suite() {
  name=$1
  shift
  out="$tmp/out"
  { "$@" 2>&1; echo $? > "$tmp/rc"; } | tee "$out"
  cat "$out" >> "$LOG"
  rc=$(cat "$tmp/rc" 2>/dev/null || echo 1)
  count_tap "$out" "$rc" "$name"
}

# 1. unit tests
have_timeout=0
command -v timeout >/dev/null 2>&1 && have_timeout=1
nunit=0
for t in "$BUILD"/bin/unit/*; do
  [ -f "$t" ] && [ -x "$t" ] || continue
  nunit=$((nunit + 1))
  say "# unit: ${t##*/}"
  if [ "$have_timeout" = 1 ]; then
    run_suite "${t##*/}" timeout 300 "$t"
  else
    run_suite "${t##*/}" "$t"
  fi
done
[ "$nunit" -eq 0 ] && say "# unit: no unit test binaries in $BUILD/bin/unit"

# 2. libFuzzer targets (tests/fuzz/run.sh): replay every corpus input (seeds and past crashes),
# then fuzz each target briefly. Under the sanitizer build only the replay runs (the fuzz binaries
# are sanitized either way).
set -- $(ls tests/fuzz/fuzz_*.c 2>/dev/null | sed 's|.*/fuzz_\(.*\)\.c|\1|')
if [ $# -gt 0 ]; then
  say "# fuzz: $*"
  if [ "${RELAY_ASAN:-0}" = 1 ]; then
    run_suite fuzz env FUZZ_CHECK_SECONDS=0 sh tests/fuzz/run.sh check "$@"
  else
    run_suite fuzz sh tests/fuzz/run.sh check "$@"
  fi
fi

# 3. bats
set -- tests/bats/*.bats
if [ -e "$1" ]; then
  if command -v bats >/dev/null 2>&1; then
    say "# bats: tests/bats"
    run_suite bats bats --tap tests/bats
  else
    say "not ok - bats is not installed (sh scripts/deps.sh test)"
    failed=$((failed + 1))
  fi
else
  say "# bats: no .bats files in tests/bats"
fi

# 4. the relay, gwctl, ledger and limits/health/budget suites again, on PostgreSQL (one server for the
#    run, a fresh database per test; tests/pg.sh, tests/bats/helpers.bash). RELAY_TEST_PG=0 skips this pass.
set -- tests/bats/1[0-4]-*.bats tests/bats/20-gwctl-*.bats tests/bats/45-ledger.bats tests/bats/50-*.bats
if [ "${RELAY_TEST_PG:-1}" = 1 ] && [ -e "$1" ] && command -v bats >/dev/null 2>&1; then
  say "# bats on PostgreSQL: $*"
  if pgdir=$(sh tests/pg.sh start 2>"$tmp/pg.err") \
     && sh tests/pg.sh template "$pgdir" "$RELAY_BIN/gwctl" 2>>"$tmp/pg.err"; then
    RELAY_TEST_DB=postgres RELAY_TEST_PGHOST=$pgdir
    export RELAY_TEST_DB RELAY_TEST_PGHOST
    run_suite bats-postgres bats --tap "$@"
    unset RELAY_TEST_DB RELAY_TEST_PGHOST
  else
    say "not ok - cannot start a PostgreSQL server for the tests: $(cat "$tmp/pg.err")"
    failed=$((failed + 1))
  fi
  [ -n "${pgdir:-}" ] && sh tests/pg.sh stop "$pgdir"
fi

[ "$skipped" -gt 0 ] && say "# $skipped skipped"
say "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
