#!/usr/bin/env bats
# gwctl user and group: every verb with and without --json, bad input refused with the database
# unchanged, and a top-up that reaches a running relayd.

load helpers
load gwctl_helpers

setup() {
  relay_env
  gwctl user add alice --quota 1000
}

@test "user add, list, show: table and JSON" {
  run gwctl user add bob --quota 5 --role admin --json
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET 'd["username"]')" = bob ]
  run gwctl user list
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "$(printf 'ID  USERNAME  ROLE    STATUS   QUOTA          USED       REQUESTS  GROUP    CREATED')" ]
  echo "$output" | grep -Eq '^2 +bob +admin +enabled +5 \(\$0\.00001\) +0 \(\$0\.00\) '
  [ "$(gwj 'len(d)' user list)" = 2 ]
  [ "$(gwj '[u["username"] for u in d]' user list --status enabled)" = '["alice", "bob"]' ]
  gwctl user disable bob
  [ "$(gwj '[u["username"] for u in d]' user list --status disabled)" = '["bob"]' ]
  run gwctl user show alice
  [ "$status" -eq 0 ]
  echo "$output" | grep -Eq '^quota +1000 \(\$0\.002\)$'
  [ "$(gwj 'd["quota"]' user show 1)" = 1000 ]
  [ "$(gwj 'd["role"]' user show bob)" = admin ]
}

@test "user edit changes quota, group, status and role, and logs it" {
  gwctl group set vip --ratio 2
  run gwctl user edit alice --quota 7 --group vip --status disabled --role admin
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  [ "$(gwj '[d[k] for k in ("quota","group","status","role")]' user show alice)" = '[7, "vip", "disabled", "admin"]' ]
  gwctl user enable alice
  [ "$(gwj 'd["status"]' user show alice)" = enabled ]
  [ "$(sql "SELECT content FROM logs WHERE type=3 AND content LIKE 'user edit%'")" = "user edit alice quota=7 group=vip status=disabled role=admin" ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=3 AND content IN ('user enable alice')")" = 1 ]
}

@test "user topup adds quota and writes a topup log row" {
  run gwctl user topup alice 500
  [ "$status" -eq 0 ]
  [ "$output" = "alice: 1500 quota units" ]
  run gwctl user topup 1 250 --json
  [ "$(echo "$output" | $JGET '[d["added"], d["quota"]]')" = '[250, 1750]' ]
  [ "$(sql 'SELECT type, quota, username FROM logs WHERE type=1 ORDER BY id')" = "$(printf '1\t500\talice\n1\t250\talice')" ]
  run gwctl log list --type topup --json
  [ "$(echo "$output" | $JGET 'len(d)')" = 2 ]
}

@test "user rm: refused while the user has tokens, --cascade deletes them, --yes is needed" {
  gwctl token create --user alice --name t1 --quota 1 > /dev/null
  refused 4 "has 1 token" gwctl user rm alice --yes
  refused 2 "without --yes" gwctl user rm alice --cascade
  run gwctl user rm alice --cascade --yes
  [ "$status" -eq 0 ]
  [ "$(sql 'SELECT count(*) FROM users')" = 0 ]
  [ "$(sql 'SELECT count(*) FROM tokens')" = 0 ]
  gwctl user add carol --quota 1
  gwctl user rm carol --yes
  [ "$(sql "SELECT content FROM logs WHERE content LIKE 'user rm%' ORDER BY id")" = "$(printf 'user rm alice tokens_deleted=1\nuser rm carol tokens_deleted=0')" ]
}

