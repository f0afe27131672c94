#!/usr/bin/env bats
# relayd under valgrind (memcheck): a run with chat (stream and not), Claude and Gemini clients,
# Anthropic and Gemini channels, refused requests, an admin reload and SIGHUP, then SIGTERM; any
# memcheck error or a definite/indirect leak fails. Skipped under the ASan build (valgrind cannot
# run sanitized binaries; check-asan covers leaks there). `make valgrind` runs this file alone.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  [ "${RELAY_ASAN:-0}" != 1 ] || skip "valgrind does not run ASan binaries (make check-asan checks leaks with LSan)"
  command -v valgrind > /dev/null || skip "valgrind is not installed (sh scripts/deps.sh test)"
}

# vg_relayd_start: relayd under valgrind on a free port; waits up to 120 s for it to answer.
vg_relayd_start() {
  relay_env
  local i
  RELAY_PORT=$(free_port)
  RELAY_URL="http://127.0.0.1:$RELAY_PORT"
  export RELAY_PORT RELAY_URL
  VG_LOG="$BATS_TEST_TMPDIR/valgrind.log"
  _spawn relayd "$BATS_TEST_TMPDIR/relayd.log" valgrind --tool=memcheck --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    --error-exitcode=99 --track-origins=yes --num-callers=30 --log-file="$VG_LOG" \
    "$RELAY_BIN/relayd" --listen "127.0.0.1:$RELAY_PORT" --db "$RELAY_DB" \
    --admin-socket "$RELAY_SOCKET" --workers 2 --shutdown-grace-s 10
  RELAYD_PID=$_SPAWNED_PID
  for ((i = 0; i < 1200; i++)); do
    curl -s -o /dev/null --max-time 5 "$RELAY_URL/v1/models" && return 0
    _running relayd || break
    sleep 0.1
  done
  echo "relayd under valgrind did not start:" >&2
  cat "$BATS_TEST_TMPDIR/relayd.log" "$VG_LOG" >&2
  return 1
}

# req PATH BODY [curl args]: POST to relayd, fails unless the status is 200; body in $body
req() {
  local path=$1 data=$2 code
  shift 2
  code=$(curl -s -N --max-time 60 -o "$BATS_TEST_TMPDIR/resp" -w '%{http_code}' "$RELAY_URL$path" \
    -H 'content-type: application/json' --data-binary "$data" "$@")
  body=$(cat "$BATS_TEST_TMPDIR/resp")
  if [ "$code" != 200 ]; then
    echo "POST $path answered $code: $body" >&2
    return 1
  fi
}

@test "relayd is free of memory errors and leaks under valgrind (chat, Claude, Gemini, reload, SIGTERM)" {
  relay_env
  mock_start up --chunks 3
  gwctl user add alice --quota 100000000 > /dev/null
  printf 'sk-up\n' | gwctl channel add --name oai --type openai --base-url "$MOCK_URL" \
    --models gpt-4o-mini,claude-3-5-haiku-latest,gemini-2.5-flash > /dev/null
  printf 'sk-ant\n' | gwctl channel add --name ant --type anthropic --base-url "$MOCK_URL" \
    --models claude-sonnet-4-0 > /dev/null
  printf 'sk-gem\n' | gwctl channel add --name gem --type gemini --base-url "$MOCK_URL" \
    --models gemini-2.5-pro > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  vg_relayd_start
  local msg='"messages":[{"role":"user","content":"hi"}]'
  # OpenAI clients: OpenAI, Anthropic and Gemini channels, stream and not
  for m in gpt-4o-mini claude-sonnet-4-0 gemini-2.5-pro; do
    req /v1/chat/completions "{\"model\":\"$m\",$msg}" -H "Authorization: Bearer $KEY"
    [ "$(echo "$body" | $JGET 'd["choices"][0]["message"]["content"]')" != "" ]
    req /v1/chat/completions "{\"model\":\"$m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},$msg}" \
      -H "Authorization: Bearer $KEY"
    [[ "$body" == *"data: [DONE]"* ]]
  done
  # Claude clients
  req /v1/messages "{\"model\":\"claude-3-5-haiku-latest\",\"max_tokens\":20,$msg}" \
    -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01'
  [ "$(echo "$body" | $JGET 'd["type"]')" = message ]
  req /v1/messages "{\"model\":\"claude-3-5-haiku-latest\",\"max_tokens\":20,\"stream\":true,$msg}" \
    -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01'
  [[ "$body" == *"event: message_stop"* ]]
  # Gemini clients
  local gbody='{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}'
  req /v1beta/models/gemini-2.5-flash:generateContent "$gbody" -H "x-goog-api-key: $KEY"
  [ "$(echo "$body" | $JGET 'd["candidates"][0]["finishReason"]')" = STOP ]
  req "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=$KEY" "$gbody"
  [[ "$body" == *'"finishReason":"STOP"'* ]]
  # refused and failing requests
  run curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$RELAY_URL/v1/chat/completions" \
    -H 'Authorization: Bearer sk-nope12345678' -d "{\"model\":\"gpt-4o-mini\",$msg}"
  [ "$output" = 401 ]
  run curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $KEY" -d '{"model":'
  [ "$output" = 400 ]
  # configuration reloads: over the admin socket (gwctl) and by SIGHUP
  gwctl reload > /dev/null
  gwctl channel edit oai --weight 5 > /dev/null
  kill -HUP "$RELAYD_PID"
  req /v1/chat/completions "{\"model\":\"gpt-4o-mini\",$msg}" -H "Authorization: Bearer $KEY"
  gwctl status > /dev/null
  # SIGTERM: relayd exits 0 (99 = valgrind found errors)
  local rc=0
  _stop relayd 120 || rc=$?
  RELAYD_PID=
  if [ "$rc" -ne 0 ] || ! grep -q 'ERROR SUMMARY: 0 errors' "$VG_LOG"; then
    echo "relayd under valgrind exited $rc:" >&2
    cat "$VG_LOG" >&2
    return 1
  fi
  grep -q 'definitely lost: 0 bytes' "$VG_LOG" || grep -q 'All heap blocks were freed' "$VG_LOG"
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 2 AND status = 200")" -ge 11 ]
}
