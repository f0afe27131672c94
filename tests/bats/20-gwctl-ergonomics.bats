#!/usr/bin/env bats
# gwctl daily ergonomics (issue #21): money as people say it (10usd, $10, "10 USD") wherever an amount
# is given and USD beside quota in tables; log stats by any combination of dimensions with USD,
# errors and p95 latency, the same on SQLite and PostgreSQL; log tail -f; and tables that fit the
# terminal (width from the pty or $COLUMNS, CJK by wcwidth, --wide, --no-headers, --tsv) and a pager
# for long output on a terminal only. Terminal behaviour runs gwctl on a real pty (tests/bats/ptyrun).

load helpers
load gwctl_helpers

PTY="$BATS_TEST_DIRNAME/ptyrun"

setup() {
  relay_env
  export LC_ALL=C.UTF-8 TZ=UTC
  unset COLUMNS LINES PAGER GWCTL_PAGER
}

teardown() {
  if [ -n "${TAIL_PID:-}" ]; then kill "$TAIL_PID" 2>/dev/null || true; fi
  relay_teardown
  if [ -n "${ERGO_PGHOST:-}" ]; then sh "$BATS_TEST_DIRNAME/../pg.sh" stop "$ERGO_PGHOST" || true; fi
}

@test "money: 10usd, \$10, '10 USD' and quota units everywhere an amount is given" {
  gwctl user add alice --quota 10usd
  gwctl user add bob --quota '$2.50'
  gwctl user add carol --quota 1000
  [ "$(gwj '[u["quota"] for u in d]' user list)" = '[5000000, 1250000, 1000]' ]
  gwctl user edit carol --quota '10 USD'
  gwctl user topup carol '$0.000002' > /dev/null
  [ "$(gwj 'd["quota"]' user show carol)" = 5000001 ]
  gwctl token create --user alice --name t --quota '$1' > /dev/null
  [ "$(gwj 'd["remain_quota"]' token show t)" = 500000 ]
  gwctl token edit t --quota 0.5usd
  [ "$(gwj 'd["remain_quota"]' token show t)" = 250000 ]
  gwctl redeem create --count 1 --quota '$5' > /dev/null
  [ "$(gwj '[r["quota"] for r in d]' redeem list)" = '[2500000]' ]
  gwctl alert set --user alice --remain 1usd > /dev/null
  [ "$(gwj '[[a["kind"], a["threshold"]] for a in d]' alert list)" = '[["remain", 500000]]' ]
  # apply files take the same strings (a number stays quota units)
  cat > "$BATS_TEST_TMPDIR/doc.json" <<'J'
{"version": 1, "users": [{"name": "dave", "quota": "$3"}, {"name": "erin", "quota": 42}],
 "tokens": [{"user": "dave", "name": "k", "quota": "2 usd"}]}
J
  gwctl apply -f "$BATS_TEST_TMPDIR/doc.json" > /dev/null
  [ "$(gwj '[u["quota"] for u in d if u["username"] in ("dave", "erin")]' user list)" = '[1500000, 42]' ]
  [ "$(gwj 'd["remain_quota"]' token show k)" = 1000000 ]
  # tables show USD beside quota units; --tsv keeps the plain number for scripts
  gwctl user list | grep -Eq '^1 +alice +common +enabled +5000000 \(\$10\.00\) +0 \(\$0\.00\) '
  gwctl token list | grep -Eq ' t +enabled +250000 \(\$0\.50\) '
  [ "$(gwctl user list --tsv --no-headers | cut -f2,5 | head -1)" = "$(printf 'alice\t5000000')" ]
}

