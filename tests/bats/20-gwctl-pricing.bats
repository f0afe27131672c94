#!/usr/bin/env bats
# gwctl price: list, set, unset, import (all or nothing), export; relayd refuses an unpriced model;
# cache write ratios and max_output_tokens (migration 007), and a database at 006 upgrading to 007.

load helpers
load gwctl_helpers

setup() {
  relay_env
  gwctl user add alice --quota 100000000
}

@test "price list and export show the shipped prices; export round-trips through import" {
  run gwctl price list
  [ "$status" -eq 0 ]
  echo "${lines[0]}" | grep -Eq '^MODEL +RATIO  COMPLETION  CACHE  CACHE_WRITE  CACHE_1H  AUDIO  AUDIO_OUT  MAX_OUTPUT  FIXED +TIER$'
  echo "$output" | grep -Eq '^gpt-4o-mini +0.075 +4 +0.5 +1.25 +2 +1 +4 +16384 +- +-$'
  echo "$output" | grep -Eq '^text-embedding-3-small +0.01 +1 +1 +1.25 +2 +1 +1 +- +- +-$'
  [ "$(gwj '[p for p in d if p["model"] == "gpt-4o"][0]' price list)" = '{"model": "gpt-4o", "model_ratio": 1.25, "completion_ratio": 4, "cache_ratio": 0.5, "fixed_price": null, "unit": "call", "cache_write_ratio": 1.25, "cache_write_ratio_set": false, "cache_write_1h_ratio": 2, "cache_write_1h_ratio_set": false, "max_output_tokens": 16384, "audio_ratio": 1, "audio_ratio_set": false, "audio_completion_ratio": 4, "audio_completion_ratio_set": false, "tier": null}' ]
  # the providers' documented maximum output, seeded by migration 007
  [ "$(gwj '{p["model"]: p["max_output_tokens"] for p in d if p["model"] in ("claude-sonnet-4-0", "claude-opus-4-0", "claude-3-5-haiku-latest", "gpt-4.1", "o3", "gemini-2.5-pro", "deepseek-chat", "deepseek-reasoner", "dall-e-3")}' price list)" = '{"claude-3-5-haiku-latest": 8192, "claude-opus-4-0": 32000, "claude-sonnet-4-0": 64000, "dall-e-3": null, "deepseek-chat": 8192, "deepseek-reasoner": 65536, "gemini-2.5-pro": 65536, "gpt-4.1": 32768, "o3": 100000}' ]
  gwctl price export > "$BATS_TEST_TMPDIR/p.json"
  [ "$($JGET 'd["gpt-4o-mini"]' < "$BATS_TEST_TMPDIR/p.json")" = '{"model_ratio": 0.075, "completion_ratio": 4, "cache_ratio": 0.5, "max_output_tokens": 16384}' ]
  before=$(db_dump | grep -v 'INTO "logs"')
  gwctl price import "$BATS_TEST_TMPDIR/p.json"
  [ "$(db_dump | grep -v 'INTO "logs"')" = "$before" ]
  # 21 from migration 002, 14 (images, audio, moderation, rerank) from 006, 2 (realtime) from 013
  [ "$(gwctl price export --json | $JGET 'len(d)')" = 37 ]
  [ "$($JGET 'd["gpt-realtime"]' < "$BATS_TEST_TMPDIR/p.json")" = '{"model_ratio": 2, "completion_ratio": 4, "cache_ratio": 0.1, "audio_ratio": 8, "audio_completion_ratio": 2}' ]
}

