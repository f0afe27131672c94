#!/usr/bin/env bats
# gwctl config (runtime options) and the daemon verbs status, stats, reload, drain, undrain over the
# admin socket; the command table, help, man page and completion stay in step.

load helpers
load gwctl_helpers

setup() {
  relay_env
  gwctl user add alice --quota 100000000
}

@test "config list, get, set, unset; known keys only, values checked" {
  run gwctl config list
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "$(printf 'KEY                           VALUE     DEFAULT   SET  SUMMARY')" ]
  [ "$(gwj '[(o["key"], o["value"], o["set"]) for o in d][:3]' config list)" = '[["retry_times", "2", false], ["preconsume_completion_tokens", "256", false], ["rate_limit_window_s", "60", false]]' ]
  [ "$(gwj '[o["key"] for o in d if o["key"] in ("routing", "webhook_url", "breaker_failures")]' config list)" = '["routing", "breaker_failures", "webhook_url"]' ]
  [ "$(gwctl config get retry_times)" = 2 ]
  gwctl config set retry_times 0
  [ "$(gwctl config get retry_times)" = 0 ]
  [ "$(gwj '[d["value"], d["default"], d["set"]]' config get retry_times)" = '["0", "2", true]' ]
  gwctl config set preconsume_completion_tokens 1000
  [ "$(sql "SELECT key, value FROM options ORDER BY key")" = "$(printf 'preconsume_completion_tokens\t1000\nretry_times\t0')" ]
  gwctl config unset retry_times
  [ "$(gwctl config get retry_times)" = 2 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=3 AND content LIKE 'config %'")" = 3 ]
  refused 2 "unknown option 'colour'; known options: retry_times, preconsume_completion_tokens" gwctl config set colour red
  refused 2 "unknown option 'nope'" gwctl config get nope
  refused 2 "retry_times must be from 0 to 10, not 11" gwctl config set retry_times 11
  refused 2 "retry_times must be a non-negative integer, not 'x'" gwctl config set retry_times x
  refused 2 "negative numbers are not accepted" gwctl config set preconsume_completion_tokens -1
  refused 2 "missing VALUE" gwctl config set retry_times
}

@test "config set retry_times reaches a running relayd" {
  mock_start bad --status 500
  mock_start up
  printf 'k\n' | gwctl channel add --name broken --type openai --base-url "$MOCK_BAD_URL" --models gpt-4o-mini --priority 10 > /dev/null
  printf 'k\n' | gwctl channel add --name healthy --type openai --base-url "$MOCK_UP_URL" --models gpt-4o-mini > /dev/null
  key=$(gwctl token create --user alice --name t --unlimited)
  relayd_start
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 200 ]
  gwctl config set retry_times 0
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 502 ]
}

# gwctl and relayd read one table (common/options.c): for every option, boundary and invalid values
# are accepted by `gwctl config set` exactly when relayd applies them from the database (a value
# written behind gwctl's back that gwctl would refuse keeps relayd's default). Before the table
# relayd applied breaker_failures 1001 (and any integer >= 0) that gwctl refuses, booleans 2, any
# webhook_url text; on that code this test fails (relayd's `config` had no "options" either).
# every_option PART: that check, for the options whose place in `gwctl config list` is PART
# modulo 4 (four tests, each well within the per-test timeout on a loaded machine: the 330 values
# took 4 minutes in one test while other suites ran). Each part checks at least 25 values.
every_option() {
  local part=$1 keys k v msg lo hi def ok applied want n=0 i=0 long
  relayd_start
  keys=$(gwj '" ".join(o["key"] for o in d)' config list)
  [ "$(echo "$keys" | wc -w)" -ge 17 ]
  [ "$(gwctl config show --json | "$JGET" 'sorted(d["options"])')" = "$(gwj 'sorted(o["key"] for o in d)' config list)" ]
  long=$(printf 'x%.0s' $(seq 1100))
  for k in $keys; do
    i=$((i + 1))
    [ $(((i - 1) % 4)) = "$part" ] || continue
    def=$(gwj 'd["default"]' config get "$k")
    [ "$(gwctl config show --json | "$JGET" "d['options']['$k']")" = "$def" ]
    msg=$(gwctl config set "$k" 99999999999999999999 2>&1 >/dev/null || true)
    if [[ $msg =~ must\ be\ from\ (-?[0-9]+)\ to\ ([0-9]+) ]]; then
      lo=${BASH_REMATCH[1]} hi=${BASH_REMATCH[2]}
      set -- $((lo - 1)) "$lo" $((lo + 1)) $((hi - 1)) "$hi" $((hi + 1)) 2 x 1.5 " 3" +3 007
    else
      set -- weighted latency bogus "https://hook.example/a?t=1" "http://h.example" "ftp://h.example" "a,b" "" "$long"
    fi
    for v in "$@"; do
      ok=0 want=$def
      gwctl config unset "$k" > /dev/null
      gwctl config set "$k" "$v" > /dev/null 2>&1 || ok=$?
      if [ "$ok" = 0 ]; then
        want=$(sql "SELECT value FROM options WHERE key = '$k'")   # as gwctl stored it
        if [ "$k" = webhook_url ] && [ -n "$want" ]; then want="(set)"; fi
      else
        [ "$ok" = 2 ]
      fi
      # the raw value behind gwctl's back, then a reload: relayd applies what gwctl stored, or keeps
      # the default when gwctl refused the value
      sql "INSERT INTO options(key, value) VALUES ('$k', '$v') ON CONFLICT(key) DO UPDATE SET value = excluded.value"
      gwctl reload > /dev/null
      applied=$(gwctl config show --json | "$JGET" "d['options']['$k']")
      if [ "$applied" != "$want" ]; then
        echo "$k='${v:0:40}': gwctl exit $ok, relayd applies '$applied', expected '$want'" >&2
        return 1
      fi
      n=$((n + 1))
    done
    gwctl config unset "$k" > /dev/null
  done
  echo "part $part: $n values checked" >&3
  [ "$n" -ge 25 ]
}

