#!/usr/bin/env bats
# Secrets: channel keys sealed at rest under the master key file (AES-256-GCM), the master key's
# rules, --reveal, no key or secret in any log line, error, admin answer or database row, and the
# admin socket's mode and peer-credential checks.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"
CHK=sk-chan-UPSTREAM-0123456789abcdefXYZ   # the upstream (channel) key

teardown() {
  relay_teardown
  [ -z "${SOCKDIR:-}" ] || rm -rf "$SOCKDIR"
}

# provision [mock flags...]: a mock upstream, user alice (admin, so she may pin), channel c1 with
# key $CHK, token t1 in KEY.
provision() {
  relay_env
  mock_start up "$@"
  gwctl user add alice --quota 100000000 --role admin > /dev/null
  printf '%s\n' "$CHK" | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" \
    --models gpt-4o-mini,gemini-2.5-flash,claude-3-5-haiku-latest > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
}

HI='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'

# chat KEY [BODY]: POST /v1/chat/completions; prints the status (body in $BATS_TEST_TMPDIR/chat.body)
chat() {
  curl -s -o "$BATS_TEST_TMPDIR/chat.body" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $1" -d "${2:-$HI}"
}

# admin LINE...: one answer line per request line on the admin socket
admin() {
  python3 - "$RELAY_SOCKET" "$@" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(40); s.connect(sys.argv[1]); f = s.makefile("rw")
g = json.loads(f.readline()); assert g["relay_admin"] == 1, g
for line in sys.argv[2:]:
    f.write(line + "\n"); f.flush(); print(f.readline().strip())
PY
}

@test "master key: created 0600 with 32 bytes beside the database; channel keys stored sealed; relayd opens them" {
  provision
  mk="$RELAY_DATA/master.key"
  [ "$(stat -c '%a %s' "$mk")" = "600 32" ]
  stored=$(sql "SELECT key FROM channels WHERE name = 'c1'")
  [[ "$stored" == enc:v1:????????:* ]]
  [[ "$stored" != *"$CHK"* ]]
  # the key never reaches the database file in clear (nor its WAL)
  ( ! grep -aq "$CHK" "$RELAY_DATA"/relay.db* )
  relayd_start
  [ "$(chat "$KEY")" = 200 ]
  [ "$(mock_requests | tail -1 | $JGET 'd["headers"]["authorization"]')" = "Bearer $CHK" ]
  # the same key file serves relayd: it did not make another one
  [ "$(stat -c '%a %s' "$mk")" = "600 32" ]
  ( ! grep -q "created a new master key" "$BATS_TEST_TMPDIR/relayd.log" )
}

@test "master key: relayd creates it on first start; --master-key-file and RELAY_MASTER_KEY_FILE name another file" {
  relay_env
  relayd_start
  [ "$(stat -c '%a %s' "$RELAY_DATA/master.key")" = "600 32" ]
  grep -q 'created a new master key file' "$BATS_TEST_TMPDIR/relayd.log"
  relayd_stop
  # a configured file: relayd and gwctl (through the environment) use it, not the default one
  other="$RELAY_DATA/keys/other.key"
  mkdir -p "$RELAY_DATA/keys"
  mock_start up
  gwctl user add bob --quota 1000000 > /dev/null
  printf '%s\n' "$CHK" | RELAY_MASTER_KEY_FILE="$other" gwctl channel add --name c2 --type openai \
    --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  [ "$(stat -c '%a %s' "$other")" = "600 32" ]
  ( ! cmp -s "$other" "$RELAY_DATA/master.key" )
  KEY=$(gwctl token create --user bob --name t --quota 100000)
  relayd_start --master-key-file "$other"
  [ "$(chat "$KEY")" = 200 ]
  [ "$(mock_requests | tail -1 | $JGET 'd["headers"]["authorization"]')" = "Bearer $CHK" ]
}

