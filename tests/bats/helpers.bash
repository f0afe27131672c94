# helpers.bash: what every bats suite of relay shares. Load with `load helpers`.
#
# Environment (tests/run.sh sets it): RELAY_BIN = directory of the built binaries,
# RELAY_ASAN=1 under the sanitizer build (timeouts are then tripled).
# RELAY_TEST_DB=postgres runs the suite on PostgreSQL: RELAY_TEST_PGHOST names the socket directory
# of a server started by tests/pg.sh (with its relay_template database); each test gets a fresh
# database copied from that template, dropped by relay_teardown.
#
# Every daemon started here (mock-upstream, relayd) runs detached from the test shell: fd 3 closed
# (bats would wait for it otherwise) and double-forked, so a bare `wait` in a test waits only for
# the test's own background jobs. A small watcher shell records each daemon's exit status in
# $BATS_TEST_TMPDIR/TAG.rc. Daemons are listed in $BATS_TEST_TMPDIR/procs and ended by
# relay_teardown, the default teardown below. A file with its own teardown() must call relay_teardown.
#
# Files per test, all in $BATS_TEST_TMPDIR:
#   NAME.jsonl        requests received by mock NAME (one JSON object a line, see mock_requests)
#   mock-NAME.log     mock NAME's stdout+stderr;  mock-NAME.port  its port
#   relayd.log        relayd's stdout+stderr (appended across restarts)
#   data/             relayd's database (data/relay.db) and admin socket (data/admin.sock)
#
# Variables exported:
#   mock_start:   MOCK_PORT, MOCK_URL (the last mock started), MOCK_<NAME>_PORT, MOCK_<NAME>_URL,
#                 MOCK_<NAME>_PID   (NAME upper-cased, '-' and '.' -> '_')
#   relay_env:    RELAY_DATA, RELAY_DB (sqlite:PATH or postgres://...), RELAY_SOCKET
#   relayd_start: the above plus RELAY_PORT, RELAY_URL (http://127.0.0.1:PORT), RELAYD_PID

: "${RELAY_BIN:?RELAY_BIN must point at the built binaries (tests/run.sh sets it)}"

# relayd's /metrics listener defaults to 127.0.0.1:8079; tests (several suites, and other checkouts,
# may run at once) take any free port unless a test says otherwise (--metrics-listen wins over this).
export RELAY_METRICS_LISTEN="${RELAY_METRICS_LISTEN-127.0.0.1:0}"

# gwctl and gwtui speak the locale's language (common/i18n.h); the suites read their English
# messages, so they find no catalog whatever the machine's locale (63-i18n.bats sets its own).
export RELAY_LOCALEDIR=/nonexistent/relay-locale

# _relay_scale N: prints N, tripled under RELAY_ASAN=1 (sanitized binaries start and stop slower).
_relay_scale() {
  if [ "${RELAY_ASAN:-0}" = 1 ]; then echo $(($1 * 3)); else echo "$1"; fi
}

# free_port: prints a TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# _upper NAME: NAME for use in a variable name (upper case, '-' and '.' become '_').
_upper() { echo "$1" | tr '[:lower:]-.' '[:upper:]__'; }

# _sanitizer_clean FILE: fails (printing FILE) when a sanitizer reported anything in it.
_sanitizer_clean() {
  if grep -qE 'ERROR: AddressSanitizer|LeakSanitizer|runtime error:' "$1" 2>/dev/null; then
    echo "sanitizer report in $1:" >&2
    cat "$1" >&2
    return 1
  fi
}

# _spawn TAG LOG CMD...: starts CMD detached (see the top of this file) with stdout and stderr
# appended to LOG; waits for its pid, leaves it in _SPAWNED_PID and $BATS_TEST_TMPDIR/TAG.pid.
_spawn() {
  local tag=$1 log=$2 i
  shift 2
  local pidf="$BATS_TEST_TMPDIR/$tag.pid" rcf="$BATS_TEST_TMPDIR/$tag.rc"
  rm -f "$pidf" "$rcf"
  # The watcher must not inherit bats' errexit and ERR/DEBUG traps (set -eET): a failing `wait`
  # would end it before it writes the status.
  ( ( trap - ERR DEBUG RETURN EXIT
      set +eETu
      "$@" >> "$log" 2>&1 3>&- &
      echo $! > "$pidf.tmp" && mv "$pidf.tmp" "$pidf"
      wait $!
      echo $? > "$rcf.tmp" && mv "$rcf.tmp" "$rcf" ) 3>&- > /dev/null 2>&1 & )
  for ((i = 0; i < 100; i++)); do [ -s "$pidf" ] && break; sleep 0.02; done
  _SPAWNED_PID=$(cat "$pidf")
  echo "$tag" >> "$BATS_TEST_TMPDIR/procs"
}