@test "money: garbage, negative, too fine and too large amounts are refused precisely, nothing changes" {
  gwctl user add alice --quota 1
  refused 2 "--quota: 'ten' is not an amount: give quota units \(500000\) or US dollars \(10usd, 10 USD, \\\$10, \\\$0.50\)" gwctl user add bob --quota ten
  refused 2 "--quota: '-\\\$5' is negative" gwctl user edit alice --quota '-$5'
  refused 2 "--quota: '\\\$-5' is negative" gwctl user edit alice --quota '$-5'
  refused 2 "'0.000001usd' is finer than one quota unit \(0.000002 USD\)" gwctl user edit alice --quota 0.000001usd
  refused 2 "'1.5' is not whole: quota units are whole numbers \(for dollars write 1.5usd" gwctl user edit alice --quota 1.5
  refused 2 "is out of range: from 0 to 1000000000000000 quota units \(\\\$0.00 to \\\$2000000000.00\)" gwctl user edit alice --quota '$2000000001'
  refused 2 "'99999999999999999999usd' is too large" gwctl token create --user alice --name t --quota 99999999999999999999usd
  refused 2 "names dollars twice" gwctl redeem create --count 1 --quota '$5usd'
  refused 2 "--quota: '0usd' is out of range: from 1" gwctl redeem create --count 1 --quota 0usd
  refused 2 "AMOUNT: '10 euros' is not an amount" gwctl user topup alice '10 euros'
  refused 2 "--remain: 'lots' is not an amount" gwctl alert set --user alice --remain lots
  printf '{"version": 1, "users": [{"name": "x", "quota": "ten bucks"}]}' > "$BATS_TEST_TMPDIR/bad.json"
  refused 1 "quota.*'ten bucks' is not an amount" gwctl apply -f "$BATS_TEST_TMPDIR/bad.json"
}

# rows: model a (3 requests on 2025-01-01, elapsed 100..300 ms; one 502), model b (20 requests hourly
# from 2025-01-02 13:00 UTC, 11 that day and 9 the next; elapsed 10..200)
stats_seed() {
  gwctl user add alice --quota 1 > /dev/null
  gwctl user add bob --quota 1 > /dev/null
  local v="" i
  for i in 1 2 3; do
    v="$v('a$i', 1735732800 + $i, $([ $i = 3 ] && echo 5 || echo 2), 1, 'alice', 'ta', 'gpt-a', 10, 5, 250000, $([ $i = 3 ] && echo 502 || echo 200), $((i * 100)), 'default'),"
  done
  for i in $(seq 1 20); do
    v="$v('b$i', 1735819200 + $i * 3600, 2, 2, 'bob', 'tb', 'gpt-b', 1, 1, 5000, 200, $((i * 10)), 'vip'),"
  done
  sql "INSERT INTO logs(request_id, created_at, type, user_id, username, token_name, model_name, prompt_tokens, completion_tokens, quota, status, elapsed_ms, \"group\") VALUES ${v%,}"
}

stats_check() {
  # by day and model: USD, errors and the nearest-rank p95, rank ceil(0.95 n): 3 rows -> rank 3 (300 ms),
  # 11 -> 11 (110), 9 -> 9 (200), 20 -> 19 (190)
  [ "$(gwj '[[r["day"], r["model"], r["requests"], r["quota"], r["usd"], r["errors"], r["p95_ms"]] for r in d]' log stats --by day,model)" = \
    '[["2025-01-01", "gpt-a", 3, 750000, 1.5, 1, 300], ["2025-01-02", "gpt-b", 11, 55000, 0.11, 0, 110], ["2025-01-03", "gpt-b", 9, 45000, 0.09, 0, 200]]' ]
  [ "$(gwj '[[r["model"], r["requests"], r["p95_ms"], r["errors"]] for r in d]' log stats --by model)" = \
    '[["gpt-a", 3, 300, 1], ["gpt-b", 20, 190, 0]]' ]
  [ "$(gwj '[[r["user"], r["status"], r["group"], r["requests"]] for r in d]' log stats --by user,status,group)" = \
    '[["alice", 200, "default", 2], ["alice", 502, "default", 1], ["bob", 200, "vip", 20]]' ]
  [ "$(gwj '[[r["hour"], r["token"], r["requests"]] for r in d][:2]' log stats --by hour,token)" = \
    '[["2025-01-01 12:00", "ta", 3], ["2025-01-02 13:00", "tb", 1]]' ]
  [ "$(gwj '[[r["model"], r["requests"]] for r in d]' log stats --by model --since 2025-01-03)" = '[["gpt-b", 9]]' ]
}

