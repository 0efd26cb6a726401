#!/usr/bin/env bash
# Runs each fuzz target of fuzz/ for SECONDS (default 60) with cargo-fuzz (installed if
# missing). cargo-fuzz needs nightly flags; the stable toolchain accepts them with
# RUSTC_BOOTSTRAP=1, scoped to this script. An input that runs over 10 s is a finding (libFuzzer's
# default, 20 minutes, let a hang eat CI's time). Inputs kept under fuzz/regressions/TARGET/ (past
# findings) run first. Exits non-zero on any finding. No sanitizer: every fuzzed crate is safe Rust
# (fcgi-proto forbids unsafe; fcgi-app and the configuration parser have none), so a panic, a hang
# or an allocation over the limit is what a finding is; AddressSanitizer would double the build.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for target in request_decoder response_decoder pairs lighttpd_conf app_connection; do
  if [ -d "fuzz/regressions/$target" ]; then
    echo "fuzz: $target, past findings"
    if ! cargo fuzz run --sanitizer none "$target" "fuzz/regressions/$target" -- -runs=0 -timeout=10 >"$log" 2>&1; then
      tail -n 40 "$log"
      echo "fuzz: $target FAILED on a past finding (fuzz/regressions/$target/)"
      exit 1
    fi
  fi
  echo "fuzz: $target for ${SECONDS_EACH}s"
  if ! cargo fuzz run --sanitizer none "$target" -- -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=1024 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz: $target FAILED (reproducer under fuzz/artifacts/$target/)"
    exit 1
  fi
  tail -n 1 "$log"
done
echo "fuzz: no findings"
