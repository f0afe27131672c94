#!/usr/bin/env bats
# gwctl import oneapi from One API and New API databases on MySQL/MariaDB: a real MariaDB server
# started for this file (tests/mariadb.sh), the tables as GORM's AutoMigrate creates them on MySQL
# (ONEAPI_MYSQL, NEWAPI_MYSQL of import_sources.py, which cites the upstream models and GORM's type
# mapping). The same rows go into a SQLite database with GORM's SQLite layout (ONEAPI_SQLITE,
# NEWAPI_SQLITE); both are imported and must give the same report and the same relay rows.

load helpers
load gwctl_helpers
load import_replay

# (bats 1.8 cannot skip from setup_file: it leaves the reason for setup)
setup_file() {
  if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    export MY_SKIP="no MariaDB server binaries (mariadbd): scripts/deps.sh test installs mariadb-server"
    return 0
  fi
  MYDIR=$(sh "$BATS_TEST_DIRNAME/../mariadb.sh" start)
  export MYDIR
}

teardown_file() {
  if [ -n "${MYDIR:-}" ]; then
    sh "$BATS_TEST_DIRNAME/../mariadb.sh" stop "$MYDIR"
  fi
}

setup() {
  if [ -n "${MY_SKIP:-}" ]; then skip "$MY_SKIP"; fi
  export RELAY_TEST_DB=sqlite     # relay's database is SQLite; the source is MariaDB
  relay_env
  SRC_DB="src_${BATS_TEST_NUMBER}_$$"
  SRC_SQLITE="$BATS_TEST_TMPDIR/source.db"
  SOCK_URL="mysql://root@localhost/$SRC_DB?socket=$MYDIR/mysqld.sock"
}

teardown() {
  relay_teardown
}

# my_sql [DB] [ARGS]: the mariadb client as root on the test server (SQL on stdin)
my_sql() { sh "$BATS_TEST_DIRNAME/../mariadb.sh" sql "$MYDIR" "$@"; }

KEY_ALICE=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefghijkl
KEY_ALICE2=ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210zyxwvutsrqpo

