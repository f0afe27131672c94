#!/usr/bin/env bats
# gwctl never fails silently (issue #21): a change that cannot reach the relayd serving the database
# (wrong socket, a relayd on another database) exits 6 and says so; no relayd at all is fine; only
# gwctl init creates a database; unpriced models are warned about and flagged; several keys on a
# channel's stdin are refused; NOUN --help lists the verbs and -- ends options.
# Runs on SQLite and (RELAY_TEST_DB=postgres) on PostgreSQL, where a change also reaches every relayd
# of the database through NOTIFY.

load helpers
load gwctl_helpers

setup() {
  relay_env
  mock_start up
  gwctl user add alice --quota 100000000 > /dev/null
  printf 'sk-up\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" \
    --models gpt-4o-mini > /dev/null
  KEY=$(gwctl token create --user alice --name laptop --quota 50000000)
}

pg() { [ "${RELAY_TEST_DB:-sqlite}" = postgres ]; }

key_refused() { chat_as "$KEY" gpt-4o-mini; [ "$status_code" = 401 ]; }

# another_db VAR: a second, separately created relay database (its own id); its URL in VAR
another_db() {
  if pg; then
    _pg_psql postgres -c "CREATE DATABASE ${RELAY_PGDB}_other" > /dev/null
    printf -v "$1" '%s' "postgres:///${RELAY_PGDB}_other?host=$RELAY_TEST_PGHOST&user=relay"
  else
    printf -v "$1" '%s' "sqlite:$BATS_TEST_TMPDIR/other/relay.db"
  fi
  gwctl --db "${!1}" init > /dev/null
}

teardown() {
  local rc=0
  relay_teardown || rc=1
  if pg && [ -n "${RELAY_PGDB:-}" ]; then
    _pg_psql postgres -c "DROP DATABASE IF EXISTS ${RELAY_PGDB}_other WITH (FORCE)" > /dev/null || rc=1
  fi
  return $rc
}

@test "a change the running relayd is not told about: exit 6 naming the socket (SQLite); NOTIFY reaches it (PostgreSQL)" {
  relayd_start
  chat_as "$KEY" gpt-4o-mini
  [ "$status_code" = 200 ]
  run gwctl --socket "$BATS_TEST_TMPDIR/wrong.sock" token disable laptop
  # saved either way
  [ "$(sql "SELECT status FROM tokens WHERE name = 'laptop'")" = 2 ]
  if pg; then
    [ "$status" -eq 0 ]
    [[ "$output" == *"note: no relayd answers at $BATS_TEST_TMPDIR/wrong.sock"*"reload through PostgreSQL notifications"* ]]
    wait_until 10 key_refused
  else
    [ "$status" -eq 6 ]
    [[ "$output" == "gwctl: the change is saved in $RELAY_DB, but it is not live: relayd (pid $RELAYD_PID on "*"serves this database and no relayd answers at admin socket $BATS_TEST_TMPDIR/wrong.sock"*"then run 'gwctl reload'" ]]
    # the running relayd still accepts the key: the message was right
    chat_as "$KEY" gpt-4o-mini
    [ "$status_code" = 200 ]
    gwctl reload > /dev/null
    key_refused
  fi
  # no socket at all (RELAY_SOCKET empty): the same
  run env RELAY_SOCKET= "$RELAY_BIN/gwctl" token enable laptop
  if pg; then
    [ "$status" -eq 0 ]
    [ -z "$output" ]
  else
    [ "$status" -eq 6 ]
    [[ "$output" == *"gwctl has no admin socket to tell it; give it with --socket PATH or RELAY_SOCKET"* ]]
  fi
  # the right socket: exit 0, nothing said, live at once
  run gwctl token disable laptop
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  key_refused
}

@test "the relayd on the socket serves another database: exit 6 with both ids; the same database by another name is fine" {
  relayd_start
  another_db OTHER
  ours=$(gwctl init --json | "$JGET" 'd["database_id"]')
  theirs=$(gwctl --db "$OTHER" init --json | "$JGET" 'd["database_id"]')
  [ -n "$ours" ] && [ -n "$theirs" ] && [ "$ours" != "$theirs" ]
  # relayd reports the id of the database it serves
  [ "$(gwctl status --json | "$JGET" 'd["database_id"]')" = "$ours" ]
  run gwctl --db "$OTHER" user add bob --quota 5
  [ "$status" -eq 6 ]
  [[ "$output" == *"the change is saved in "*"(database id $theirs), but the relayd at $RELAY_SOCKET serves another database (id $ours) and did not see it"* ]]
  [ "$(gwctl --db "$OTHER" user show bob --json | "$JGET" 'd["username"]')" = bob ]
  if ! pg; then
    # a relative path to the same file: the same database
    cd "$RELAY_DATA"
    run gwctl --db sqlite:relay.db user add carol --quota 5
    [ "$status" -eq 0 ]
    [ -z "$output" ]
  fi
}