@test "master key: a file group or others may read is refused by relayd and gwctl; a damaged one is never replaced" {
  provision
  mk="$RELAY_DATA/master.key"
  chmod 640 "$mk"
  run "$RELAY_BIN/relayd" --listen 127.0.0.1:0 --db "$RELAY_DB" --admin-socket "$RELAY_SOCKET"
  [ "$status" -eq 1 ]
  [[ "$output" == *"has mode 0640: group and others must have no access"* ]]
  run gwctl channel add --name c9 --type openai --base-url http://127.0.0.1:9 --models m <<< "sk-x"
  [ "$status" -eq 1 ]
  [[ "$output" == *"mode 0640"* ]]
  [ "$(sql "SELECT count(*) FROM channels WHERE name = 'c9'")" = 0 ]
  chmod 600 "$mk"
  head -c 16 /dev/urandom > "$mk"
  run "$RELAY_BIN/relayd" --listen 127.0.0.1:0 --db "$RELAY_DB" --admin-socket "$RELAY_SOCKET"
  [ "$status" -eq 1 ]
  [[ "$output" == *"holds 16 bytes"* ]]
  [ "$(stat -c %s "$mk")" = 16 ]
}

@test "wrong master key: relayd refuses to start, a reload keeps the old configuration, nothing reaches the upstream" {
  provision
  cp -p "$RELAY_DATA/master.key" "$BATS_TEST_TMPDIR/good.key"
  head -c 32 /dev/urandom > "$RELAY_DATA/master.key"
  run "$RELAY_BIN/relayd" --listen 127.0.0.1:0 --db "$RELAY_DB" --admin-socket "$RELAY_SOCKET"
  [ "$status" -eq 1 ]
  [[ "$output" == *"channel 1 (c1): cannot decrypt its upstream key: encrypted under master key"*"wrong master key file?"* ]]
  [[ "$output" != *"$CHK"* ]]
  [ -z "$(mock_requests)" ]
  # with the right key relayd serves; a channel sealed under another key makes the reload fail
  cp -p "$BATS_TEST_TMPDIR/good.key" "$RELAY_DATA/master.key"
  relayd_start
  [ "$(chat "$KEY")" = 200 ]
  v1=$(admin '{"cmd":"status"}' | $JGET 'd["snapshot_version"]')
  head -c 32 /dev/urandom > "$BATS_TEST_TMPDIR/bad.key"
  chmod 600 "$BATS_TEST_TMPDIR/bad.key"
  run env RELAY_MASTER_KEY_FILE="$BATS_TEST_TMPDIR/bad.key" "$RELAY_BIN/gwctl" channel add --name c2 \
    --type openai --base-url "$MOCK_URL" --models gpt-4o <<< "sk-other-key-123456"
  [ "$status" -eq 6 ]   # saved, not live
  [[ "$output" == *"the change is saved, but relayd at $RELAY_SOCKET did not reload"*"channel 2 (c2): cannot decrypt its upstream key"* ]]
  [ "$(admin '{"cmd":"status"}' | $JGET 'd["snapshot_version"]')" = "$v1" ]
  grep -q 'reload failed, the previous configuration stays.*channel 2 (c2): cannot decrypt' "$BATS_TEST_TMPDIR/relayd.log"
  mock_reset
  [ "$(chat "$KEY" '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}')" = 404 ]   # c2 never loaded: no channel serves gpt-4o
  [ -z "$(mock_requests)" ]
  [ "$(chat "$KEY")" = 200 ]   # the old snapshot still serves
  # gwctl cannot open it with the right key either: a clear error, no garbage
  run gwctl channel show c2 --reveal
  [ "$status" -eq 1 ]
  [[ "$output" == *"channel 2: cannot decrypt its upstream key: encrypted under master key"* ]]
}

@test "legacy plaintext channel keys are sealed by relayd at start and still work" {
  provision
  sql "INSERT INTO channels(type, name, key, models, base_url) VALUES ('openai', 'legacy', 'sk-legacy-PLAIN-abcdef123', 'gpt-4o', '$MOCK_URL')"
  relayd_start
  grep -q 'encrypted plaintext channel keys with the master key.*channels=1' "$BATS_TEST_TMPDIR/relayd.log"
  [[ "$(sql "SELECT key FROM channels WHERE name = 'legacy'")" == enc:v1:* ]]
  ( ! grep -q 'sk-legacy-PLAIN' "$BATS_TEST_TMPDIR/relayd.log" )
  [ "$(chat "$KEY" '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}')" = 200 ]
  [ "$(mock_requests | tail -1 | $JGET 'd["headers"]["authorization"]')" = "Bearer sk-legacy-PLAIN-abcdef123" ]
  [ "$(gwctl channel show legacy --reveal --json | $JGET 'd["key"]')" = sk-legacy-PLAIN-abcdef123 ]
}

