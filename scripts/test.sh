#!/usr/bin/env bash
# Installs what the tests need (Debian packages: the real peers the tests drive), then runs
# every check: formatting, clippy, and all tests of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(gcc libc6-dev libcrypt-dev libfcgi-dev libfcgi-bin lighttpd nginx-light php-cgi curl iproute2 python3 apache2-utils openssl lighttpd-mod-openssl lighttpd-mod-deflate zstd brotli python3-h2 nghttp2-client testssl.sh uwsgi-core uwsgi-plugin-python3 lintian man-db systemd logrotate)
. scripts/debian-packages.sh
ensure_packages test.sh "${PKGS[@]}"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# fcgi-app's tower adapter and its axum example, behind a feature.
cargo clippy -p fcgi-app --all-targets --features tower -- -D warnings
# The smallest build (no TLS, HTTP/2 or compression) compiles and is lint-clean too.
cargo clippy -p relight --no-default-features --all-targets --target-dir target/minimal -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# The Debian package: built, linted, installed, run (needs root; CI is).
./scripts/test-package.sh
# The HTML status page in a real browser (headless Chromium): each slot and the timeline.
./scripts/status-screenshot.sh
# One closing line for the whole workspace.
awk '/^test result:/ {p += $4; f += $6} END {printf "%d passed, %d failed\n", p, f}' "$log"
exit "$status"
