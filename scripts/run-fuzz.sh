#!/usr/bin/env bash
# Runs every libFuzzer target of a `make fuzz` build (build-asan) for SECONDS each and prints one line per
# target (executions, corpus size). Fails on the first crash, hang, leak or sanitizer report; the
# input that caused it is left in BUILD/fuzz-artifacts/ (turn it into a regression test).
#   scripts/run-fuzz.sh BUILD SECONDS [TARGET...]
set -euo pipefail
build=$1
seconds=$2
shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(idx model_file model_json keras_layer conformance csv png pgm)
fi
mkdir -p "$build/fuzz-artifacts"
for t in "${targets[@]}"; do
  seeds="$root/fuzz/corpus/$t"
  work="$build/fuzz-corpus/$t"   # grows across runs; the committed seeds are never modified
  mkdir -p "$work"
  log="$build/fuzz-$t.log"
  # Inputs that once crashed a target (fuzz/regressions/<target>/) are replayed as seeds.
  regressions=()
  [ -d "$root/fuzz/regressions/$t" ] && regressions=("$root/fuzz/regressions/$t")
  # -rss_limit_mb: a model may legitimately build up to the weight limits (1 GiB per tensor).
  if ! "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t-" "$work" "$seeds" "${regressions[@]}" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $t FAILED (log: $log)" >&2
    exit 1
  fi
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  corpus=$(ls "$work" | wc -l)
  echo "fuzz: $t: $execs executions in ${seconds} s, corpus $(ls "$seeds" | wc -l) seeds -> $corpus files"
done
