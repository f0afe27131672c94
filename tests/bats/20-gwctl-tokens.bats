#!/usr/bin/env bats
# gwctl token: create (one, a batch), list, show, edit, enable, disable, rotate, rm; bad input
# refused with the database unchanged; the effect on a running relayd.

load helpers
load gwctl_helpers

setup() {
  relay_env
  gwctl user add alice --quota 100000000
  gwctl user add bob --quota 100
}

@test "token create prints the key once; JSON; options are stored" {
  run gwctl token create --user alice --name t1 --quota 500 --expires 2099-01-31T12:00:00Z \
    --models gpt-4o,gpt-4o-mini --ips '10.0.0.0/8, ::1,192.168.1.7'
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^sk-[0-9A-Za-z]{48}$ ]]
  [ "$(sql 'SELECT expired_time, remain_quota, models, subnet FROM tokens')" = "$(printf '4073544000\t500\tgpt-4o,gpt-4o-mini\t10.0.0.0/8,::1,192.168.1.7')" ]
  # the key itself is not stored, nor logged
  ( ! sql 'SELECT * FROM tokens' | grep -qF "${output#sk-}" )
  ( ! sql 'SELECT content FROM logs' | grep -qF "${output#sk-}" )
  run gwctl token create --user bob --name t2 --unlimited --expires 4102444800 --json
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET '[d["name"], d["username"], d["key"][:3]]')" = '["t2", "bob", "sk-"]' ]
  [ "$(gwj '[d["unlimited_quota"], d["expired_time"]]' token show t2)" = '[true, 4102444800]' ]
}

@test "token create --count: N keys, names with -1..-N, one line each or a JSON array" {
  run gwctl token create --user alice --name batch --quota 10 --count 5
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 5 ]
  [ "$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)" -eq 5 ]
  [ "$(sql "SELECT group_concat(name) FROM (SELECT name FROM tokens ORDER BY id) t")" = "batch-1,batch-2,batch-3,batch-4,batch-5" ]
  run gwctl token create --user alice --name j --unlimited --count 3 --json
  [ "$(echo "$output" | $JGET '[t["name"] for t in d]')" = '["j-1", "j-2", "j-3"]' ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=3 AND content LIKE 'token create batch-1..batch-5 count=5%'")" = 1 ]
  # a clash anywhere in the batch: nothing is created
  gwctl token create --user alice --name clash-3 --quota 1 > /dev/null
  refused 4 "already has a token named 'clash-3'" gwctl token create --user alice --name clash --quota 1 --count 4
  refused 2 "--count must be from 1 to 100000" gwctl token create --user alice --name x --quota 1 --count 0
}

@test "token list filters by user and status; show by name or id; table and JSON" {
  gwctl token create --user alice --name a1 --quota 5 > /dev/null
  gwctl token create --user alice --name a2 --quota 0 > /dev/null
  gwctl token create --user bob --name b1 --unlimited > /dev/null
  gwctl token disable b1
  run gwctl token list
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "$(printf 'ID  USER   NAME  STATUS     REMAIN        USED       MODELS  KEY')" ]
  [ "${#lines[@]}" -eq 4 ]
  [ "$(gwj '[t["name"] for t in d]' token list --user alice)" = '["a1", "a2"]' ]
  [ "$(gwj '[t["name"] for t in d]' token list --status exhausted)" = '["a2"]' ]
  [ "$(gwj '[t["name"] for t in d]' token list --status disabled)" = '["b1"]' ]
  [ "$(gwj '[t["name"] for t in d]' token list --status enabled --user alice)" = '["a1"]' ]
  run gwctl token show 1
  echo "$output" | grep -Eq '^name +a1$'
  [ "$(gwj 'd["name"]' token show a2 --user alice)" = a2 ]
}