@test "every option (1 of 4): gwctl config set accepts a value exactly when relayd applies it" {
  every_option 0
}

@test "every option (2 of 4): gwctl config set accepts a value exactly when relayd applies it" {
  every_option 1
}

@test "every option (3 of 4): gwctl config set accepts a value exactly when relayd applies it" {
  every_option 2
}

@test "every option (4 of 4): gwctl config set accepts a value exactly when relayd applies it" {
  every_option 3
}

@test "status, reload, stats, drain, undrain over the admin socket; exit 69 without relayd" {
  refused 69 "relayd is not running" gwctl status
  refused 69 "relayd is not running" gwctl reload --json
  RELAY_SOCKET= refused 69 "no admin socket" gwctl status
  relayd_start
  run gwctl status
  [ "$status" -eq 0 ]
  echo "$output" | grep -Eq '^version +[0-9]'
  echo "$output" | grep -Eq "^pid +$RELAYD_PID$"
  [ "$(gwj 'd["pid"]' status)" = "$RELAYD_PID" ]
  run gwctl reload
  [ "$status" -eq 0 ]
  echo "$output" | grep -Eq '^users +1$'
  [ "$(gwj 'd["users"]' reload)" = 1 ]
  run gwctl stats
  [ "$status" -eq 0 ] || [[ "$output" =~ "does not support 'stats'" ]]
  run gwctl stats --json
  [ "$status" -eq 0 ] || [[ "$output" =~ "does not support 'stats'" ]]
  run gwctl drain --json
  if [ "$status" -eq 0 ]; then
    [ "$(echo "$output" | $JGET 'd["draining"]')" = true ]
    curl -s -o /dev/null -w '%{http_code}' "$RELAY_URL/v1/models" -H 'Authorization: Bearer x' | grep -qx 503
    run gwctl undrain
    [ "$status" -eq 0 ]
    echo "$output" | grep -Eq '^draining +no$'
  else
    [[ "$output" =~ "does not support 'drain'" ]]
  fi
  refused 2 "unexpected argument 'x'" gwctl status x
}

@test "help, --list-commands, man page and completion follow the command table" {
  run gwctl --list-commands
  [ "$status" -eq 0 ]
  table=$output
  # every noun and verb is in the man page
  # (split by hand: read with IFS=tab would merge the empty verb of a one-word command)
  while IFS= read -r line; do
    noun=${line%%$'\t'*} rest=${line#*$'\t'}
    verb=${rest%%$'\t'*}
    if [ -n "$verb" ]; then
      grep -qF "gwctl $noun $verb" "$BATS_TEST_DIRNAME/../../man/gwctl.1" || { echo "man page lacks: gwctl $noun $verb" >&2; false; }
    else
      grep -q "gwctl $noun\\b" "$BATS_TEST_DIRNAME/../../man/gwctl.1" || { echo "man page lacks: gwctl $noun" >&2; false; }
    fi
  done <<< "$table"
  run gwctl help
  echo "$output" | grep -q 'gwctl redeem use CODE --user NAME'
  echo "$output" | grep -q '  gwctl status \[--json\]'
  run gwctl help status
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "usage: gwctl status [--json]" ]
  run gwctl pricing list --json
  [ "$status" -eq 0 ]
  run gwctl users list
  [ "$status" -eq 0 ]
  # completion: nouns, verbs (none for one-word commands), options
  source "$BATS_TEST_DIRNAME/../../completions/gwctl.bash"
  comp() { COMP_WORDS=("$RELAY_BIN/gwctl" "$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=(); _gwctl; echo "${COMPREPLY[*]}"; }
  [[ " $(comp '') " == *" redeem "* ]]
  [[ " $(comp '') " == *" status "* ]]
  [ "$(comp redeem '')" = "create disable export list rm use" ]
  [[ " $(comp token create --ex) " == *" --expires "* ]]
  [[ " $(comp status --) " == *" --json "* ]]
  [ "$(comp log stats --by '')" = "channel day group hour model status token user" ]
  [ "$(comp user show '')" = "alice" ]
}
