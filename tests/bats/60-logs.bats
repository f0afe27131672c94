#!/usr/bin/env bats
# The access log: one line per request (billed or refused) carrying the x-request-id the client got,
# written by the writer thread, in logfmt or JSON (log_format), switched by access_log (a reload
# applies it), and never a key or credential.

load helpers

# rows_at_least N: the request log table holds N consume/error rows (evaluated at each call)
rows_at_least() { [ "$(sql 'SELECT count(*) FROM logs WHERE type IN (2,5)')" -ge "$1" ]; }

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000 > /dev/null
  printf 'sk-upstream-SECRET-1\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  KEY=$(gwctl token create --user alice --name laptop --unlimited)
  CONF="$BATS_TEST_TMPDIR/relayd.conf"
}

# req ARGS...: one curl to relayd; appends the x-request-id it answered with to ids.txt
req() {
  local h="$BATS_TEST_TMPDIR/h"
  curl -s -o /dev/null -D "$h" "$@"
  tr -d '\r' < "$h" | sed -n 's/^[Xx]-[Rr]equest-[Ii]d: //p' >> "$BATS_TEST_TMPDIR/ids.txt"
}

traffic() {
  : > "$BATS_TEST_TMPDIR/ids.txt"
  local chat='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  req "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" -d "$chat"
  req "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  req "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mock":{"status":500}}'
  req "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer sk-wrong-key" -d "$chat"
  req "$RELAY_URL/v1/nowhere" -H "Authorization: Bearer $KEY"
  req "$RELAY_URL/v1/models" -H "Authorization: Bearer $KEY"
  req "$RELAY_URL/v1beta/models/gpt-4o-mini:generateContent?key=sk-query-SECRET-2" \
    -d '{"contents":[{"parts":[{"text":"hi"}]}]}'
  [ "$(wc -l < "$BATS_TEST_TMPDIR/ids.txt")" -eq 7 ]
}

# access_lines: the msg="request" lines of relayd.log (either format)
access_lines() { grep -E 'msg="request"|"msg":"request"' "$BATS_TEST_TMPDIR/relayd.log" || true; }

# access_at_least N: relayd.log holds N access lines (evaluated at each call, for wait_until)
access_at_least() { [ "$(access_lines | wc -l)" -ge "$1" ]; }

@test "access log: one logfmt line per request with the request id it was answered with" {
  relayd_start
  traffic
  wait_until 10 access_at_least 7
  relayd_stop
  # besides ours, only relayd_start's readiness probes (GET /v1/models without a key)
  [ "$(access_lines | grep -vFf "$BATS_TEST_TMPDIR/ids.txt" | grep -vc 'path="GET /v1/models" model="" channel=0 status=401 ')" -eq 0 ]
  while read -r id; do
    [ "$(access_lines | grep -c "request_id=$id ")" -eq 1 ] || { echo "no single line for $id" >&2; access_lines >&2; false; }
  done < "$BATS_TEST_TMPDIR/ids.txt"
  id1=$(sed -n 1p "$BATS_TEST_TMPDIR/ids.txt")
  line=$(access_lines | grep "request_id=$id1 ")
  [[ "$line" == *' user="alice" '* && "$line" == *' token="laptop" '* && "$line" == *' model="gpt-4o-mini" '* ]]
  [[ "$line" == *' channel=1 status=200 stream=false '* && "$line" == *' end_reason=done '* ]]
  [[ "$line" =~ prompt_tokens=[1-9][0-9]*\ completion_tokens=[1-9] ]]
  [[ "$(access_lines | grep "request_id=$(sed -n 2p "$BATS_TEST_TMPDIR/ids.txt") ")" == *' stream=true '* ]]
  [[ "$(access_lines | grep "request_id=$(sed -n 3p "$BATS_TEST_TMPDIR/ids.txt") ")" == *' status=502 '* ]]
  [[ "$(access_lines | grep "request_id=$(sed -n 4p "$BATS_TEST_TMPDIR/ids.txt") ")" == *'path="POST /v1/chat/completions"'*' status=401 '* ]]
  [[ "$(access_lines | grep "request_id=$(sed -n 5p "$BATS_TEST_TMPDIR/ids.txt") ")" == *'path="GET /v1/nowhere"'*' status=404 '*' end_reason=refused '* ]]
  [[ "$(access_lines | grep "request_id=$(sed -n 6p "$BATS_TEST_TMPDIR/ids.txt") ")" == *'path="GET /v1/models"'*' status=200 '*' end_reason=done '* ]]
  # never a key or credential, in any line of the log
  run grep -cE "$KEY|sk-wrong-key|SECRET|Bearer" "$BATS_TEST_TMPDIR/relayd.log"
  [ "$output" = 0 ]
}

