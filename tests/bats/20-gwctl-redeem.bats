#!/usr/bin/env bats
# gwctl redeem: create, list, export, disable, rm, use; a code works once; bad input refused with
# the database unchanged; a redeemed balance is spendable on a running relayd.

load helpers
load gwctl_helpers

setup() {
  relay_env
  gwctl user add alice --quota 0
}

@test "redeem create prints N codes of 32 hex characters, or JSON, or a CSV file" {
  run gwctl redeem create --count 3 --quota 500 --name promo
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 3 ]
  for c in "${lines[@]}"; do [[ "$c" =~ ^[0-9a-f]{32}$ ]]; done
  run gwctl redeem create --count 2 --quota 7 --json
  [ "$(echo "$output" | $JGET 'len(d)')" = 2 ]
  run gwctl redeem create --count 4 --quota 9 --name csvbatch --csv "$BATS_TEST_TMPDIR/codes.csv"
  [ "$status" -eq 0 ]
  [ "$output" = "4 codes written to $BATS_TEST_TMPDIR/codes.csv" ]
  [ "$(head -1 "$BATS_TEST_TMPDIR/codes.csv")" = "name,code,quota,created" ]
  [ "$(wc -l < "$BATS_TEST_TMPDIR/codes.csv")" -eq 5 ]
  sed -n 2p "$BATS_TEST_TMPDIR/codes.csv" | grep -Eq '^csvbatch,[0-9a-f]{32},9,[0-9]+$'
  # an existing file is not overwritten, and then nothing is created
  refused 4 "cannot create" gwctl redeem create --count 1 --quota 1 --csv "$BATS_TEST_TMPDIR/codes.csv"
  [ "$(sql 'SELECT count(*) FROM redemptions')" = 9 ]
  # codes are not logged
  ( ! sql 'SELECT content FROM logs' | grep -qE '[0-9a-f]{32}' )
}

@test "redeem list, export (CSV), disable, rm" {
  gwctl redeem create --count 2 --quota 10 --name a > "$BATS_TEST_TMPDIR/a"
  gwctl redeem create --count 1 --quota 20 --name b > /dev/null
  run gwctl redeem list
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "$(printf 'ID  NAME  CODE                              STATUS   QUOTA          CREATED              REDEEMED  USED_BY  EXPIRES')" ]
  [ "$(gwj '[(r["name"], r["quota"], r["status"]) for r in d]' redeem list)" = '[["a", 10, "enabled"], ["a", 10, "enabled"], ["b", 20, "enabled"]]' ]
  [ "$(gwj 'len(d)' redeem list --name a)" = 2 ]
  gwctl redeem disable "$(head -1 "$BATS_TEST_TMPDIR/a")"
  gwctl redeem disable 3
  [ "$(gwj '[r["id"] for r in d]' redeem list --status disabled)" = '[1, 3]' ]
  run gwctl redeem export
  [ "${lines[0]}" = "name,code,quota,created,status" ]
  [ "${#lines[@]}" -eq 4 ]
  echo "${lines[2]}" | grep -Eq "^a,$(sed -n 2p "$BATS_TEST_TMPDIR/a"),10,[0-9]+,enabled$"
  run gwctl redeem export --status disabled
  [ "${#lines[@]}" -eq 3 ]
  refused 2 "without --yes" gwctl redeem rm 3
  gwctl redeem rm 3 --yes
  [ "$(sql 'SELECT group_concat(id) FROM (SELECT id FROM redemptions ORDER BY id) r')" = "1,2" ]
}

@test "redeem use: quota added once, code marked used, topup logged; a second use changes nothing" {
  code=$(gwctl redeem create --count 1 --quota 1500)
  run gwctl redeem use "$code" --user alice
  [ "$status" -eq 0 ]
  [ "$output" = "alice: +1500 quota units, now 1500" ]
  [ "$(sql 'SELECT status, redeemed_time > 0, used_user_id FROM redemptions')" = "$(printf '3\t1\t1')" ]
  [ "$(sql 'SELECT quota FROM users')" = 1500 ]
  [ "$(sql 'SELECT type, quota, username, content FROM logs WHERE type=1')" = "$(printf '1\t1500\talice\tredemption code 1 used')" ]
  [ "$(gwj '[d[0]["status"], d[0]["used_by"]]' redeem list)" = '["used", "alice"]' ]
  refused 4 "already been used" gwctl redeem use "$code" --user alice
  gwctl user add bob --quota 0
  refused 4 "already been used" gwctl redeem use "$code" --user bob
  refused 4 "already used" gwctl redeem disable "$code"
  code2=$(gwctl redeem create --count 1 --quota 5)
  run gwctl redeem use "$code2" --user bob --json
  [ "$(echo "$output" | $JGET '[d["username"], d["added"], d["quota"]]')" = '["bob", 5, 5]' ]
}

