#!/usr/bin/env bats
# The randomized ledger (issue #17, "money you can audit"): thousands of mixed requests over 12
# users and 40 tokens with random quotas (successes, streams, upstream 4xx/5xx, upstream cuts,
# client disconnects, rate-limit and quota refusals), reloads, user top-ups and token quota edits
# during the load, a SIGTERM drain with streams in flight, a kill -9 under load, restarts; then,
# relayd stopped cleanly, the books from the database: for every token and user
# remain + used = granted, used = sum of its logged charges, no balance below 0; every channel's
# used = its logged charges; no request id charged twice; no reservation left open.
# tests/bats/ledger.py drives the load and states the invariants (its header comment).
# RELAY_LEDGER_SEED=N replays a run's randomness (the seed is printed); RELAY_LEDGER_REQUESTS
# sets the total (10,000; 2,500 under RELAY_ASAN=1).

load helpers

LEDGER="$BATS_TEST_DIRNAME/ledger.py"

setup() {
  relay_env
  mock_start up1
  mock_start up2
}

teardown() {
  [ -n "${DRIVER_PID:-}" ] && kill "$DRIVER_PID" 2>/dev/null
  relay_teardown
}

ledger() { python3 "$LEDGER" "$@"; }

# background_load PHASE: load with long streams in flight until $BATS_TEST_TMPDIR/PHASE.stop exists;
# returns once PHASE.ready says the streams are open and the load is under way
background_load() {
  local ready="$BATS_TEST_TMPDIR/$1.ready"
  ledger load "$STATE" --port "$RELAY_PORT" --count 1000000 --phase "$1" --streams 6 \
    --ready "$ready" --stop "$BATS_TEST_TMPDIR/$1.stop" >> "$BATS_TEST_TMPDIR/driver.log" 2>&1 &
  DRIVER_PID=$!
  wait_until "$(_relay_scale 60)" test -s "$ready"
}

# end_background_load PHASE: lets the driver finish (relayd is gone) and checks its exit status
end_background_load() {
  touch "$BATS_TEST_TMPDIR/$1.stop"
  local rc=0
  wait "$DRIVER_PID" || rc=$?
  DRIVER_PID=
  [ "$rc" = 0 ] || { cat "$BATS_TEST_TMPDIR/driver.log" >&2; return 1; }
}

# books DIR: the database's side of the ledger, one query result a file (ledger.py check reads them)
books() {
  local d=$1
  mkdir -p "$d"
  sql 'SELECT id, name, remain_quota, used_quota, unlimited_quota FROM tokens ORDER BY id' > "$d/tokens"
  sql 'SELECT id, username, quota, used_quota FROM users ORDER BY id' > "$d/users"
  sql 'SELECT id, name, used_quota FROM channels ORDER BY id' > "$d/channels"
  sql 'SELECT token_id, sum(quota) FROM logs WHERE type IN (2,5) GROUP BY token_id' > "$d/token_logs"
  sql 'SELECT user_id, sum(quota) FROM logs WHERE type IN (2,5) GROUP BY user_id' > "$d/user_logs"
  sql 'SELECT channel_id, sum(quota) FROM logs WHERE type IN (2,5) GROUP BY channel_id' > "$d/channel_logs"
  sql "SELECT request_id, count(*) FROM logs WHERE type IN (2,5) AND request_id <> '' GROUP BY request_id HAVING count(*) > 1" > "$d/dup_ids"
  sql 'SELECT request_id, quota FROM reservations' > "$d/reservations"
  sql 'SELECT count(*), COALESCE(sum(quota), 0) FROM logs WHERE type IN (2,5)' > "$d/summary"
}

