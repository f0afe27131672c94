#!/usr/bin/env bats
# gwctl price: list, set, unset, import (all or nothing), export; relayd refuses an unpriced model.

load helpers
load gwctl_helpers

setup() {
  relay_env
  gwctl user add alice --quota 100000000
}

@test "price list and export show the shipped prices; export round-trips through import" {
  run gwctl price list
  [ "$status" -eq 0 ]
  echo "${lines[0]}" | grep -Eq '^MODEL +RATIO  COMPLETION  CACHE  FIXED$'
  echo "$output" | grep -Eq '^gpt-4o-mini +0.075 +4 +0.5 +-$'
  [ "$(gwj '[p for p in d if p["model"] == "gpt-4o"][0]' price list)" = '{"model": "gpt-4o", "model_ratio": 1.25, "completion_ratio": 4, "cache_ratio": 0.5, "fixed_price": null, "unit": "call"}' ]
  gwctl price export > "$BATS_TEST_TMPDIR/p.json"
  [ "$($JGET 'd["gpt-4o-mini"]' < "$BATS_TEST_TMPDIR/p.json")" = '{"model_ratio": 0.075, "completion_ratio": 4, "cache_ratio": 0.5}' ]
  before=$(db_dump | grep -v 'INTO "logs"')
  gwctl price import "$BATS_TEST_TMPDIR/p.json"
  [ "$(db_dump | grep -v 'INTO "logs"')" = "$before" ]
  # 21 from migration 002, 14 (images, audio, moderation, rerank) from 006
  [ "$(gwctl price export --json | $JGET 'len(d)')" = 35 ]
}

@test "price set ratios or a fixed price, unset; logged" {
  run gwctl price set my-model --ratio 2 --completion-ratio 3 --cache-ratio 0.1
  [ "$status" -eq 0 ]
  [ "$(sql "SELECT model_ratio, completion_ratio, cache_ratio, fixed_price FROM prices WHERE model='my-model'")" = "$(printf '2.0\t3.0\t0.1\tNone')" ]
  gwctl price set my-model --price 0.02
  [ "$(sql "SELECT model_ratio, fixed_price FROM prices WHERE model='my-model'")" = "$(printf '2.0\t0.02')" ]
  [ "$(gwj '[p["fixed_price"] for p in d if p["model"] == "my-model"]' price list)" = '[0.02]' ]
  gwctl price list | grep -Eq '^my-model +2 +3 +0.1 +0.02 USD/call$'
  gwctl price set my-model --ratio 1
  [ "$(sql "SELECT model_ratio, completion_ratio, cache_ratio, fixed_price FROM prices WHERE model='my-model'")" = "$(printf '1.0\t1.0\t1.0\tNone')" ]
  gwctl price export | $JGET 'd["my-model"]' | grep -qx '{"model_ratio": 1, "completion_ratio": 1, "cache_ratio": 1}'
  gwctl price unset my-model
  [ "$(sql "SELECT count(*) FROM prices WHERE model='my-model'")" = 0 ]
  [ "$(sql "SELECT count(*) FROM logs WHERE type=3 AND content LIKE 'price %my-model%'")" = 4 ]
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
  [ "$(sql 'SELECT count(*) FROM prices')" = 37 ]
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
