#!/usr/bin/env bats
# Docs and completion coverage: every gwctl command and option (from `gwctl --list-commands`) is in
# gwctl(1) and offered by the bash and zsh completions; every relayd setting (from
# `relayd --dump-config=json`) is in relayd.conf(5), relayd --help and the example relayd.conf; the
# man pages render without groff warnings; live names come from `gwctl --list-names`.

load helpers

ROOT="$BATS_TEST_DIRNAME/../.."

setup() {
  relay_env
  gwctl user add alice --quota 1000 > /dev/null
  gwctl user add bob --quota 1000 > /dev/null
  gwctl group set vip --ratio 2 > /dev/null
  printf 'k\n' | gwctl channel add --name east --type openai --base-url http://127.0.0.1:9 --models m-one,m-two --tag blue > /dev/null
  gwctl token create --user alice --name laptop --unlimited > /dev/null
}

# split_row ROW: noun, verb and usage of a `gwctl --list-commands` row (tab-separated; the verb of a
# one-word command is empty, which `IFS=$'\t' read` would swallow)
split_row() {
  noun=${1%%$'\t'*}
  local rest=${1#*$'\t'}
  verb=${rest%%$'\t'*}
  usage=${rest#*$'\t'}
}

# roff NAME: NAME as written in a man page ('-' as '\-')
roff() { printf '%s' "${1//-/\\-}"; }

# bcomp WORDS...: what the bash completion offers after "gwctl WORDS..." (the last word is the one
# being completed), space-separated
bcomp() {
  source "$ROOT/completions/gwctl.bash"
  COMP_WORDS=("$RELAY_BIN/gwctl" "$@")
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  _gwctl
  echo "${COMPREPLY[*]}"
}

# zcomp WORDS...: what the zsh completion offers, one a line, with compadd and _files stubbed (the
# stub offers everything; zsh itself would then filter by the prefix typed)
zcomp() {
  zsh -f -c '
    compadd() {
      local -a out
      while [[ $1 == -* && $1 != -- && $1 != - ]]; do
        if [[ $1 == -a ]]; then out+=(${(P)2}); shift 2; else shift; fi
      done
      [[ $1 == -- ]] && shift
      out+=("$@")
      print -rl -- $out
    }
    _files() { print -r -- "<files>"; }
    words=("$@"); CURRENT=$#
    source "$GWCTL_ZSH"' zcomp "$RELAY_BIN/gwctl" "$@" | sort
}

@test "gwctl(1) documents every command and every option of the command table" {
  man="$ROOT/man/gwctl.1"
  missing=""
  while IFS= read -r row; do
    split_row "$row"
    grep -q "gwctl $noun${verb:+ $verb}" "$man" || missing+=" 'gwctl $noun $verb'"
    for opt in $(grep -o -- '--[a-z][a-z0-9-]*' <<< "$usage" | sort -u); do
      grep -qF -- "$(roff "$opt")" "$man" || missing+=" '$noun $verb $opt'"
    done
  done < <(gwctl --list-commands)
  for opt in --db --socket --json --help --version; do
    grep -qF -- "$(roff "$opt")" "$man" || missing+=" '$opt'"
  done
  [ -z "$missing" ] || { echo "gwctl.1 lacks:$missing" >&2; false; }
}

@test "relayd.conf(5), relayd --help and the example file list every setting; relayd(8) names the files" {
  man="$ROOT/$BUILD/man/relayd.conf.5"
  example="$ROOT/$BUILD/dist/relayd.conf"
  [ -f "$man" ] && [ -f "$example" ]
  help=$("$RELAY_BIN/relayd" --help)
  missing=""
  for k in $("$RELAY_BIN/relayd" --dump-config=json | json_get '" ".join(k["name"] for k in d)'); do
    grep -q "^\\.BR $(roff "$k") " "$man" || missing+=" relayd.conf.5:$k"
    grep -qx "#$k = .*" "$example" || missing+=" relayd.conf:$k"
    opt=${k//_/-}
    grep -q -- "--$opt " <<< "$help" || missing+=" --help:--$opt"
    env=RELAY_${k^^}
    grep -qF "$(roff "$env")" "$man" || missing+=" relayd.conf.5:$env"
  done
  [ -z "$missing" ] || { echo "missing:$missing" >&2; false; }
  # no placeholder survived generation
  run grep -l '@[A-Z_]*@' "$man" "$ROOT/$BUILD/man/relayd.8" "$ROOT/$BUILD/dist/relayd.service"
  [ "$status" -ne 0 ]
  grep -qF '/etc/relay/relayd.conf' "$ROOT/$BUILD/man/relayd.8"
  grep -qF "$(roff /var/lib/relay/relay.db)" "$ROOT/$BUILD/man/relayd.8"
  for opt in --check-config --dump-config --config; do
    grep -qF -- "$(roff "$opt")" "$ROOT/$BUILD/man/relayd.8" || { echo "relayd.8 lacks $opt" >&2; false; }
  done
}

@test "the man pages render without groff warnings" {
  command -v groff > /dev/null || skip "groff is not installed"
  for page in "$ROOT/man/gwctl.1" "$ROOT/man/gwtui.1" "$ROOT/$BUILD/man/relayd.8" "$ROOT/$BUILD/man/relayd.conf.5"; do
    run groff -man -Tutf8 -ww -Wbreak -z "$page"   # all warnings but line adjustment
    [ -z "$output" ] || { echo "$page: $output" >&2; false; }
  done
}

@test "gwctl --list-names: live names, sorted; quiet and exit 1 without a database, never creating one" {
  [ "$(gwctl --list-names user)" = "$(printf 'alice\nbob')" ]
  [ "$(gwctl --list-names channel)" = east ]
  [ "$(gwctl --list-names token)" = laptop ]
  [ "$(gwctl --list-names tag)" = blue ]
  [[ " $(gwctl --list-names group | tr '\n' ' ') " == *" vip "* ]]
  models=" $(gwctl --list-names model | tr '\n' ' ') "
  [[ "$models" == *" m-one "* && "$models" == *" m-two "* && "$models" == *" gpt-4o-mini "* ]]
  [ "$(gwctl --list-names option | head -n 1)" = retry_times ]
  # recent request ids (log explain), each once; manage rows have none
  sql "INSERT INTO logs(request_id, created_at, type) VALUES ('req-b', 1, 2), ('req-a', 2, 2), ('req-b', 3, 5)"
  [ "$(gwctl --list-names request)" = "$(printf 'req-a\nreq-b')" ]
  [ "$(gwctl --db "$RELAY_DB" --list-names user | wc -l)" -eq 2 ]
  run env RELAY_DB="sqlite:$BATS_TEST_TMPDIR/none/relay.db" "$RELAY_BIN/gwctl" --list-names user
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  [ ! -e "$BATS_TEST_TMPDIR/none" ]
  run env -u RELAY_DB "$RELAY_BIN/gwctl" --list-names user
  [ "$status" -eq 1 ]
  [ -z "$output" ]
  run gwctl --list-names colours
  [ "$status" -eq 2 ]
}

@test "bash completion: every noun, verb and option of the table; live names" {
  nouns=$(bcomp '')
  while IFS= read -r row; do
    split_row "$row"
    [[ " $nouns " == *" $noun "* ]] || { echo "bash: noun $noun not offered" >&2; false; }
    if [ -n "$verb" ]; then
      # a verb of two words ("channel key add"): each word offered in its turn
      [[ " $(bcomp "$noun" '') " == *" ${verb%% *} "* ]] || { echo "bash: $noun $verb not offered" >&2; false; }
      [[ "$verb" != *" "* || " $(bcomp "$noun" "${verb%% *}" '') " == *" ${verb#* } "* ]] ||
        { echo "bash: $noun $verb not offered" >&2; false; }
      read -r -a words <<< "$noun $verb"
    else
      words=("$noun")
    fi
    offered=" $(bcomp "${words[@]}" --) "
    for opt in $(grep -o -- '--[a-z][a-z0-9-]*' <<< "$usage" | sort -u) --json --help; do
      [[ "$offered" == *" $opt "* ]] || { echo "bash: '$noun $verb' does not offer $opt" >&2; false; }
    done
  done < <(gwctl --list-commands)
  [ "$(bcomp user show '')" = "alice bob" ]
  [ "$(bcomp token create --user '')" = "alice bob" ]
  [ "$(bcomp channel edit east --tag '')" = blue ]
  [ "$(bcomp channel edit --tag b)" = blue ]
  [ "$(bcomp log list --model m-)" = "m-one m-two" ]
  [ "$(bcomp config get '')" = "affinity_header affinity_ttl_s balance_low_threshold balance_poll_interval_s breaker_failures breaker_open_s channel_auto_disable channel_disable_failures channel_disable_keywords channel_limit_queue channel_limit_wait_ms channel_test_all channel_test_interval_s channel_test_timeout_s default_max_output_tokens display_in_currency display_token_stat preconsume_completion_tokens quota_remind_threshold quota_rounding rate_limit_window_s realtime_idle_timeout_s response_cache_hit_percent response_cache_mb response_cache_models response_cache_ttl_s retry_times routing webhook_url" ]
  [ "$(bcomp group rm v)" = vip ]
  sql "INSERT INTO logs(request_id, created_at, type) VALUES ('req-1', 1, 2), ('req-2', 2, 2)"
  [ "$(bcomp log explain '')" = "req-1 req-2" ]
  # no database: no names, no error output, no file created
  [ -z "$(RELAY_DB="sqlite:$BATS_TEST_TMPDIR/x/none.db" bcomp user show '' 2>&1)" ]
}

@test "zsh completion: every noun, verb and option of the table; live names" {
  command -v zsh > /dev/null || skip "zsh is not installed"
  export GWCTL_ZSH="$ROOT/completions/_gwctl"
  zsh -n "$GWCTL_ZSH"
  nouns=" $(zcomp '' | tr '\n' ' ') "
  while IFS= read -r row; do
    split_row "$row"
    [[ "$nouns" == *" $noun "* ]] || { echo "zsh: noun $noun not offered" >&2; false; }
    if [ -n "$verb" ]; then
      [[ " $(zcomp "$noun" '' | tr '\n' ' ') " == *" ${verb%% *} "* ]] || { echo "zsh: $noun $verb not offered" >&2; false; }
      [[ "$verb" != *" "* || " $(zcomp "$noun" "${verb%% *}" '' | tr '\n' ' ') " == *" ${verb#* } "* ]] ||
        { echo "zsh: $noun $verb not offered" >&2; false; }
      read -r -a words <<< "$noun $verb"
    else
      words=("$noun")
    fi
    offered=" $(zcomp "${words[@]}" -- | tr '\n' ' ') "
    for opt in $(grep -o -- '--[a-z][a-z0-9-]*' <<< "$usage" | sort -u) --json --help; do
      [[ "$offered" == *" $opt "* ]] || { echo "zsh: '$noun $verb' does not offer $opt" >&2; false; }
    done
  done < <(gwctl --list-commands)
  [ "$(zcomp user show '' | tr '\n' ' ')" = "alice bob " ]
  [ "$(zcomp token create --user '' | tr '\n' ' ')" = "alice bob " ]
  [ "$(zcomp channel edit east --tag '')" = blue ]
  [ "$(zcomp log stats --by '' | tr '\n' ' ')" = "channel day group hour model status token user " ]
  [ "$(zcomp config get '' | tr '\n' ' ')" = "affinity_header affinity_ttl_s balance_low_threshold balance_poll_interval_s breaker_failures breaker_open_s channel_auto_disable channel_disable_failures channel_disable_keywords channel_limit_queue channel_limit_wait_ms channel_test_all channel_test_interval_s channel_test_timeout_s default_max_output_tokens display_in_currency display_token_stat preconsume_completion_tokens quota_remind_threshold quota_rounding rate_limit_window_s realtime_idle_timeout_s response_cache_hit_percent response_cache_mb response_cache_models response_cache_ttl_s retry_times routing webhook_url " ]
  [ "$(zcomp --db '')" = "<files>" ]
  sql "INSERT INTO logs(request_id, created_at, type) VALUES ('req-1', 1, 2)"
  [ "$(zcomp log explain '')" = req-1 ]
  [ "$(zcomp --db "$RELAY_DB" user edit '' | tr '\n' ' ')" = "alice bob " ]
  [ -z "$(RELAY_DB="sqlite:$BATS_TEST_TMPDIR/x/none.db" zcomp user show '' 2>&1)" ]
}

@test "channel types: the completions, gwctl(1) and README offer every type of the provider table" {
  # the table's list, as gwctl prints it ("supported: openai, azure, ...")
  run gwctl channel add --name x --type nope --models m --no-key
  [ "$status" -eq 2 ]
  types=$(sed -n 's/.*supported: \([a-z, ]*\)).*/\1/p' <<< "$output" | tr -d ,)
  [[ " $types " == *" openai "*" openrouter "* ]]
  sorted=$(tr ' ' '\n' <<< "$types" | sort | tr '\n' ' ')
  [ "$(bcomp channel add --type '' | tr ' ' '\n' | sort | tr '\n' ' ')" = "$sorted" ]
  [ "$(bcomp channel edit east --type '' | tr ' ' '\n' | sort | tr '\n' ' ')" = "$sorted" ]
  if command -v zsh > /dev/null; then
    export GWCTL_ZSH="$ROOT/completions/_gwctl"
    [ "$(zcomp channel add --type '' | tr '\n' ' ')" = "$sorted" ]
  fi
  man=$(grep -A1 "The upstream's API format:" "$ROOT/man/gwctl.1")
  readme=$(grep -A1 '^Channel types:' "$ROOT/README.md")
  for t in $types; do
    grep -qw -- "$t" <<< "$man" || { echo "gwctl(1) does not list $t" >&2; false; }
    grep -qw -- "$t" <<< "$readme" || { echo "README does not list $t" >&2; false; }
  done
}