# fixture FLAVOR: the same rows into MariaDB ($SRC_DB, GORM's MySQL DDL) and SQLite ($SRC_SQLITE,
# GORM's SQLite DDL), both from import_sources.py. The rows are those of 22-gwctl-import.bats (one case of each mapping and skip
# reason), plus New API's redemption expiry (expired_time: 0 = never).
fixture() {
  my_sql -e "CREATE DATABASE $SRC_DB CHARACTER SET utf8mb4"
  import_py - "$1" "$SRC_SQLITE" "$BATS_TEST_TMPDIR/my.sql" "$KEY_ALICE" "$KEY_ALICE2" <<'PY'
import json, sqlite3, sys
from import_sources import ONEAPI_MYSQL, ONEAPI_SQLITE, NEWAPI_MYSQL, NEWAPI_SQLITE
flavor, sqlite_path, my_path, ka, ka2 = sys.argv[1:6]

rows = []   # (table, {column: value})
def add(table, cols, *values):
    for v in values:
        rows.append((table, dict(zip(cols, v))))

if flavor == "oneapi":
    add("users", ["id", "username", "password", "role", "status", "quota", "used_quota", "request_count", "group", "access_token", "aff_code"],
        (1, "root", "x", 100, 1, 500000000000000, 0, 0, "default", "at1", "af1"),
        (2, "alice", "x", 1, 1, 5000000, 1200, 7, "vip", "at2", "af2"),
        (3, "bob", "x", 10, 2, 100, 0, 0, "default", "at3", "af3"),
        (4, "gone", "x", 1, 3, 0, 0, 0, "default", "at4", "af4"),
        (5, "my user", "x", 1, 1, 10, 0, 0, "nogroup", "at5", "af5"),
        (6, "12345", "x", 1, 1, 10, 0, 0, "default", "at6", "af6"))
    tc = ["id", "user_id", "key", "status", "name", "created_time", "accessed_time", "expired_time", "remain_quota", "unlimited_quota", "models", "subnet"]
    add("tokens", tc,
        (1, 2, ka, 1, "laptop", 1700000000, 1700000100, -1, 1000, 0, "gpt-4o-mini,gpt-4o", "10.0.0.0/8"),
        (2, 2, ka2, 1, "laptop", 1700000000, 1700000100, 4102444800, 0, 1, "", ""),
        (3, 4, "GhostGhostGhostGhostGhostGhostGhostGhostGhost123", 1, "ghost", 1700000000, 1700000100, -1, 10, 0, "", ""),
        (4, 2, "abc-def-ghi-jkl-mno-pqr-stu-vwx-yz0-123-456-7890", 1, "dash", 1700000000, 1700000100, -1, 10, 0, "", ""),
        (5, 5, "sk-StoredWithPrefixStoredWithPrefixStoredWith12", 1, "", 1700000000, 1700000100, -1, 10, 0, "", ""))
    cc = ["id", "type", "key", "status", "name", "base_url", "other", "models", "group", "model_mapping", "priority", "weight", "config", "created_time", "test_time", "response_time", "used_quota", "system_prompt", "balance"]
    add("channels", cc,
        (1, 1, "sk-upstream-openai", 1, "openai main", "http://127.0.0.1:9", "", "gpt-4o-mini,gpt-4o", "default,vip", '{"gpt-4o":"gpt-4o-mini"}', 5, 10, "", 1700000000, 1700000200, 321, 77, "", 12.5),
        (2, 3, "azkey", 1, "azure", "https://x.openai.azure.com", "2024-02-15-preview", "gpt-4o", "default", "", 0, 0, "", 1700000000, 1700000200, 321, 77, "", 0),
        (3, 36, "dskey", 2, "deepseek", "", "", "deepseek-chat", "default", "", 0, 0, "", 1700000000, 1700000200, 321, 77, None, 0),
        (4, 15, "ak|sk", 1, "baidu", "", "", "ERNIE-4.0", "default", "", 0, 0, "", 1700000000, 1700000200, 321, 77, "", 0),
        (5, 50, "k", 1, "compat", "", "", "m1", "default", "", 0, 0, "", 1700000000, 1700000200, 321, 77, "", 0),
        (6, 1, "k2", 1, "openai main", "http://127.0.0.1:9", "", "gpt-4o-mini, bad model", "default", "not json", 0, 0, "", 1700000000, 1700000200, 321, 77, "", 0),
        (7, 29, "groqkey", 3, "groq", "", "", "llama3-70b", "default", "", -3, 4294967295, "", 1700000000, 1700000200, 321, 77, "", 0),
        (8, 1, "k3", 1, "prompted", "http://127.0.0.1:9", "", "x", "default", "", 0, 0, '{"region":"us"}', 1700000000, 1700000200, 321, 77, "be brief", 0))
    add("abilities", ["group", "model", "channel_id", "enabled", "priority"], ("default", "gpt-4o-mini", 1, 1, 5), ("vip", "gpt-4o-mini", 1, 1, 5))
    add("redemptions", ["id", "user_id", "key", "status", "name", "quota", "created_time", "redeemed_time"],
        (1, 1, "0123456789abcdef0123456789abcdef", 1, "promo", 500000, 1700000000, 0),
        (2, 1, "fedcba9876543210fedcba9876543210", 3, "promo", 500000, 1700000000, 1700000500))
    add("logs", ["id", "user_id", "created_at", "type", "content", "username", "model_name", "quota", "is_stream"],
        (1, 2, 1700000300, 2, "model ratio 0.075", "alice", "gpt-4o-mini", 30, 1))
    opts = {"GroupRatio": json.dumps({"default": 1, "vip": 2}),
            "ModelRatio": json.dumps({"gpt-4o-mini": 0.075, "my-model": 2, "bad model": 1}),
            "CompletionRatio": json.dumps({"gpt-4o-mini": 4}),
            "RetryTimes": "3", "SMTPServer": "smtp.example.com", "QuotaPerUnit": "500000"}
    ddl_my, ddl_sq = ONEAPI_MYSQL, ONEAPI_SQLITE
else:
    add("users", ["id", "username", "password", "role", "status", "quota", "group", "deleted_at", "access_token", "aff_code"],
        (1, "admin", "x", 100, 1, 1000, "default", None, "a1", "f1"),
        (2, "carol", "x", 1, 1, 2000000, "default", None, "a2", "f2"),
        (3, "erased", "x", 1, 1, 5, "default", "2025-01-01 00:00:00", "a3", "f3"))
    add("tokens", ["id", "user_id", "key", "status", "name", "created_time", "accessed_time", "expired_time", "remain_quota", "unlimited_quota", "model_limits_enabled", "model_limits", "allow_ips", "group", "deleted_at"],
        (1, 2, "CarolKeyCarolKeyCarolKeyCarolKeyCarolKey12345678", 1, "app", 1700000000, 0, -1, 500, 0, 1, "deepseek-chat,gpt-4o-mini", "10.1.2.3\nnot-an-ip\n192.168.0.0/16", "", None),
        (2, 2, "CarolAutoCarolAutoCarolAutoCarolAutoCarolAuto123", 1, "auto", 1700000000, 0, -1, 0, 1, 0, "ignored,list", "", "auto", None),
        (3, 2, "CarolGoneCarolGoneCarolGoneCarolGoneCarolGone123", 1, "old", 1700000000, 0, -1, 0, 1, 0, "", "", "", "2025-01-01 00:00:00"),
        (4, 2, "CarolVipCarolVipCarolVipCarolVipCarolVipCarol123", 1, "vip", 1700000000, 0, -1, 0, 1, 0, "", "", "svip", None))
    add("channels", ["id", "type", "key", "status", "name", "base_url", "other", "models", "group", "model_mapping", "priority", "weight", "tag", "status_code_mapping", "auto_ban", "created_time", "open_ai_organization", "test_model"],
        (1, 43, "dskey", 1, "ds", "", "", "deepseek-chat", "default", "{}", 0, 0, "cn", "", 1, 1700000000, None, None),
        (2, 4, "", 1, "local", "http://127.0.0.1:11434/", "", "llama3", "default", "", 0, 0, "", "", 1, 1700000000, "", ""),
        (3, 2, "mjkey", 1, "mj", "", "", "midjourney", "default", "", 0, 0, "", "", 1, 1700000000, None, None),
        (4, 1, "key-a\nkey-b", 1, "multi", "https://api.openai.com", "", "gpt-4o", "default", "", 0, 0, "", "", 1, 1700000000, None, None),
        (5, 1, "oak", 1, "remapped", "https://api.openai.com", "", "gpt-4o-mini", "default,svip", "", 0, 0, "", '{"400":"500"}', 0, 1700000000, "org-x", None),
        (6, 999, "x", 1, "future", "", "", "m", "default", "", 0, 0, "", "", 1, 1700000000, None, None))
    add("redemptions", ["id", "user_id", "key", "status", "name", "quota", "created_time", "redeemed_time", "used_user_id", "deleted_at", "expired_time"],
        (1, 1, "aaaabbbbccccddddaaaabbbbccccdddd", 3, "gift", 1000, 1700000000, 1700000900, 2, None, 0),
        (2, 1, "eeeeffff00001111eeeeffff00001111", 1, "gift", 1000, 1700000000, 0, 0, "2025-02-02 00:00:00", 0),
        (3, 1, "1111222233334444111122223333aaaa", 1, "late", 300, 1700000000, 0, 0, None, 1700000001),
        (4, 1, "1111222233334444111122223333bbbb", 1, "timed", 400, 1700000000, 0, 0, None, 4102444800),
        (5, 1, "1111222233334444111122223333cccc", 1, "never", 500, 1700000000, 0, 0, None, 0))
    add("setups", ["id", "version", "initialized_at"], (1, "v0.8.5", 1700000000))
    opts = {"GroupRatio": json.dumps({"default": 1, "svip": 0.8}),
            "UserUsableGroups": json.dumps({"default": "default group", "svip": "svip group"}),
            "ModelRatio": json.dumps({"deepseek-chat": 0.135}),
            "ModelPrice": json.dumps({"dall-e-3": 0.04}),
            "CacheRatio": json.dumps({"deepseek-chat": 0.25}),
            "CreateCacheRatio": json.dumps({"deepseek-chat": 1.5, "not-priced": 2}),
            "RetryTimes": "25"}
    ddl_my, ddl_sq = NEWAPI_MYSQL, NEWAPI_SQLITE
for k, v in opts.items():
    rows.append(("options", {"key": k, "value": v}))

def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, (int, float)):
        return repr(v)
    assert "\\" not in v
    return "'" + v.replace("'", "''") + "'"