@test "log stats --by any combination: USD, errors, p95 latency; table and JSON" {
  stats_seed
  stats_check
  run gwctl log stats --by day,model
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "DAY         MODEL  REQUESTS  PROMPT  COMPLETION  QUOTA           ERRORS  P95_MS" ]
  [ "${lines[1]}" = "2025-01-01  gpt-a  3         30      15          750000 (\$1.50)  1       300" ]
  refused 2 "--by: 'colour' is not one of day, hour, model, user, token, channel, group, status" gwctl log stats --by day,colour
  refused 2 "--by names 'model' twice" gwctl log stats --by model,day,model
  refused 2 "--by needs one or more" gwctl log stats --by ,
}

@test "log stats gives the same figures on PostgreSQL (p95 by nearest rank in SQL on both)" {
  export PGTZ=UTC
  # the run's PostgreSQL pass (tests/run.sh) already gave setup a database there; else a server of
  # this test's own
  if [ "${RELAY_TEST_DB:-sqlite}" != postgres ]; then
    ERGO_PGHOST=$(sh "$BATS_TEST_DIRNAME/../pg.sh" start)
    sh "$BATS_TEST_DIRNAME/../pg.sh" template "$ERGO_PGHOST" "$RELAY_BIN/gwctl"
    export RELAY_TEST_PGHOST=$ERGO_PGHOST RELAY_TEST_DB=postgres
    unset RELAY_DATA
    relay_env
  fi
  [[ "$RELAY_DB" == postgres* ]]
  stats_seed
  stats_check
}

# tail_bg ARGS...: gwctl log tail ARGS... in the background, output in tail.out; TAIL_PID
tail_bg() {
  "$RELAY_BIN/gwctl" log tail "$@" > "$BATS_TEST_TMPDIR/tail.out" 2> "$BATS_TEST_TMPDIR/tail.err" &
  TAIL_PID=$!
}

lines_in() { [ "$(grep -c -- "$1" "$BATS_TEST_TMPDIR/tail.out" 2>/dev/null)" -ge "$2" ] 2>/dev/null; }

