#!/usr/bin/env bash
# Fuzz every door with libFuzzer (coverage-guided), SECONDS per target:
#   deploy/fuzz.sh [SECONDS] [TARGET]        (default 600 s, every target)
# The targets are camplane-fuzz's (fuzz/src/targets.rs); their libFuzzer
# binaries are fuzz/libfuzzer/, built here with coverage instrumentation on the
# stable toolchain (-C passes=sancov-module, as cargo-fuzz does; no sanitizer),
# overflow checks and debug assertions on. Each corpus starts from the target's
# seeds and grows under fuzz/corpus/TARGET (not committed); an input that
# crashed is written to fuzz/findings/ and the script exits 1. CI runs it for
# 30 s per target. Prints the executions and CPU seconds of each target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
only="${2:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/camplane-target}"
# Instrumented artifacts never mix with the ordinary ones.
fuzz_target_dir="${CAMPLANE_FUZZ_TARGET_DIR:-$CARGO_TARGET_DIR/libfuzzer}"
host="$(rustc -vV | sed -n 's/^host: //p')"
cargo build -q --locked -p camplane-fuzz --bin camplane-fuzz
tool="$CARGO_TARGET_DIR/debug/camplane-fuzz"
# --target: the flags reach the fuzzed code, not build scripts.
RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares" \
  CARGO_TARGET_DIR="$fuzz_target_dir" \
  cargo build -q --locked --release --manifest-path fuzz/libfuzzer/Cargo.toml --target "$host"
bins="$fuzz_target_dir/$host/release"
mkdir -p fuzz/corpus fuzz/findings
failed=0
total_cpu=0
while IFS=$'\t' read -r name door; do
  [ -n "$only" ] && [ "$name" != "$only" ] && continue
  corpus="fuzz/corpus/$name"
  "$tool" seeds "$name" "$corpus"
  "$tool" dict "$name" "fuzz/corpus/$name.dict"
  log="fuzz/findings/$name.log"
  start_cpu=$(awk '{print $14+$15+$16+$17}' /proc/$$/stat)
  if "$bins/$name" "$corpus" -dict="fuzz/corpus/$name.dict" -max_total_time="$seconds" \
      -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="fuzz/findings/$name-" > "$log" 2>&1; then
    status=ok
  else
    status=FOUND
    failed=1
  fi
  cpu=$(( ($(awk '{print $14+$15+$16+$17}' /proc/$$/stat) - start_cpu) / $(getconf CLK_TCK) ))
  total_cpu=$((total_cpu + cpu))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  echo "fuzz: $name: $status, ${execs:-?} executions, coverage ${cov:-?} edges, ${cpu} CPU s ($door)"
  if [ "$status" = FOUND ]; then
    grep -E "panicked|ERROR|SUMMARY" "$log" | head -5 | sed 's/^/  /'
    ls fuzz/findings/"$name"-* 2>/dev/null | sed 's/^/  input: /'
  fi
done < <("$tool" list)
echo "fuzz: ${total_cpu} CPU seconds in all"
exit "$failed"