@test "user: bad input is refused and changes nothing" {
  refused 4 "already exists" gwctl user add alice --quota 1
  refused 3 "no user named 'nobody'" gwctl user show nobody
  refused 3 "no user with name or id '99'" gwctl user edit 99 --quota 1
  refused 3 "no user named 'nobody'" gwctl user topup nobody 5
  refused 3 "no user named 'nobody'" gwctl user rm nobody --yes
  refused 3 "no user named 'nobody'" gwctl user disable nobody
  refused 2 "--quota: '-5' is negative" gwctl user add bob --quota -5
  refused 2 "--quota: 'lots' is not an amount: give quota units \\(500000\\) or US dollars" gwctl user edit alice --quota lots
  refused 2 "AMOUNT: '0' is out of range: from 1 to 1000000000000000 quota units \\(\\\$0.000002 to" gwctl user topup alice 0
  refused 2 "AMOUNT: 'x' is not an amount" gwctl user topup alice x
  refused 2 "'-3': negative numbers are not accepted" gwctl user topup alice -3
  refused 2 "missing AMOUNT" gwctl user topup alice
  refused 2 "--status must be enabled or disabled" gwctl user edit alice --status maybe
  refused 2 "--role must be admin or common" gwctl user edit alice --role root
  refused 2 "nothing to change" gwctl user edit alice
  refused 3 "no group named 'ghost'" gwctl user edit alice --group ghost
  refused 3 "no group named 'ghost'" gwctl user add bob --quota 1 --group ghost
  refused 2 "all digits" gwctl user add 123 --quota 1
  refused 2 "unknown option '--bogus'" gwctl user list --bogus
}

@test "group set, list with counts, selectable, rm refused while in use" {
  run gwctl group set vip --ratio 1.5 --selectable yes
  [ "$status" -eq 0 ]
  gwctl group set lab --ratio 0.5
  gwctl user edit alice --group vip
  gwctl token create --user alice --name t --quota 1 --group lab >/dev/null 2>&1 && false
  gwctl group set lab --selectable yes
  gwctl token create --user alice --name t --quota 1 --group lab > /dev/null
  printf 'k\n' | gwctl channel add --name c --type openai --base-url http://127.0.0.1:9 --models m --group default,vip > /dev/null
  run gwctl group list
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "$(printf 'NAME     RATIO  SELECTABLE  USERS  TOKENS  CHANNELS')" ]
  echo "$output" | grep -Eq '^vip +1.5 +yes +1 +0 +1$'
  run gwctl group list --json
  [ "$(echo "$output" | $JGET '[(g["name"], g["ratio"], g["selectable"], g["users"], g["tokens"], g["channels"]) for g in d]')" = \
    '[["default", 1, true, 0, 0, 1], ["lab", 0.5, true, 0, 1, 0], ["vip", 1.5, true, 1, 0, 1]]' ]
  gwctl group set vip --selectable no
  [ "$(sql "SELECT ratio, selectable FROM groups WHERE name='vip'")" = "$(printf '1.5\t0')" ]
  refused 4 "in use by 1 user" gwctl group rm vip --yes
  refused 4 "cannot be deleted" gwctl group rm default --yes
  refused 3 "no group named 'ghost'" gwctl group rm ghost --yes
  refused 2 "without --yes" gwctl group rm lab
  refused 2 "--ratio must be a number, not 'abc'" gwctl group set vip --ratio abc
  refused 2 "--ratio must be from 0" gwctl group set vip --ratio -1
  refused 2 "--selectable must be yes or no" gwctl group set vip --selectable perhaps
  refused 2 "nothing to set" gwctl group set vip
  gwctl group set empty --ratio 3
  run gwctl group rm empty --yes
  [ "$status" -eq 0 ]
  [ "$(sql "SELECT count(*) FROM groups WHERE name='empty'")" = 0 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=3 AND content LIKE 'group %'")" = 6 ]
}

@test "a topped-up user can spend again on a running relayd; a disabled user is refused" {
  mock_start up
  printf 'k\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  gwctl user edit alice --quota 0
  key=$(gwctl token create --user alice --name t --unlimited)
  relayd_start
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 429 ]
  gwctl user topup alice 1000000
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 200 ]
  gwctl user disable alice
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 401 ] || [ "$status_code" = 403 ]
  gwctl user enable alice
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 200 ]
}