@test "price set ratios or a fixed price, unset; logged" {
  run gwctl price set my-model --ratio 2 --completion-ratio 3 --cache-ratio 0.1
  [ "$status" -eq 0 ]
  [ "$(sql "SELECT model_ratio, completion_ratio, cache_ratio, fixed_price FROM prices WHERE model='my-model'")" = "$(printf '2.0\t3.0\t0.1\tNone')" ]
  gwctl price set my-model --price 0.02
  [ "$(sql "SELECT model_ratio, fixed_price FROM prices WHERE model='my-model'")" = "$(printf '2.0\t0.02')" ]
  [ "$(gwj '[p["fixed_price"] for p in d if p["model"] == "my-model"]' price list)" = '[0.02]' ]
  gwctl price list | grep -Eq '^my-model +2 +3 +0.1 +1.25 +2 +1 +3 +- +0.02 USD/call +-$'
  gwctl price set my-model --ratio 1
  [ "$(sql "SELECT model_ratio, completion_ratio, cache_ratio, fixed_price FROM prices WHERE model='my-model'")" = "$(printf '1.0\t1.0\t1.0\tNone')" ]
  gwctl price export | $JGET 'd["my-model"]' | grep -qx '{"model_ratio": 1, "completion_ratio": 1, "cache_ratio": 1}'
  gwctl price unset my-model
  [ "$(sql "SELECT count(*) FROM prices WHERE model='my-model'")" = 0 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=3 AND content LIKE 'price %my-model%'")" = 4 ]
}

@test "price set: cache write ratios and max output tokens; list, export and import carry them" {
  run gwctl price set cw-model --ratio 1.5 --completion-ratio 5 --cache-ratio 0.1 --cache-write-ratio 1.1 --cache-write-1h-ratio 1.8 --max-output-tokens 64000
  [ "$status" -eq 0 ]
  [ "$(sql "SELECT model_ratio, cache_write_ratio, cache_write_1h_ratio, max_output_tokens FROM prices WHERE model='cw-model'")" = "$(printf '1.5\t1.1\t1.8\t64000')" ]
  [ "$(gwj '[[p[k] for k in ("cache_write_ratio", "cache_write_ratio_set", "cache_write_1h_ratio", "cache_write_1h_ratio_set", "max_output_tokens")] for p in d if p["model"] == "cw-model"]' price list)" = '[[1.1, true, 1.8, true, 64000]]' ]
  gwctl price list | grep -Eq '^cw-model +1.5 +5 +0.1 +1.1 +1.8 +1 +5 +64000 +- +-$'
  [ "$(gwctl price export | $JGET 'd["cw-model"]')" = '{"model_ratio": 1.5, "completion_ratio": 5, "cache_ratio": 0.1, "cache_write_ratio": 1.1, "cache_write_1h_ratio": 1.8, "max_output_tokens": 64000}' ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=3 AND content = 'price set cw-model model_ratio=1.5 completion_ratio=5 cache_ratio=0.1 cache_write_ratio=1.1 cache_write_1h_ratio=1.8 max_output_tokens=64000'")" = 1 ]
  # audio ratios (migration 013): set, listed, exported, imported, logged
  gwctl price set au-model --ratio 2 --completion-ratio 4 --audio-ratio 8 --audio-completion-ratio 2
  [ "$(sql "SELECT audio_ratio, audio_completion_ratio FROM prices WHERE model='au-model'")" = "$(printf '8.0\t2.0')" ]
  gwctl price list | grep -Eq '^au-model +2 +4 +1 +1.25 +2 +8 +2 +- +- +-$'
  [ "$(gwctl price export | $JGET 'd["au-model"]')" = '{"model_ratio": 2, "completion_ratio": 4, "cache_ratio": 1, "audio_ratio": 8, "audio_completion_ratio": 2}' ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=3 AND content = 'price set au-model model_ratio=2 completion_ratio=4 cache_ratio=1 audio_ratio=8 audio_completion_ratio=2'")" = 1 ]
  echo '{"au-model":{"model_ratio":2,"audio_ratio":5}}' | gwctl price import -
  [ "$(sql "SELECT audio_ratio, audio_completion_ratio IS NULL FROM prices WHERE model='au-model'")" = "$(printf '5.0\t1')" ]
  run gwctl price import - <<< '{"au-model":{"fixed_price":1,"audio_ratio":5}}'
  [ "$status" -eq 2 ]
  # a new ratio price: its cache write ratios return to the defaults; max_output_tokens is kept
  gwctl price set cw-model --ratio 2
  [ "$(sql "SELECT model_ratio, cache_write_ratio IS NULL, cache_write_1h_ratio IS NULL, max_output_tokens FROM prices WHERE model='cw-model'")" = "$(printf '2.0\t1\t1\t64000')" ]
  # --max-output-tokens alone changes only that; 0 makes it unknown again
  gwctl price set cw-model --max-output-tokens 1000
  [ "$(sql "SELECT model_ratio, max_output_tokens FROM prices WHERE model='cw-model'")" = "$(printf '2.0\t1000')" ]
  gwctl price set cw-model --max-output-tokens 0
  [ "$(sql "SELECT max_output_tokens IS NULL FROM prices WHERE model='cw-model'")" = 1 ]
  # a fixed price with an output bound
  gwctl price set fx-model --price 0.01 --max-output-tokens 4096
  [ "$(gwctl price export | $JGET 'd["fx-model"]')" = '{"fixed_price": 0.01, "max_output_tokens": 4096}' ]
  # import: the fields land; export -> import round-trips them
  echo '{"im":{"model_ratio":3,"cache_write_ratio":1.3,"cache_write_1h_ratio":2.5,"max_output_tokens":8192}}' | gwctl price import -
  [ "$(sql "SELECT model_ratio, cache_write_ratio, cache_write_1h_ratio, max_output_tokens FROM prices WHERE model='im'")" = "$(printf '3.0\t1.3\t2.5\t8192')" ]
  gwctl price export > "$BATS_TEST_TMPDIR/all.json"
  before=$(db_dump | grep -v 'INTO "logs"')
  gwctl price import "$BATS_TEST_TMPDIR/all.json" --replace
  [ "$(db_dump | grep -v 'INTO "logs"')" = "$before" ]
}