@test "redeem: bad input is refused and changes nothing" {
  code=$(gwctl redeem create --count 1 --quota 10)
  gwctl redeem disable "$code"
  refused 4 "is disabled" gwctl redeem use "$code" --user alice
  refused 3 "no such redemption code" gwctl redeem use 0123456789abcdef0123456789abcdef --user alice
  refused 3 "no such redemption code" gwctl redeem use 1 --user alice
  refused 3 "no user named 'nobody'" gwctl redeem use "$code" --user nobody
  refused 2 "missing --user" gwctl redeem use "$code"
  refused 2 "missing --count" gwctl redeem create --quota 5
  refused 2 "--count must be from 1" gwctl redeem create --count 0 --quota 5
  refused 2 "--quota: '-5' is negative" gwctl redeem create --count 1 --quota -5
  refused 2 "--quota: 'abc' is not an amount" gwctl redeem create --count 1 --quota abc
  refused 3 "no redemption code 'zzz'" gwctl redeem disable zzz
  refused 3 "no redemption code '77'" gwctl redeem rm 77 --yes
  refused 2 "--status must be" gwctl redeem list --status gone
}

@test "redeem create --expires: listed, and an expired code is refused with the date and changes nothing" {
  gwctl redeem create --count 1 --quota 100 --name later --expires 30d > "$BATS_TEST_TMPDIR/later"
  gwctl redeem create --count 1 --quota 200 --name iso --expires 2099-01-02T03:04:05Z > "$BATS_TEST_TMPDIR/iso"
  gwctl redeem create --count 1 --quota 300 --name plain --expires never > "$BATS_TEST_TMPDIR/plain"
  now=$(date +%s)
  exp=$(sql "SELECT expired_time FROM redemptions WHERE name = 'later'")
  # 30 days from now (the seconds the command took aside)
  [ "$exp" -ge $((now + 30 * 86400 - 60)) ] && [ "$exp" -le $((now + 30 * 86400)) ]
  [ "$(sql "SELECT expired_time FROM redemptions WHERE name = 'iso'")" = 4071006245 ]
  [ "$(sql "SELECT expired_time FROM redemptions WHERE name = 'plain'")" = 0 ]
  [ "$(gwj '[(r["name"], r["status"], r["expired_time"]) for r in d]' redeem list)" = "[[\"later\", \"enabled\", $exp], [\"iso\", \"enabled\", 4071006245], [\"plain\", \"enabled\", 0]]" ]
  run gwctl redeem list --name plain
  [[ "${lines[1]}" =~ " -"$ ]]
  # the past and garbage are refused, nothing created
  refused 2 "--expires .* is in the past" gwctl redeem create --count 1 --quota 5 --expires 2001-01-01
  refused 2 "--expires" gwctl redeem create --count 1 --quota 5 --expires soon
  # time passes: the 'iso' code expired a second ago
  sql "UPDATE redemptions SET expired_time = $((now - 1)) WHERE name = 'iso'"
  [ "$(gwj '[r["status"] for r in d]' redeem list --name iso)" = '["expired"]' ]
  [ "$(gwj '[r["name"] for r in d]' redeem list --status expired)" = '["iso"]' ]
  [ "$(gwj '[r["name"] for r in d]' redeem list --status enabled)" = '["later", "plain"]' ]
  [ "$(gwctl redeem export --status expired | tail -1 | cut -d, -f1,5)" = "iso,expired" ]
  when=$(date -u -d "@$((now - 1))" '+%Y-%m-%d %H:%M:%S UTC')
  refused 4 "this redemption code expired on $when" gwctl redeem use "$(cat "$BATS_TEST_TMPDIR/iso")" --user alice
  [ "$(sql "SELECT quota FROM users WHERE username = 'alice'")" = 0 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 1")" = 0 ]
  # a code still in its time works
  gwctl redeem use "$(cat "$BATS_TEST_TMPDIR/later")" --user alice > /dev/null
  gwctl redeem use "$(cat "$BATS_TEST_TMPDIR/plain")" --user alice > /dev/null
  [ "$(sql "SELECT quota FROM users WHERE username = 'alice'")" = 400 ]
}

@test "a redeemed balance can be spent on a running relayd" {
  mock_start up
  printf 'k\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  key=$(gwctl token create --user alice --name t --unlimited)
  relayd_start
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 429 ]
  gwctl redeem use "$(gwctl redeem create --count 1 --quota 1000000)" --user alice > /dev/null
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 200 ]
}
