#!/bin/bash
# bench/callgrind.sh: instructions (Ir) per request of relayd's or the floor's threads, counted by
# valgrind's callgrind, for CPU A/B on a machine without performance counters or with noisy
# neighbours (callgrind's counts do not depend on timing). See bench/README.md, "relay's own CPU".
#
#   bench/callgrind.sh [relayd|floor] [N] [WORKERS]     (defaults: relayd 2000 2)
#
# Starts the mock upstream and relayd (SQLite, auth, billing and logs on: one user, one unlimited
# token, one channel, as bench/bench.py sets it up) or the floor under callgrind, sends BASE and
# then BASE + N identical non-streaming chat requests over 8 kept-alive connections in two runs,
# and prints each thread's Ir of the second run less the first, divided by N: what a request costs,
# start-up and warm-up taken out. The profiles stay in $OUT (callgrind_annotate --inclusive=yes
# OUT/run2/cg.PID-NN to see where). Binaries from $RELAY_BIN (default build/bin).
# LIGHT=1: light SSE streams instead (bench.py's light row: 10 concurrent streams of 20 events 50 ms
# apart through sse-load; BASE 20 streams, N streams more): Ir per stream (bench/README.md, "Light
# streams: the per-event system calls"; e.g. LIGHT=1 bench/callgrind.sh relayd 100 2).
# Note: glibc's memset/memcpy of more than a few KB run as rep stosb / movsb, which callgrind
# counts once per byte: such clears weigh more in Ir than in cycles.
set -euo pipefail
WHAT=${1:-relayd}
N=${2:-2000}
WORKERS=${3:-2}
BASE=200
[ "${LIGHT:-0}" = 1 ] && BASE=20
BIN=${RELAY_BIN:-$PWD/build/bin}
OUT=${OUT:-$(mktemp -d /tmp/relay-callgrind.XXXXXX)}
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

load() {   # load PORT KEY COUNT: COUNT requests over 8 kept-alive connections; exits 1 on any non-200
  python3 - "$1" "$2" "$3" <<'EOF'
import http.client, sys, threading
port, key, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in five words."}],"max_tokens":16}'
hdr = {"Content-Type": "application/json"}
if key != "-":
    hdr["Authorization"] = "Bearer " + key
bad = []
def run(k):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for _ in range(k):
        c.request("POST", "/v1/chat/completions", body, hdr)
        r = c.getresponse()
        d = r.read()
        if r.status != 200:
            bad.append((r.status, d[:200]))
ts = [threading.Thread(target=run, args=(n // 8 + (1 if i < n % 8 else 0),)) for i in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
if bad:
    sys.exit(f"{len(bad)} requests failed: {bad[:2]}")
EOF
}

run() {   # run DIR COUNT
  local dir=$1 count=$2 mock pid mp rp key=-
  mkdir -p "$dir"
  mp=$(port)
  "$BIN/mock-upstream" --port "$mp" >"$dir/mock.log" 2>&1 &
  mock=$!
  rp=$(port)
  if [ "$WHAT" = relayd ]; then
    export RELAY_DB="sqlite:$dir/relay.db" RELAY_SOCKET="$dir/admin.sock"
    "$BIN/gwctl" init >/dev/null
    "$BIN/gwctl" user add bench --quota 900000000000000 >/dev/null
    echo sk-mock | "$BIN/gwctl" channel add --name mock --type openai --base-url "http://127.0.0.1:$mp" \
      --models gpt-4o-mini >/dev/null
    key=$("$BIN/gwctl" token create --user bench --name bench --unlimited)
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$dir/cg.%p" "$BIN/relayd" \
      --listen "127.0.0.1:$rp" --db "$RELAY_DB" --admin-socket "$RELAY_SOCKET" --log-level warn \
      --metrics-listen off --workers "$WORKERS" >"$dir/relayd.log" 2>&1 &
  else
    valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$dir/cg.%p" "$BIN/floor" \
      --listen "127.0.0.1:$rp" --upstream "http://127.0.0.1:$mp" --workers "$WORKERS" >"$dir/floor.log" 2>&1 &
  fi
  pid=$!
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$rp") 2>/dev/null && break; sleep 0.2; done
  if [ "${LIGHT:-0}" = 1 ]; then
    local ka=()
    [ "$key" != - ] && ka=(--key "$key")
    "$BIN/sse-load" --url "http://127.0.0.1:$rp/v1/chat/completions" --streams 10 --total "$count" "${ka[@]}" \
      --body '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say hello."}],"mock":{"chunks":20,"chunk_gap_ms":50}}' \
      | grep -q '^failures  *0$' || { echo "sse-load: failures" >&2; exit 1; }
  else
    load "$rp" "$key" "$count"
  fi
  kill -TERM "$pid"
  wait "$pid" || true
  kill "$mock"
  wait "$mock" 2>/dev/null || true
}

run "$OUT/run1" "$BASE"
run "$OUT/run2" "$((BASE + N))"
echo "$WHAT, $WORKERS workers: Ir per $([ "${LIGHT:-0}" = 1 ] && echo stream || echo request) (run of $((BASE + N)) less run of $BASE, / $N), per thread"
total=0
for f in "$OUT"/run2/cg.*-*; do
  t=${f##*-}
  a=$(grep -m1 '^summary:' "$f" | awk '{print $2}')
  b=$(grep -m1 '^summary:' "$OUT"/run1/cg.*-"$t" | awk '{print $2}')
  d=$(( (a - b) / N ))
  [ "$d" -gt 100 ] && printf '  thread %s: %8d\n' "$t" "$d"
  total=$((total + d))
done
printf '  all threads: %8d\nprofiles in %s\n' "$total" "$OUT"
