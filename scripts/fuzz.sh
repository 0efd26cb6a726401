#!/usr/bin/env bash
# Runs each fuzz target of fuzz/ for SECONDS (default 60) with cargo-fuzz (installed if
# missing). cargo-fuzz needs nightly flags; the stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1, scoped to this script. Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in request_decoder response_decoder pairs; do
  echo "fuzz: $target for ${SECONDS_EACH}s"
  cargo fuzz run "$target" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=1024 2>&1 | tail -n 3
  test "${PIPESTATUS[0]}" -eq 0
done
echo "fuzz: no findings"
