#!/usr/bin/env bats
# gwctl import oneapi from a One API database on PostgreSQL: a real server started for this file
# (tests/pg.sh), a source database with the tables GORM creates for songquanpeng/one-api on
# PostgreSQL (ONEAPI_PG of import_sources.py), imported into a fresh relay SQLite database.
# Proves the same mappings, skip reasons and counts as the SQLite source (22-gwctl-import.bats),
# that the source is only read, and that an imported key authenticates through a running relayd.

load helpers
load gwctl_helpers
load import_replay

setup_file() {
  SRC_PGHOST=$(sh "$BATS_TEST_DIRNAME/../pg.sh" start)
  export SRC_PGHOST
}

teardown_file() {
  sh "$BATS_TEST_DIRNAME/../pg.sh" stop "$SRC_PGHOST"
}

setup() {
  export RELAY_TEST_DB=sqlite     # the relay database is SQLite; only the source is PostgreSQL
  relay_env
  SRC_DB="oneapi_${BATS_TEST_NUMBER}_$$"
  SRC="postgres:///$SRC_DB?host=$SRC_PGHOST&user=relay"
}

teardown() {
  relay_teardown
}

# 48-character keys as One API generates them (stored without "sk-")
KEY_ALICE=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijkl
KEY_ALICE2=ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210zyxwvutsrqpo
KEY_DASH=abc-def-ghi-jkl-mno-pqr-stu-vwx-yz0-123-456-7890
KEY_GHOST=GhostGhostGhostGhostGhostGhostGhostGhostGhost123
KEY_SK=sk-StoredWithPrefixStoredWithPrefixStoredWith12

# src_psql ARGS...: psql on the source database
src_psql() {
  "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$SRC_PGHOST" -U relay -d "$SRC_DB" "$@"
}

# src_dump: every row of the source, to prove the import only reads it
src_dump() {
  local t
  for t in users tokens channels redemptions options abilities logs; do
    src_psql -At -c "SELECT * FROM $t ORDER BY 1"
  done
  src_psql -At -c "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
}