inserts = "".join("INSERT INTO `%s` (%s) VALUES (%s);\n" % (t, ",".join("`%s`" % c for c in r), ",".join(lit(v) for v in r.values())) for t, r in rows)
open(my_path, "w").write(ddl_my + inserts)
c = sqlite3.connect(sqlite_path)
c.executescript(ddl_sq + inserts)
c.commit()
PY
  my_sql "$SRC_DB" < "$BATS_TEST_TMPDIR/my.sql"
}

# relay_rows DB: relay's imported rows in a comparable form (no ids of log rows, no creation times
# set at import, no sealed channel keys: their nonce is random)
relay_rows() {
  python3 - "${1#sqlite:}" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for q in ["SELECT id, username, role, status, quota, used_quota, request_count, \"group\" FROM users ORDER BY id",
          "SELECT * FROM tokens ORDER BY id",
          "SELECT id, type, name, status, base_url, models, \"group\", model_mapping, priority, weight, created_time, test_time, response_time, used_quota, tag, other, key <> '' FROM channels ORDER BY id",
          "SELECT * FROM redemptions ORDER BY id",
          "SELECT * FROM groups ORDER BY name",
          "SELECT * FROM prices ORDER BY model",
          "SELECT * FROM options ORDER BY key",
          "SELECT type, content FROM logs ORDER BY id"]:
    print(q)
    for r in c.execute(q):
        print(repr(r))
PY
}

