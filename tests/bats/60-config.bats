#!/usr/bin/env bats
# relayd's settings table: --check-config (exit 0 / 78 with FILE:LINE), precedence cli > env > file
# > default shown by `gwctl config show`, SIGHUP reloading the file with the database (reloadable
# keys applied, restart-only keys reported and kept, an invalid file refused while relayd keeps
# serving), log_format = json, --dump-config.

load helpers
load gwctl_helpers

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000
  printf 'sk-upstream-1\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --unlimited)
  CONF="$BATS_TEST_TMPDIR/relayd.conf"
}

# show KEY FIELD: the field (value, source, reload) of KEY in `gwctl config show --json`
show() { gwctl config show --json | "$JGET" "[k[\"$2\"] for k in d[\"keys\"] if k[\"key\"] == \"$1\"][0]"; }

# slow_chat: a chat the mock answers after 2 s; sets status_code
slow_chat() {
  status_code=$(curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    --data-binary '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"mock":{"delay_ms":2000}}')
}

# reloaded N: relayd logged N "configuration reloaded" or "configuration refused" lines
reloaded() { [ "$(grep -cE 'configuration (reloaded|refused)' "$BATS_TEST_TMPDIR/relayd.log")" -ge "$1" ]; }

@test "--check-config: 0 for a valid file, 78 with FILE:LINE for a bad one, nothing started" {
  cat > "$CONF" <<EOF
# a comment
listen = 127.0.0.1:18080
workers = 2
log-format = json
db = "sqlite:$BATS_TEST_TMPDIR/never.db"
EOF
  run "$RELAY_BIN/relayd" --check-config -c "$CONF"
  [ "$status" -eq 0 ]
  [ "$output" = "relayd: configuration OK ($CONF)" ]
  printf 'workers = 2\nshutdown_grace_s = -1\n' > "$BATS_TEST_TMPDIR/bad.conf"
  run "$RELAY_BIN/relayd" --check-config -c "$BATS_TEST_TMPDIR/bad.conf"
  [ "$status" -eq 78 ]
  [ "$output" = "relayd: $BATS_TEST_TMPDIR/bad.conf:2: shutdown_grace_s: '-1' is not an integer from 0 to 3600
relayd: 1 error in the configuration" ]
  printf '\n\ncolour = red\n' > "$BATS_TEST_TMPDIR/bad.conf"
  run "$RELAY_BIN/relayd" -t -c "$BATS_TEST_TMPDIR/bad.conf"
  [ "$status" -eq 78 ]
  [ "$output" = "relayd: $BATS_TEST_TMPDIR/bad.conf:3: unknown setting 'colour'
relayd: 1 error in the configuration" ]
  printf 'listen 8080\n' > "$BATS_TEST_TMPDIR/bad.conf"
  run "$RELAY_BIN/relayd" --check-config -c "$BATS_TEST_TMPDIR/bad.conf"
  [ "$status" -eq 78 ]
  [[ "$output" == *"bad.conf:1: expected 'key = value'"* ]]
  printf 'listen = localhost\nlog_format = xml\n' > "$BATS_TEST_TMPDIR/bad.conf"
  run "$RELAY_BIN/relayd" --check-config -c "$BATS_TEST_TMPDIR/bad.conf"
  [ "$status" -eq 78 ]
  # every error, not only the first
  [[ "$output" == *"bad.conf:1: listen: 'localhost' is not HOST:PORT"* ]]
  [[ "$output" == *"bad.conf:2: log_format: 'xml' is not one of logfmt|json"* ]]
  [[ "$output" == *"relayd: 2 errors in the configuration" ]]
  printf 'log_format = xml\n' > "$BATS_TEST_TMPDIR/bad.conf"
  run "$RELAY_BIN/relayd" --check-config -c "$BATS_TEST_TMPDIR/bad.conf"
  [ "$status" -eq 78 ]
  [[ "$output" == *"bad.conf:1: log_format: 'xml' is not one of logfmt|json"* ]]
  # the environment is checked too, and named
  RELAY_WORKERS=many run "$RELAY_BIN/relayd" --check-config -c "$CONF"
  [ "$status" -eq 78 ]
  [ "$output" = "relayd: environment RELAY_WORKERS: workers: 'many' is not an integer from 0 to 256
relayd: 1 error in the configuration" ]
  run "$RELAY_BIN/relayd" --check-config -c "$BATS_TEST_TMPDIR/missing.conf"
  [ "$status" -eq 78 ]
  [[ "$output" == *"missing.conf: cannot open: No such file or directory"* ]]
  run "$RELAY_BIN/relayd" --check-config --no-such-key 1
  [ "$status" -eq 2 ]
  # nothing was started or created
  [ ! -e "$BATS_TEST_TMPDIR/never.db" ]
  run curl -s -o /dev/null --max-time 1 http://127.0.0.1:18080/
  [ "$status" -ne 0 ]
}

@test "precedence cli > env > file > default, shown by gwctl config show with each value's source" {
  cat > "$CONF" <<EOF
connect_timeout_ms = 1111
request_timeout_s = 111
stream_idle_timeout_s = 11
EOF
  RELAY_REQUEST_TIMEOUT_S=222 RELAY_STREAM_IDLE_TIMEOUT_S=22 relayd_start -c "$CONF" --stream-idle-timeout-s 33
  [ "$(show connect_timeout_ms value)" = 1111 ]
  [ "$(show connect_timeout_ms source)" = file ]
  [ "$(show request_timeout_s value)" = 222 ]
  [ "$(show request_timeout_s source)" = env ]
  [ "$(show stream_idle_timeout_s value)" = 33 ]
  [ "$(show stream_idle_timeout_s source)" = cli ]
  [ "$(show max_body_bytes value)" = 33554432 ]
  [ "$(show max_body_bytes source)" = default ]
  [ "$(show workers reload)" = false ]
  [ "$(show connect_timeout_ms reload)" = true ]
  [ "$(gwctl config show --json | "$JGET" 'd["file"]')" = "$CONF" ]
  # the table form
  run gwctl config show
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "file: $CONF" ]
  echo "$output" | grep -Eq '^KEY +VALUE +SOURCE +APPLIED_BY$'
  echo "$output" | grep -Eq '^request_timeout_s +222 +env +reload$'
  echo "$output" | grep -Eq '^listen +127\.0\.0\.1:[0-9]+ +cli +restart$'
  # every key of the table is shown
  [ "$(gwctl config show --json | "$JGET" 'sorted(k["key"] for k in d["keys"])')" = \
    "$("$RELAY_BIN/relayd" --dump-config=json | "$JGET" 'sorted(k["name"] for k in d)')" ]
  relayd_stop
  RELAY_SOCKET="$RELAY_DATA/none.sock" run gwctl config show
  [ "$status" -eq 69 ]
}

@test "SIGHUP: a reloadable key takes effect on the next request; a restart-only change is logged and kept" {
  printf 'request_timeout_s = 30\nworkers = 1\n' > "$CONF"
  relayd_start -c "$CONF"
  slow_chat
  [ "$status_code" = 200 ]
  printf 'request_timeout_s = 1\nworkers = 2\n' > "$CONF"
  kill -HUP "$RELAYD_PID"
  wait_until 10 reloaded 1
  grep -q 'msg="setting changed" key=request_timeout_s from="30" to="1"' "$BATS_TEST_TMPDIR/relayd.log"
  grep -q 'msg="setting changed but needs a restart; the running value stays" key=workers running="1" configured="2"' "$BATS_TEST_TMPDIR/relayd.log"
  grep -q 'msg="configuration reloaded" file=".*relayd.conf" changed=1 needs_restart=1' "$BATS_TEST_TMPDIR/relayd.log"
  [ "$(show request_timeout_s value)" = 1 ]
  [ "$(show workers value)" = 1 ]
  [ "$(gwctl status --json | "$JGET" 'd["workers"]')" = 1 ]
  # the worker applies the new timeout: the 2 s upstream is now too slow
  slow_chat
  [ "$status_code" = 504 ]
}

@test "SIGHUP with an invalid file: refused as a whole (database changes too), relayd keeps serving; fixed, both apply" {
  printf 'request_timeout_s = 30\n' > "$CONF"
  relayd_start -c "$CONF"
  v1=$(gwctl status --json | "$JGET" 'd["snapshot_version"]')
  # a new token, written without telling relayd: saved, not live (gwctl says so: exit 6)
  local rc=0
  KEY2=$(RELAY_SOCKET= gwctl token create --user alice --name t2 --unlimited 2> /dev/null) || rc=$?
  [ "$rc" -eq 6 ] && [ -n "$KEY2" ]
  printf 'request_timeout_s = 1\nmax_body_bytes = tiny\n' > "$CONF"
  kill -HUP "$RELAYD_PID"
  wait_until 10 reloaded 1
  grep -q "msg=\"configuration refused, the running one stays\" error=\"$CONF:2: max_body_bytes: 'tiny' is not an integer" "$BATS_TEST_TMPDIR/relayd.log"
  [ "$(gwctl status --json | "$JGET" 'd["snapshot_version"]')" = "$v1" ]
  [ "$(show request_timeout_s value)" = 30 ]
  chat_as "$KEY" gpt-4o-mini
  [ "$status_code" = 200 ]
  chat_as "$KEY2" gpt-4o-mini
  [ "$status_code" = 401 ]
  slow_chat
  [ "$status_code" = 200 ]
  # fixed: the settings and the database arrive together
  printf 'request_timeout_s = 1\n' > "$CONF"
  kill -HUP "$RELAYD_PID"
  wait_until 10 reloaded 2
  [ "$(gwctl status --json | "$JGET" 'd["snapshot_version"]')" -gt "$v1" ]
  [ "$(show request_timeout_s value)" = 1 ]
  chat_as "$KEY2" gpt-4o-mini
  [ "$status_code" = 200 ]
  slow_chat
  [ "$status_code" = 504 ]
}

@test "log_format = json: every stderr line is one JSON object; a reload switches the format" {
  printf 'log_format = json\n' > "$CONF"
  relayd_start -c "$CONF"
  chat_as "$KEY" gpt-4o-mini
  printf 'log_format = logfmt\n' > "$CONF"
  kill -HUP "$RELAYD_PID"
  wait_until 10 grep -q 'msg="configuration reloaded"' "$BATS_TEST_TMPDIR/relayd.log"
  relayd_stop
  python3 - "$BATS_TEST_TMPDIR/relayd.log" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
js = [l for l in lines if l.startswith("{")]
lf = [l for l in lines if l.startswith("ts=")]
assert len(js) + len(lf) == len(lines), lines
assert js and lf, lines
objs = [json.loads(l) for l in js]
for o in objs:
    assert {"ts", "level", "msg"} <= set(o), o
ready = [o for o in objs if o["msg"] == "relayd ready"][0]
assert isinstance(ready["workers"], int) and ready["version"] and ready["listen"].startswith("127.0.0.1:"), ready
changed = [o for o in objs if o["msg"] == "setting changed"][0]
assert (changed["key"], changed["from"], changed["to"]) == ("log_format", "json", "logfmt"), changed
assert any('msg="relayd stopped"' in l for l in lf)
PY
}

@test "--dump-config: json, ini and man list every key; the ini output is a valid config" {
  "$RELAY_BIN/relayd" --dump-config=json > "$BATS_TEST_TMPDIR/keys.json"
  keys=$("$JGET" '" ".join(k["name"] for k in d)' < "$BATS_TEST_TMPDIR/keys.json")
  [ -n "$keys" ]
  "$RELAY_BIN/relayd" --dump-config=ini > "$BATS_TEST_TMPDIR/ini.conf"
  "$RELAY_BIN/relayd" --dump-config=man > "$BATS_TEST_TMPDIR/keys.man"
  for k in $keys; do
    grep -qx "#$k = .*" "$BATS_TEST_TMPDIR/ini.conf" || { echo "ini lacks $k" >&2; false; }
    grep -q "^\\.BR ${k//-/\\\\-} " "$BATS_TEST_TMPDIR/keys.man" || { echo "man lacks $k" >&2; false; }
  done
  # uncommented, every default is accepted as written
  sed -n 's/^#\([a-z_]* = \)/\1/p' "$BATS_TEST_TMPDIR/ini.conf" > "$BATS_TEST_TMPDIR/all.conf"
  [ "$(wc -l < "$BATS_TEST_TMPDIR/all.conf")" -eq "$(echo $keys | wc -w)" ]
  run "$RELAY_BIN/relayd" --check-config -c "$BATS_TEST_TMPDIR/all.conf"
  [ "$status" -eq 0 ]
  run "$RELAY_BIN/relayd" --dump-config=yaml
  [ "$status" -eq 2 ]
}

@test "SIGHUP with the same values written differently reports no change" {
  unset RELAY_METRICS_LISTEN
  # the key twice (the last wins), then once: the same value, reached another way
  printf 'metrics_listen = 127.0.0.1:0\nmetrics_listen = off\nlog_level = warn\n' > "$CONF"
  relayd_start -c "$CONF" --log-level info
  printf 'metrics_listen = off\nlog_level = warn\n' > "$CONF"
  kill -HUP "$RELAYD_PID"
  wait_until 10 reloaded 1
  grep -q 'msg="configuration reloaded" file=".*relayd.conf" changed=0 needs_restart=0' "$BATS_TEST_TMPDIR/relayd.log"
  run grep -c 'setting changed' "$BATS_TEST_TMPDIR/relayd.log"
  [ "$output" = 0 ]
  [ "$(show metrics_listen value)" = off ]
  [ "$(show log_level source)" = cli ]
}