@test "log tail: the newest rows oldest first, then -f follows new rows with the filters of log list; ^C exits 0" {
  gwctl user add alice --quota 1 > /dev/null
  gwctl user add bob --quota 1 > /dev/null
  sql "INSERT INTO logs(request_id, created_at, type, user_id, username, model_name, quota, status) VALUES ('old1', 1, 2, 1, 'alice', 'm', 1, 200), ('old2', 2, 2, 1, 'alice', 'm', 1, 200), ('old3', 3, 2, 2, 'bob', 'm', 1, 200)"
  [ "$(gwctl log tail --limit 2 --type consume --json | python3 -c 'import json,sys; print([json.loads(l)["request_id"] for l in sys.stdin])')" = "['old2', 'old3']" ]
  tail_bg -f --interval 0.1 --user alice --type consume --json --limit 1
  wait_until 10 lines_in old2 1
  sql "INSERT INTO logs(request_id, created_at, type, user_id, username, model_name, quota, status) VALUES ('new1', 10, 2, 2, 'bob', 'm', 1, 200), ('new2', 11, 2, 1, 'alice', 'm', 1, 200)"
  sql "INSERT INTO logs(request_id, created_at, type, user_id, username, model_name, quota, status) VALUES ('new3', 12, 5, 1, 'alice', 'm', 1, 502), ('new4', 13, 2, 1, 'alice', 'm', 1, 200)"
  wait_until 10 lines_in new4 1
  kill -INT "$TAIL_PID"
  rc=0
  wait "$TAIL_PID" || rc=$?
  [ "$rc" -eq 0 ]
  [ ! -s "$BATS_TEST_TMPDIR/tail.err" ]
  [ "$(python3 -c 'import json,sys; print([json.loads(l)["request_id"] for l in open(sys.argv[1])])' "$BATS_TEST_TMPDIR/tail.out")" = "['old2', 'new2', 'new4']" ]
  # the table prints its header once
  tail_bg -f --interval 0.1 --limit 1
  wait_until 10 lines_in '^ID ' 1
  sql "INSERT INTO logs(request_id, created_at, type, user_id, username, model_name, quota, status) VALUES ('new5', 14, 2, 1, 'alice', 'model-five', 1, 200)"
  wait_until 10 lines_in model-five 1
  # a later, narrower row keeps the columns of the rows before it (one table, widths carried over)
  sql "INSERT INTO logs(request_id, created_at, type, user_id, username, model_name, quota, status) VALUES ('new6', 15, 2, 2, 'bo', 'mm', 1, 200)"
  wait_until 10 lines_in ' bo ' 1
  kill -INT "$TAIL_PID"
  wait "$TAIL_PID"
  [ "$(grep -c '^ID ' "$BATS_TEST_TMPDIR/tail.out")" -eq 1 ]
  python3 - "$BATS_TEST_TMPDIR/tail.out" <<'PY'
import sys
rows = [l for l in open(sys.argv[1]) if "($0.000002)" in l]
assert len(rows) == 3, rows
# model-five widened MODEL from its row on; the narrower row after it keeps that width
assert rows[1].index("1 ($0.000002)") == rows[2].index("1 ($0.000002)"), rows
assert rows[0].index("1 ($0.000002)") < rows[1].index("1 ($0.000002)"), rows
PY
  refused 2 "--interval must be from 0.1 to 60" gwctl log tail -f --interval 0
  refused 2 "is not a time" gwctl log tail --since whenever
}

@test "log tail -f ends quietly when its reader goes away (SIGPIPE)" {
  gwctl user add alice --quota 1 > /dev/null
  { "$RELAY_BIN/gwctl" log tail -f --interval 0.1 --type consume --json --limit 0 2> "$BATS_TEST_TMPDIR/tail.err"
    echo $? > "$BATS_TEST_TMPDIR/tail.rc"; } | head -n 1 > "$BATS_TEST_TMPDIR/tail.out" &
  pipe=$!
  # insert rows until one reaches head (however late gwctl started); then head exits, and the next
  # poll sees the closed pipe: gwctl exits 0 without a message
  n=0
  insert_and_check() {
    n=$((n + 1))
    sql "INSERT INTO logs(request_id, created_at, type, user_id, username, model_name, quota, status) VALUES ('p$n', 1, 2, 1, 'alice', 'm', 1, 200)"
    ! kill -0 "$pipe" 2>/dev/null
  }
  wait_until 20 insert_and_check
  wait_until 10 test -s "$BATS_TEST_TMPDIR/tail.rc"
  wait "$pipe"
  [ "$(cat "$BATS_TEST_TMPDIR/tail.rc")" = 0 ]
  [ ! -s "$BATS_TEST_TMPDIR/tail.err" ]
  [ "$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read())["request_id"][0])' "$BATS_TEST_TMPDIR/tail.out")" = p ]
  # no such gwctl of this test's is left: its environment names this test's RELAY_DATA (the same
  # test may be running on the other database, or in another checkout, at the same time)
  local p
  for p in $(pgrep -f "gwctl log tail -f --interval 0.1 --type consume --json --limit 0" || true); do
    if tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qxF "RELAY_DATA=$RELAY_DATA"; then
      echo "gwctl log tail (pid $p) is still running" >&2
      false
    fi
  done
}

# wide_seed: users with a long CJK name and a long group
wide_seed() {
  gwctl group set research-and-development-long-group-name --ratio 1 > /dev/null
  gwctl user add 数据科学团队的长名字用户 --quota 10usd --group research-and-development-long-group-name > /dev/null
  gwctl user add bob --quota 1 > /dev/null
}

