#!/usr/bin/env bats
# The logs table's indexes after migration 017 (issue #26, the writer's cost per billed row): every
# index is a b-tree insert for each row relayd's writer logs, so 017 dropped the three that only
# served gwctl's --token, --model and --channel filters (logs_token, logs_model, logs_channel); those
# filters now walk logs_created newest first. Checked here on a database that already holds rows
# (SQLite, and PostgreSQL with RELAY_TEST_DB=postgres): the upgrade, every filter and a lookup by
# request id among many rows, through gwctl, and relayd logging into the upgraded table.

load helpers
load gwctl_helpers

ROWS=20000

# db_at_016: the test's database built by migrations 001-016 only (relay before 017), recorded in
# schema_migrations as the migrations runner does.
db_at_016() {
  local root="$BATS_TEST_DIRNAME/../.."
  if [ "${RELAY_TEST_DB:-sqlite}" = postgres ]; then
    relay_env
    _pg_psql postgres -c "DROP DATABASE $RELAY_PGDB WITH (FORCE)" -c "CREATE DATABASE $RELAY_PGDB" > /dev/null
    for f in "$root"/sql/postgres/00[1-9]_*.sql "$root"/sql/postgres/01[0-6]_*.sql; do
      _pg_psql "$RELAY_PGDB" -f "$f" > /dev/null
    done
    _pg_psql "$RELAY_PGDB" -c "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)" \
      -c "INSERT INTO schema_migrations SELECT v, 'old', 0 FROM generate_series(1, 16) v" > /dev/null
  else
    relay_env                   # (relayd_start calls it again: the old database is relay.db)
    rm -f "$RELAY_DATA"/relay.db*
    python3 - "${RELAY_DB#sqlite:}" "$root"/sql/sqlite/00[1-9]_*.sql "$root"/sql/sqlite/01[0-6]_*.sql <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for f in sys.argv[2:]:
    c.executescript(open(f).read())
c.executescript("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);")
c.executemany("INSERT INTO schema_migrations VALUES (?, 'old', 0)", [(v,) for v in range(1, 17)])
c.commit()
PY
  fi
}

# logs_indexes: the logs table's index names, comma-separated, sorted
logs_indexes() {
  if [ "${RELAY_TEST_DB:-sqlite}" = postgres ]; then
    sql "SELECT group_concat(indexname) FROM (SELECT indexname FROM pg_indexes WHERE tablename = 'logs' ORDER BY indexname) i"
  else
    sql "SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'logs' ORDER BY name)"
  fi
}

# seed_rows: $ROWS consume rows, one a second from 2025-01-01 12:00 UTC, request ids req-1.., users
# 1-3, tokens tok-0..4, models model-0..3, channels 1-2; row 12345 alone has rare-token,
# rare-model and channel 3. Portable SQL (a recursive CTE in a subquery: SQLite and PostgreSQL).
seed_rows() {
  sql "INSERT INTO logs(request_id, created_at, type, user_id, username, token_name, channel_id, model_name, prompt_tokens, completion_tokens, quota, status, content)
    SELECT 'req-' || i, 1735732800 + i, 2, 1 + i % 3, 'u' || (1 + i % 3),
      CASE WHEN i = 12345 THEN 'rare-token' ELSE 'tok-' || (i % 5) END,
      CASE WHEN i = 12345 THEN 3 ELSE 1 + i % 2 END,
      CASE WHEN i = 12345 THEN 'rare-model' ELSE 'model-' || (i % 4) END,
      10, 5, 100 + i, 200, ''
    FROM (WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < $ROWS) SELECT i FROM s) g"
}

ids() { gwctl log list --json --type consume "$@" | $JGET '[r["request_id"] for r in d]'; }

