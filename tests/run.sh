#!/bin/sh
# tests/run.sh: runs every test relay has and prints "N passed, N failed" as its very last line.
#   1. each unit test binary in $BUILD/bin/unit/ (TAP lines "ok N ..." / "not ok N ...")
#   2. the libFuzzer targets of tests/fuzz/: corpus replay and a short run each (tests/fuzz/run.sh)
#   3. bats --tap on every tests/bats/*.bats file but the "serial" ones (below), $RELAY_TEST_JOBS
#      files at a time (bats --jobs, GNU parallel; a file's tests still run in order, one at a time)
#   4. the relay, gwctl and limits/health/budget suites (10-14, 20-gwctl-*, 45-ledger, 50-*) again on
#      PostgreSQL (RELAY_TEST_PG=0: not), also $RELAY_TEST_JOBS files at a time
#   5. the serial files: those whose header has a line "# serial: REASON" (they count CPU time,
#      wake-ups or file-descriptor budgets, or load both cores themselves), one after the other with
#      nothing else running
# 1-2 run in the foreground while 3 and 4 run beside them (each test has its own directory, free
# ports and PostgreSQL database: tests/bats/helpers.bash); 5 starts once 1-4 have ended. Every
# file's tests report in file order whatever ran at the same time. RELAY_TEST_JOBS=1 runs each
# pass's files one after the other (also what happens without GNU parallel); the two passes and
# steps 1-2 still run side by side.
# Output goes to the terminal and to $BUILD/test.log. Exit status 0 only when nothing failed.
# Environment: BUILD (default build), RELAY_ASAN=1 for the sanitizer build (sets ASAN_OPTIONS,
# UBSAN_OPTIONS, LSAN_OPTIONS unless already set), RELAY_TEST_JOBS (default 3). Exports BUILD,
# RELAY_BIN for the bats files. Run from the top of the checkout (make check does). POSIX sh.
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

# python3 as the suites call it (thousands of times: json_get, jget, sql, free_port) is the
# interpreter itself, the one PATH's python3 runs: a version manager's shim in PATH (pyenv's is a
# bash script) would cost ~150 ms a call. Debian's /usr/bin/python3 is used as it is.
if py=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) && [ -x "$py" ] \
   && [ "$py" != "$(command -v python3)" ] && mkdir -p "$tmp/bin" && ln -s "$py" "$tmp/bin/python3"; then
  PATH="$tmp/bin:$PATH"
  export PATH
fi

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

# start_suite NAME CMD...: starts CMD in the background, its output in $tmp/NAME.out; its pid is
# left in $started. finish_suite NAME PID: waits for it, then prints, logs and counts its output
# (streamed to the terminal while it runs when STREAM=1).
start_suite() {
  name=$1
  shift
  : > "$tmp/$name.out"
  rm -f "$tmp/$name.rc"
  { "$@" > "$tmp/$name.out" 2>&1; echo $? > "$tmp/$name.rc"; } &
  started=$!
  bgpids="$bgpids $started"
}
finish_suite() {
  name=$1 pid=$2
  if [ "${STREAM:-0}" = 1 ] && tail --version >/dev/null 2>&1; then
    tail -n +1 --pid="$pid" -f "$tmp/$name.out"
  fi
  wait "$pid"
  if [ "${STREAM:-0}" != 1 ] || ! tail --version >/dev/null 2>&1; then cat "$tmp/$name.out"; fi
  cat "$tmp/$name.out" >> "$LOG"
  rc=$(cat "$tmp/$name.rc" 2>/dev/null || echo 1)
  count_tap "$tmp/$name.out" "$rc" "$name"
}
bgpids=""
trap 'kill $bgpids 2>/dev/null; exit 130' INT TERM

# The bats files: serial ones (a "# serial:" line) apart; the PostgreSQL pass's files.
have_bats=0
command -v bats >/dev/null 2>&1 && have_bats=1
jobs=${RELAY_TEST_JOBS:-3}
if [ "$jobs" -gt 1 ] && ! command -v parallel >/dev/null 2>&1; then
  say "# GNU parallel is not installed (sh scripts/deps.sh test): bats files run one at a time"
  jobs=1