@test "price set: negative or non-numeric cache write ratios and output bounds are refused, nothing changes" {
  gwctl price set m --ratio 1
  refused 2 "--cache-write-ratio must be from 0 to 1e\+06, not -1" gwctl price set m --ratio 1 --cache-write-ratio -1
  refused 2 "--cache-write-ratio must be a number, not 'abc'" gwctl price set m --ratio 1 --cache-write-ratio abc
  refused 2 "--cache-write-1h-ratio must be a number, not '2x'" gwctl price set m --ratio 1 --cache-write-1h-ratio 2x
  refused 2 "--cache-write-1h-ratio must be from 0" gwctl price set m --ratio 1 --cache-write-1h-ratio -0.5
  refused 2 "--max-output-tokens must be a non-negative integer, not '-5'" gwctl price set m --max-output-tokens -5
  refused 2 "--max-output-tokens must be a non-negative integer, not '1.5'" gwctl price set m --ratio 1 --max-output-tokens 1.5
  refused 2 "give --ratio R" gwctl price set m --cache-write-ratio 1
  refused 2 "need --ratio R" gwctl price set m --max-output-tokens 5 --cache-write-ratio 1
  refused 2 "does not go with the ratio options" gwctl price set m --price 1 --cache-write-1h-ratio 1
  refused 3 "model 'nope' has no price" gwctl price set nope --max-output-tokens 5
  echo '{"a":{"model_ratio":1},"b":{"model_ratio":1,"cache_write_ratio":-1}}' > "$BATS_TEST_TMPDIR/c1.json"
  refused 2 "b.cache_write_ratio must be from 0" gwctl price import "$BATS_TEST_TMPDIR/c1.json"
  echo '{"a":{"model_ratio":1,"cache_write_1h_ratio":"2"}}' > "$BATS_TEST_TMPDIR/c2.json"
  refused 2 "a.cache_write_1h_ratio must be a number" gwctl price import "$BATS_TEST_TMPDIR/c2.json"
  echo '{"a":{"model_ratio":1,"max_output_tokens":1.5}}' > "$BATS_TEST_TMPDIR/c3.json"
  refused 2 "a.max_output_tokens must be an integer" gwctl price import "$BATS_TEST_TMPDIR/c3.json"
  echo '{"a":{"fixed_price":1,"cache_write_ratio":1}}' > "$BATS_TEST_TMPDIR/c4.json"
  refused 2 "need model_ratio" gwctl price import "$BATS_TEST_TMPDIR/c4.json"
}