@test "no relayd running: exit 0, quiet in a script, a note on a terminal; relayd reads the change at its start" {
  run gwctl user add dave --quota 5
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  # on a terminal (script(1) gives gwctl a pty) it says where the change waits
  run script -qec "$RELAY_BIN/gwctl user add erin --quota 5" /dev/null
  [ "$status" -eq 0 ]
  [[ "$output" == *"gwctl: note: relayd is not running on "*"; the change will be read at its start"* ]]
  gwctl token disable laptop
  relayd_start
  key_refused
  if ! pg; then
    # a relayd killed without cleanup leaves a fresh lease; its pid is gone, so it is not running
    kill -KILL "$RELAYD_PID"
    wait_until 10 test -e "$BATS_TEST_TMPDIR/relayd.rc"
    rm -f "$BATS_TEST_TMPDIR/relayd.pid"
    [ "$(sql 'SELECT count(*) FROM node_leases')" = 1 ]
    run gwctl token enable laptop
    [ "$status" -eq 0 ]
    [ -z "$output" ]
  fi
}

@test "only gwctl init creates a database: every other command on a missing one fails naming it" {
  pg && skip "SQLite files (PostgreSQL: the next test)"
  cd "$BATS_TEST_TMPDIR"
  for cmd in "user list" "user add x --quota 1" "channel list" "token list" "price list" \
             "config list" "log list" "group list" "export"; do
    # shellcheck disable=SC2086
    run env RELAY_DB=sqlite:typo/relay.db "$RELAY_BIN/gwctl" $cmd
    [ "$status" -eq 3 ]
    [ "$output" = "gwctl: no database at sqlite:typo/relay.db ($BATS_TEST_TMPDIR/typo/relay.db): check --db / RELAY_DB, or create it with 'gwctl init' (relayd also creates it at its first start)" ]
  done
  [ ! -e typo ]
  # a file that is not a relay database is not made one
  python3 -c 'import sqlite3; sqlite3.connect("plain.db").execute("CREATE TABLE t(x)")'
  run gwctl --db sqlite:plain.db user list
  [ "$status" -eq 1 ]
  [[ "$output" == *"sqlite:plain.db ($BATS_TEST_TMPDIR/plain.db) is not a relay database"*"gwctl init"* ]]
  # init creates it (mode 0600) and says so; again, it changes nothing
  run gwctl --db sqlite:new/relay.db init
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^created\ sqlite:new/relay.db\ \(database\ id\ [0-9a-f]{32},\ schema\ version\ [0-9]+\)$ ]]
  [ "$(stat -c %a new/relay.db)" = 600 ]
  id=$(gwctl --db sqlite:new/relay.db init --json | "$JGET" '[d["created"], d["database_id"]]')
  [[ "$output" == *"${id:9:32}"* ]]
  [ "${id:0:6}" = "[false" ]
  run gwctl --db sqlite:new/relay.db user list --json
  [ "$status" -eq 0 ]
  [ "$output" = "[]" ]
}

