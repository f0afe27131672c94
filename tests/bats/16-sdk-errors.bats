#!/usr/bin/env bats
# Errors as the official SDKs see them (tests/sdk/client.mjs): each SDK must raise its own error
# class with the right status and message, for relay's refusals (bad key, no quota), for upstream
# refusals (404, 400) of every channel type, and for failures after a stream has started (an error
# event in the client's own stream format: OpenAI error chunk, Anthropic `event: error`, Gemini
# error frame), whatever the channel type.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"
SDK_DIR="$BATS_TEST_DIRNAME/../sdk"
TYPES="openai azure anthropic gemini"

setup() {
  [ -d "$SDK_DIR/node_modules/openai" ] || {
    echo "tests/sdk/node_modules is missing: make check runs npm ci there" >&2
    return 1
  }
  relay_env
  gwctl user add alice --quota 100000000
  gwctl price set sdk-model --ratio 2 --completion-ratio 3
}

# channels NAME MOCKFLAGS...: one mock NAME and, for each channel type T, a channel serving model
# NAME-T on it
channels() {
  local name=$1; shift
  mock_start "$name" "$@"
  local t extra
  for t in $TYPES; do
    extra=()
    [ "$t" = azure ] && extra=(--api-version 2024-10-21)
    printf 'sk-provider\n' | gwctl channel add --name "$name-$t" --type "$t" --base-url "http://127.0.0.1:$MOCK_PORT" \
      --models "$name-$t" "${extra[@]}"
    gwctl price set "$name-$t" --ratio 2 --completion-ratio 3
  done
}

# sdk SDK SCENARIO MODEL: runs the client; its JSON in $out
sdk() {
  out=$(cd "$SDK_DIR" && node client.mjs "$1" "$2" "$3")
  echo "$1 $2 $3: $out" >&3
}

# err EXPR: the client's error field EXPR
err() { echo "$out" | $JGET "$1"; }

@test "a bad key: each SDK's authentication error, status 401" {
  mock_start up
  printf 'sk-provider\n' | gwctl channel add --name ch --type openai --base-url "$MOCK_URL" --models sdk-model
  relayd_start
  export RELAY_KEY=sk-notarealkey
  sdk openai error sdk-model
  [ "$(err 'd["error"]["class"], d["error"]["status"]')" = '["AuthenticationError", 401]' ]
  err 'd["error"]["message"]' | grep -q 'Incorrect API key'
  sdk anthropic error sdk-model
  [ "$(err 'd["error"]["class"], d["error"]["status"], d["error"]["type"]')" = '["AuthenticationError", 401, "authentication_error"]' ]
  err 'd["error"]["message"]' | grep -q 'Incorrect API key'
  sdk gemini error sdk-model
  [ "$(err 'd["error"]["class"], d["error"]["status"]')" = '["ApiError", 401]' ]
  err 'd["error"]["message"]' | grep -q 'UNAUTHENTICATED'
  err 'd["error"]["message"]' | grep -q 'Incorrect API key'
  [ "$(mock_requests up | wc -l)" = 0 ]
}

@test "no quota left: each SDK's rate-limit error, status 429, nothing charged" {
  mock_start up
  printf 'sk-provider\n' | gwctl channel add --name ch --type openai --base-url "$MOCK_URL" --models sdk-model
  RELAY_KEY=$(gwctl token create --user alice --name poor --quota 5)
  export RELAY_KEY
  relayd_start
  sdk openai error sdk-model
  [ "$(err 'd["error"]["class"], d["error"]["status"], d["error"]["code"]')" = '["RateLimitError", 429, "insufficient_quota"]' ]
  err 'd["error"]["message"]' | grep -q 'Not enough quota'
  sdk anthropic error sdk-model
  [ "$(err 'd["error"]["class"], d["error"]["status"], d["error"]["type"]')" = '["RateLimitError", 429, "rate_limit_error"]' ]
  err 'd["error"]["message"]' | grep -q 'Not enough quota'
  sdk gemini error sdk-model
  [ "$(err 'd["error"]["class"], d["error"]["status"]')" = '["ApiError", 429]' ]
  err 'd["error"]["message"]' | grep -q 'RESOURCE_EXHAUSTED'
  [ "$(mock_requests up | wc -l)" = 0 ]
  [ "$(sql "SELECT remain_quota, used_quota FROM tokens WHERE name='poor'")" = "$(printf '5\t0')" ]
}

