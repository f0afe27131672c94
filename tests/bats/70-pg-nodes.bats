#!/usr/bin/env bats
# Several relayd nodes on one PostgreSQL database (doc/postgres.md): a real server started for this
# file in a temporary directory (tests/pg.sh), three relayd processes on it, the mock upstream.
# Proves: gwctl changes reach every node through NOTIFY within 100 ms (no admin socket involved);
# load spread over the nodes bills exactly; a database restart in the middle of load loses no row;
# an outage longer than the log buffer refuses new requests (503) and loses nothing; nodes racing
# on one balance overspend at most the documented bound.

load helpers
load gwctl_helpers

setup_file() {
  RELAY_TEST_PGHOST=$(sh "$BATS_TEST_DIRNAME/../pg.sh" start)
  sh "$BATS_TEST_DIRNAME/../pg.sh" template "$RELAY_TEST_PGHOST" "$RELAY_BIN/gwctl"
  export RELAY_TEST_PGHOST RELAY_TEST_DB=postgres
}

teardown_file() {
  sh "$BATS_TEST_DIRNAME/../pg.sh" stop "$RELAY_TEST_PGHOST"
}

teardown() {
  local rc=0 i
  # a test that stopped the server and failed must not take the next tests down with it
  sh "$BATS_TEST_DIRNAME/../pg.sh" ensure "$RELAY_TEST_PGHOST" || rc=1
  for i in 1 2 3; do node_stop "$i" || rc=1; done
  relay_teardown || rc=1
  return $rc
}

# node_start I [relayd args...]: relayd number I on the test's database, its own port and admin
# socket ($RELAY_DATA/nodeI.sock); exports NODEI_URL and NODEI_SOCK.
node_start() {
  local i=$1 port sock log k
  shift
  relay_env
  port=$(free_port)
  sock="$RELAY_DATA/node$i.sock"
  log="$BATS_TEST_TMPDIR/node$i.log"
  _spawn "node$i" "$log" "$RELAY_BIN/relayd" --listen "127.0.0.1:$port" --db "$RELAY_DB" \
    --admin-socket "$sock" --workers 1 --shutdown-grace-s 5 "$@"
  for ((k = 0; k < $(_relay_scale 10) * 10; k++)); do
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/v1/models" && break
    _running "node$i" || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  export "NODE${i}_URL=http://127.0.0.1:$port" "NODE${i}_SOCK=$sock"
  [ "$i" != 1 ] || export RELAY_URL="http://127.0.0.1:$port"    # chat_as talks to node 1
}

# answers I CODE: node I answers a chat request of $KEY with HTTP status CODE.
answers() {
  local url="NODE${1}_URL"
  [ "$(curl -s -o /dev/null -w '%{http_code}' "${!url}/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model":"gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}')" = "$2" ]
}

# status_is I EXPR: the Python expression EXPR of node I's status is true.
status_is() {
  [ "$(status_of "$1" "$2")" = true ]
}

# node_stop I: SIGTERM; fails unless it exits 0 with a sanitizer-clean log.
node_stop() {
  local i=$1 rc=0
  [ -s "$BATS_TEST_TMPDIR/node$i.pid" ] || return 0
  _stop "node$i" "$(_relay_scale 15)" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "node $i exited with status $rc" >&2
    cat "$BATS_TEST_TMPDIR/node$i.log" >&2
    return 1
  fi
  _sanitizer_clean "$BATS_TEST_TMPDIR/node$i.log"
}

# status_of I EXPR: gwctl status --json of node I, then the Python expression EXPR of it.
status_of() {
  local sock="NODE${1}_SOCK"
  gwctl --socket "${!sock}" status --json | "$JGET" "$2"
}

# drained: every node's writer has committed everything it queued.
drained() {
  local i
  for i in 1 2 3; do
    [ -s "$BATS_TEST_TMPDIR/node$i.pid" ] || continue
    [ "$(status_of "$i" 'd["writer_backlog"]')" = 0 ] || return 1
  done
}

# provision QUOTA: a user alice with QUOTA, an unlimited token (key in $KEY), a channel to the mock.
provision() {
  relay_env
  gwctl --socket '' user add alice --quota "$1" > /dev/null
  KEY=$(gwctl --socket '' token create --user alice --name t1 --unlimited)
  gwctl --socket '' channel add --name up --type openai --base-url "$MOCK_URL" --models gpt-4o-mini \
    --no-key > /dev/null
}