@test "gwctl channel show and list print keys only with --reveal (table and JSON); help, man page, completion" {
  provision
  printf 'sk-second-KEY-987654321\n' | gwctl channel edit c1 --key-stdin
  for args in "channel show c1" "channel show c1 --json" "channel list" "channel list --json"; do
    run gwctl $args
    [ "$status" -eq 0 ]
    [[ "$output" != *sk-second-KEY* ]]
    [[ "$output" != *enc:v1* ]]
  done
  [ "$(gwctl channel show c1 --reveal --json | $JGET 'd["key"]')" = sk-second-KEY-987654321 ]
  [ "$(gwctl channel list --reveal --json | $JGET 'd[0]["key"]')" = sk-second-KEY-987654321 ]
  gwctl channel list --reveal | grep -q 'sk-second-KEY-987654321'
  gwctl channel show c1 --reveal | grep -q 'sk-second-KEY-987654321'
  gwctl channel show --help 2>&1 | grep -q -- '--reveal'
  grep -q -- 'reveal' "$BATS_TEST_DIRNAME/../../man/gwctl.1"
  gwctl --list-commands | grep -q -- '--reveal'
}

@test "no key or secret in any log line, error, admin answer, event or database row" {
  provision --echo-key
  sql "UPDATE users SET role = 10 WHERE username = 'alice'"
  BAD=sk-badBADbad0123456789notakey
  relayd_start
  # events of every request, on a subscribed admin connection
  python3 - "$RELAY_SOCKET" "$BATS_TEST_TMPDIR/events" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline(); f.write('{"cmd":"subscribe"}\n'); f.flush()
out = open(sys.argv[2], "w"); s.settimeout(8); end = time.time() + 8
try:
    while time.time() < end:
        line = f.readline()
        if not line: break
        out.write(line); out.flush()
except Exception: pass
PY
  sub=$!
  sleep 0.5
  out="$BATS_TEST_TMPDIR/outputs"
  : > "$out"
  q='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
  qs='{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
  for k in "$KEY" "$BAD" "$KEY-1" "$KEY-99" "${KEY}x"; do
    curl -s -i "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $k" -d "$q" >> "$out"
    curl -s -i -N "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $k" -d "$qs" >> "$out"
    curl -s -i "$RELAY_URL/v1/messages" -H "x-api-key: $k" -H 'anthropic-version: 2023-06-01' \
      -d '{"model":"claude-3-5-haiku-latest","max_tokens":20,"messages":[{"role":"user","content":"hi"}]}' >> "$out"
    curl -s -i "$RELAY_URL/v1beta/models/gemini-2.5-flash:generateContent?key=$k" \
      -d '{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}' >> "$out"
    curl -s -i "$RELAY_URL/v1/models" -H "Authorization: Bearer $k" >> "$out"
  done
  # an upstream that rejects the channel key and quotes it back (as OpenAI does): relayd must not
  # pass it on (OpenAI clients get 4xx bodies as they came, others a converted message; 5xx too)
  mock_start up2 --echo-key --status 401
  mock_start up3 --echo-key --status 500
  printf '%s\n' "$CHK" | gwctl channel add --name c2 --type openai --base-url "$MOCK_UP2_URL" --models gpt-4o > /dev/null
  printf '%s\n' "$CHK" | gwctl channel add --name c3 --type openai --base-url "$MOCK_UP3_URL" --models gpt-4.1 > /dev/null
  printf '%s\n' "$CHK" | gwctl channel add --name c4 --type anthropic --base-url "$MOCK_UP2_URL" --models o3 > /dev/null
  printf '%s\n' "$CHK" | gwctl channel add --name c5 --type gemini --base-url "$MOCK_UP2_URL" --models o4-mini > /dev/null
  for m in gpt-4o gpt-4.1 o3 o4-mini; do
    curl -s -i "$RELAY_URL/v1/chat/completions" -H "Authorization: Bearer $KEY" \
      -d "{\"model\":\"$m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" >> "$out"
    curl -s -i "$RELAY_URL/v1/messages" -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' \
      -d "{\"model\":\"$m\",\"max_tokens\":20,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" >> "$out"
  done
  [ "$(grep -c 'Incorrect API key provided: \[redacted\]' "$out")" -ge 4 ]   # the echoes arrived, redacted
  # channel test (relayd's and gwctl's) against the upstream that refuses the key and quotes it
  gwctl channel edit c1 --base-url "$MOCK_UP2_URL" > /dev/null
  admin '{"cmd":"channel_test","channel":"c1"}' >> "$out"
  admin '{"cmd":"status"}' '{"cmd":"stats"}' '{"cmd":"reload"}' '{"cmd":"help"}' >> "$out"
  for args in "channel list" "channel show c1" "channel list --json" "channel show c1 --json" \
      "token list" "token show t1 --json" "log list --json" "status --json" "stats --json" \
      "channel test c1" "channel test c1 --json" "channel models c1"; do
    gwctl $args >> "$out" 2>&1 || true
  done
  wait_until 10 grep -q '"status":200' "$BATS_TEST_TMPDIR/events"
  wait "$sub" || true
  relayd_stop
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 2")" -ge 4 ]
  sql "SELECT * FROM logs" > "$BATS_TEST_TMPDIR/logrows"
  python3 - "${RELAY_DB#sqlite:}" > "$BATS_TEST_TMPDIR/dbdump" <<'PY'