# import_both: imports $SRC_SQLITE into a second relay database and $SRC_DB (MariaDB, socket) into
# this test's; fails unless both reports and both sets of relay rows are the same. Sets $report.
import_both() {
  local other="sqlite:$BATS_TEST_TMPDIR/from-sqlite/relay.db"
  mkdir -p "$BATS_TEST_TMPDIR/from-sqlite"
  RELAY_DB="$other" "$RELAY_BIN/gwctl" init >/dev/null
  run env RELAY_DB="$other" "$RELAY_BIN/gwctl" import oneapi --from "sqlite:$SRC_SQLITE" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  local from_sqlite=$output
  run gwctl import oneapi --from "$SOCK_URL" --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  report=$output
  diff <(echo "$from_sqlite" | $JGET 'd') <(echo "$report" | $JGET 'd')
  diff <(relay_rows "$other") <(relay_rows "$RELAY_DB")
}

item() { echo "$report" | $JGET "[[i['result'], i['name'], i['note']] for i in d['items'] if i['kind'] == '$1' and i['source'] == '$2']"; }

@test "One API on MariaDB imports exactly as from SQLite: same report, same rows; the source is only read" {
  fixture oneapi
  before=$(my_sql "$SRC_DB" -N -e "CHECKSUM TABLE users, tokens, channels, redemptions, options, abilities, logs")
  import_both
  [ "$(echo "$report" | $JGET 'd["flavor"]')" = oneapi ]
  # MySQL's types read right: int/bigint, tinyint(1) booleans, char(48) keys, bigint unsigned weights
  [ "$(sql "SELECT role, status, quota, used_quota, request_count, \"group\" FROM users WHERE username = 'alice'")" = "$(printf '1\t1\t5000000\t1200\t7\tvip')" ]
  [ "$(sql "SELECT quota FROM users WHERE username = 'root'")" = 500000000000000 ]
  [ "$(sql "SELECT key_hash FROM tokens WHERE name = 'laptop'")" = "$(printf %s "$KEY_ALICE" | sha256sum | cut -d' ' -f1)" ]
  [ "$(sql "SELECT unlimited_quota, expired_time FROM tokens WHERE name = 'laptop-2'")" = "$(printf '1\t4102444800')" ]
  [ "$(sql "SELECT unlimited_quota, subnet FROM tokens WHERE name = 'laptop'")" = "$(printf '0\t10.0.0.0/8')" ]
  [ "$(sql "SELECT weight, priority FROM channels WHERE name = 'groq'")" = "$(printf '1000000\t-3')" ]
  [ "$(sql "SELECT type, other FROM channels WHERE name = 'azure'")" = "$(printf 'azure\t{"api_version":"2024-02-15-preview"}')" ]
  [[ "$(item channels 'id 8 prompted')" == *"system_prompt dropped"*"config dropped"* ]]
  [[ "$(item channels 'id 3 deepseek')" != *"system_prompt dropped"* ]]
  [[ "$(item tokens 'id 4 dash')" == *'"skipped"'*"its key cannot be used with relay"* ]]
  [ "$(echo "$report" | $JGET 'd["counts"]["users"]')" = '{"imported": 3, "mapped": 2, "skipped": 1, "updated": 0, "unchanged": 0}' ]
  # read-only: nothing in the source changed, and its session refuses writes
  [ "$(my_sql "$SRC_DB" -N -e "CHECKSUM TABLE users, tokens, channels, redemptions, options, abilities, logs")" = "$before" ]
  [ "$(my_sql -N -e "SELECT count(*) FROM information_schema.tables WHERE table_schema = '$SRC_DB' AND table_name = 'schema_migrations'")" = 0 ]
}

