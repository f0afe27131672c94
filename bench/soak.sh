#!/bin/bash
# bench/soak.sh: `make soak`. SOAK_SECONDS (default 600) of mixed load against relayd and the mock
# upstream: SOAK_STREAMS concurrent streams (sse-load, default 40) and SOAK_CONNS keep-alive
# non-streaming clients (wrk, default 8; the mock answers after SOAK_DELAY_MS, default 5), one third of the non-streaming requests through the
# Anthropic and Gemini client APIs. relayd's RSS is sampled every SOAK_SAMPLE_S (default 20) seconds;
# the run passes when, after the warm-up (the first SOAK_WARMUP_S, default a quarter of the run),
# no sample exceeds the first post-warm-up sample by more than 5 % (SOAK_TOLERANCE_PCT), relayd
# served requests all along and exits 0 on SIGTERM. Prints every sample. Not part of make check.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BIN="$PWD/$BUILD/bin"
SECS=${SOAK_SECONDS:-600}
SAMPLE=${SOAK_SAMPLE_S:-20}
WARMUP=${SOAK_WARMUP_S:-$((SECS / 4))}
STREAMS=${SOAK_STREAMS:-40}
CONNS=${SOAK_CONNS:-8}
TOL=${SOAK_TOLERANCE_PCT:-5}
for b in relayd gwctl mock-upstream sse-load; do
  [ -x "$BIN/$b" ] || { echo "soak: $BIN/$b is missing (make all bench-tools)" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "soak: wrk is not installed (sh scripts/deps.sh test)" >&2; exit 2; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

tmp=$(mktemp -d /tmp/relay-soak.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

export RELAY_DB="sqlite:$tmp/relay.db" RELAY_SOCKET="$tmp/admin.sock"
"$BIN/mock-upstream" --port 0 --port-file "$tmp/mock.port" --record-limit 0 --threads 2 --delay-ms "${SOAK_DELAY_MS:-5}" \
  --chunks 16 --chunk-gap-ms 20 > "$tmp/mock.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$tmp/mock.port" ] && break; sleep 0.05; done
MOCK="http://127.0.0.1:$(cat "$tmp/mock.port")"
"$BIN/gwctl" init > /dev/null
"$BIN/gwctl" user add soak --quota 900000000000000 > /dev/null
printf 'sk-soak-up\n' | "$BIN/gwctl" channel add --name up --type openai --base-url "$MOCK" \
  --models gpt-4o-mini,claude-3-5-haiku-latest,gemini-2.5-flash > /dev/null
KEY=$("$BIN/gwctl" token create --user soak --name soak --unlimited 2>/dev/null ||
      "$BIN/gwctl" token create --user soak --name soak --quota 900000000000000)
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
"$BIN/relayd" --listen "127.0.0.1:$PORT" --db "$RELAY_DB" --admin-socket "$RELAY_SOCKET" \
  --log-level warn > "$tmp/relayd.log" 2>&1 &
RPID=$!
pids+=($RPID)
for _ in $(seq 200); do curl -s -o /dev/null "$URL/v1/models" && break; sleep 0.05; done

cat > "$tmp/mixed.lua" <<EOF
-- wrk: non-streaming requests through the three client APIs, in turn
local n = 0
local msg = '"messages":[{"role":"user","content":"hi"}]'
request = function()
  n = n + 1
  local k = n % 3
  if k == 0 then
    return wrk.format("POST", "/v1/chat/completions",
      {["Authorization"] = "Bearer $KEY", ["Content-Type"] = "application/json"},
      '{"model":"gpt-4o-mini",' .. msg .. '}')
  elseif k == 1 then
    return wrk.format("POST", "/v1/messages",
      {["x-api-key"] = "$KEY", ["anthropic-version"] = "2023-06-01", ["Content-Type"] = "application/json"},
      '{"model":"claude-3-5-haiku-latest","max_tokens":50,' .. msg .. '}')
  else
    return wrk.format("POST", "/v1beta/models/gemini-2.5-flash:generateContent",
      {["x-goog-api-key"] = "$KEY", ["Content-Type"] = "application/json"},
      '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}')
  end
end
EOF

echo "soak: ${SECS} s, ${STREAMS} streams + ${CONNS} non-streaming clients, RSS every ${SAMPLE} s, warm-up ${WARMUP} s"
"$BIN/sse-load" --url "$URL/v1/chat/completions" --key "$KEY" --streams "$STREAMS" \
  --duration-s "$SECS" --json > "$tmp/sse.json" 2> "$tmp/sse.err" &
SSE=$!
pids+=($SSE)
wrk -t 2 -c "$CONNS" -d "${SECS}s" --timeout 30s -s "$tmp/mixed.lua" "$URL" > "$tmp/wrk.txt" 2>&1 &
WRK=$!
pids+=($WRK)

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$RPID/status"; }
reqs() { "$BIN/gwctl" status --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests_total"])' 2>/dev/null || echo "?"; }
start=$(date +%s)
baseline=
max_after=0
fail=0
printf '%8s %10s %12s %s\n' "t_s" "rss_kb" "requests" "note"
while :; do
  now=$(( $(date +%s) - start ))
  kill -0 "$RPID" 2>/dev/null || { echo "soak: relayd died" >&2; cat "$tmp/relayd.log" >&2; exit 1; }
  r=$(rss)
  note=""
  if [ "$now" -lt "$WARMUP" ]; then
    note="warm-up"
  elif [ -z "$baseline" ]; then
    baseline=$r
    note="baseline"
  else
    [ "$r" -gt "$max_after" ] && max_after=$r
    if [ $((r * 100)) -gt $((baseline * (100 + TOL))) ]; then note="> baseline + ${TOL}%"; fail=1; fi
  fi
  printf '%8d %10d %12s %s\n' "$now" "$r" "$(reqs)" "$note"
  [ "$now" -ge "$SECS" ] && break
  sleep "$SAMPLE"
done
wait "$SSE" || true
wait "$WRK" || true
echo "--- sse-load"; cat "$tmp/sse.json"; echo
echo "--- wrk (non-streaming: chat, messages, generateContent)"; cat "$tmp/wrk.txt"
kill -TERM "$RPID"
rc=0
wait "$RPID" || rc=$?
pids=("${pids[@]/$RPID}")
[ "$rc" -eq 0 ] || { echo "soak: relayd exited $rc on SIGTERM" >&2; fail=1; }
errs=$(grep -c 'level=error' "$tmp/relayd.log" || true)
[ -n "$baseline" ] || { echo "soak: the run ended inside the warm-up: no baseline" >&2; exit 1; }
growth=$(python3 -c "print('%.1f' % (100.0 * (max($max_after, $baseline) - $baseline) / $baseline))")
echo "soak: baseline ${baseline} kB after warm-up, highest later ${max_after} kB (+${growth} %), tolerance ${TOL} %, relayd error lines: ${errs}"
if [ "$fail" -ne 0 ]; then echo "soak: FAILED"; exit 1; fi
echo "soak: passed (RSS flat within ${TOL} % after warm-up)"