@test "token edit: quota, unlimited, expiry, models, ips, group, rename; revives exhausted" {
  gwctl token create --user alice --name t --quota 0 > /dev/null
  [ "$(gwj 'd["status"]' token show t)" = exhausted ]
  gwctl group set lab --ratio 2 --selectable yes
  run gwctl token edit t --quota 50 --expires 2099-06-01 --models m1,m2 --ips 127.0.0.1 --group lab
  [ "$status" -eq 0 ]
  [ -z "$output" ]
  [ "$(gwj '[d["status"], d["remain_quota"], d["models"], d["subnet"], d["group"]]' token show t)" = '["enabled", 50, ["m1", "m2"], ["127.0.0.1"], "lab"]' ]
  gwctl token edit t --unlimited --models '' --ips '' --group '' --expires never --name t-renamed
  [ "$(gwj '[d["name"], d["unlimited_quota"], d["models"], d["subnet"], d["group"], d["expired_time"]]' token show t-renamed)" = '["t-renamed", true, [], [], "", -1]' ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=3 AND content LIKE 'token edit %'")" = 2 ]
  # relative expiries count forward from now (common/when.c)
  before=$(date +%s)
  gwctl token edit t-renamed --expires 30d
  after=$(date +%s)
  exp=$(gwj 'd["expired_time"]' token show t-renamed)
  [ "$exp" -ge $((before + 30 * 86400)) ] && [ "$exp" -le $((after + 30 * 86400)) ]
  gwctl token create --user alice --name soon --quota 5 --expires "in 2 hours" > /dev/null
  exp=$(gwj 'd["expired_time"]' token show soon)
  [ "$exp" -ge $((before + 7200)) ] && [ "$exp" -le $(( $(date +%s) + 7200)) ]
}

@test "token enable, disable, rotate, rm" {
  old=$(gwctl token create --user alice --name t --quota 5)
  gwctl token disable t
  [ "$(gwj 'd["status"]' token show t)" = disabled ]
  gwctl token enable t
  [ "$(gwj 'd["status"]' token show t)" = enabled ]
  hash=$(sql 'SELECT key_hash FROM tokens')
  refused 2 "without --yes" gwctl token rotate t
  run gwctl token rotate t --yes
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^sk-[0-9A-Za-z]{48}$ ]]
  [ "$output" != "$old" ]
  [ "$(sql 'SELECT key_hash FROM tokens')" != "$hash" ]
  run gwctl token rotate t --yes --json
  [ "$(echo "$output" | $JGET 'd["key"][:3]')" = sk- ]
  refused 2 "without --yes" gwctl token rm t
  gwctl token rm t --yes
  [ "$(sql 'SELECT count(*) FROM tokens')" = 0 ]
  [ "$(sql "SELECT group_concat(substr(content, 1, 12), '|') FROM (SELECT content FROM logs WHERE type=3 AND token_name='t' ORDER BY id) l")" = "token create|token disabl|token enable|token rotate|token rotate|token rm t" ]
}