@test "New API on MariaDB imports exactly as from SQLite, with its soft deletes and code expiry" {
  fixture newapi
  import_both
  [ "$(echo "$report" | $JGET 'd["flavor"]')" = newapi ]
  [[ "$(item users 'id 3 erased')" == *'"skipped"'*"deleted in the source"* ]]
  [[ "$(item tokens 'id 3 old')" == *'"skipped"'*"deleted in the source"* ]]
  [ "$(sql "SELECT models, subnet FROM tokens WHERE name = 'app'")" = "$(printf 'deepseek-chat,gpt-4o-mini\t10.1.2.3,192.168.0.0/16')" ]
  # New API's multi-key channel is a key pool (issue #23), as from SQLite
  [[ "$(item channels 'id 4 multi')" == *'"mapped"'*"2 keys (one a line) -> a key pool"* ]]
  [ "$(gwctl channel key list multi --json | $JGET 'len(d)')" = 2 ]
  [[ "$(item channels 'id 5 remapped')" == *"open_ai_organization dropped"*"status_code_mapping dropped"*"auto_ban 0 -> auto disable off"* ]]
  [ "$(sql "SELECT cache_write_ratio, round(cache_write_1h_ratio, 9) FROM prices WHERE model = 'deepseek-chat'")" = "$(printf '1.5\t2.4')" ]
  # expired_time came along (0 = never); the code that expired in the source stays unusable
  [ "$(sql "SELECT name, expired_time FROM redemptions WHERE name IN ('late', 'timed', 'never') ORDER BY name")" = "$(printf 'late\t1700000001\nnever\t0\ntimed\t4102444800')" ]
  [[ "$(item redemptions 'id 3 late')" == *'"mapped"'*"expired in the source"* ]]
  [[ "$(item redemptions 'id 4 timed')" == *'"mapped"'*"expires "* ]]
  [[ "$(item redemptions 'id 5 never')" == '[["imported", "never", ""]]' ]]
  gwctl user add dave --quota 0
  refused 4 "expired" gwctl redeem use 1111222233334444111122223333aaaa --user dave
  gwctl redeem use 1111222233334444111122223333bbbb --user dave > /dev/null
  [ "$(sql "SELECT quota FROM users WHERE username = 'dave'")" = 400 ]
}

