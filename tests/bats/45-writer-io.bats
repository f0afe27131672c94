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
  python3 - "$RELAY_PORT" "$KEY" "$1" <<'EOF'
import http.client, sys, threading
port, key, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
bad = []
def run(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(k):
        c.request("POST", "/v1/chat/completions", body,
                  {"Content-Type": "application/json", "Authorization": "Bearer " + key})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            bad.append(r.status)
ts = [threading.Thread(target=run, args=(n // 16,)) for _ in range(16)]
[t.start() for t in ts]
[t.join() for t in ts]
sys.exit(f"{len(bad)} requests failed: {bad[:5]}" if bad else 0)
EOF
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
