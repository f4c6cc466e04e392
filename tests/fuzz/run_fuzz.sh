#!/bin/sh
# The fuzz step of the test suite, deterministic so that a submission fails
# only for what it changed:
#  1. every input in tests/fuzz/regress (crashes and leaks found earlier) and
#     every committed ONNX fixture runs once: no fuzzing, no randomness;
#  2. libFuzzer mutates for a fixed number of runs from a fixed seed, starting
#     from a fresh corpus of the committed fixtures only (nothing carried over
#     from an earlier run), so the same build explores the same inputs.
# Exploratory fuzzing (random seed, time-bounded, corpus kept) is separate:
#   VL_FUZZ_EXPLORE=SECONDS run_fuzz.sh ...
# Usage: run_fuzz.sh FUZZER SRC_DIR WORK_DIR RUNS SEED
set -eu
fuzzer=$1 src=$2 work=$3 runs=$4 seed=$5
# -reload=0: libFuzzer otherwise re-reads the corpus folder every second, which
# makes the explored inputs depend on timing (seen: two runs diverged by #900).
opts="-rss_limit_mb=3072 -timeout=60 -print_final_stats=1 -reload=0"
echo "fuzz: regression inputs"
# shellcheck disable=SC2086
"$fuzzer" $opts -runs=1 "$src/tests/fuzz/regress"/* "$src/tests/fixtures/onnx"/*.onnx
rm -rf "$work/corpus" && mkdir -p "$work/corpus"
if [ -n "${VL_FUZZ_EXPLORE:-}" ]; then
  mkdir -p "$work/explore-corpus"
  echo "fuzz: exploring for $VL_FUZZ_EXPLORE s (random seed, corpus kept in $work/explore-corpus)"
  # shellcheck disable=SC2086
  exec "$fuzzer" $opts -max_total_time="$VL_FUZZ_EXPLORE" "$work/explore-corpus" "$src/tests/fixtures/onnx"
fi
echo "fuzz: $runs runs from seed $seed"
# shellcheck disable=SC2086
exec "$fuzzer" $opts -seed="$seed" -runs="$runs" "$work/corpus" "$src/tests/fixtures/onnx"