@test "MariaDB sources: TCP and socket URLs, the password from MYSQL_PWD or an option file, never from argv" {
  fixture oneapi
  my_sql -e "CREATE USER 'importer'@'localhost' IDENTIFIED BY 'S3cret-pw'; CREATE USER 'importer'@'127.0.0.1' IDENTIFIED BY 'S3cret-pw'; GRANT SELECT ON $SRC_DB.* TO 'importer'@'localhost'; GRANT SELECT ON $SRC_DB.* TO 'importer'@'127.0.0.1'"
  port=$(cat "$MYDIR/port")
  # TCP, password from the environment; the dry run reads everything and changes nothing
  gwctl user list > /dev/null
  before=$(db_dump)
  run env MYSQL_PWD=S3cret-pw "$RELAY_BIN/gwctl" import oneapi --from "mysql://importer@127.0.0.1:$port/$SRC_DB" --dry-run --json
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [ "$(echo "$output" | $JGET 'd["counts"]["tokens"]')" = '{"imported": 1, "mapped": 1, "skipped": 3, "updated": 0, "unchanged": 0}' ]
  [ "$(db_dump)" = "$before" ]
  # socket (mariadb:// too), password from an option file's [client] group
  printf '[client]\npassword=S3cret-pw\n' > "$BATS_TEST_TMPDIR/my.cnf"
  run gwctl import oneapi --from "mariadb://importer@localhost/$SRC_DB?socket=$MYDIR/mysqld.sock&defaults_file=$BATS_TEST_TMPDIR/my.cnf" --dry-run
  [ "$status" -eq 0 ] || { echo "$output"; false; }
  [[ "${lines[-1]}" == "would import (dry run, nothing changed) from oneapi: "* ]]
  # a password in the URL is refused before connecting, and not echoed
  refused 1 'password in the URL would be visible' gwctl import oneapi --from "mysql://importer:S3cret-pw@127.0.0.1:$port/$SRC_DB"
  ( ! grep -q S3cret "$BATS_TEST_TMPDIR/refused.err" )
  # a wrong password, an unknown database, a database without One API's tables, bad URLs
  MYSQL_PWD=wrong refused 1 'cannot connect to MySQL/MariaDB: Access denied for user' gwctl import oneapi --from "mysql://importer@127.0.0.1:$port/$SRC_DB"
  ( ! grep -q wrong "$BATS_TEST_TMPDIR/refused.err" )
  refused 1 "cannot connect to MySQL/MariaDB: Unknown database" gwctl import oneapi --from "mysql://root@localhost/${SRC_DB}_none?socket=$MYDIR/mysqld.sock"
  my_sql -e "CREATE DATABASE ${SRC_DB}_empty"
  refused 1 'not a One API / New API database' gwctl import oneapi --from "mysql://root@localhost/${SRC_DB}_empty?socket=$MYDIR/mysqld.sock"
  refused 1 'names no database' gwctl import oneapi --from "mysql://root@localhost/?socket=$MYDIR/mysqld.sock"
  refused 1 "unknown or empty URL parameter 'sslmode'" gwctl import oneapi --from "mysql://root@localhost/$SRC_DB?sslmode=x"
  # relay's own database is never MySQL
  refused 1 'read only as a source to import from' gwctl --db "mysql://root@localhost/$SRC_DB?socket=$MYDIR/mysqld.sock" user list
}

@test "the libmariadb backend: placeholders and escaping, catalog, a read-only session (unit test_db_mysql)" {
  [ -x "$RELAY_BIN/unit/test_db_mysql" ] || { echo "build the unit tests first: make unit"; false; }
  fixture oneapi
  run env RELAY_TEST_MYSQL_URL="$SOCK_URL" "$RELAY_BIN/unit/test_db_mysql"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" != *"not ok"* ]]
  [[ "$output" != *"# skip"* ]]
  [[ "${lines[-1]}" =~ ^1\.\.[0-9]+$ ]]
}

# replay_source KIND FLAVOR (import_replay.bash): the rows of the SQLite source $SRC in a fresh
# MariaDB database, tables as GORM creates them on MySQL
replay_source() {
  local ddl=ONEAPI_MYSQL
  [ "$2" = newapi ] && ddl=NEWAPI_MYSQL
  my_sql -e "CREATE DATABASE $SRC_DB CHARACTER SET utf8mb4"
  python3 "$BATS_TEST_DIRNAME/import_sources.py" "$ddl" "$SRC" | my_sql "$SRC_DB"
  echo "$SOCK_URL"
}

@test "bills and kept channel ids from a MariaDB source: One API's 36 replayed requests cost what One API charges" {
  SRC="$BATS_TEST_TMPDIR/one-api.db"
  oneapi_replay mariadb
}

@test "bills from a MariaDB source: New API's 40 replayed requests cost what New API charges" {
  SRC="$BATS_TEST_TMPDIR/new-api.db"
  newapi_replay mariadb
}