# oneapi_pg_fixture [CHANNEL_BASE_URL]: the One API database on PostgreSQL (import_sources.py
# ONEAPI_PG: the DDL GORM's AutoMigrate emits), with the rows of 22-gwctl-import.bats.
oneapi_pg_fixture() {
  local base=${1:-http://127.0.0.1:9}
  "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$SRC_PGHOST" -U relay -d postgres \
    -c "CREATE DATABASE $SRC_DB" >/dev/null
  { python3 "$BATS_TEST_DIRNAME/import_sources.py" ONEAPI_PG; cat <<SQL; } | src_psql >/dev/null
INSERT INTO users (id, username, password, role, status, quota, used_quota, request_count, "group", access_token, aff_code) VALUES
  (1, 'root', 'x', 100, 1, 500000000000000, 0, 0, 'default', 'at1', 'af1'),
  (2, 'alice', 'x', 1, 1, 5000000, 1200, 7, 'vip', 'at2', 'af2'),
  (3, 'bob', 'x', 10, 2, 100, 0, 0, 'default', 'at3', 'af3'),
  (4, 'gone', 'x', 1, 3, 0, 0, 0, 'default', 'at4', 'af4'),
  (5, 'my user', 'x', 1, 1, 10, 0, 0, 'nogroup', 'at5', 'af5'),
  (6, 'taken', 'x', 1, 1, 10, 0, 0, 'default', 'at6', 'af6'),
  (7, '12345', 'x', 1, 1, 10, 0, 0, 'default', 'at7', 'af7');
INSERT INTO tokens (id, user_id, "key", status, name, created_time, accessed_time, expired_time, remain_quota, unlimited_quota, models, subnet) VALUES
  (1, 2, '$KEY_ALICE', 1, 'laptop', 1700000000, 1700000100, -1, 1000, false, 'gpt-4o-mini,gpt-4o', '10.0.0.0/8'),
  (2, 2, '$KEY_ALICE2', 1, 'laptop', 1700000000, 1700000100, 4102444800, 0, true, '', ''),
  (3, 4, '$KEY_GHOST', 1, 'ghost', 1700000000, 1700000100, -1, 10, false, '', ''),
  (4, 2, '$KEY_DASH', 1, 'dash', 1700000000, 1700000100, -1, 10, false, '', ''),
  (5, 5, '$KEY_SK', 1, '', 1700000000, 1700000100, -1, 10, false, '', ''),
  (6, 6, 'TakenTakenTakenTakenTakenTakenTakenTakenTaken123', 1, 't', 1700000000, 1700000100, -1, 1, false, '', '');
INSERT INTO channels (id, type, "key", status, name, base_url, other, models, "group", model_mapping, priority, weight, config, created_time, test_time, response_time, used_quota, system_prompt) VALUES
  (1, 1, 'sk-upstream-openai', 1, 'openai main', '$base', '', 'gpt-4o-mini,gpt-4o', 'default,vip', '{"gpt-4o":"gpt-4o-mini"}', 5, 10, '', 1700000000, 1700000200, 321, 77, ''),
  (2, 3, 'azkey', 1, 'azure', 'https://x.openai.azure.com', '2024-02-15-preview', 'gpt-4o', 'default', '', 0, 0, '', 1700000000, 1700000200, 321, 77, ''),
  (3, 36, 'dskey', 2, 'deepseek', '', '', 'deepseek-chat', 'default', '', 0, 0, '', 1700000000, 1700000200, 321, 77, ''),
  (4, 15, 'ak|sk', 1, 'baidu', '', '', 'ERNIE-4.0', 'default', '', 0, 0, '', 1700000000, 1700000200, 321, 77, ''),
  (5, 50, 'k', 1, 'compat', '', '', 'm1', 'default', '', 0, 0, '', 1700000000, 1700000200, 321, 77, ''),
  (6, 1, 'k2', 1, 'openai main', '$base', '', 'gpt-4o-mini, bad model', 'default', 'not json', 0, 0, '', 1700000000, 1700000200, 321, 77, ''),
  (7, 29, 'groqkey', 3, 'groq', '', '', 'llama3-70b', 'default', '', 0, 0, '', 1700000000, 1700000200, 321, 77, ''),
  (8, 1, 'k3', 1, 'prompted', '$base', '', 'x', 'default', '', 0, 0, '{"region":"us"}', 1700000000, 1700000200, 321, 77, 'be brief');
INSERT INTO abilities ("group", model, channel_id, enabled, priority) VALUES
  ('default', 'gpt-4o-mini', 1, true, 5), ('vip', 'gpt-4o-mini', 1, true, 5);
INSERT INTO redemptions (id, user_id, "key", status, name, quota, created_time, redeemed_time) VALUES
  (1, 1, '0123456789abcdef0123456789abcdef', 1, 'promo', 500000, 1700000000, 0),
  (2, 1, 'fedcba9876543210fedcba9876543210', 3, 'promo', 500000, 1700000000, 1700000500),
  (3, 1, 'taken-code-taken-code-taken-code', 1, 'old', 1, 1700000000, 0);
INSERT INTO options ("key", value) VALUES
  ('GroupRatio', '{"default": 1, "vip": 2}'),
  ('ModelRatio', '{"gpt-4o-mini": 0.075, "my-model": 2, "bad model": 1}'),
  ('CompletionRatio', '{"gpt-4o-mini": 4}'),
  ('RetryTimes', '3'), ('SMTPServer', 'smtp.example.com'), ('QuotaPerUnit', '500000');
SQL
}

# item KIND SOURCE: the report item (from $report, the --json output) for SOURCE, as JSON
item() { echo "$report" | $JGET "[[i['result'], i['name'], i['note']] for i in d['items'] if i['kind'] == '$1' and i['source'] == '$2']"; }

@test "import from One API on PostgreSQL: every mapping and skip reason, reported; keys kept as hashes" {
  oneapi_pg_fixture
  gwctl user add taken --quota 1
  gwctl redeem create --count 1 --quota 1 > /dev/null
  sql "UPDATE redemptions SET key = 'taken-code-taken-code-taken-code'"
  src_before=$(src_dump)
  run gwctl import oneapi --from "$SRC" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  report=$output
  [ "$(echo "$report" | $JGET 'd["flavor"]')" = oneapi ]
  # groups and prices from the options
  [ "$(sql "SELECT name, ratio, selectable FROM groups ORDER BY name" | tr '\t\n' ' |')" = "default 1.0 1|nogroup 1.0 0|vip 2.0 0|" ]
  [[ "$(item groups nogroup)" == *'"mapped", "nogroup", "not in GroupRatio but used by user my_user: created with ratio 1"'* ]]
  [ "$(sql "SELECT model_ratio, completion_ratio FROM prices WHERE model = 'gpt-4o-mini'")" = "$(printf '0.075\t4.0')" ]
  [ "$(sql "SELECT model_ratio, completion_ratio FROM prices WHERE model = 'my-model'")" = "$(printf '2.0\t1.0')" ]
  [[ "$(item prices my-model)" == *'"mapped"'*'no CompletionRatio'* ]]
  [[ "$(item prices 'bad model')" == *'"skipped"'*"may not contain blanks"* ]]
  # users: bigint role/status/quota read as integers
  [[ "$(item users 'id 2 alice')" == '[["imported", "alice", ""]]' ]]
  [[ "$(item users 'id 4 gone')" == '[["skipped", "", "deleted in the source"]]' ]]
  [[ "$(item users 'id 5 my user')" == *'"mapped", "my_user", "name '"'my user' -> 'my_user'"* ]]
  [[ "$(item users 'id 6 taken')" == *'"skipped"'*"relay already has a user named 'taken'"* ]]
  [[ "$(item users 'id 7 12345')" == *'"mapped", "user12345"'* ]]
  [ "$(sql "SELECT role, status, quota, used_quota, request_count, \"group\" FROM users WHERE username = 'alice'")" = "$(printf '1\t1\t5000000\t1200\t7\tvip')" ]
  [ "$(sql "SELECT role, status FROM users WHERE username = 'bob'")" = "$(printf '10\t2')" ]
  [ "$(sql "SELECT role, quota FROM users WHERE username = 'root'")" = "$(printf '100\t500000000000000')" ]
  # tokens: the hash of the char(48) key (no padding), never the key
  [ "$(sql "SELECT key_hash FROM tokens WHERE name = 'laptop'")" = "$(printf %s "$KEY_ALICE" | sha256sum | cut -d' ' -f1)" ]
  ( ! sql 'SELECT * FROM tokens' | grep -qF "$KEY_ALICE" )
  ( ! sql 'SELECT content FROM logs' | grep -qF "$KEY_ALICE" )
  ( ! echo "$report" | grep -qF "$KEY_ALICE" )
  [ "$(sql "SELECT remain_quota, models, subnet, expired_time, created_time FROM tokens WHERE name = 'laptop'")" = "$(printf '1000\tgpt-4o-mini,gpt-4o\t10.0.0.0/8\t-1\t1700000000')" ]
  [[ "$(item tokens 'id 2 laptop')" == *'"mapped", "alice/laptop-2", "name '"'laptop' -> 'laptop-2'"' (the user has another token by that name)'* ]]
  # boolean unlimited_quota: true -> 1, false -> 0
  [ "$(sql "SELECT unlimited_quota, expired_time FROM tokens WHERE name = 'laptop-2'")" = "$(printf '1\t4102444800')" ]
  [ "$(sql "SELECT unlimited_quota FROM tokens WHERE name = 'laptop'")" = 0 ]
  [[ "$(item tokens 'id 3 ghost')" == *'"skipped"'*"its user (source id 4) was not imported"* ]]
  [[ "$(item tokens 'id 4 dash')" == *'"skipped"'*"its key cannot be used with relay"* ]]
  [[ "$(item tokens 'id 5 ')" == *'"skipped"'*"starts with 'sk-'"* ]]
  [[ "$(item tokens 'id 6 t')" == *'"skipped"'*"its user (source id 6) was not imported"* ]]
  # channels: type ids mapped, defaults, what relay lacks named
  [ "$(sql "SELECT type, base_url, models, \"group\", model_mapping, priority, weight, status, response_time, used_quota FROM channels WHERE name = 'openai_main'")" = "$(printf 'openai\thttp://127.0.0.1:9\tgpt-4o-mini,gpt-4o\tdefault,vip\t{"gpt-4o":"gpt-4o-mini"}\t5\t10\t1\t321\t77')" ]
  [ "$(sql "SELECT key <> '' FROM channels WHERE name = 'openai_main'")" = 1 ]
  [ "$(sql "SELECT type, other FROM channels WHERE name = 'azure'")" = "$(printf 'azure\t{"api_version":"2024-02-15-preview"}')" ]
  [ "$(sql "SELECT type, base_url, status FROM channels WHERE name = 'deepseek'")" = "$(printf 'deepseek\thttps://api.deepseek.com\t2')" ]
  [[ "$(item channels 'id 3 deepseek')" == *'"mapped"'*"base_url empty -> https://api.deepseek.com"* ]]
  [[ "$(item channels 'id 4 baidu')" == *'"skipped"'*"type 15 (Baidu) has no relay equivalent"* ]]
  [[ "$(item channels 'id 5 compat')" == *'"skipped"'*"no base_url, and OpenAICompatible channels have no default one"* ]]
  [[ "$(item channels 'id 6 openai main')" == *'"mapped", "openai_main-6"'*"models dropped: 'bad model'"*"model_mapping dropped"* ]]
  [ "$(sql "SELECT type, base_url, status FROM channels WHERE name = 'groq'")" = "$(printf 'groq\thttps://api.groq.com/openai/v1\t3')" ]
  [[ "$(item channels 'id 7 groq')" == *"type 29 (Groq) -> groq (relay's OpenAI-compatible preset)"* ]]
  [[ "$(item channels 'id 8 prompted')" == *"system_prompt dropped"*"config dropped"* ]]
  # redemption codes (char(32) keys)
  [ "$(sql "SELECT status, quota, redeemed_time FROM redemptions WHERE key = 'fedcba9876543210fedcba9876543210'")" = "$(printf '3\t500000\t1700000500')" ]
  [ "$(sql "SELECT status, quota FROM redemptions WHERE key = '0123456789abcdef0123456789abcdef'")" = "$(printf '1\t500000')" ]
  [[ "$(item redemptions 'id 3 old')" == *'"skipped"'*"relay already has this code"* ]]
  # options
  [ "$(sql "SELECT value FROM options WHERE key = 'retry_times'")" = 3 ]
  [[ "$(item options others)" == *'"skipped"'*"1 option relay has no equivalent for: SMTPServer"* ]]
  [[ "$(item options QuotaPerUnit)" == *'"unchanged"'*"relay's own unit"* ]]
  # counts; the source is read, not changed (no relay migration ran on it)
  [ "$(echo "$report" | $JGET 'd["counts"]["users"]')" = '{"imported": 3, "mapped": 2, "skipped": 2, "updated": 0, "unchanged": 0}' ]
  [ "$(echo "$report" | $JGET 'd["counts"]["tokens"]')" = '{"imported": 1, "mapped": 1, "skipped": 4, "updated": 0, "unchanged": 0}' ]
  [ "$(echo "$report" | $JGET 'd["counts"]["channels"]["skipped"]')" = 2 ]
  [ "$(src_dump)" = "$src_before" ]
  [ "$(src_psql -At -c "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'")" = 0 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type = 3 AND content LIKE 'import oneapi: token %(by $(id -un))'")" = 2 ]
  # the same through the libpq key=value form; a second import finds what the first created
  before=$(sql 'SELECT * FROM users ORDER BY id')
  channels_before=$(sql 'SELECT id, name, type, base_url FROM channels ORDER BY id')
  run gwctl import oneapi --from "host=$SRC_PGHOST user=relay dbname=$SRC_DB"
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ "$output" == *"unchanged users       id 2 alice: id "*"(imported before; the source row is the same)"* ]]
  # no channel twice (main made NAME-<sourceid> copies), ids and URLs as the first run left them
  [ "$(sql 'SELECT id, name, type, base_url FROM channels ORDER BY id')" = "$channels_before" ]
  [ "$(sql 'SELECT * FROM users ORDER BY id')" = "$before" ]
  # a PostgreSQL database without One API's tables, and one that does not exist, are refused
  "$(pg_bin)/psql" -X -q -h "$SRC_PGHOST" -U relay -d postgres -c "CREATE DATABASE ${SRC_DB}_empty" >/dev/null
  refused 1 'not a One API / New API database' gwctl import oneapi --from "postgres:///${SRC_DB}_empty?host=$SRC_PGHOST&user=relay"
  refused 1 'does not exist' gwctl import oneapi --from "postgres:///${SRC_DB}_none?host=$SRC_PGHOST&user=relay"
}