# _running TAG: succeeds while the daemon TAG has not exited.
_running() { [ -s "$BATS_TEST_TMPDIR/$1.pid" ] && [ ! -e "$BATS_TEST_TMPDIR/$1.rc" ]; }

# _stop TAG SECONDS: SIGTERM to daemon TAG, waits up to SECONDS for its exit (SIGKILL after that).
# Returns its exit status (128+N when a signal N ended it), 124 when it had to be killed, 0 when
# it was not running.
_stop() {
  local tag=$1 limit=$(( $2 * 10 )) i pid
  local pidf="$BATS_TEST_TMPDIR/$tag.pid" rcf="$BATS_TEST_TMPDIR/$tag.rc"
  [ -s "$pidf" ] || return 0
  pid=$(cat "$pidf")
  [ -e "$rcf" ] || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit; i++)); do [ -e "$rcf" ] && break; sleep 0.1; done
  if [ ! -e "$rcf" ]; then
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do [ -e "$rcf" ] && break; sleep 0.1; done
    rm -f "$pidf"
    return 124
  fi
  rm -f "$pidf"
  return "$(cat "$rcf")"
}

# gwctl ARGS...: the built gwctl (it finds the test's database and socket via RELAY_DB and
# RELAY_SOCKET, which relay_env exports).
gwctl() { "$RELAY_BIN/gwctl" "$@"; }

# mock_start [NAME] [mock-upstream flags...]: starts a mock upstream named NAME (default "up") on a
# free port of 127.0.0.1, recording its requests in $BATS_TEST_TMPDIR/NAME.jsonl, and waits until it
# listens. Flags set the mock's default behaviour (--status, --delay-ms, --chunks, ...; see
# mock-upstream --help). Exports MOCK_PORT, MOCK_URL, MOCK_<NAME>_PORT, MOCK_<NAME>_URL, MOCK_<NAME>_PID.
mock_start() {
  local name=up
  if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then name=$1; shift; fi
  local pf="$BATS_TEST_TMPDIR/mock-$name.port" log="$BATS_TEST_TMPDIR/mock-$name.log"
  local upper pid i limit
  rm -f "$pf"
  : > "$log"
  _spawn "mock-$name" "$log" \
    "$RELAY_BIN/mock-upstream" --port 0 --port-file "$pf" --record "$BATS_TEST_TMPDIR/$name.jsonl" "$@"
  pid=$_SPAWNED_PID
  limit=$(( $(_relay_scale 10) * 20 ))
  for ((i = 0; i < limit; i++)); do
    [ -s "$pf" ] && break
    _running "mock-$name" || break
    sleep 0.05
  done
  if [ ! -s "$pf" ]; then
    echo "mock-upstream $name did not start:" >&2
    cat "$log" >&2
    return 1
  fi
  upper=$(_upper "$name")
  MOCK_PORT=$(cat "$pf")
  MOCK_URL="http://127.0.0.1:$MOCK_PORT"
  export MOCK_PORT MOCK_URL
  export "MOCK_${upper}_PORT=$MOCK_PORT" "MOCK_${upper}_URL=$MOCK_URL" "MOCK_${upper}_PID=$pid"
}

# mock_stop [NAME]: stops mock NAME (default "up") with SIGTERM; fails unless it exits 0 within
# 10 s with no sanitizer report in its log.
mock_stop() {
  local name=${1:-up} rc=0
  [ -s "$BATS_TEST_TMPDIR/mock-$name.pid" ] || { echo "mock $name was not started (or is stopped)" >&2; return 1; }
  _stop "mock-$name" "$(_relay_scale 10)" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "mock-upstream $name exited with status $rc" >&2
    cat "$BATS_TEST_TMPDIR/mock-$name.log" >&2
    return 1
  fi
  _sanitizer_clean "$BATS_TEST_TMPDIR/mock-$name.log"
}

# mock_requests [NAME]: prints the requests mock NAME (default "up") received, one JSON object a
# line: {"method","path","query"?,"headers":{lower-case name: value},"body": JSON or raw string}.
# Headers recorded: authorization, content-type, api-key, x-*, anthropic-*, openai-*.
mock_requests() {
  cat "$BATS_TEST_TMPDIR/${1:-up}.jsonl" 2>/dev/null || true
}