@test "migration 017: a database at 016 with $ROWS log rows upgrades; filters and request-id lookups still find every row" {
  db_at_016
  seed_rows
  [ "$(logs_indexes)" = "$( [ "${RELAY_TEST_DB:-sqlite}" = postgres ] && printf 'logs_channel,logs_created,logs_model,logs_pkey,logs_request,logs_token,logs_user' || printf 'logs_channel,logs_created,logs_model,logs_request,logs_token,logs_user')" ]
  # opening the database migrates it
  [ "$(ids --request-id req-12345)" = '["req-12345"]' ]
  [ "$(sql "SELECT count(*) FROM schema_migrations WHERE version = 17 AND name = '017_log_indexes'")" = 1 ]
  [ "$(logs_indexes)" = "$( [ "${RELAY_TEST_DB:-sqlite}" = postgres ] && printf 'logs_created,logs_pkey,logs_request,logs_user' || printf 'logs_created,logs_request,logs_user')" ]
  # nothing lost, nothing changed
  [ "$(sql "SELECT count(*), sum(quota) FROM logs WHERE type = 2")" = "$(printf '%s\t%s' $ROWS $(( 100 * ROWS + ROWS * (ROWS + 1) / 2 )))" ]
  # the request id is still found through its index, not a scan (SQLite's plan)
  if [ "${RELAY_TEST_DB:-sqlite}" = sqlite ]; then
    [[ "$(sql "EXPLAIN QUERY PLAN SELECT id FROM logs WHERE request_id = 'req-7'")" == *"INDEX logs_request (request_id=?)"* ]]
  fi
  run gwctl log list --json --request-id req-19999
  [ "$status" -eq 0 ]
  [ "$(echo "$output" | $JGET '[(r["model"], r["token_name"], r["channel_id"], r["quota"]) for r in d]')" = '[["model-3", "tok-4", 2, 20099]]' ]
  run gwctl log explain req-4242
  [ "$status" -eq 0 ]
  # the filters whose indexes went: a rare value (the whole log walked), a common one (stops at --limit)
  gwctl user add u1 --quota 1 > /dev/null
  sql "INSERT INTO tokens(user_id, name, key_hash) VALUES (1, 'rare-token', 'h1'), (1, 'tok-2', 'h2')"
  for c in c1 c2 c3; do
    printf 'k\n' | gwctl channel add --name $c --type openai --base-url http://127.0.0.1:9 --models m > /dev/null 2>&1
  done
  [ "$(sql "SELECT id FROM channels WHERE name = 'c3'")" = 3 ]
  [ "$(ids --model rare-model)" = '["req-12345"]' ]
  [ "$(ids --token rare-token)" = '["req-12345"]' ]
  [ "$(ids --channel c3)" = '["req-12345"]' ]
  [ "$(ids --model model-1 --limit 3)" = '["req-19997", "req-19993", "req-19989"]' ]
  [ "$(ids --token tok-2 --limit 2)" = '["req-19997", "req-19992"]' ]
  [ "$(ids --channel c1 --limit 2 --until 1735742800)" = '["req-9998", "req-9996"]' ]
  [ "$(ids --model nothing-like-it)" = '[]' ]
  [ "$(gwctl log stats --by model --model model-2 --json | $JGET '[(r["model"], r["requests"]) for r in d]')" = "[[\"model-2\", $(( ROWS / 4 ))]]" ]
}

@test "relayd logs into a table migrated by 017; each request found by its id among $ROWS rows" {
  db_at_016
  seed_rows
  mock_start up
  gwctl user add alice --quota 100000000 > /dev/null     # migrates
  printf 'sk-up\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models gpt-4o-mini > /dev/null
  local key
  key=$(gwctl token create --user alice --name laptop --quota 50000000)
  relayd_start
  local rids=() i h
  for i in 1 2 3 4 5; do
    h=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
      -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}' "$RELAY_URL/v1/chat/completions" |
      tr -d '\r' | awk -F': ' 'tolower($1) == "x-request-id" { print $2 }')
    [ -n "$h" ]
    rids+=("$h")
  done
  wait_until "$(_relay_scale 30)" sql_is 5 "SELECT count(*) FROM logs WHERE type = 2 AND model_name = 'gpt-4o-mini'"
  relayd_stop
  for h in "${rids[@]}"; do
    [ "$(gwctl log list --json --request-id "$h" | $JGET '[(r["request_id"], r["model"], r["username"], r["quota"] > 0) for r in d]')" = "[[\"$h\", \"gpt-4o-mini\", \"alice\", true]]" ]
  done
  [ "$(ids --model gpt-4o-mini | $JGET 'len(d)')" = 5 ]
  local sum
  sum=$(sql "SELECT sum(quota) FROM logs WHERE type = 2 AND model_name = 'gpt-4o-mini'")
  sql_is "$sum" "SELECT used_quota FROM users WHERE username = 'alice'"
  sql_is "$sum" "SELECT used_quota FROM tokens WHERE name = 'laptop'"
}