# maxw: the widest line of stdin in terminal columns (wcwidth)
maxw() {
  python3 -c '
import sys, unicodedata
def w(s): return sum(2 if unicodedata.east_asian_width(c) in "WF" else 0 if unicodedata.combining(c) else 1 for c in s)
print(max(w(l.rstrip("\n")) for l in sys.stdin))'
}

@test "tables fit the terminal: pty width, \$COLUMNS, CJK by wcwidth, an ellipsis; --wide never cuts" {
  wide_seed
  run "$PTY" 120 40 -- "$RELAY_BIN/gwctl" user list
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | maxw)" -le 120 ]
  echo "$output" | grep -q '…'
  # every row's columns start at the same terminal column: CJK cells count two columns each
  echo "$output" | python3 -c '
import sys, unicodedata
def w(s): return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)
lines = [l for l in sys.stdin.read().split("\n") if l]
starts = [w(l[:l.index("enabled")]) for l in lines[1:]] + [w(lines[0][:lines[0].index("STATUS")])]
assert len(set(starts)) == 1, starts'
  # the whole table when wide enough, and always with --wide (on a pty and in a pipe)
  run "$PTY" 250 40 -- "$RELAY_BIN/gwctl" user list
  echo "$output" | grep -q '数据科学团队的长名字用户 .* research-and-development-long-group-name'
  run "$PTY" 120 40 -- "$RELAY_BIN/gwctl" user list --wide
  echo "$output" | grep -q '数据科学团队的长名字用户 .* research-and-development-long-group-name'
  [ "$(echo "$output" | maxw)" -gt 120 ]
  # $COLUMNS rules, on a pty or not; a pipe without it is never cut
  [ "$(COLUMNS=115 gwctl user list | maxw)" -le 115 ]
  COLUMNS=115 gwctl user list | grep -q '…'
  gwctl user list | grep -q 'research-and-development-long-group-name'
  [ "$(gwctl user list | maxw)" -gt 120 ]
  # numbers are never cut, even when the table cannot fit
  COLUMNS=20 gwctl user list | grep -q '5000000 (\$10.00)'
}

@test "--no-headers and --tsv (escaped, never cut) for scripts; JSON is unchanged" {
  wide_seed
  gwctl user add 'tab' --quota 1 > /dev/null
  sql "INSERT INTO logs(request_id, created_at, type, username, model_name, quota, status, content) VALUES ('t1', 1, 2, 'bob', 'm', 7, 200, 'a	b
c\\d')"
  [ "$(gwctl user list --no-headers | wc -l)" -eq 3 ]
  ! gwctl user list --no-headers | grep -q USERNAME
  run gwctl log list --tsv --type consume
  [ "${lines[0]}" = "$(printf 'ID\tTIME\tTYPE\tUSER\tTOKEN\tMODEL\tQUOTA\tSTATUS\tMS\tAPI\tCONTENT')" ]
  [ "$(echo "${lines[1]}" | cut -f3-)" = $'consume\tbob\t\tm\t7\t200\t0\t\ta\\tb\\nc\\\\d' ]
  [ "${#lines[@]}" -eq 2 ]
  [ "$(COLUMNS=30 gwctl user list --tsv --no-headers | cut -f2,8 | head -1)" = "$(printf '数据科学团队的长名字用户\tresearch-and-development-long-group-name')" ]
  [ "$(gwctl user list --json --tsv | $JGET 'len(d)')" = 3 ]
  gwctl --no-headers user list | grep -vq USERNAME
}