# mock_reset [NAME]: forgets what mock NAME (default "up") recorded (file and memory).
mock_reset() {
  local upper portvar
  upper=$(_upper "${1:-up}")
  portvar="MOCK_${upper}_PORT"
  curl -sf -o /dev/null -X POST "http://127.0.0.1:${!portvar}/__mock/reset"
}

# relay_env: exports RELAY_DATA, RELAY_DB and RELAY_SOCKET for this test (and creates the data
# directory and, with gwctl init, the SQLite database: gwctl refuses a missing one) without starting
# anything, so a test can provision with gwctl before relayd_start.
relay_env() {
  case "${RELAY_DATA:-}" in
    "$BATS_TEST_TMPDIR"/*) ;;   # already set for this test
    *)
      export RELAY_DATA="$BATS_TEST_TMPDIR/data"
      # a Unix socket path must fit in sun_path (108 bytes)
      if [ ${#RELAY_DATA} -gt 90 ]; then RELAY_DATA=$(mktemp -d /tmp/relay-data.XXXXXX); fi
      ;;
  esac
  mkdir -p "$RELAY_DATA"
  if [ "${RELAY_TEST_DB:-sqlite}" = postgres ]; then
    _pg_test_db
  else
    export RELAY_DB="sqlite:$RELAY_DATA/relay.db"
    # (an older gwctl without init created the database itself)
    [ -e "$RELAY_DATA/relay.db" ] || "$RELAY_BIN/gwctl" --socket '' init >/dev/null 2>&1 || true
  fi
  export RELAY_SOCKET="$RELAY_DATA/admin.sock"
  # local token counts stay characters/4 (the suites' expected numbers) whatever an install left in
  # the default tokenizer_dir; 18-fidelity.bats passes --tokenizer-dir with the real data
  export RELAY_TOKENIZER_DIR="$RELAY_DATA/no-tokenizer"
}

# pg_bin: the directory of PostgreSQL's programs ($PG_BIN, else the newest /usr/lib/postgresql/NN/bin).
pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  ls -d /usr/lib/postgresql/*/bin | sort -t/ -k5 -n -r | head -n 1
}

# _pg_psql DB ARGS...: psql on the test server's database DB, quiet, stopping at the first error.
_pg_psql() {
  local db=$1
  shift
  "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$RELAY_TEST_PGHOST" -U relay -d "$db" "$@"
}

# _pg_test_db: creates this test's database from relay_template (once) and exports RELAY_DB.
_pg_test_db() {
  : "${RELAY_TEST_PGHOST:?RELAY_TEST_DB=postgres needs RELAY_TEST_PGHOST (start a server: tests/pg.sh start)}"
  local f="$BATS_TEST_TMPDIR/pgdb" name
  if [ ! -s "$f" ]; then
    name="t_$$_${RANDOM}_${BATS_TEST_NUMBER:-0}"
    _pg_psql postgres -c "CREATE DATABASE $name TEMPLATE relay_template" >/dev/null
    echo "$name" > "$f"
  fi
  name=$(cat "$f")
  # channel keys are sealed with a master key file; beside a SQLite file by default, named here
  export RELAY_MASTER_KEY_FILE="$RELAY_DATA/master.key"
  export RELAY_PGDB=$name
  export RELAY_DB="postgres:///$name?host=$RELAY_TEST_PGHOST&user=relay"
}

# relayd_start [extra relayd args...]: starts relayd on a free port of 127.0.0.1 with the test's
# database and admin socket (relay_env), stdout and stderr appended to $BATS_TEST_TMPDIR/relayd.log,
# and waits (10 s, 30 s under ASan) until GET /v1/models answers anything. Extra args come last,
# so they override the defaults (--shutdown-grace-s 5). Exports RELAY_PORT, RELAY_URL, RELAYD_PID.
relayd_start() {
  relay_env
  local log="$BATS_TEST_TMPDIR/relayd.log" attempt i limit
  limit=$(( $(_relay_scale 10) * 10 ))
  for attempt in 1 2 3; do
    RELAY_PORT=$(free_port)
    RELAY_URL="http://127.0.0.1:$RELAY_PORT"
    export RELAY_PORT RELAY_URL
    _spawn relayd "$log" "$RELAY_BIN/relayd" --listen "127.0.0.1:$RELAY_PORT" --db "$RELAY_DB" \
      --admin-socket "$RELAY_SOCKET" --shutdown-grace-s 5 "$@"
    RELAYD_PID=$_SPAWNED_PID
    export RELAYD_PID
    for ((i = 0; i < limit; i++)); do
      curl -s -o /dev/null --max-time 2 "$RELAY_URL/v1/models" && return 0
      _running relayd || break
      sleep 0.1
    done
    _running relayd && break   # running but not answering
    RELAYD_PID=
    # somebody took the port between free_port and bind: try another one
    tail -n 5 "$log" | grep -qi 'address already in use' || break
  done
  echo "relayd did not start:" >&2
  cat "$log" >&2
  return 1
}

