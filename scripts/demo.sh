#!/usr/bin/env bash
# Starts relight on http://127.0.0.1:8080/ with the demo: static files from demo/www and a
# FastCGI demo backend (crates/relight/examples/demo_backend.rs) on a unix socket.
# Needs only cargo. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8080}"
cargo build --release -q -p relight --bin relight --example demo_backend
run=$(mktemp -d /tmp/relight-demo.XXXXXX)
cat > "$run/relight.toml" <<TOML
[server]
listen = ["127.0.0.1:$PORT"]
document_root = "$PWD/demo/www"
access_log = "$run/access.log"

[[fastcgi]]
name = "demo"
match = ["/app"]
address = "unix:$run/demo.sock"
TOML
target/release/examples/demo_backend "$run/demo.sock" &
backend=$!
trap 'kill $backend 2>/dev/null; rm -rf "$run"' EXIT
echo "relight demo: open http://127.0.0.1:$PORT/  (config: $run/relight.toml; Ctrl-C to stop)"
target/release/relight -D -f "$run/relight.toml"