@test "a pager for long output on a terminal only: \$GWCTL_PAGER/\$PAGER, less -FRX by default, --no-pager" {
  for i in $(seq 1 30); do gwctl user add "user$i" --quota 1 > /dev/null; done
  # long output on a terminal goes through $PAGER, run by the shell
  run env PAGER="cat > '$BATS_TEST_TMPDIR/paged'; echo PAGED" "$PTY" 100 20 -- "$RELAY_BIN/gwctl" user list
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | tr -d '\r')" = PAGED ]
  [ "$(wc -l < "$BATS_TEST_TMPDIR/paged")" -eq 31 ]
  # GWCTL_PAGER wins over PAGER
  run env PAGER=false GWCTL_PAGER="cat > '$BATS_TEST_TMPDIR/paged2'" "$PTY" 100 20 -- "$RELAY_BIN/gwctl" user list
  [ "$(wc -l < "$BATS_TEST_TMPDIR/paged2")" -eq 31 ]
  # the default is less -FRX: it waits on the terminal until q
  run "$PTY" 100 20 --expect 'user1[0-9]' --send q -- "$RELAY_BIN/gwctl" user list
  [ "$status" -eq 0 ]
  echo "$output" | grep -q 'user2 '
  # short output, --no-pager, or stdout not a terminal: no pager
  run env PAGER="echo PAGED" "$PTY" 100 40 -- "$RELAY_BIN/gwctl" user list
  ! echo "$output" | grep -q PAGED
  run env PAGER="echo PAGED" "$PTY" 100 20 -- "$RELAY_BIN/gwctl" user list --no-pager
  ! echo "$output" | grep -q PAGED
  [ "$(echo "$output" | grep -c '^[0-9]')" -eq 30 ]
  [ "$(PAGER='echo PAGED' gwctl user list | wc -l)" -eq 31 ]
  # a pager that cannot run: the output is printed anyway
  run env PAGER=/nonexistent/pager "$PTY" 100 20 -- "$RELAY_BIN/gwctl" user list
  [ "$(echo "$output" | grep -c '^[0-9]')" -eq 30 ]
}

@test "times as people say them reach log list and token expiry (common/when.c)" {
  gwctl user add alice --quota 1 > /dev/null
  now=$(date +%s)
  sql "INSERT INTO logs(request_id, created_at, type, username, model_name, quota, status) VALUES ('h1', $now - 3600, 2, 'alice', 'm', 1, 200), ('d3', $now - 3 * 86400, 2, 'alice', 'm', 1, 200)"
  [ "$(gwj '[r["request_id"] for r in d]' log list --type consume --since 2h)" = '["h1"]' ]
  [ "$(gwj '[r["request_id"] for r in d]' log list --type consume --since '4 days ago' --until '1 day ago')" = '["d3"]' ]
  gwctl token create --user alice --name t --quota 1 --expires 30d > /dev/null
  exp=$(gwj 'd["expired_time"]' token show t)
  [ "$exp" -ge $((now + 30 * 86400)) ] && [ "$exp" -le $(( $(date +%s) + 30 * 86400)) ]
  refused 2 "--since: 'next tuesday' is not a time; give a span" gwctl log list --since 'next tuesday'
  refused 2 "--expires: '3 months' uses 'months', which has no fixed length" gwctl token edit t --expires '3 months'
  # apply files take dates, never spans (a span would move on every apply)
  printf '{"version": 1, "tokens": [{"user": "alice", "name": "d", "quota": 1, "expires": "2099-01-31"}]}' > "$BATS_TEST_TMPDIR/d.json"
  gwctl apply -f "$BATS_TEST_TMPDIR/d.json" > /dev/null
  [ "$(gwj 'd["expired_time"]' token show d)" = 4073500800 ]
  run gwctl apply -f "$BATS_TEST_TMPDIR/d.json" --dry-run
  [ "$status" -eq 0 ]
  printf '{"version": 1, "tokens": [{"user": "alice", "name": "e", "quota": 1, "expires": "30d"}]}' > "$BATS_TEST_TMPDIR/e.json"
  refused 1 "expires.*'30d' is not a date: give an ISO 8601 date" gwctl apply -f "$BATS_TEST_TMPDIR/e.json"
  printf '{"version": 1, "tokens": [{"user": "alice", "name": "e", "quota": 1, "expires": "2099-02-30"}]}' > "$BATS_TEST_TMPDIR/e.json"
  refused 1 "expires.*'2099-02-30' is not a date on the calendar" gwctl apply -f "$BATS_TEST_TMPDIR/e.json"
}
