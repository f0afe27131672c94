#!/usr/bin/env bats
# What the log writer's commits write besides the database (issue #26, the writer's system time).
# A batch's log rows go in multi-row INSERTs (relayd/commit.c); one that could ABORT halfway made
# SQLite keep a statement journal in a temporary file (/var/tmp/etilqs_*, created, unlinked and
# written page by page for every group of rows): 72 % of the writer's pwrite64 calls. Watched here
# with inotify on SQLITE_TMPDIR while relayd logs batches of many rows, and the books checked.

load helpers

WATCH="$BATS_TEST_TMPDIR/watch.py"

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000 > /dev/null
  printf 'sk-up\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  KEY=$(gwctl token create --user alice --name laptop --quota 50000000)
  # watch.py DIR READY STOP OUT: records the name of every file created in DIR (inotify IN_CREATE)
  # until STOP exists, then writes them to OUT, one a line
  cat > "$WATCH" <<'EOF'
import ctypes, os, select, struct, sys, time
d, ready, stop, out = sys.argv[1:5]
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
if fd < 0 or libc.inotify_add_watch(fd, d.encode(), 0x100) < 0:   # IN_CREATE
    sys.exit("inotify: " + os.strerror(ctypes.get_errno()))
open(ready, "w").close()
names = []
def drain():
    while True:
        try:
            buf = os.read(fd, 65536)
        except BlockingIOError:
            return
        i = 0
        while i < len(buf):
            _, _, _, ln = struct.unpack_from("iIII", buf, i)
            names.append(buf[i + 16:i + 16 + ln].rstrip(b"\0").decode())
            i += 16 + ln
while not os.path.exists(stop):
    select.select([fd], [], [], 0.1)
    drain()
time.sleep(0.2)
drain()
with open(out, "w") as f:
    f.write("".join(n + "\n" for n in names))
EOF
}

# load N: N chat requests from 16 concurrent clients; fails on any answer but 200
load_chats() {
  python3 "$BATS_TEST_DIRNAME/chat_load.py" "$RELAY_PORT" "$KEY" 16 "$1"
}

@test "writer: batches of many log rows write no temporary file (no statement journal) and lose nothing" {
  [ "${RELAY_TEST_DB:-sqlite}" = sqlite ] || skip "SQLite's temporary files"
  export SQLITE_TMPDIR="$BATS_TEST_TMPDIR/sqltmp"
  mkdir -p "$SQLITE_TMPDIR"
  local ready="$BATS_TEST_TMPDIR/w.ready" stop="$BATS_TEST_TMPDIR/w.stop" out="$BATS_TEST_TMPDIR/w.out"
  python3 "$WATCH" "$SQLITE_TMPDIR" "$ready" "$stop" "$out" &
  local wpid=$!
  wait_until 10 test -e "$ready"
  relayd_start
  load_chats 1600
  wait_until "$(_relay_scale 30)" sql_is 1600 "SELECT count(*) FROM logs WHERE type = 2"
  # the watcher is alive and sees this directory: our own probe is seen
  touch "$SQLITE_TMPDIR/probe"
  touch "$stop"
  wait "$wpid"
  run cat "$out"
  echo "files created in SQLITE_TMPDIR: $(grep -vc '^probe$' "$out")" >&2
  [ "$output" = probe ]
  # nothing lost: every charge is a row, and the balances moved by their sum
  relayd_stop
  local sum
  sum=$(sql "SELECT sum(quota) FROM logs WHERE type = 2")
  [ "$sum" -gt 0 ]
  sql_is "$sum" "SELECT used_quota FROM users WHERE username = 'alice'"
  sql_is "$((100000000 - sum))" "SELECT quota FROM users WHERE username = 'alice'"
  sql_is "$sum"$'\t'"$((50000000 - sum))" "SELECT used_quota, remain_quota FROM tokens WHERE name = 'laptop'"
  sql_is "$sum" "SELECT used_quota FROM channels WHERE name = 'c1'"
  sql_is 1600 "SELECT request_count FROM users WHERE username = 'alice'"
  sql_is 0 "SELECT count(*) FROM reservations"
  sql_is ok "PRAGMA integrity_check"
}

# burst N: N chat requests at once, one client each (a quiet relayd's batch of about N rows);
# fails on any answer but 200
burst_chats() {
  python3 "$BATS_TEST_DIRNAME/chat_load.py" "$RELAY_PORT" "$KEY" "$1" "$1" --timeout 60
}

