# gwctl_helpers.bash: what the 20-gwctl-*.bats suites share (load after helpers).
#
#   db_dump            prints every table of the test database (schema and rows, sorted; rows read
#                      INSERT INTO "table" on both backends)
#   refused CODE REGEX CMD...
#                      runs CMD (gwctl ARGS...), and fails unless it exits CODE, prints a
#                      "gwctl: ..." line matching REGEX on stderr, prints nothing on stdout, and
#                      leaves the database exactly as it was (a dump before and after)
#   chat_as KEY MODEL  POST /v1/chat/completions to the running relayd; sets status_code, body
#   gwj EXPR ARGS...   runs gwctl ARGS... --json and prints the Python expression EXPR of its output
#   import_py ARGS...  python3 ARGS... able to `from import_sources import ...` (the One API / New
#                      API source schemas of the 22-gwctl-import suites), leaving no __pycache__

JGET="$BATS_TEST_DIRNAME/jget"

db_dump() {
  if [ "${RELAY_TEST_DB:-sqlite}" = postgres ]; then
    relay_env
    "$(pg_bin)/pg_dump" -h "$RELAY_TEST_PGHOST" -U relay --inserts "$RELAY_PGDB" \
      | grep -v -e '^\\\(un\)\{0,1\}restrict ' -e 'pg_catalog.setval' \
      | sed 's/^INSERT INTO public\.\([a-z_]*\) /INSERT INTO "\1" /' | sort
    return
  fi
  python3 - "${RELAY_DB#sqlite:}" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=5)
for line in sorted(c.iterdump()):
    print(line)
PY
}

refused() {
  local code=$1 regex=$2 before after out err rc=0
  shift 2
  before=$(db_dump)
  out="$BATS_TEST_TMPDIR/refused.out" err="$BATS_TEST_TMPDIR/refused.err"
  "$@" > "$out" 2> "$err" < /dev/null || rc=$?
  after=$(db_dump)
  if [ "$rc" != "$code" ]; then
    echo "expected exit $code, got $rc from: $*" >&2; cat "$err" "$out" >&2; return 1
  fi
  if ! grep -Eq "^gwctl: .*($regex)" "$err"; then
    echo "stderr of '$*' does not match /$regex/:" >&2; cat "$err" >&2; return 1
  fi
  if [ -s "$out" ]; then
    echo "stdout of '$*' is not empty:" >&2; cat "$out" >&2; return 1
  fi
  if [ "$before" != "$after" ]; then
    echo "the database changed after '$*':" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    return 1
  fi
}

chat_as() {
  local out="$BATS_TEST_TMPDIR/chat"
  status_code=$(curl -s -o "$out.body" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
    -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    --data-binary "{\"model\":\"$2\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
  body=$(cat "$out.body")
}

gwj() {
  local expr=$1
  shift
  gwctl "$@" --json | "$JGET" "$expr"
}

import_py() {
  PYTHONPATH="$BATS_TEST_DIRNAME${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 python3 "$@"
}
