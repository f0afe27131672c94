#!/bin/sh
# tests/mariadb.sh: a throw-away MariaDB server for the tests (the twin of tests/pg.sh).
#   mariadb.sh start [DIR]  mariadb-install-db + mariadbd in DIR (default: a new
#                           /tmp/relay-my.XXXXXX); prints DIR. The server listens on the Unix socket
#                           DIR/mysqld.sock and on 127.0.0.1:$(cat DIR/port) (a free port).
#   mariadb.sh stop DIR     shutdown, then DIR is removed
#   mariadb.sh sql DIR [DB] the mariadb client as root on the socket (SQL on stdin or in args)
# root authenticates by its Unix user on the socket (unix_socket, as mariadb-install-db sets up).
# mariadbd refuses to run as root, so as root the server runs as user mysql (or nobody).
# Binaries: $MARIADB_BIN, else $PATH and /usr/sbin. POSIX sh.
set -eu

PATH="${MARIADB_BIN:+$MARIADB_BIN:}$PATH:/usr/sbin:/usr/bin"
for b in mariadbd mariadb-install-db mariadb mariadb-admin; do
  command -v "$b" >/dev/null 2>&1 || {
    echo "mariadb.sh: no $b (apt-get install mariadb-server mariadb-client, or set MARIADB_BIN)" >&2
    exit 1
  }
done

owner() {
  if [ "$(id -u)" = 0 ]; then
    if id mysql >/dev/null 2>&1; then echo mysql; else echo nobody; fi
  else
    id -un
  fi
}

client() {
  dir=$1
  shift
  mariadb --no-defaults -S "$dir/mysqld.sock" -u root "$@"
}

cmd=${1:-}
case "$cmd" in
  start)
    dir=${2:-}
    if [ -z "$dir" ]; then dir=$(mktemp -d /tmp/relay-my.XXXXXX); fi
    mkdir -p "$dir"
    chmod 755 "$dir"
    u=$(owner)
    [ "$(id -u)" = 0 ] && chown "$u" "$dir"
    mariadb-install-db --no-defaults --datadir="$dir/data" --user="$u" --skip-test-db \
      --auth-root-authentication-method=socket >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; exit 1; }
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "$port" > "$dir/port"
    # small buffers and no fsync: a test server
    mariadbd --no-defaults --datadir="$dir/data" --user="$u" --socket="$dir/mysqld.sock" \
      --pid-file="$dir/mysqld.pid" --log-error="$dir/server.log" --bind-address=127.0.0.1 \
      --port="$port" --innodb-buffer-pool-size=16M --innodb-flush-log-at-trx-commit=0 \
      --skip-name-resolve --character-set-server=utf8mb4 </dev/null >/dev/null 2>&1 3>&- &
    # ready when the socket answers (bounded: 60 s)
    i=0
    until mariadb-admin --no-defaults -S "$dir/mysqld.sock" -u root ping >/dev/null 2>&1; do
      i=$((i + 1))
      if [ "$i" -gt 600 ]; then
        echo "mariadb.sh: the server did not start:" >&2
        cat "$dir/server.log" >&2
        exit 1
      fi
      sleep 0.1
    done
    echo "$dir"
    ;;
  stop)
    dir=$2
    if [ -S "$dir/mysqld.sock" ]; then
      mariadb-admin --no-defaults -S "$dir/mysqld.sock" -u root shutdown >/dev/null 2>&1 || true
    fi
    # shutdown waits for the server to go; a server that would not answer is killed
    if [ -s "$dir/mysqld.pid" ]; then
      pid=$(cat "$dir/mysqld.pid")
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  sql)
    dir=$2
    shift 2
    client "$dir" "$@"
    ;;
  *)
    echo "usage: mariadb.sh start [DIR] | stop DIR | sql DIR [DB] [ARGS]" >&2
    exit 2
    ;;
esac