# The writer's small batches (issue #26, session 10): BEGIN and COMMIT are prepared once, and a
# commit resets only the row groups (32, 16, 8, 4, 2 rows a statement) its batch bound. Batches of
# every size in turn, so each group is bound, then left unbound for a while, then bound again; and
# one batch whose BEGIN IMMEDIATE fails (another connection holds the write lock longer than the
# busy timeout, 5 s) and is retried after the lock goes: every row once, with its own fields.
@test "writer: small batches of every size in turn, and a batch retried after a locked BEGIN, log every request once" {
  relayd_start
  local total=0 n
  for n in 1 2 3 5 7 9 17 33 40 6 1 31; do
    burst_chats "$n"
    total=$((total + n))
    wait_until "$(_relay_scale 20)" sql_is "$total" "SELECT count(*) FROM logs WHERE type = 2"
  done
  if [ "${RELAY_TEST_DB:-sqlite}" = sqlite ]; then
    # hold the write lock 7 s from another connection, then let go
    local locked="$BATS_TEST_TMPDIR/locked"
    python3 - "$RELAY_DATA/relay.db" "$locked" <<'EOF2' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(7)
c.execute("COMMIT")
EOF2
    local lpid=$!
    wait_until 10 test -e "$locked"
    burst_chats 12
    total=$((total + 12))
    wait "$lpid"
    wait_until "$(_relay_scale 30)" sql_is "$total" "SELECT count(*) FROM logs WHERE type = 2"
    # the BEGIN that met the lock failed and was retried (writer commit failed, will retry)
    grep -q 'writer commit failed' "$BATS_TEST_TMPDIR/relayd.log"
  fi
  relayd_stop
  # every request once, each row its own: distinct ids, the model, tokens and a charge
  sql_is "$total" "SELECT count(DISTINCT request_id) FROM logs WHERE type = 2"
  sql_is 0 "SELECT count(*) FROM logs WHERE type = 2 AND (model_name <> 'gpt-4o-mini' OR quota <= 0 OR prompt_tokens <= 0 OR request_id = '')"
  local sum
  sum=$(sql "SELECT sum(quota) FROM logs WHERE type = 2")
  sql_is "$sum" "SELECT used_quota FROM users WHERE username = 'alice'"
  sql_is "$sum"$'\t'"$((50000000 - sum))" "SELECT used_quota, remain_quota FROM tokens WHERE name = 'laptop'"
  sql_is "$sum" "SELECT used_quota FROM channels WHERE name = 'c1'"
  sql_is "$total" "SELECT request_count FROM users WHERE username = 'alice'"
  sql_is 0 "SELECT count(*) FROM reservations"
}

# streams N GAP_MS: N streaming requests at once, 10 events GAP_MS apart each, read to the end in
# the background; their pid in STREAMS_PID
streams_bg() {
  python3 "$BATS_TEST_DIRNAME/chat_load.py" "$RELAY_PORT" "$KEY" "$1" "$1" --stream "$2" --timeout 60 \
    > "$BATS_TEST_TMPDIR/streams.out" 2>&1 &
  STREAMS_PID=$!
}

# Streams open longer than a batch: their reservations are stored by one batch (on SQLite in
# multi-row INSERTs of 8, 4 and 2 rows, the rest one by one) and deleted by the batch that settles
# them. Rounds of every size in turn: while a round is open the table holds exactly its streams,
# each row with its own request id and the reserved amount; after it, none, and every stream is
# one log row.
@test "writer: the reservations of streams open across batches are stored, each once, and deleted when they settle" {
  relayd_start
  local total=0 n
  for n in 1 2 3 5 8 11 15 14 7; do
    streams_bg "$n" 150
    # all open at once, each reservation stored (the streams last 10 x 150 ms: many batches)
    wait_until "$(_relay_scale 20)" sql_is "$n" "SELECT count(*) FROM reservations"
    sql_is "$n" "SELECT count(DISTINCT request_id) FROM reservations WHERE quota > 0 AND is_stream = 1 AND model_name = 'gpt-4o-mini' AND user_id > 0 AND token_limited = 1"
    wait "$STREAMS_PID" || { cat "$BATS_TEST_TMPDIR/streams.out" >&2; false; }
    total=$((total + n))
    wait_until "$(_relay_scale 20)" sql_is "$total" "SELECT count(*) FROM logs WHERE type = 2"
    wait_until "$(_relay_scale 20)" sql_is 0 "SELECT count(*) FROM reservations"
  done
  relayd_stop
  sql_is "$total" "SELECT count(DISTINCT request_id) FROM logs WHERE type = 2 AND is_stream = 1"
  local sum
  sum=$(sql "SELECT sum(quota) FROM logs WHERE type = 2")
  [ "$sum" -gt 0 ]
  sql_is "$sum" "SELECT used_quota FROM users WHERE username = 'alice'"
  sql_is "$sum"$'\t'"$((50000000 - sum))" "SELECT used_quota, remain_quota FROM tokens WHERE name = 'laptop'"
  sql_is "$total" "SELECT request_count FROM users WHERE username = 'alice'"
}
