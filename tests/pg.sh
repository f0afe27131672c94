#!/bin/sh
# tests/pg.sh: a throw-away PostgreSQL server for the tests, on a Unix socket only.
#   pg.sh start [DIR]   initdb + start in DIR (default: a new /tmp/relay-pg.XXXXXX); prints DIR, which
#                       is also the socket directory (connect with host=DIR user=relay)
#   pg.sh stop DIR      fast shutdown, then DIR is removed
#   pg.sh restart DIR   pg_ctl restart (connections drop; data stays)
#   pg.sh kill DIR      immediate shutdown (no checkpoint), server left stopped
#   pg.sh up DIR        start a stopped server again
#   pg.sh ensure DIR    start it again unless it is running
#   pg.sh template DIR GWCTL   creates database relay_template, migrated by GWCTL (the built gwctl)
# The superuser is "relay", trusted on the socket; listen_addresses='' (no TCP). initdb refuses to
# run as root, so as root the server runs as user postgres (or nobody) through runuser/setpriv.
# Binaries: $PG_BIN, else /usr/lib/postgresql/NN/bin (highest NN), else $PATH. POSIX sh.
set -eu

pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then echo "$PG_BIN"; return; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  d=$(command -v initdb 2>/dev/null || true)
  [ -n "$d" ] && { dirname "$d"; return; }
  echo "pg.sh: no PostgreSQL server binaries (apt-get install postgresql, or set PG_BIN)" >&2
  exit 1
}

BIN=$(pg_bin)

# as_owner CMD...: runs CMD as the user that owns the server files
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    u=postgres
    id "$u" >/dev/null 2>&1 || u=nobody
    if command -v runuser >/dev/null 2>&1; then
      runuser -u "$u" -- "$@"
    else
      setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups -- "$@"
    fi
  else
    "$@"
  fi
}

opts() {
  # fsync off: a test server; pg_ctl restart still shuts down cleanly
  echo "-k $1 -c listen_addresses='' -c fsync=off -c full_page_writes=off -c max_connections=200 -c shared_buffers=16MB"
}

cmd=${1:-}
case "$cmd" in
  start)
    dir=${2:-}
    if [ -z "$dir" ]; then dir=$(mktemp -d /tmp/relay-pg.XXXXXX); fi
    mkdir -p "$dir"
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then
      u=postgres
      id "$u" >/dev/null 2>&1 || u=nobody
      chown "$u" "$dir"
    fi
    as_owner "$BIN/initdb" -D "$dir/data" -U relay -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
      cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$(opts "$dir")" -w -t 60 start >/dev/null || {
      cat "$dir/server.log" >&2; exit 1; }
    echo "$dir"
    ;;
  stop)
    dir=$2
    [ -d "$dir/data" ] && as_owner "$BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  restart)
    dir=$2
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$(opts "$dir")" -m fast -w -t 60 restart >/dev/null
    ;;
  kill)
    dir=$2
    as_owner "$BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null
    ;;
  up)
    dir=$2
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$(opts "$dir")" -w -t 60 start >/dev/null
    ;;
  ensure)
    dir=$2
    as_owner "$BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 && exit 0
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "$(opts "$dir")" -w -t 60 start >/dev/null
    ;;
  template)
    dir=$2 gwctl=$3
    "$BIN/psql" -X -q -h "$dir" -U relay -d postgres -c "CREATE DATABASE relay_template" >/dev/null
    # gwctl init creates the schema (every other command refuses a database without it)
    "$gwctl" --db "postgres:///relay_template?host=$dir&user=relay" --socket '' init >/dev/null
    ;;
  *)
    echo "usage: pg.sh start [DIR] | stop DIR | restart DIR | kill DIR | up DIR | ensure DIR | template DIR GWCTL" >&2
    exit 2
    ;;
esac
