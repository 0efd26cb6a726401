#!/usr/bin/env bash
# The Debian package as a user gets it: built (./scripts/package.sh), checked by lintian (no
# errors), installed with dpkg on this machine, its units verified by systemd-analyze, its
# man pages rendered, its shipped configuration checked (relight -t) and run: the installed
# /usr/sbin/relight serves the default page from /var/www/html as www-data, writes its logs in
# /var/log/relight and reopens them when the shipped logrotate file rotates them, is replaced
# in place by SIGUSR2 under a request loop (0 failed), and refuses SIGUSR2 when started as
# root with `user`. Then purged.
# Needs root (dpkg, port binding as www-data): run by ./scripts/test.sh, which CI runs as root.
set -euo pipefail
cd "$(dirname "$0")/.."
# As root (dpkg, and $! must be relight's own pid, not sudo's).
[ "$(id -u)" = 0 ] || exec sudo "$0" "$@"
SUDO=""

fail() {
  echo "test-package: FAILED: $*" >&2
  exit 1
}

./scripts/package.sh
deb=$(ls -1t target/debian/relight_*.deb | head -n 1)

echo "test-package: lintian $deb"
lintian --fail-on error --tag-display-limit 0 "$deb" || fail "lintian reports errors"

$SUDO dpkg -i "$deb"
trap '$SUDO dpkg -P relight >/dev/null 2>&1 || true' EXIT

for f in /usr/sbin/relight /etc/relight/relight.toml /lib/systemd/system/relight.service \
  /lib/systemd/system/relight.socket /etc/logrotate.d/relight /var/www/html/index.relight-debian.html \
  /usr/share/bash-completion/completions/relight /usr/share/zsh/vendor-completions/_relight \
  /usr/share/fish/vendor_completions.d/relight.fish; do
  [ -e "$f" ] || fail "$f is not installed"
done
[ "$(stat -c %U /var/log/relight)" = www-data ] || fail "/var/log/relight is not www-data's"

echo "test-package: relight -t on the shipped configuration"
/usr/sbin/relight -t -f /etc/relight/relight.toml | grep -qx "Syntax OK" || fail "relight -t"

echo "test-package: man pages"
MANWIDTH=80 man -l /usr/share/man/man8/relight.8.gz 2>&1 | grep -q -- "--config" || fail "relight(8)"
MANWIDTH=80 man -l /usr/share/man/man8/relight.8.gz 2>&1 | grep -q "SIGUSR2" || fail "relight(8) does not list the signals"
MANWIDTH=80 man -l /usr/share/man/man5/relight.toml.5.gz 2>&1 | grep -q "document_root" ||
  fail "relight.toml(5)"
warnings=$(MANWIDTH=80 man --warnings -l /usr/share/man/man5/relight.toml.5.gz 2>&1 >/dev/null || true)
[ -z "$warnings" ] || fail "relight.toml(5) has roff warnings: $warnings"

echo "test-package: systemd-analyze verify"
out=$(systemd-analyze verify /lib/systemd/system/relight.service /lib/systemd/system/relight.socket 2>&1) ||
  fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"

echo "test-package: the installed relight on the shipped configuration"
# The shipped file as it is, but for a free port (80 may be another server's on this machine),
# run as the unit runs it: as www-data from the start, with CAP_NET_BIND_SERVICE in the
# ambient set (User=, AmbientCapabilities=).
port=18089
work=$(mktemp -d)
sed "s|\"0.0.0.0:80\"|\"127.0.0.1:$port\"|" /etc/relight/relight.toml >"$work/relight.toml"
grep -q "127.0.0.1:$port" "$work/relight.toml" || fail "the shipped configuration's listen line changed"
chmod 755 "$work"
# (One simple command, so that $! is relight's pid: setpriv execs it.)
$SUDO setpriv --reuid=www-data --regid=www-data --init-groups --inh-caps=+net_bind_service \
  --ambient-caps=+net_bind_service /usr/sbin/relight -D -f "$work/relight.toml" &