fi
bats_jobs() {   # bats options for $jobs files at a time
  if [ "$jobs" -gt 1 ]; then echo "--jobs $jobs --no-parallelize-within-files"; fi
}
# The longest files (bats --timing, session 11: 60 s to 4 minutes each) start first, so that none
# is left running alone at the end; the rest follow in name order.
long="43-valgrind 20-gwctl-config 22-gwctl-import-mariadb 22-gwctl-import-pg 22-gwctl-import-sync
16-sdk-errors 16-sdk 19-agents 15-endpoints 16-sdk-realtime 16-sdk-responses"
serial="" parallel_files="" pg_serial="" pg_files=""
for f in $(for l in $long; do [ -e "tests/bats/$l.bats" ] && echo "tests/bats/$l.bats"; done) tests/bats/*.bats; do
  [ -e "$f" ] || continue
  case " $serial $parallel_files " in *" $f "*) continue ;; esac
  if grep -q '^# serial:' "$f"; then serial="$serial $f"; else parallel_files="$parallel_files $f"; fi
done
for f in tests/bats/20-gwctl-config.bats tests/bats/1[0-4]-*.bats tests/bats/20-gwctl-*.bats \
         tests/bats/45-ledger.bats tests/bats/50-*.bats; do
  [ -e "$f" ] || continue
  case " $pg_serial $pg_files " in *" $f "*) continue ;; esac
  if grep -q '^# serial:' "$f"; then pg_serial="$pg_serial $f"; else pg_files="$pg_files $f"; fi
done
if [ "${RELAY_TEST_PG:-1}" != 1 ] || [ "$have_bats" != 1 ]; then pg_files="" pg_serial=""; fi

# 3. bats on SQLite, in the background
bats_pid=""
if [ -n "$parallel_files$serial" ]; then
  if [ "$have_bats" = 1 ]; then
    if [ -n "$parallel_files" ]; then
      # PARALLEL: GNU parallel's options (no citation notice among the TAP lines)
      # shellcheck disable=SC2046,SC2086
      start_suite bats env PARALLEL=--will-cite bats --tap $(bats_jobs) $parallel_files
      bats_pid=$started
    fi
  else
    say "not ok - bats is not installed (sh scripts/deps.sh test)"
    failed=$((failed + 1))
  fi
else
  say "# bats: no .bats files in tests/bats"
fi

# 4. the relay, gwctl, ledger and limits/health/budget suites again, on PostgreSQL (one server for the
#    run, a fresh database per test; tests/pg.sh, tests/bats/helpers.bash), in the background too.
#    RELAY_TEST_PG=0 skips this pass.
pg_pid="" pgdir="" pg_ok=0
if [ -n "$pg_files$pg_serial" ]; then
  if pgdir=$(sh tests/pg.sh start 2>"$tmp/pg.err") \
     && sh tests/pg.sh template "$pgdir" "$RELAY_BIN/gwctl" 2>>"$tmp/pg.err"; then
    pg_ok=1
    if [ -n "$pg_files" ]; then
      # shellcheck disable=SC2046,SC2086
      start_suite bats-postgres env RELAY_TEST_DB=postgres RELAY_TEST_PGHOST="$pgdir" \
        PARALLEL=--will-cite bats --tap $(bats_jobs) $pg_files
      pg_pid=$started
    fi
  fi
fi

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

# 3 and 4 end
if [ -n "$bats_pid" ]; then
  say "# bats: $(echo "$parallel_files" | wc -w) files, $jobs at a time:$parallel_files"
  STREAM=1 finish_suite bats "$bats_pid"
fi
if [ -n "$pg_files$pg_serial" ]; then
  say "# bats on PostgreSQL: $(echo "$pg_files" | wc -w) files, $jobs at a time:$pg_files"
  if [ "$pg_ok" = 1 ]; then
    [ -n "$pg_pid" ] && finish_suite bats-postgres "$pg_pid"
  else
    say "not ok - cannot start a PostgreSQL server for the tests: $(cat "$tmp/pg.err")"
    failed=$((failed + 1))
  fi
fi

# 5. the serial files, alone
if [ -n "$serial" ] && [ "$have_bats" = 1 ]; then
  say "# bats, one file at a time with nothing beside:$serial"
  # shellcheck disable=SC2086
  run_suite bats-serial bats --tap $serial
fi
if [ -n "$pg_serial" ] && [ "$pg_ok" = 1 ]; then
  say "# bats on PostgreSQL, one file at a time with nothing beside:$pg_serial"
  # shellcheck disable=SC2086
  run_suite bats-postgres-serial env RELAY_TEST_DB=postgres RELAY_TEST_PGHOST="$pgdir" bats --tap $pg_serial
fi
[ -n "$pgdir" ] && sh tests/pg.sh stop "$pgdir"

[ "$skipped" -gt 0 ] && say "# $skipped skipped"
say "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
