#!/bin/sh
# deps.sh PURPOSE: makes sure the Debian packages relay needs for PURPOSE are installed.
#   build  compiler, libraries, gettext (msgfmt)   run  build + what relayd needs at run time
#   test   build + bats, GNU parallel (bats --jobs: tests/run.sh runs several files at a time),
#          PostgreSQL and MariaDB servers, tmux, node/npm, curl, clang + libFuzzer runtime,
#          valgrind, locales (localedef: the i18n suite builds fr_FR.UTF-8 in a private directory)
#   bench  build + wrk, nginx
# As root it installs what is missing with apt-get; otherwise it prints the exact command and fails.
set -eu
purpose=${1:-build}
pkgs="build-essential pkg-config libmicrohttpd-dev libcurl4-openssl-dev libcjson-dev libsqlite3-dev \
libssl-dev libpq-dev libmariadb-dev libncurses-dev zlib1g-dev libpcre2-dev libwslay-dev gettext"
case "$purpose" in
  build|run) ;;
  test)  pkgs="$pkgs bats parallel curl tmux postgresql mariadb-server mariadb-client python3 procps util-linux wrk nginx zsh groff-base clang libclang-rt-14-dev valgrind locales" ;;
  bench) pkgs="$pkgs wrk nginx curl procps" ;;
  *) echo "deps.sh: unknown purpose '$purpose' (build, run, test, bench)" >&2; exit 2 ;;
esac
missing=""
for p in $pkgs; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$st" in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
# node and npm run the official SDK clients of the tests (tests/sdk); any node >= 18 will do (the
# coding agents of tests/agents need 20 and bring it: tests/agents/package.json pins one), so
# one installed from elsewhere (not as Debian's package) counts too
if [ "$purpose" = test ]; then
  command -v node >/dev/null 2>&1 || missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps.sh: installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "relay needs these Debian packages:$missing" >&2
  echo "install them with:  sudo apt-get install -y$missing" >&2
  exit 1
fi