# db_at_006: replaces the test's database with one built by migrations 001-006 only (relay before
# 007), recorded in schema_migrations as the migrations runner does.
db_at_006() {
  local root="$BATS_TEST_DIRNAME/../.."
  if [ "${RELAY_TEST_DB:-sqlite}" = postgres ]; then
    _pg_psql postgres -c "DROP DATABASE $RELAY_PGDB WITH (FORCE)" -c "CREATE DATABASE $RELAY_PGDB" > /dev/null
    for f in "$root"/sql/postgres/00[1-6]_*.sql; do _pg_psql "$RELAY_PGDB" -f "$f" > /dev/null; done
    _pg_psql "$RELAY_PGDB" -c "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"       -c "INSERT INTO schema_migrations SELECT v, 'old', 0 FROM generate_series(1, 6) v" > /dev/null
  else
    export RELAY_DB="sqlite:$RELAY_DATA/old.db"
    python3 - "$RELAY_DATA/old.db" "$root"/sql/sqlite/00[1-6]_*.sql <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
for f in sys.argv[2:]:
    c.executescript(open(f).read())
c.executescript("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);")
c.executemany("INSERT INTO schema_migrations VALUES (?, 'old', 0)", [(v,) for v in range(1, 7)])
c.commit()
PY
  fi
}

@test "migration 007: a database at 006 upgrades (columns, seeded output bounds, old log rows explained)" {
  db_at_006
  [ "$(sql "SELECT max(version) FROM schema_migrations")" = 6 ]
  # what an administrator had: a changed shipped price, an own model, a logged request
  sql "UPDATE prices SET model_ratio = 9 WHERE model = 'gpt-4o'"
  sql "INSERT INTO prices(model, model_ratio) VALUES ('house-model', 2)"
  sql "INSERT INTO logs(request_id, created_at, type, model_name, prompt_tokens, completion_tokens, quota, status) VALUES ('old-1', 1735732800, 2, 'gpt-4o', 10, 5, 100, 200)"
  run gwctl price list --json      # opening the database migrates it
  [ "$status" -eq 0 ]
  [ "$(sql "SELECT count(*) FROM schema_migrations WHERE version = 7 AND name = '007_billing'")" = 1 ]
  [ "$(echo "$output" | $JGET '[[p["model"], p["model_ratio"], p["max_output_tokens"], p["cache_write_ratio"], p["cache_write_ratio_set"]] for p in d if p["model"] in ("gpt-4o", "house-model", "claude-sonnet-4-0")]')" = \
    '[["claude-sonnet-4-0", 1.5, 64000, 1.25, false], ["gpt-4o", 9, 16384, 1.25, false], ["house-model", 2, null, 1.25, false]]' ]
  [ "$(sql "SELECT count(*) FROM prices WHERE cache_write_ratio IS NOT NULL OR cache_write_1h_ratio IS NOT NULL")" = 0 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE request_id = 'old-1' AND billing = ''")" = 1 ]
  run gwctl log explain old-1
  [ "$status" -eq 0 ]
  [[ "$output" == *"no breakdown recorded"* ]]
  # the upgraded database takes the new fields
  gwctl price set house-model --ratio 2 --cache-write-ratio 1.5 --max-output-tokens 2048
  [ "$(sql "SELECT cache_write_ratio, max_output_tokens FROM prices WHERE model = 'house-model'")" = "$(printf '1.5\t2048')" ]
}