@test "a key imported from PostgreSQL authenticates through a running relayd and is billed to its token" {
  mock_start up
  oneapi_pg_fixture "$MOCK_URL"
  relayd_start
  gwctl import oneapi --from "$SRC" > /dev/null
  # relayd reloaded: the One API client key works as it did there (laptop-2 has no address list)
  chat_as "sk-$KEY_ALICE2" gpt-4o-mini
  [ "$status_code" = 200 ] || { echo "$body"; false; }
  [ "$(mock_requests up | $JGET 'd["headers"]["authorization"]')" = "Bearer sk-upstream-openai" ]
  # billed to the imported token and user
  wait_until 10 sql_is 1 "SELECT count(*) FROM logs WHERE type = 2 AND token_name = 'laptop-2' AND username = 'alice'"
  wait_until 10 sql_is 1 "SELECT used_quota > 0 FROM tokens WHERE name = 'laptop-2'"
  # the address list came along: the other key is refused from 127.0.0.1
  chat_as "sk-$KEY_ALICE" gpt-4o-mini
  [ "$status_code" = 403 ]
  # a key that was skipped does not work
  chat_as "sk-$KEY_GHOST" gpt-4o-mini
  [ "$status_code" = 401 ]
}

# replay_source KIND FLAVOR (import_replay.bash): the rows of the SQLite source $SRC in a fresh
# PostgreSQL database, tables as GORM creates them on PostgreSQL
replay_source() {
  local ddl=ONEAPI_PG
  [ "$2" = newapi ] && ddl=NEWAPI_PG
  "$(pg_bin)/psql" -X -q -v ON_ERROR_STOP=1 -h "$SRC_PGHOST" -U relay -d postgres \
    -c "CREATE DATABASE $SRC_DB" >/dev/null
  python3 "$BATS_TEST_DIRNAME/import_sources.py" "$ddl" "$SRC" | src_psql >/dev/null
  echo "postgres:///$SRC_DB?host=$SRC_PGHOST&user=relay"
}

@test "bills and kept channel ids from a PostgreSQL source: One API's 36 replayed requests cost what One API charges" {
  SRC="$BATS_TEST_TMPDIR/one-api.db"
  oneapi_replay pg
}

@test "bills from a PostgreSQL source: New API's 40 replayed requests cost what New API charges" {
  SRC="$BATS_TEST_TMPDIR/new-api.db"
  newapi_replay pg
}
