#!/usr/bin/env bash
# The status page as a browser shows it: starts relight with the demo backend (two processes),
# crashes one, crashes the other with the field report's case (a child keeps the socket), and
# takes a screenshot of /server-status in headless Chromium (Debian's chromium package,
# installed when missing). Then checks the page Chromium rendered names both slots.
#   ./scripts/status-screenshot.sh [OUT.png]   (default: target/status.png)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-target/status.png}"
. scripts/debian-packages.sh
ensure_packages status-screenshot.sh chromium curl
cargo build --release -q -p relight --bin relight --example demo_backend
run=$(mktemp -d /tmp/relight-shot.XXXXXX)
port=18090
cat >"$run/relight.toml" <<TOML
[server]
listen = ["127.0.0.1:$port"]
document_root = "$PWD/demo/www"

[[fastcgi]]
name = "demo"
match = ["/app"]
command = ["$PWD/target/release/examples/demo_backend"]
socket = "$run/demo.sock"
procs = 2
TOML
target/release/relight -D -f "$run/relight.toml" 2>"$run/error.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$run"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
curl -s -o /dev/null "http://127.0.0.1:$port/app/hello"
curl -s -o /dev/null "http://127.0.0.1:$port/app/crash" || true
sleep 0.3
curl -s -o /dev/null "http://127.0.0.1:$port/app/seed" || true
sleep 1
chrome=(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$run/chrome")
"${chrome[@]}" --window-size=1100,760 --screenshot="$OUT" "http://127.0.0.1:$port/server-status" 2>/dev/null
dom=$("${chrome[@]}" --dump-dom "http://127.0.0.1:$port/server-status" 2>/dev/null)
for slot in 0 1; do
  echo "$dom" | grep -q "<tr><td class=\"n\">$slot</td>" || { echo "status-screenshot: slot $slot missing" >&2; exit 1; }
done
echo "$dom" | grep -q "<svg" || { echo "status-screenshot: no timeline" >&2; exit 1; }
echo "status-screenshot: $OUT"