pid=$!
# Whatever relight runs on these files when the script ends (the new one after an upgrade is
# not this shell's child) is stopped.
trap 'pkill -f "relight -D -f $work/" 2>/dev/null || true; $SUDO dpkg -P relight >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
page=$(curl -s "http://127.0.0.1:$port/")
echo "$page" | grep -q "relight works" || fail "the default page is not served: $page"
user=$(ps -o user= -p "$pid" | tr -d ' ')
[ "$user" = www-data ] || fail "relight runs as $user, not www-data"
# It keeps the capability (its own listeners) but clears the ambient set, which every
# backend and CGI script would inherit.
grep -q "^CapAmb:[[:space:]]*0*$" "/proc/$pid/status" ||
  fail "relight's ambient capabilities are not cleared: $(grep Cap /proc/$pid/status | tr '\n' ' ')"
grep -q "^CapEff:[[:space:]]*0*400$" "/proc/$pid/status" ||
  fail "relight lost CAP_NET_BIND_SERVICE: $(grep CapEff /proc/$pid/status)"
grep -q "GET / HTTP/1.1\" 200" /var/log/relight/access.log || fail "no access log line"
# The shipped logrotate file, forced: the logs are moved to .1 and its postrotate's SIGHUP
# makes relight open new ones (as www-data, in the directory postinst gave it).
$SUDO logrotate -f -s "$work/logrotate.state" /etc/logrotate.d/relight
[ -s /var/log/relight/access.log.1 ] || fail "logrotate did not rotate the access log"
sleep 0.5
curl -s -o /dev/null "http://127.0.0.1:$port/"
sleep 0.2
grep -q "GET / HTTP/1.1\" 200" /var/log/relight/access.log ||
  fail "after SIGHUP the access log was not reopened: $(tail -n 3 /var/log/relight/error.log)"

echo "test-package: upgrade in place (SIGUSR2) under a request loop"
# What postinst does on an upgrade: SIGUSR2 to the running relight; the new process (the file
# now at /usr/sbin/relight) takes over, the old one exits. A request loop meanwhile: 0 failed.
(
  ok=0 failed=0
  end=$((SECONDS + 3))
  while [ $SECONDS -lt $end ]; do
    if curl -s -f -m 5 -o /dev/null "http://127.0.0.1:$port/"; then ok=$((ok + 1)); else failed=$((failed + 1)); fi
  done
  echo "$ok $failed" >"$work/loop"
) &
loop=$!
sleep 1
$SUDO kill -USR2 "$pid"
wait "$pid" || fail "the old relight did not exit cleanly"
wait "$loop"
read -r ok failed <"$work/loop"
new=$(sed -n 's/.*SIGUSR2: pid \([0-9]*\) accepts.*/\1/p' /var/log/relight/error.log | tail -n 1)
[ -n "$new" ] || fail "no hand-over in the error log: $(tail -n 5 /var/log/relight/error.log)"
echo "test-package: $ok requests during the upgrade, $failed failed; pid $pid -> $new"
[ "$failed" = 0 ] || fail "$failed requests failed during the upgrade"
[ "$ok" -gt 10 ] || fail "only $ok requests during the upgrade"
[ "$(ps -o user= -p "$new" | tr -d ' ')" = www-data ] || fail "the new relight does not run as www-data"
curl -s "http://127.0.0.1:$port/" | grep -q "relight works" || fail "the new relight does not serve"
kill -INT "$new"
for _ in $(seq 50); do kill -0 "$new" 2>/dev/null || break; sleep 0.1; done
kill -0 "$new" 2>/dev/null && fail "the new relight did not stop on SIGINT"

echo "test-package: SIGUSR2 refused when relight gives up root itself"
# Started as root with `user` (the layout before this package ran relight as www-data): the
# new binary would start without root, so relight refuses, says why, and goes on serving.
sed 's|^\[server\]$|[server]\nuser = "www-data"|' "$work/relight.toml" >"$work/root.toml"
$SUDO /usr/sbin/relight -D -f "$work/root.toml" &
pid=$!
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
[ "$(ps -o user= -p "$pid" | tr -d ' ')" = www-data ] || fail "relight did not give up root"
$SUDO kill -USR2 "$pid"
for _ in $(seq 50); do
  grep -q "SIGUSR2: not replacing the binary: relight gave up root" /var/log/relight/error.log && break
  sleep 0.1
done
grep -q "SIGUSR2: not replacing the binary: relight gave up root" /var/log/relight/error.log ||
  fail "SIGUSR2 was not refused: $(tail -n 3 /var/log/relight/error.log)"
curl -s "http://127.0.0.1:$port/" | grep -q "relight works" || fail "not serving after a refused SIGUSR2"
kill -INT "$pid"
wait "$pid" || true
echo "test-package: ok ($deb)"