import sqlite3, sys
for line in sqlite3.connect(sys.argv[1]).iterdump(): print(line)
PY
  [ -s "$out" ] && [ -s "$BATS_TEST_TMPDIR/events" ] && [ -s "$BATS_TEST_TMPDIR/logrows" ]
  grep -q 'Incorrect API key provided' "$out"   # the echo test really ran
  body=${KEY#sk-}
  for f in "$out" "$BATS_TEST_TMPDIR/events" "$BATS_TEST_TMPDIR/logrows" "$BATS_TEST_TMPDIR/dbdump" \
      "$BATS_TEST_TMPDIR/relayd.log"; do
    for secret in "$CHK" "${CHK#sk-}" "$body" "${BAD#sk-}"; do
      if grep -aqF -- "$secret" "$f"; then
        echo "secret ${secret:0:12}... found in $f:" >&2
        grep -anF -- "$secret" "$f" | head -5 >&2
        return 1
      fi
    done
  done
  ( ! grep -aqF -- "$CHK" "$RELAY_DATA"/relay.db* )
}

@test "admin socket: 0600 by default; --admin-group makes it 0660 with that group" {
  relay_env
  relayd_start
  [ "$(stat -c '%a' "$RELAY_SOCKET")" = 600 ]
  relayd_stop
  relayd_start --admin-group daemon
  [ "$(stat -c '%a %G' "$RELAY_SOCKET")" = "660 daemon" ]
  relayd_stop
  run "$RELAY_BIN/relayd" --listen 127.0.0.1:0 --db "$RELAY_DB" --admin-socket "$RELAY_SOCKET" \
    --admin-group no-such-group-xyz
  [ "$status" -eq 1 ]
  [[ "$output" == *"admin_group 'no-such-group-xyz' is not a group on this system"* ]]
}

# as_user UID GID [GROUPS] CMD...: runs CMD with that identity (root only)
as_user() {
  local uid=$1 gid=$2 groups=$3
  shift 3
  if [ -n "$groups" ]; then
    setpriv --reuid="$uid" --regid="$gid" --groups="$groups" -- "$@"
  else
    setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@"
  fi
}

# py: the system's python3 (a per-user one, e.g. pyenv's shim under /root, is not for other users)
py() {
  if [ -x /usr/bin/python3 ]; then echo /usr/bin/python3; else command -v python3; fi
}

