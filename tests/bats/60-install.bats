#!/usr/bin/env bats
# make install / make uninstall into a DESTDIR: the FHS tree (binaries, man pages 1/5/8, bash and
# zsh completions, systemd unit, sysusers.d entry, /etc/relay/relayd.conf not overwritten, the state
# directory), relayd's compiled-in defaults pointing at it, and nothing left after uninstall but a
# changed configuration.

load helpers

ROOT="$BATS_TEST_DIRNAME/../.."

# mk TARGET [VAR=VALUE...]: make in the checkout with the build under test; output in $output
mk() {
  run make -C "$ROOT" --no-print-directory BUILD="$BUILD" "$@"
  echo "$output"
  [ "$status" -eq 0 ]
}

@test "make install into DESTDIR lays out the FHS tree; make uninstall removes it" {
  D="$BATS_TEST_TMPDIR/root"
  mk install DESTDIR="$D"
  for f in usr/local/sbin/relayd usr/local/bin/gwctl usr/local/bin/gwtui; do
    [ -x "$D/$f" ] || { echo "missing executable $f" >&2; false; }
  done
  for f in usr/local/share/man/man8/relayd.8 usr/local/share/man/man5/relayd.conf.5 \
           usr/local/share/man/man1/gwctl.1 usr/local/share/man/man1/gwtui.1 \
           usr/local/share/bash-completion/completions/gwctl usr/local/share/zsh/site-functions/_gwctl \
           usr/local/lib/systemd/system/relayd.service usr/local/lib/sysusers.d/relay.conf \
           usr/local/share/doc/relay/relayd.conf.example etc/relay/relayd.conf; do
    [ -f "$D/$f" ] || { echo "missing $f" >&2; false; }
  done
  [ -d "$D/var/lib/relay" ]
  [ "$(stat -c %a "$D/var/lib/relay")" = 750 ]
  [ "$(stat -c %a "$D/etc/relay/relayd.conf")" = 644 ]   # readable by User=relay
  # the unit runs the installed binary with the installed configuration, as user relay
  grep -qx 'ExecStart=/usr/local/sbin/relayd -c /etc/relay/relayd.conf' "$D/usr/local/lib/systemd/system/relayd.service"
  grep -q '^u relay ' "$D/usr/local/lib/sysusers.d/relay.conf"
  # the installed example configuration is valid as it is
  run "$D/usr/local/sbin/relayd" --check-config -c "$D/etc/relay/relayd.conf"
  [ "$status" -eq 0 ]
  # compiled-in defaults: the FHS paths
  defaults=$("$D/usr/local/sbin/relayd" --dump-config=json | json_get '{k["name"]: k["default"] for k in d}')
  [ "$(echo "$defaults" | json_get 'd["db"]')" = sqlite:/var/lib/relay/relay.db ]
  [ "$(echo "$defaults" | json_get 'd["admin_socket"]')" = /run/relay/admin.sock ]
  "$D/usr/local/sbin/relayd" --help | grep -q 'default: /etc/relay/relayd.conf, if it exists'
  man -l "$D/usr/local/share/man/man5/relayd.conf.5" > /dev/null 2>&1 || [ "$(command -v man)" = "" ]

  # a changed configuration survives a second install and the uninstall
  echo 'workers = 3' >> "$D/etc/relay/relayd.conf"
  mk install DESTDIR="$D"
  [[ "$output" == *"keeping the existing $D/etc/relay/relayd.conf"* ]]
  tail -n 1 "$D/etc/relay/relayd.conf" | grep -qx 'workers = 3'
  mk uninstall DESTDIR="$D"
  [[ "$output" == *"keeping the changed $D/etc/relay/relayd.conf"* ]]
  [ "$(find "$D" -type f)" = "$D/etc/relay/relayd.conf" ]
  # unchanged, it goes too; the (empty) state directory is removed, never a database
  mk install DESTDIR="$D"
  cp "$D/usr/local/share/doc/relay/relayd.conf.example" "$D/etc/relay/relayd.conf"
  touch "$D/var/lib/relay/relay.db"
  mk uninstall DESTDIR="$D"
  [ "$(find "$D" -type f)" = "$D/var/lib/relay/relay.db" ]
  [ ! -e "$D/etc/relay" ]
  rm "$D/var/lib/relay/relay.db"
  mk uninstall DESTDIR="$D"
  [ -z "$(find "$D" -type f)" ]
  [ ! -e "$D/var/lib/relay" ]
}

@test "PREFIX=/usr: binaries under /usr, zsh completion in vendor-completions, unit in /usr/lib/systemd" {
  D="$BATS_TEST_TMPDIR/root"
  # in a build of its own: PREFIX=/usr compiles other paths (gen/paths.h) into relayd, gwctl and
  # gwtui, whose binaries in the checkout's build other suites are running at the same time
  # (tests/run.sh). The objects already built are reused: only what includes paths.h is compiled
  # again (their .d name the old BUILD, so make would not know).
  local B="$BATS_TEST_TMPDIR/build" d san=()
  mkdir -p "$B"
  for d in "$ROOT/$BUILD"/*; do
    case ${d##*/} in fuzz|test.log) ;; *) cp -a "$d" "$B/" ;; esac
  done
  grep -l 'gen/paths\.h' "$B"/*/*.d | sed 's/\.d$/.o/' | xargs rm -f
  if [ "${RELAY_ASAN:-0}" = 1 ]; then san=(SAN=1 OPT=-O1); fi   # the sanitizer build's flags
  BUILD=$B mk install DESTDIR="$D" PREFIX=/usr "${san[@]}"
  [ -x "$D/usr/sbin/relayd" ]
  [ -f "$D/usr/share/zsh/vendor-completions/_gwctl" ]
  [ -f "$D/usr/lib/systemd/system/relayd.service" ]
  grep -qx 'ExecStart=/usr/sbin/relayd -c /etc/relay/relayd.conf' "$D/usr/lib/systemd/system/relayd.service"
  [ -f "$D/etc/relay/relayd.conf" ]
  BUILD=$B mk uninstall DESTDIR="$D" PREFIX=/usr "${san[@]}"
  [ -z "$(find "$D" -type f)" ]
}
