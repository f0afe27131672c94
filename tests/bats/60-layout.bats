#!/usr/bin/env bats
# Module layout (issue #19): the modules of relayd, gwctl and gwtui depend on each other without a
# cycle. scripts/depcycles.py builds two graphs over modules (x.c + x.h = module x):
#   - the include graph: x.c or x.h has #include "y.h" -> x depends on y;
#   - the link graph, from the built objects (nm): x.o uses a symbol y.o defines -> x depends on y
#     (a call through a header declared elsewhere, e.g. gwctl commands through gwctl.h).
# It prints every cycle it finds. On the code before #19's cycle work both graphs had cycles:
# relay.c <-> worker.c (<-> gate.c), admin.c <-> dbnotify.c, and every gwctl command file with
# main.c and each other (cmd_user <-> cmd_token <-> cmd_limit, cmd_config <-> cmd_daemon <-> main).
# The last one, relayd's health.c <-> snapshot.c <-> writer.c (channels carry their health state,
# health reports through the writer, the writer flips the health flag after a commit), is broken
# by chanstate.c: the state table is a leaf the three include. No cycle is tolerated.

ROOT="$BATS_TEST_DIRNAME/../.."

# none PATTERN FILE...: fails, printing the lines, when any FILE has a line matching the ERE
# (a bare "! grep" would not fail a bats test)
none() {
  local pat=$1
  shift
  if grep -nE "$pat" "$@"; then
    return 1
  fi
}

# the object directory of the build under test ($RELAY_BIN is BUILD/bin)
objdir() { printf '%s' "${RELAY_BIN:-$ROOT/build/bin}" | sed 's|/bin$||'; }

@test "the include graph of relayd, gwctl and gwtui has no cycle" {
  run python3 "$ROOT/scripts/depcycles.py" --root "$ROOT"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(grep -c cycle <<< "$output")" -eq 0 ]
}

@test "the link graph of relayd, gwctl and gwtui has no cycle (no module calls back into its caller)" {
  local o
  o=$(objdir)
  [ -f "$o/relayd/worker.o" ] && [ -f "$o/gwctl/main.o" ] || skip "no objects in $o (build first)"
  run python3 "$ROOT/scripts/depcycles.py" --root "$ROOT" \
    --objects "$o/relayd" "$o/gwctl" "$o/gwtui"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(grep -c 'link cycle' <<< "$output")" -eq 0 ]
}

# relay's modules: relay.c (the worker's handlers) and its stages, which share request.h; route's
# and admit's helpers for channel limits, affinity and the wait for room read the request too
RELAY_STAGES=(relay front auth selfserve selfsvc admit route attempt imginline reqview respond stream settle reqpool reqchunk realtime
              fallback respcache chanlimit affinity limitwait)

@test "the worker calls its handler only through struct worker_handlers; relay's stages use worker.h's functions" {
  # worker.c names no relay_* function and does not include relay.h; gate.c neither
  none '#include "relay\.h"|\brelay_[a-z_]+\(' "$ROOT/relayd/worker.c" "$ROOT/relayd/gate.c"
  none '#include "worker\.h"' "$ROOT/relayd/gate.c"
  # relay.c and its stages read no field of struct worker (w->..., r->w->...): only worker_* functions
  local m files=("$ROOT/relayd/request.h")
  for m in "${RELAY_STAGES[@]}"; do
    files+=("$ROOT/relayd/$m.c")
  done
  none '(\bw|->w)->[a-z_]+' "${files[@]}"
  # dbnotify.c calls no admin function
  none '#include "admin\.h"|\badmin_[a-z_]+\(' "$ROOT/relayd/dbnotify.c"
}