@test "PostgreSQL: a database without relay's schema is refused; gwctl init creates it" {
  pg || skip "PostgreSQL only (RELAY_TEST_DB=postgres)"
  _pg_psql postgres -c "CREATE DATABASE ${RELAY_PGDB}_other" > /dev/null
  url="postgres:///${RELAY_PGDB}_other?host=$RELAY_TEST_PGHOST&user=relay"
  run gwctl --db "$url" user list
  [ "$status" -eq 1 ]
  [[ "$output" == *"is not a relay database (it has no relay schema)"*"gwctl init"* ]]
  [ "$(_pg_psql "${RELAY_PGDB}_other" -tAc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 0 ]
  run gwctl --db "$url" init
  [ "$status" -eq 0 ]
  [[ "$output" == "created "* ]]
  [ "$(gwctl --db "$url" user list --json)" = "[]" ]
}

@test "a model without a price: warned at channel add and edit, flagged in channel list and status" {
  run bash -c "printf 'k\n' | '$RELAY_BIN/gwctl' channel add --name c2 --type openai --base-url '$MOCK_URL' --models gpt-4o-mini,my-model,my-other"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 2 ]
  [[ " ${lines[*]} " == *" 2 "* ]]   # the id on stdout (the order of the two streams may vary)
  [[ "${lines[*]}" == *"gwctl: warning: no price for my-model, my-other: relayd refuses them (403 model_price_unset) until one is set: gwctl price set MODEL --ratio R (1 = 2 USD per 1M prompt tokens) or --price USD (per call); see gwctl price list"* ]]
  [ "$(gwj '[c["models_without_price"] for c in d]' channel list)" = '[[], ["my-model", "my-other"]]' ]
  run gwctl channel list
  [[ "${lines[0]}" == *" NO_PRICE "* ]]
  [[ "${lines[2]}" == *" my-model,my-other "* ]]
  [ "$(gwj 'd["models_without_price"]' channel show c2)" = '["my-model", "my-other"]' ]
  relayd_start
  [ "$(gwj 'd["models_without_price"]' status)" = '["my-model", "my-other"]' ]
  run gwctl status
  echo "$output" | grep -Eq '^models_without_price +my-model,my-other$'
  # what the warning is about
  chat_as "$KEY" my-model
  [ "$status_code" = 403 ]
  [[ "$body" == *model_price_unset* ]]
  gwctl price set my-model --ratio 1 > /dev/null
  chat_as "$KEY" my-model
  [ "$status_code" = 200 ]
  [ "$(gwj 'd["models_without_price"]' channel show c2)" = '["my-other"]' ]
  [ "$(gwj 'd["models_without_price"]' status)" = '["my-other"]' ]
  # edit --models warns about the new list; a priced list says nothing
  run gwctl channel edit c2 --models my-model,brand-new
  [ "$status" -eq 0 ]
  [ "$output" = "gwctl: warning: no price for brand-new: relayd refuses it (403 model_price_unset) until one is set: gwctl price set MODEL --ratio R (1 = 2 USD per 1M prompt tokens) or --price USD (per call); see gwctl price list" ]
  run gwctl channel edit c2 --models my-model
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  [ "$(gwj 'd["models_without_price"]' status)" = '[]' ]
}

@test "several keys on a channel's stdin: channel add makes a key pool; edit --key-stdin refuses them, nothing stored" {
  printf 'sk-a\nsk-b\n' | gwctl channel add --name c3 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  [ "$(gwj '[k["index"] for k in d]' channel key list c3 --json)" = '[1, 2]' ]
  msg='--key-stdin replaces the one key of a channel, and stdin holds 2: add keys to a key pool with gwctl channel key add NAME'
  refused 2 "$msg" bash -c "printf 'sk-a\n\n  sk-b' | '$RELAY_BIN/gwctl' channel edit c1 --key-stdin"
  [ "$(gwj 'len(d)' channel key list c1 --json)" = 1 ]
  # one key with blank lines after it is one key
  printf 'sk-a\n\n \n' | gwctl channel add --name c4 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  [ "$(gwj 'd["has_key"]' channel show c4)" = true ]
  [ "$(gwj 'len(d)' channel key list c4 --json)" = 1 ]
}

@test "gwctl NOUN --help lists the noun's verbs, for every noun; -- ends the options" {
  while IFS=$'\t' read -r noun verb _; do
    [ -n "$verb" ] || continue
    for h in --help -h; do
      run gwctl "$noun" "$h"
      [ "$status" -eq 0 ] || { echo "gwctl $noun $h: exit $status: $output"; false; }
      [[ "$output" == *"gwctl $noun $verb"* ]] || { echo "gwctl $noun $h lacks $verb"; false; }
    done
  done < <(gwctl --list-commands)
  run gwctl users --help
  [ "$status" -eq 0 ]
  [[ "$output" == *"gwctl user add"* ]] && [[ "$output" != *"gwctl token"* ]]
  # after --, a word starting with '-' is a name, not an option
  refused 3 "no user named '-bob'" gwctl user show -- -bob
  refused 3 "no channel named '--json'" gwctl channel show -- --json
  refused 2 "user name '-bob' may not start with '-'" gwctl user add --quota 5 -- -bob
  run gwctl user show --json -- alice
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | "$JGET" 'd["username"]')" = alice ]
}
