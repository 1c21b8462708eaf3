#!/usr/bin/env bash
# Fuzz every door for MINUTES each (default 10), keeping what each run learned:
#   deploy/fuzz.sh [MINUTES] [TARGET]
# The corpus grows under fuzz/corpus/TARGET (not committed); an input that
# panicked is written to fuzz/findings/ and the script exits 1. The test suite
# runs each target for 30 s (CAMPLANE_FUZZ_SECONDS). See fuzz/src/lib.rs for
# what the engine is (and is not: libFuzzer is not available to this build).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:-10}"
target="${2:-all}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/camplane-target}"
cargo build --profile fuzz -q -p camplane-fuzz
exec "$CARGO_TARGET_DIR/fuzz/camplane-fuzz" "$target" --seconds "$((minutes * 60))" \
  --corpus fuzz/corpus --out fuzz/findings --seed "$(date +%s)"
