#!/usr/bin/env bash
# Builds the Debian package into target/debian/ (relight_<version>-1_<arch>.deb): the release
# binary, the man pages and completions made from the sources (`xtask docs`), the shipped
# configuration, systemd units and logrotate file in packaging/debian/. Installs cargo-deb
# (crates.io) when it is missing. Scripts and CI rely on this command and that place.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deb --version >/dev/null 2>&1; then
  cargo install cargo-deb --locked --version '^3'
fi
rm -rf target/release/package-docs
cargo run -q -p xtask -- docs target/release/package-docs
gzip -9n target/release/package-docs/man/relight.8 target/release/package-docs/man/relight.toml.5
cargo deb -p relight --output target/debian/
ls -1 target/debian/*.deb