@test "token: bad input is refused and changes nothing" {
  gwctl token create --user alice --name t --quota 5 > /dev/null
  gwctl token create --user bob --name t --quota 5 > /dev/null
  refused 3 "no user named 'nobody'" gwctl token create --user nobody --name x --quota 1
  refused 4 "already has a token named 't'" gwctl token create --user alice --name t --quota 1
  refused 2 "--quota: '-1' is negative" gwctl token create --user alice --name x --quota -1
  refused 2 "--quota: '1e3' is not an amount" gwctl token create --user alice --name x --quota 1e3
  refused 2 "give --quota Q or --unlimited" gwctl token create --user alice --name x
  refused 2 "not both" gwctl token create --user alice --name x --quota 1 --unlimited
  refused 2 "is in the past" gwctl token create --user alice --name x --quota 1 --expires 2020-01-01
  refused 2 "is in the past" gwctl token create --user alice --name x --quota 1 --expires 1000
  refused 2 "'someday' is not a time; give never or a time" gwctl token create --user alice --name x --quota 1 --expires someday
  refused 2 "is not a date on the calendar" gwctl token create --user alice --name x --quota 1 --expires 2099-02-30
  refused 2 "is in the past" gwctl token create --user alice --name x --quota 1 --expires "2 days ago"
  refused 2 "no fixed length" gwctl token create --user alice --name x --quota 1 --expires 1y
  refused 2 "'10.0.0.300' is not an IPv4 or IPv6 address" gwctl token create --user alice --name x --quota 1 --ips 10.0.0.300
  refused 2 "bad prefix length" gwctl token create --user alice --name x --quota 1 --ips 10.0.0.0/33
  refused 2 "bad prefix length" gwctl token create --user alice --name x --quota 1 --ips ::1/129
  refused 3 "no group named 'ghost'" gwctl token create --user alice --name x --quota 1 --group ghost
  gwctl group set private --ratio 1
  refused 4 "users may not pick it" gwctl token create --user alice --name x --quota 1 --group private
  refused 2 "2 users have a token named 't'" gwctl token show t
  refused 3 "no token named 'nope'" gwctl token show nope
  refused 3 "user 'bob' has no token named 'nope'" gwctl token edit nope --user bob --quota 1
  refused 3 "no token named 'nope'" gwctl token disable nope
  refused 3 "no token named 'nope'" gwctl token rotate nope --yes
  refused 3 "no token named 'nope'" gwctl token rm nope --yes
  refused 2 "is in the past" gwctl token edit t --user alice --expires 2001-01-01T00:00
  refused 2 "--quota: '-7' is negative" gwctl token edit t --user alice --quota -7
  refused 2 "nothing to change" gwctl token edit t --user alice
  gwctl token create --user alice --name u --quota 5 > /dev/null
  refused 4 "already has a token named 'u'" gwctl token edit t --user alice --name u
  refused 2 "--status must be" gwctl token list --status weird
  refused 2 "--key-file and --count" gwctl token create --user alice --name k --quota 1 --count 2 --key-file -
}

@test "changes reach a running relayd: disabled 401, rotated old 401 new 200, expiry edit" {
  mock_start up
  printf 'k\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  key=$(gwctl token create --user alice --name t --quota 10000000)
  relayd_start
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 200 ]
  gwctl token disable t
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 401 ]
  gwctl token enable t
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 200 ]
  new=$(gwctl token rotate t --yes)
  chat_as "$key" gpt-4o-mini
  [ "$status_code" = 401 ]
  chat_as "$new" gpt-4o-mini
  [ "$status_code" = 200 ]
  gwctl token edit t --models other-model
  chat_as "$new" gpt-4o-mini
  [ "$status_code" = 403 ] || [ "$status_code" = 404 ] || [ "$status_code" = 401 ]
  gwctl token edit t --models '' --ips 10.9.9.9
  chat_as "$new" gpt-4o-mini
  [ "$status_code" = 403 ] || [ "$status_code" = 401 ]
  gwctl token edit t --ips 127.0.0.0/8
  chat_as "$new" gpt-4o-mini
  [ "$status_code" = 200 ]
  gwctl token rm t --yes
  chat_as "$new" gpt-4o-mini
  [ "$status_code" = 401 ]
}

@test "10000 tokens in one batch (one transaction)" {
  start=$(date +%s%N)
  gwctl token create --user alice --name bulk --quota 1000 --count 10000 > "$BATS_TEST_TMPDIR/keys"
  end=$(date +%s%N)
  echo "# token create --count 10000: $(( (end - start) / 1000000 )) ms" >&3
  [ "$(wc -l < "$BATS_TEST_TMPDIR/keys")" -eq 10000 ]
  [ "$(sort -u "$BATS_TEST_TMPDIR/keys" | wc -l)" -eq 10000 ]
  [ "$(sql 'SELECT count(*) FROM tokens')" = 10000 ]
}