@test "price import: merge, --replace, stdin" {
  cat > "$BATS_TEST_TMPDIR/in.json" <<'J'
{"m1":{"model_ratio":0.5,"completion_ratio":2},"m2":{"fixed_price":0.01},"gpt-4o":{"model_ratio":9}}
J
  run gwctl price import "$BATS_TEST_TMPDIR/in.json"
  [ "$status" -eq 0 ]
  [ "$output" = "3 prices imported" ]
  [ "$(sql "SELECT model, model_ratio, completion_ratio, cache_ratio, fixed_price FROM prices WHERE model IN ('m1','m2','gpt-4o') ORDER BY model")" = \
    "$(printf 'gpt-4o\t9.0\t1.0\t1.0\tNone\nm1\t0.5\t2.0\t1.0\tNone\nm2\t0.0\t1.0\t1.0\t0.01')" ]
  [ "$(sql 'SELECT count(*) FROM prices')" = 39 ]
  echo '{"only":{"model_ratio":1}}' | gwctl price import - --replace
  [ "$(sql 'SELECT group_concat(model) FROM prices')" = only ]
}

@test "price: bad input is refused and changes nothing (an import is all or nothing)" {
  refused 2 "give --ratio" gwctl price set m
  refused 2 "--ratio must be a number, not 'x'" gwctl price set m --ratio x
  refused 2 "--ratio must be from 0" gwctl price set m --ratio -1
  refused 2 "--price must be a number" gwctl price set m --price cheap
  refused 2 "does not go with" gwctl price set m --price 1 --ratio 1
  refused 2 "give --ratio" gwctl price set m --completion-ratio 2
  refused 3 "model 'nope' has no price" gwctl price unset nope
  refused 3 "cannot open" gwctl price import "$BATS_TEST_TMPDIR/none.json"
  echo '{"a":{"model_ratio":1},"b":{"model_ratio":"x"}}' > "$BATS_TEST_TMPDIR/bad1.json"
  refused 2 "b.model_ratio must be a number" gwctl price import "$BATS_TEST_TMPDIR/bad1.json"
  echo '{"a":{"model_ratio":1},"b":{"colour":1}}' > "$BATS_TEST_TMPDIR/bad2.json"
  refused 2 "unknown field 'colour'" gwctl price import "$BATS_TEST_TMPDIR/bad2.json"
  echo '{"a":{"model_ratio":1},' > "$BATS_TEST_TMPDIR/bad3.json"
  refused 2 "not valid JSON" gwctl price import "$BATS_TEST_TMPDIR/bad3.json"
  echo '[1,2]' > "$BATS_TEST_TMPDIR/bad4.json"
  refused 2 "must hold a JSON object" gwctl price import "$BATS_TEST_TMPDIR/bad4.json"
  echo '{"a":{"model_ratio":1},"c":{"fixed_price":-1}}' > "$BATS_TEST_TMPDIR/bad5.json"
  refused 2 "c.fixed_price must be from 0" gwctl price import "$BATS_TEST_TMPDIR/bad5.json"
  echo '{"a":{},"b":{"model_ratio":1}}' > "$BATS_TEST_TMPDIR/bad6.json"
  refused 2 "a needs model_ratio or fixed_price" gwctl price import "$BATS_TEST_TMPDIR/bad6.json" --replace
  echo '{"a b":{"model_ratio":1}}' > "$BATS_TEST_TMPDIR/bad7.json"
  refused 2 "blanks" gwctl price import "$BATS_TEST_TMPDIR/bad7.json"
}

@test "relayd refuses a model without a price (403 model_price_unset), serves it once priced" {
  mock_start up
  printf 'k\n' | gwctl channel add --name c1 --type openai --base-url "$MOCK_URL" --models house-model > /dev/null
  key=$(gwctl token create --user alice --name t --unlimited)
  relayd_start
  chat_as "$key" house-model
  [ "$status_code" = 403 ]
  [ "$(echo "$body" | $JGET 'd["error"]["code"]')" = model_price_unset ]
  gwctl price set house-model --price 0.001
  chat_as "$key" house-model
  [ "$status_code" = 200 ]
  gwctl price unset house-model
  chat_as "$key" house-model
  [ "$status_code" = 403 ]
}