# spread OUT N CONCURRENCY [MAX_TOKENS]: N chat requests spread round-robin over the three nodes by
# CONCURRENCY threads; writes {"ok": successes, "codes": {status: count}} to OUT.
spread() {
  python3 - "$1" "$2" "$3" "${4:-5}" "$KEY" "$NODE1_URL" "$NODE2_URL" "$NODE3_URL" <<'PY'
import http.client, json, sys, threading, urllib.parse
out, n, conc, max_tokens, key = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
urls = [urllib.parse.urlparse(u) for u in sys.argv[6:9]]
body = json.dumps({"model": "gpt-4o-mini", "max_tokens": max_tokens,
                   "messages": [{"role": "user", "content": "hi"}]})
lock, codes, nxt = threading.Lock(), {}, [0]
def worker():
    conns = {}
    while True:
        with lock:
            i = nxt[0]; nxt[0] += 1
        if i >= n:
            return
        u = urls[i % 3]
        try:
            c = conns.get(i % 3) or http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            conns[i % 3] = c
            c.request("POST", "/v1/chat/completions", body,
                      {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
            r = c.getresponse(); r.read(); code = r.status
        except Exception:
            conns.pop(i % 3, None); code = 0
        with lock:
            codes[code] = codes.get(code, 0) + 1
ts = [threading.Thread(target=worker) for _ in range(conc)]
for t in ts: t.start()
for t in ts: t.join()
json.dump({"ok": codes.get(200, 0), "codes": codes}, open(out, "w"))
PY
}

# logged_more_than N: the database holds more than N consume rows.
logged_more_than() {
  [ "$(sql 'SELECT count(*) FROM logs WHERE type=2')" -gt "$1" ]
}

# billing_exact: the database agrees with itself: the user's and token's used quota equal the sum of
# the logged charges, the balance moved by as much, one request_count per consume row.
billing_exact() {
  local q0=$1
  [ "$(sql "SELECT sum(quota) FROM logs WHERE type=2")" = "$(sql "SELECT used_quota FROM users")" ]
  [ "$(sql "SELECT sum(quota) FROM logs WHERE type=2")" = "$(sql "SELECT used_quota FROM tokens")" ]
  [ "$(sql "SELECT $q0 - quota FROM users")" = "$(sql "SELECT used_quota FROM users")" ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=2")" = "$(sql "SELECT request_count FROM users")" ]
  [ "$(sql "SELECT sum(quota) FROM logs WHERE type=2")" = "$(sql "SELECT sum(used_quota) FROM channels")" ]
}

@test "a gwctl change reaches all three nodes through NOTIFY within 100 ms" {
  mock_start
  provision 100000000
  for i in 1 2 3; do node_start $i; done
  for i in 1 2 3; do [ "$(status_of $i 'd["notifications"]["listening"]')" = true ]; done
  for i in 1 2 3; do chat_as "$KEY" gpt-4o-mini; [ "$status_code" = 200 ]; done
  # the change goes through gwctl without any admin socket: only NOTIFY can tell the nodes; a
  # Python poller asks the three admin sockets for the snapshot version until each has reloaded
  run python3 - "$RELAY_BIN/gwctl" "$NODE1_SOCK" "$NODE2_SOCK" "$NODE3_SOCK" <<'PY'
import json, socket, subprocess, sys, time
gw, socks = sys.argv[1], sys.argv[2:]
def version(path):
    s = socket.socket(socket.AF_UNIX); s.connect(path); f = s.makefile("rw")
    f.readline(); f.write('{"cmd":"status"}\n'); f.flush()
    v = json.loads(f.readline())["snapshot_version"]; s.close(); return v
lat = []
for trial, cmd in enumerate([["user", "edit", "alice", "--group", "default"], ["channel", "edit", "up", "--weight", "3"],
                             ["config", "set", "retry_times", "1"], ["group", "set", "vip", "--ratio", "2"],
                             ["price", "set", "x-model", "--ratio", "1"]]):
    before = [version(p) for p in socks]
    subprocess.run([gw, "--socket", ""] + cmd, check=True, stdout=subprocess.DEVNULL)
    t0 = time.monotonic()
    pending = set(range(3))
    while pending and time.monotonic() - t0 < 5:
        pending = {i for i in pending if version(socks[i]) <= before[i]}
    ms = (time.monotonic() - t0) * 1000
    if pending:
        sys.exit("nodes %s never reloaded after %s" % (sorted(pending), cmd))
    lat.append(ms)
lat.sort()
print("reload latency after gwctl, all three nodes: median %.1f ms, max %.1f ms (%s)" %
      (lat[2], lat[-1], ", ".join("%.1f" % x for x in lat)))
sys.exit(0 if lat[2] <= 100 else 1)
PY
  echo "# $output" >&3
  [ "$status" -eq 0 ]
  # and the behaviour follows: a token disabled through gwctl alone is refused by every node
  gwctl --socket '' token disable t1
  for i in 1 2 3; do wait_until 2 answers $i 401; done
  for i in 1 2 3; do [ "$(status_of $i 'd["notifications"]["reloads"] >= 6')" = true ]; done
}

@test "load spread over three nodes bills exactly" {
  mock_start
  provision 100000000
  for i in 1 2 3; do node_start $i; done
  spread "$BATS_TEST_TMPDIR/load.json" 600 12
  ok=$("$JGET" 'd["ok"]' < "$BATS_TEST_TMPDIR/load.json")
  echo "# 600 requests over 3 nodes: $(cat "$BATS_TEST_TMPDIR/load.json")" >&3
  [ "$ok" -eq 600 ]
  wait_until 10 drained
  [ "$(sql "SELECT count(*) FROM logs WHERE type=2")" = 600 ]
  billing_exact 100000000
  # every node served a third
  for i in 1 2 3; do [ "$(status_of $i 'd["requests_total"]')" -ge 200 ]; done
  # each node folded the other nodes' charges as they committed (NOTIFY relay_balance)
  for i in 1 2 3; do [ "$(status_of $i 'd["notifications"]["balance_folds"] >= 1')" = true ]; done
}

@test "a PostgreSQL restart in the middle of load loses no row and refuses no request" {
  mock_start --delay-ms 5
  provision 100000000
  for i in 1 2 3; do node_start $i; done
  spread "$BATS_TEST_TMPDIR/load.json" 1500 6 &
  loader=$!
  wait_until 10 logged_more_than 100
  sh "$BATS_TEST_DIRNAME/../pg.sh" restart "$RELAY_TEST_PGHOST"
  wait "$loader"
  echo "# 1500 requests, database restarted during them: $(cat "$BATS_TEST_TMPDIR/load.json")" >&3
  ok=$("$JGET" 'd["ok"]' < "$BATS_TEST_TMPDIR/load.json")
  [ "$ok" -eq 1500 ]
  wait_until 15 drained
  [ "$(sql "SELECT count(*) FROM logs WHERE type=2")" = "$ok" ]
  billing_exact 100000000
  # the writers saw the restart (failed commits) and the listeners came back
  errs=0
  for i in 1 2 3; do errs=$((errs + $(status_of $i 'd["writer_errors"]'))); done
  echo "# writer commits retried across the restart: $errs" >&3
  for i in 1 2 3; do
    wait_until 10 status_is $i 'd["notifications"]["listening"] and d["notifications"]["reconnects"] >= 1'
  done
  # and NOTIFY works again after the reconnect
  gwctl --socket '' token disable t1
  for i in 1 2 3; do wait_until 2 answers $i 401; done
}

@test "an outage longer than the log buffer: new requests get 503, nothing admitted is lost" {
  mock_start
  provision 100000000
  node_start 1 --writer-buffer-max 1000 --access-log no   # access log lines queue records too
  sh "$BATS_TEST_DIRNAME/../pg.sh" kill "$RELAY_TEST_PGHOST"
  NODE2_URL=$NODE1_URL NODE3_URL=$NODE1_URL spread "$BATS_TEST_TMPDIR/load.json" 1100 8
  echo "# 1100 requests with the database down, buffer 1000: $(cat "$BATS_TEST_TMPDIR/load.json")" >&3
  ok=$("$JGET" 'd["ok"]' < "$BATS_TEST_TMPDIR/load.json")
  # a request queues two records while the database is away (its reservation and its log row):
  # admission stops once 1000 wait; the 8 requests in flight then still add theirs
  backlog=$(status_of 1 'd["writer_backlog"]')
  echo "# writer backlog with the database down: $backlog records for $ok requests" >&3
  [ "$backlog" -ge 1000 ] && [ "$backlog" -le $((1000 + 2 * 8)) ]
  [ "$ok" -ge $((1000 / 2 - 8)) ] && [ "$backlog" -le $((2 * ok)) ]
  [ "$("$JGET" 'd["codes"].get("503", 0)' < "$BATS_TEST_TMPDIR/load.json")" -eq $((1100 - ok)) ]
  [ "$("$JGET" 'd["codes"].get("503", 0)' < "$BATS_TEST_TMPDIR/load.json")" -gt 0 ]
  # the refusal is an OpenAI-shaped error that says why
  http POST "$NODE1_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -H 'Content-Type: application/json' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  [ "$HTTP_STATUS" = 503 ]
  [ "$(echo "$HTTP_BODY" | "$JGET" 'd["error"]["code"]')" = log_buffer_full ]
  sh "$BATS_TEST_DIRNAME/../pg.sh" up "$RELAY_TEST_PGHOST"
  wait_until 15 status_is 1 'd["writer_backlog"] == 0'
  [ "$(sql "SELECT count(*) FROM logs WHERE type=2")" = "$ok" ]
  billing_exact 100000000
  chat_as "$KEY" gpt-4o-mini
  [ "$status_code" = 200 ]
}

@test "nodes racing on one balance overspend at most 2 x (nodes - 1) x concurrency x charge" {
  # the upstream reports 2000 prompt tokens: a charge close to the request's worst case (its bound:
  # the body's bytes + 1024 at the dearest input ratio), so a balance of 100 charges admits about
  # 100 requests, as it did when a reservation was only an estimate
  mock_start --delay-ms 150 --prompt-tokens 2000
  relay_env
  for i in 1 2 3; do node_start $i; done
  provision 1000000
  # one request's charge c and reservation r (its worst case: doc/design.md "Money"), measured with
  # the load's own request; the balance is then set to 100 c + r: 100 requests' worth, and room for
  # the last reservation (a request is admitted only while its worst case fits)
  spread "$BATS_TEST_TMPDIR/one.json" 1 1 5
  wait_until 5 drained
  c=$(sql "SELECT quota FROM logs WHERE type=2")
  r=$(sql "SELECT billing FROM logs WHERE type=2" | "$JGET" 'd["reserved"]')
  [ "$c" -gt 0 ] && [ "$r" -ge "$c" ]
  gwctl --socket '' user edit alice --quota $((100 * c + r))
  sql "DELETE FROM logs"
  sql "UPDATE users SET used_quota = 0, request_count = 0"
  sql "UPDATE tokens SET used_quota = 0"
  sql "UPDATE channels SET used_quota = 0"
  gwctl --socket '' config set retry_times 2     # any change: every node reloads the balance
  sleep 0.3
  # 4 clients per node (12 in all) ask for far more than the balance
  spread "$BATS_TEST_TMPDIR/load.json" 400 12 5
  wait_until 10 drained
  ok=$("$JGET" 'd["ok"]' < "$BATS_TEST_TMPDIR/load.json")
  spent=$(sql "SELECT sum(quota) FROM logs WHERE type=2")
  over=$((spent - 100 * c - r))
  bound=$((2 * 2 * 4 * c))
  echo "# balance 100 c + r (c = $c, r = $r), 3 nodes x 4 clients: $ok served, spent $spent, overspend $over (bound $bound): $(cat "$BATS_TEST_TMPDIR/load.json")" >&3
  [ "$over" -le "$bound" ]
  [ "$ok" -ge 90 ]
  billing_exact $((100 * c + r))
  # once folded, every node refuses the exhausted user
  for i in 1 2 3; do wait_until 2 answers $i 429; done
}

@test "a database host that accepts connections but never answers: gwctl and relayd give up (connect_timeout 10 s by default)" {
  relay_env
  port=$(free_port)
  python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16)
held = []
while True:
    c, _ = s.accept(); held.append(c)   # accepted, never answered
' "$port" 3>&- &
  silent=$!
  wait_until 10 python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()' "$port"
  run timeout 60 "$RELAY_BIN/gwctl" --db "postgresql://relay@127.0.0.1:$port/relay" user list
  echo "$output"
  [ "$status" -ne 0 ]
  [ "$status" -ne 124 ]   # not killed by timeout(1): libpq gave up by itself
  [[ "$output" == *"timeout expired"* ]]
  run timeout 60 "$RELAY_BIN/relayd" --listen "127.0.0.1:$(free_port)" --admin-socket "$RELAY_DATA/t.sock" \
    --db "postgresql://relay@127.0.0.1:$port/relay"
  kill "$silent"
  echo "$output"
  [ "$status" -ne 0 ]
  [ "$status" -ne 124 ]
  [[ "$output" == *"timeout expired"* ]]
}
