#!/usr/bin/env bash
# Starts relight on http://127.0.0.1:8080/ (and https://127.0.0.1:8443/, with a self-signed
# certificate made on first start) with the demo: static files from demo/www and two
# processes of a FastCGI demo backend (crates/relight/examples/demo_backend.rs) that relight
# spawns and supervises. The page has links that crash and hang the backend, next to a live
# view of the status page. Needs only cargo. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8080}"
TLS_PORT="${TLS_PORT:-8443}"
cargo build --release -q -p relight --bin relight --example demo_backend
run=$(mktemp -d /tmp/relight-demo.XXXXXX)
trap 'rm -rf "$run"' EXIT
cat > "$run/relight.toml" <<TOML
[server]
listen = ["127.0.0.1:$PORT"]
document_root = "$PWD/demo/www"
access_log = "$run/access.log"

[[fastcgi]]
name = "demo"
match = ["/app"]
command = ["$PWD/target/release/examples/demo_backend"]
socket = "$run/demo.sock"
procs = 2
request_timeout = "5s"

[[tls]]
listen = ["127.0.0.1:$TLS_PORT"]
self_signed = true
TOML
echo "relight demo: open http://127.0.0.1:$PORT/ or https://127.0.0.1:$TLS_PORT/ (self-signed: the browser warns)"
echo "  (config: $run/relight.toml; Ctrl-C to stop)"
target/release/relight -D -f "$run/relight.toml"