@test "only relay's stages include request.h (the request's private state)" {
  local f m bad=0
  for f in $(grep -l '#include "request\.h"' "$ROOT"/relayd/*.c "$ROOT"/relayd/*.h); do
    m=$(basename "$f")
    m=${m%.*}
    if [[ " ${RELAY_STAGES[*]} " != *" $m "* ]]; then
      echo "$f includes request.h but is not one of relay's stages"
      bad=1
    fi
  done
  [ "$bad" -eq 0 ]
  # and the stages do include it (the list above is not stale)
  for m in "${RELAY_STAGES[@]}"; do
    grep -q '#include "request\.h"' "$ROOT/relayd/$m.c"
  done
}

@test "no file in relayd/ is over 800 lines" {
  local f n bad=0
  for f in "$ROOT"/relayd/*.c "$ROOT"/relayd/*.h; do
    n=$(wc -l < "$f")
    if [ "$n" -gt 800 ]; then
      echo "$f has $n lines (at most 800: split it by responsibility, doc/design.md)"
      bad=1
    fi
  done
  [ "$bad" -eq 0 ]
}

@test "no gwctl command file includes another command's header" {
  local f bad=0
  for f in "$ROOT"/gwctl/cmd_*.c; do
    local own
    own=$(basename "$f" .c).h
    if grep -n '#include "cmd_' "$f" | grep -v "\"$own\""; then
      echo "in $f"
      bad=1
    fi
  done
  [ "$bad" -eq 0 ]
}

@test "depcycles finds and prints a cycle (include and link), and tolerates only the named one" {
  local t="$BATS_TEST_TMPDIR/tree"
  mkdir -p "$t/relayd" "$t/gwctl" "$t/gwtui" "$t/obj/relayd"
  printf '#include "b.h"\nint a(void) { return 1; }\n' > "$t/relayd/a.c"
  printf 'int a(void);\n' > "$t/relayd/a.h"
  printf '#include "c.h"\nint b(void);\n' > "$t/relayd/b.h"
  printf '#include "b.h"\nint b(void) { return 2; }\n' > "$t/relayd/b.c"
  printf '#include "a.h"\nint c(void);\n' > "$t/relayd/c.h"
  printf '#include "c.h"\nint c(void) { return 3; }\n' > "$t/relayd/c.c"
  run python3 "$ROOT/scripts/depcycles.py" --root "$t"
  echo "$output"
  [ "$status" -eq 1 ]
  grep -qx 'include cycle: relayd/a -> relayd/b -> relayd/c -> relayd/a   (modules in the cycle: relayd/a, relayd/b, relayd/c)' <<< "$output"
  run python3 "$ROOT/scripts/depcycles.py" --root "$t" --known relayd/a,relayd/b,relayd/c
  [ "$status" -eq 0 ]
  grep -q '^known include cycle' <<< "$output"
  run python3 "$ROOT/scripts/depcycles.py" --root "$t" --known relayd/a,relayd/b
  [ "$status" -eq 1 ]
  # link graph: x.o calls y(), y.o calls x()
  printf 'int y(void);\nint x(void) { return y(); }\n' > "$t/x.c"
  printf 'int x(void);\nint y(void) { return x(); }\n' > "$t/y.c"
  cc -c -o "$t/obj/relayd/x.o" "$t/x.c"
  cc -c -o "$t/obj/relayd/y.o" "$t/y.c"
  rm -f "$t"/relayd/*
  run python3 "$ROOT/scripts/depcycles.py" --root "$t" --objects "$t/obj/relayd"
  echo "$output"
  [ "$status" -eq 1 ]
  grep -q '^link cycle: relayd/x -> relayd/y -> relayd/x' <<< "$output"
}

# the format adapters (relayd/format.h: one struct format per wire format) and the code they call
# (reqfit.c: what a converted request must look like for each upstream format)
FORMAT_FILES='^(format|formats|format_[a-z]+|claude|claude_client|gemini|gemini_client|responses|responses_client|responses_events|adapt|openai|reasoning|reqfit)\.[ch]$'
# the old per-format flags and branches: the client's API, the channel's api compared, the native
# pass-through flags, an adapter's functions called by name, the format-specific endpoints compared,
# the Responses API's old media branch (MEDIA_RESPONSES, its stream flags)
OLD_FLAGS='speaks_claude|client_api|CLIENT_(OPENAI|CLAUDE|GEMINI)|UPSTREAM_(OPENAI|ANTHROPIC|AZURE|GEMINI|COHERE|JINA|RESPONSES)\b|native_attempt|native_done|native_error|\bclaude_[a-z_]+\(|\bgemini_[a-z_]+\(|\bresponses_[a-z_]+\(|MEDIA_RESPONSES|media_responses_event|saw_done|saw_error_event|[=!]= *EP_(MESSAGES|GEMINI)|\b(channel|ch)->api *[=!]='

@test "format branching lives only in the format adapters and the provider table" {
  local f files=()
  for f in "$ROOT"/relayd/*.[ch] "$ROOT"/gwctl/*.[ch] "$ROOT"/gwtui/*.[ch] "$ROOT"/common/*.[ch]; do
    [[ "$f" == */common/provider.[ch] ]] && continue
    [[ "$f" == */relayd/* && "$(basename "$f")" =~ $FORMAT_FILES ]] && continue
    files+=("$f")
  done
  [ "${#files[@]}" -gt 40 ]             # the globs found the tree
  none "$OLD_FLAGS" "${files[@]}"
  # the pattern does find them where they belong (it is not stale)
  grep -qE "$OLD_FLAGS" "$ROOT/relayd/formats.c"
  grep -qE "$OLD_FLAGS" "$ROOT/relayd/format_claude.c"
  grep -qE "$OLD_FLAGS" "$ROOT/relayd/format_responses.c"
  grep -qE 'UPSTREAM_ANTHROPIC' "$ROOT/common/provider.c"
  # every stage reaches a format only through its struct format (ops, or its fields)
  grep -q 'r->client->ops->error_body' "$ROOT/relayd/respond.c"
  grep -q 'format_stream_event' "$ROOT/relayd/stream.c"
}