# relayd_stop: sends SIGTERM to relayd, waits (15 s, 45 s under ASan) for it to exit, and fails
# unless it exited with status 0 and relayd.log holds no AddressSanitizer, LeakSanitizer or UBSan
# ("runtime error:") report. Does nothing when relayd is not running.
relayd_stop() {
  [ -s "$BATS_TEST_TMPDIR/relayd.pid" ] || return 0
  local rc=0 log="$BATS_TEST_TMPDIR/relayd.log"
  _stop relayd "$(_relay_scale 15)" || rc=$?
  RELAYD_PID=
  if [ "$rc" -ne 0 ]; then
    if [ "$rc" = 124 ]; then echo "relayd did not stop in time (killed)" >&2
    else echo "relayd exited with status $rc" >&2; fi
    cat "$log" >&2
    return 1
  fi
  _sanitizer_clean "$log"
}

# relay_teardown: stops relayd (checking its exit as relayd_stop does), ends every other process
# the test started through these helpers, and fails if any mock logged a sanitizer report.
relay_teardown() {
  local rc=0 tag f
  relayd_stop || rc=1
  if [ -f "$BATS_TEST_TMPDIR/procs" ]; then
    while read -r tag; do   # signal all first, then wait for each
      if _running "$tag"; then kill -TERM "$(cat "$BATS_TEST_TMPDIR/$tag.pid")" 2>/dev/null || true; fi
    done < "$BATS_TEST_TMPDIR/procs"
    while read -r tag; do _stop "$tag" "$(_relay_scale 5)" || true; done < "$BATS_TEST_TMPDIR/procs"
    rm -f "$BATS_TEST_TMPDIR/procs"
  fi
  for f in "$BATS_TEST_TMPDIR"/mock-*.log; do
    [ -f "$f" ] || continue
    _sanitizer_clean "$f" || rc=1
  done
  case "${RELAY_DATA:-}" in /tmp/relay-data.*) rm -rf "$RELAY_DATA" ;; esac
  if [ -s "$BATS_TEST_TMPDIR/pgdb" ] && [ -n "${RELAY_TEST_PGHOST:-}" ]; then
    _pg_psql postgres -c "DROP DATABASE IF EXISTS $(cat "$BATS_TEST_TMPDIR/pgdb") WITH (FORCE)" \
      >/dev/null || rc=1
    rm -f "$BATS_TEST_TMPDIR/pgdb"
  fi
  return $rc
}

# Default teardown; a file that defines its own must call relay_teardown.
teardown() { relay_teardown; }

# json_get EXPR: reads one JSON document on stdin and prints the Python expression EXPR, where d is
# the document (strings bare, everything else as JSON). Example: json_get 'd["usage"]["total_tokens"]'
json_get() {
  python3 -c '
import json, sys
d = json.load(sys.stdin)
v = eval(sys.argv[1], {"d": d, "len": len, "sum": sum, "any": any, "all": all, "sorted": sorted})
print(v if isinstance(v, str) else json.dumps(v))' "$1"
}

# sse_data: reads an SSE body (text/event-stream) on stdin and prints each event's data payload, one
# a line. Fails if the framing is broken: a line other than "data: ..." / ":comment" / "event:" /
# "id:" / "retry:" or a body that does not end with a blank line.
sse_data() {
  python3 -c '
import sys
raw = sys.stdin.buffer.read().decode()
if raw and not raw.endswith("\n\n"):
    sys.exit("sse_data: body does not end with a blank line")
for block in raw.split("\n\n"):
    if not block:
        continue
    data = []
    for line in block.split("\n"):
        line = line.rstrip("\r")
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" ") if line[5:6] == " " else line[5:])
        elif line.startswith(":") or line.split(":", 1)[0] in ("event", "id", "retry"):
            continue
        else:
            sys.exit("sse_data: unexpected line %r" % line)
    if data:
        print("\n".join(data))'
}