@test "upstream 404 (unknown model) and 400 through every channel type: the SDK's NotFound / BadRequest" {
  channels nf --status 404
  channels bad --status 400
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  export RELAY_KEY
  relayd_start
  for t in $TYPES; do
    sdk openai error "nf-$t"
    [ "$(err 'd["error"]["class"], d["error"]["status"]')" = '["NotFoundError", 404]' ]
    err 'd["error"]["message"]' | grep -q 'mock error 404'
    sdk anthropic error "nf-$t"
    [ "$(err 'd["error"]["class"], d["error"]["status"], d["error"]["type"]')" = '["NotFoundError", 404, "not_found_error"]' ]
    err 'd["error"]["message"]' | grep -q 'mock error 404'
    sdk gemini error "nf-$t"
    [ "$(err 'd["error"]["class"], d["error"]["status"]')" = '["ApiError", 404]' ]
    err 'd["error"]["message"]' | grep -q 'NOT_FOUND'
    err 'd["error"]["message"]' | grep -q 'mock error 404'

    sdk openai error "bad-$t"
    [ "$(err 'd["error"]["class"], d["error"]["status"]')" = '["BadRequestError", 400]' ]
    err 'd["error"]["message"]' | grep -q 'mock error 400'
    sdk anthropic error "bad-$t"
    [ "$(err 'd["error"]["class"], d["error"]["status"], d["error"]["type"]')" = '["BadRequestError", 400, "invalid_request_error"]' ]
    sdk gemini error "bad-$t"
    [ "$(err 'd["error"]["class"], d["error"]["status"]')" = '["ApiError", 400]' ]
    err 'd["error"]["message"]' | grep -q 'INVALID_ARGUMENT'
  done
  # refused upstream: nothing charged
  [ "$(sql 'SELECT used_quota FROM tokens')" = 0 ]
}

@test "no channel for the model: each SDK's error for relay's 404 model_not_found (not a retried 503)" {
  mock_start up
  printf 'sk-provider\n' | gwctl channel add --name ch --type openai --base-url "$MOCK_URL" --models sdk-model
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  export RELAY_KEY
  relayd_start
  sdk openai error no-such-model
  [ "$(err 'd["error"]["class"], d["error"]["status"]')" = '["NotFoundError", 404]' ]
  err 'd["error"]["message"]' | grep -q no-such-model
  sdk anthropic error no-such-model
  [ "$(err 'd["error"]["class"], d["error"]["status"], d["error"]["type"]')" = '["NotFoundError", 404, "not_found_error"]' ]
  err 'd["error"]["message"]' | grep -q no-such-model
  sdk gemini error no-such-model
  [ "$(err 'd["error"]["class"], d["error"]["status"]')" = '["ApiError", 404]' ]
  err 'd["error"]["message"]' | grep -q NOT_FOUND
}

# stream_errors NAME WHAT: for each SDK and channel type, a stream from mock NAME fails after two
# words; the SDK raises an error carrying WHAT, after the text that came first
stream_errors() {
  local name=$1 what=$2 t c
  for c in openai anthropic gemini; do
    for t in $TYPES; do
      sdk "$c" stream-error "$name-$t"
      [ "$(err '"unexpected" in d')" = false ]
      [ "$(err 'd["text"]')" = "hello hello " ]
      err 'd["error"]["message"]' | grep -q "$what"
      case $c in
        openai) [ "$(err 'd["error"]["class"]')" = APIError ] ;;
        anthropic) [ "$(err 'd["error"]["class"]')" = APIError ]
                   err 'd["events"][0]' | grep -qx message_start ;;
        gemini) [ "$(err 'd["error"]["class"]')" = ApiError ]
                [ "$(err 'd["error"]["status"]')" -ge 500 ] ;;
      esac
    done
  done
}

@test "an upstream error event mid-stream reaches every SDK as an error in its own stream format" {
  channels ea --chunks 5 --error-after 2
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  export RELAY_KEY
  relayd_start
  stream_errors ea 'mock stream error'
}

@test "an upstream cut mid-stream reaches every SDK as an error in its own stream format" {
  channels cut --chunks 5 --disconnect-after 2
  RELAY_KEY=$(gwctl token create --user alice --name t1 --quota 50000000)
  export RELAY_KEY
  relayd_start
  stream_errors cut 'ended early'
}