@test "ledger: 10,000 mixed requests, reloads, top-ups, edits, drain, kill -9: remain + used = granted, used = logged, no balance below 0" {
  local total seed
  if [ "${RELAY_ASAN:-0}" = 1 ]; then total=${RELAY_LEDGER_REQUESTS:-2500}; else total=${RELAY_LEDGER_REQUESTS:-10000}; fi
  seed=${RELAY_LEDGER_SEED:-$(python3 -c 'import random; print(random.randrange(1, 2**31))')}
  echo "# ledger seed $seed (replay: RELAY_LEDGER_SEED=$seed), $total requests" >&3
  STATE="$BATS_TEST_TMPDIR/ledger.json"
  ledger setup "$STATE" --seed "$seed" --mock "$MOCK_UP1_URL,$MOCK_UP2_URL"
  # one node name for every start: node_name auto is HOSTNAME/LISTEN, and each start here takes a
  # new port, so the restart after the kill -9 would not resolve the reservations it left
  relayd_start --shutdown-grace-s 2 --node-name ledger

  # 1: load with reloads, user top-ups and token quota edits from an admin thread
  ledger load "$STATE" --port "$RELAY_PORT" --count $((total * 45 / 100)) --phase load1 --admin --seconds 4

  # 2: SIGTERM with streams in flight: the drain answers 503, interrupts the streams after the
  # grace and settles them; relayd must exit 0. Then balances are set while it is down.
  background_load drain
  relayd_stop
  end_background_load drain
  ledger offline "$STATE"
  relayd_start --shutdown-grace-s 2 --node-name ledger

  # 3: kill -9 under load, restart (the open reservations are refunded at start)
  background_load kill9
  kill -KILL "$RELAYD_PID"
  wait_until 5 test -e "$BATS_TEST_TMPDIR/relayd.rc"
  [ "$(cat "$BATS_TEST_TMPDIR/relayd.rc")" = 137 ]
  rm -f "$BATS_TEST_TMPDIR/relayd.pid"
  end_background_load kill9
  # what the crash left on disk already balances (a charge is lost only with its log row);
  # asserted at the end, so that a failing run reports the final books too
  books "$BATS_TEST_TMPDIR/books-kill9"
  crash_ok=0
  ledger check "$STATE" "$BATS_TEST_TMPDIR/books-kill9" --crashed >> "$BATS_TEST_TMPDIR/driver.log" 2>&1 \
    || crash_ok=$?
  ledger offline "$STATE"
  relayd_start --shutdown-grace-s 2 --node-name ledger

  # 4: the rest of the requests, admin changes again; then a clean stop commits everything
  done_so_far=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$STATE")
  ledger load "$STATE" --port "$RELAY_PORT" --count $(( total > done_so_far ? total - done_so_far : 1 )) \
    --phase load2 --admin --seconds 4
  relayd_stop
  cat "$BATS_TEST_TMPDIR/driver.log" >&2

  books "$BATS_TEST_TMPDIR/books"
  run ledger check "$STATE" "$BATS_TEST_TMPDIR/books"
  echo "$output" >&2
  books_ok=$status

  # the run did what it claims: enough requests, and every kind of event happened
  run python3 - "$STATE" "$total" <<'PY'
import json, sys
st, total = json.load(open(sys.argv[1])), int(sys.argv[2])
o, k, a = st["outcomes"], st["kinds"], st["admin"]
def has(pred): return sum(v for key, v in o.items() if pred(key))
need = {
    "requests": st["requests"] >= total,
    "successes": has(lambda s: s == "200") > 0,
    "upstream 4xx": has(lambda s: s.split()[0] in ("400", "404", "422")) > 0,
    "upstream 5xx (502 to the client)": has(lambda s: s.startswith("502")) > 0,
    "quota refusals": has(lambda s: s == "429 insufficient_quota") > 0,
    "rate-limit refusals": has(lambda s: s == "429 rate_limit_exceeded") > 0,
    "client disconnects after events": has(lambda s: s == "gone after events") > 0,
    "upstream cuts": k.get("up_cut", 0) > 0,
    "long streams": k.get("long_stream", 0) >= 12,
    "drain 503s or interrupted streams": has(lambda s: "shutting_down" in s or s.startswith("long cut") or "interrupted" in s) > 0,
    "reloads": a.get("reload", 0) > 0,
    "top-ups": a.get("topup", 0) > 0,
    "token edits under load": a.get("edit", 0) > 0,
    "edits while stopped": a.get("offline_edit", 0) > 0,
}
missing = [n for n, ok in need.items() if not ok]
print("missing: " + ", ".join(missing) if missing else "all kinds present")
sys.exit(1 if missing else 0)
PY
  echo "$output" >&2
  [ "$crash_ok" -eq 0 ]
  [ "$books_ok" -eq 0 ]
  [ "$status" -eq 0 ]
}