# http METHOD URL [curl args...]: one request with curl; sets HTTP_STATUS (000 when the transfer
# failed), HTTP_BODY, HTTP_HEADERS (CRs removed) and HTTP_RC (curl's exit status). Call it
# directly, not through `run`, or the variables are lost.
http() {
  local method=$1 url=$2 out="$BATS_TEST_TMPDIR/http"
  shift 2
  HTTP_RC=0
  HTTP_STATUS=$(curl -sS -X "$method" -o "$out.body" -D "$out.headers" -w '%{http_code}' "$url" "$@" \
    2> "$out.err") || HTTP_RC=$?
  HTTP_BODY=$(cat "$out.body" 2>/dev/null || true)
  HTTP_HEADERS=$(tr -d '\r' < "$out.headers" 2>/dev/null || true)
}

# sql_is EXPECTED QUERY: the query prints EXPECTED (for wait_until, which runs it again each time;
# `wait_until N test "$(sql ...)" = X` would run the query only once)
sql_is() { [ "$(sql "$2")" = "$1" ]; }

# wait_until SECONDS CMD...: runs CMD every 0.1 s until it succeeds; fails after SECONDS.
wait_until() {
  local limit=$(( $1 * 10 )) i
  shift
  for ((i = 0; i < limit; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  echo "wait_until: '$*' still failing after $((limit / 10)) s" >&2
  return 1
}

# sql QUERY: runs one statement on the test's database; prints rows tab-separated, NULL as None and
# booleans as 1/0 (Python's sqlite3 formatting). Write portable SQL: 'single-quoted' strings;
# group_concat(X) is turned into string_agg on PostgreSQL (order it with a subquery's ORDER BY).
sql() {
  if [ "${RELAY_TEST_DB:-sqlite}" = postgres ]; then
    relay_env
    _pg_sql "$1"
    return
  fi
  python3 - "${RELAY_DB#sqlite:}" "$1" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=5)
rows = c.execute(sys.argv[2]).fetchall()
c.commit()
for r in rows:
    print("\t".join(str(x) for x in r))
PY
}

# _pg_sql QUERY: sql on PostgreSQL through psql, formatted like Python's sqlite3 rows (the column
# types from psql's \gdesc say which fields are booleans and floats).
_pg_sql() {
  PSQL="$(pg_bin)/psql" python3 - "$1" "$RELAY_TEST_PGHOST" "$RELAY_PGDB" <<'PY'
import os, subprocess, sys
q, host, db = sys.argv[1:4]
out, i, low = [], 0, q.lower()
while True:                      # group_concat(X[, SEP]) -> string_agg((X)::text, SEP)
    j = low.find("group_concat(", i)
    if j < 0:
        out.append(q[i:]); break
    out.append(q[i:j])
    k, depth = j + len("group_concat("), 1
    while depth:
        depth += {"(": 1, ")": -1}.get(q[k], 0); k += 1
    args, depth, start, inner = [], 0, 0, q[j + len("group_concat("):k - 1]
    for n, ch in enumerate(inner):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0 and inner[:n].count("'") % 2 == 0:
            args.append(inner[start:n]); start = n + 1
    args.append(inner[start:])
    sep = args[1] if len(args) > 1 else "','"
    out.append("string_agg((" + args[0] + ")::text, " + sep + ")")
    i = k
q = "".join(out).strip().rstrip(";")
def psql(text):
    r = subprocess.run([os.environ["PSQL"], "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-F", "\t",
                        "-P", "null=\x01", "-h", host, "-U", "relay", "-d", db],
                       input=text, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr); sys.exit(1)
    return r.stdout
types = []
if q.split(None, 1)[0].lower() in ("select", "with"):
    types = [l.split("\t")[1] for l in psql(q + " \\gdesc\n").splitlines() if "\t" in l]
for line in psql(q + ";\n").splitlines():
    fields = line.split("\t")
    for n, f in enumerate(fields):
        t = types[n] if n < len(types) else ""
        if f == "\x01":
            fields[n] = "None"
        elif t == "boolean":
            fields[n] = "1" if f == "t" else "0"
        elif t in ("double precision", "real") and not any(c in f for c in ".eEnN"):
            fields[n] = f + ".0"
    print("\t".join(fields))
PY
}