# probe: connects to $SOCK as whoever runs it; prints the first line relayd sends or the error
PROBE='import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("connect: %s" % e.strerror); sys.exit(0)
print(s.makefile().readline().strip())'

@test "admin socket: peer credentials checked on every connection (root, relayd's user, the admin group; others refused)" {
  [ "$(id -u)" = 0 ] || skip "needs root to act as other users (setpriv)"
  command -v setpriv > /dev/null || skip "setpriv (util-linux) is not installed"
  nobody=$(id -u nobody) nogroup=$(getent group nogroup | cut -d: -f3) daemon_gid=$(getent group daemon | cut -d: -f3)
  [ -n "$nobody" ] && [ -n "$nogroup" ] && [ -n "$daemon_gid" ] || skip "no nobody/nogroup/daemon accounts"
  ( ! id -nG nobody | grep -qw daemon ) || skip "nobody is a member of daemon here"
  relay_env
  SOCKDIR=$(mktemp -d /tmp/relay-sock.XXXXXX)
  chmod 755 "$SOCKDIR"
  relayd_start --admin-socket "$SOCKDIR/admin.sock" --admin-group daemon
  export RELAY_SOCKET="$SOCKDIR/admin.sock"   # relayd_start set the default one
  # root
  [[ "$("$(py)" -c "$PROBE" "$RELAY_SOCKET")" == *'"relay_admin":1'* ]]
  # primary group = the admin group: allowed
  [[ "$(as_user "$nobody" "$daemon_gid" "" "$(py)" -c "$PROBE" "$RELAY_SOCKET")" == *'"relay_admin":1'* ]]
  # the file mode lets a supplementary member of daemon connect, but nobody is not a member of
  # daemon in the user database and its primary group is nogroup: refused by the peer check
  run as_user "$nobody" "$nogroup" "$daemon_gid" "$(py)" -c "$PROBE" "$RELAY_SOCKET"
  [[ "$output" == *'"code":"forbidden"'* ]]
  grep -q "admin socket: connection refused\" peer_uid=$nobody peer_gid=$nogroup" "$BATS_TEST_TMPDIR/relayd.log"
  # not in the group at all: the mode keeps it out
  run as_user "$nobody" "$nogroup" "" "$(py)" -c "$PROBE" "$RELAY_SOCKET"
  [ "$output" = "connect: Permission denied" ]
  # even a socket opened to everyone (a mistaken chmod) refuses a stranger on every connection
  chmod 666 "$RELAY_SOCKET"
  for i in 1 2; do
    run as_user "$nobody" "$nogroup" "" "$(py)" -c "$PROBE" "$RELAY_SOCKET"
    [[ "$output" == *'"code":"forbidden"'* ]]
  done
  [ "$(grep -c "admin socket: connection refused\" peer_uid=$nobody" "$BATS_TEST_TMPDIR/relayd.log")" -ge 3 ]
  # a refused gwctl exits 77 (run from a copy nobody can reach: the checkout may sit under a 0700
  # home such as /root, and so may the sanitizer's suppressions file)
  cp "$RELAY_BIN/gwctl" "$SOCKDIR/gwctl"
  local lsan=${LSAN_OPTIONS:-} supp
  supp=$(printf '%s' "$lsan" | sed -n 's/.*suppressions=\([^:]*\).*/\1/p')
  if [ -n "$supp" ] && [ -f "$supp" ]; then
    cp "$supp" "$SOCKDIR/lsan.supp"
    lsan=${lsan/"$supp"/"$SOCKDIR/lsan.supp"}
  fi
  chmod 755 "$SOCKDIR/gwctl"
  run as_user "$nobody" "$nogroup" "" env RELAY_SOCKET="$RELAY_SOCKET" LSAN_OPTIONS="$lsan" "$SOCKDIR/gwctl" status
  echo "$output"
  [ "$status" -eq 77 ]
  # root still gets in
  [[ "$("$(py)" -c "$PROBE" "$RELAY_SOCKET")" == *'"relay_admin":1'* ]]
}