@test "access log in JSON: each line one object with typed fields" {
  printf 'log_format = json\n' > "$CONF"
  relayd_start -c "$CONF"
  traffic
  wait_until 10 access_at_least 7
  relayd_stop
  access_lines | python3 -c '
import json, sys
ids = [l.strip() for l in open(sys.argv[1])]
objs = [json.loads(l) for l in sys.stdin]
probes = [o for o in objs if o["request_id"] not in ids]
assert all(o["path"] == "GET /v1/models" and o["status"] == 401 for o in probes), probes
objs = [o for o in objs if o["request_id"] in ids]
assert sorted(o["request_id"] for o in objs) == sorted(ids), (objs, ids)
for o in objs:
    assert o["msg"] == "request" and o["level"] == "info" and isinstance(o["status"], int), o
    assert isinstance(o["dur_ms"], int) and o["stream"] in (True, False), o
ok = [o for o in objs if o["request_id"] == ids[0]][0]
assert ok["user"] == "alice" and ok["model"] == "gpt-4o-mini" and ok["status"] == 200 and ok["prompt_tokens"] > 0, ok
' "$BATS_TEST_TMPDIR/ids.txt"
}

@test "access_log = no: no request lines; a reload turns it on" {
  printf 'access_log = no\n' > "$CONF"
  relayd_start -c "$CONF"
  traffic
  # the writer has committed the billed rows, so it has also been past any access line
  wait_until 10 rows_at_least 2
  sleep 0.2
  [ "$(access_lines | wc -l)" -eq 0 ]
  printf 'access_log = yes\n' > "$CONF"
  kill -HUP "$RELAYD_PID"
  wait_until 10 grep -q 'msg="configuration reloaded"' "$BATS_TEST_TMPDIR/relayd.log"
  traffic
  wait_until 10 access_at_least 7
}

# hostile_model_line FORMAT: relayd with log_format FORMAT gets a request whose model holds quotes,
# '=', spaces, a newline, a tab, a backslash and CJK; prints its access line
hostile_model_line() {
  printf 'log_format = %s\n' "$1" > "$CONF"
  relayd_start -c "$CONF"
  : > "$BATS_TEST_TMPDIR/ids.txt"
  req "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" -d "$HOSTILE_BODY"
  id=$(cat "$BATS_TEST_TMPDIR/ids.txt")
  wait_until 10 grep -q "$id" "$BATS_TEST_TMPDIR/relayd.log"
  relayd_stop
  grep "$id" "$BATS_TEST_TMPDIR/relayd.log"
}

HOSTILE_BODY='{"model":"m\" injected=1 \"x\":\"y\nlevel=error\tC:\\dir 你好","messages":[{"role":"user","content":"hi"}]}'

@test "access log in JSON: a model name with quotes, '=', a newline and a tab stays one string field" {
  line=$(hostile_model_line json)
  [ "$(echo "$line" | wc -l)" -eq 1 ]
  echo "$line" | python3 -c '
import json, sys
o = json.loads(sys.stdin.read())
want = json.loads(sys.argv[1])["model"]
assert o["model"] == want, (o["model"], want)
assert "injected" not in o and "x" not in o and o["level"] == "info", o
assert isinstance(o["status"], int) and o["stream"] is False, o
' "$HOSTILE_BODY"
}

@test "access log in logfmt: the same model name reads back whole (quotes, backslashes, newline escaped)" {
  line=$(hostile_model_line logfmt)
  [ "$(echo "$line" | wc -l)" -eq 1 ]
  echo "$line" | python3 -c '
import json, sys
def logfmt(s):
    out, i = {}, 0
    while i < len(s):
        if s[i] == " ":
            i += 1; continue
        k = s.index("=", i); key = s[i:k]; i = k + 1
        if i < len(s) and s[i] == "\"":
            j = i + 1; v = ""
            while s[j] != "\"":
                if s[j] == "\\":
                    e = s[j + 1]
                    if e == "u": v += chr(int(s[j + 2:j + 6], 16)); j += 6; continue
                    v += {"n": "\n", "r": "\r", "t": "\t"}.get(e, e); j += 2; continue
                v += s[j]; j += 1
            out[key] = (v, True); i = j + 1
        else:
            j = s.find(" ", i); j = len(s) if j < 0 else j
            out[key] = (s[i:j], False); i = j
    return out
o = logfmt(sys.stdin.read().rstrip("\n"))
want = json.loads(sys.argv[1])["model"]
assert o["model"] == (want, True), (o["model"], want)
assert "injected" not in o and o["level"] == ("info", False), o
assert o["stream"] == ("false", False) and o["status"][1] is False, o
' "$HOSTILE_BODY"
}
