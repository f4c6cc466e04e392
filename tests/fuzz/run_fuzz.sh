#!/bin/sh
# The fuzz step of the test suite, deterministic so that a submission fails
# only for what it changed:
#  1. every input in the regress folder (crashes and leaks found earlier) and
#     every committed seed runs once, leak detection on;
#  2. libFuzzer mutates for a fixed number of runs from a fixed seed, starting
#     from a fresh corpus of the committed seeds only (nothing carried over
#     from an earlier run), with leak detection off: libFuzzer re-runs an
#     input whenever mallocs and frees do not balance, and oneDNN's threads
#     and caches make that count vary, so leak checks during mutation made two
#     runs with the same seed explore different inputs (as did the corpus
#     reload every second: -reload=0). ASan and UBSan still stop on any error;
#  3. every input the mutation kept (each one reached new code) runs once
#     more with leak detection on.
# Two runs of the same build then execute exactly the same inputs (checked:
# identical logs and corpora at 300,000 runs of the ONNX target, and at the CI
# run counts of the others with DETERMINISM_OPTS=-use_cmp=0: without it the
# values their parsers compare, heap addresses among them, reach libFuzzer's
# mutation dictionary and two runs of the manifest target parted).
# Exploratory fuzzing (random seed, time-bounded, corpus kept, leaks checked
# throughout) is separate:
#   VL_FUZZ_EXPLORE=SECONDS run_fuzz.sh ...
# Usage: run_fuzz.sh FUZZER WORK_DIR RUNS SEED REGRESS_DIR SEED_DIR [DETERMINISM_OPTS]
#   REGRESS_DIR  inputs that once found a bug (may be empty)
#   SEED_DIR     the committed seed corpus (never written to)
#   DETERMINISM_OPTS  libFuzzer options for the fixed-seed step only
set -eu
fuzzer=$1 work=$2 runs=$3 seed=$4 regress=$5 seeds=$6 detopts=${7:-}
opts="-rss_limit_mb=3072 -timeout=60 -print_final_stats=1 -reload=0"
# a target's libFuzzer dictionary, if it has one, sits beside its regress folder
[ -f "$regress/../dict" ] && opts="$opts -dict=$regress/../dict"
mkdir -p "$work"
# where the targets write their input files (tests/fuzz/fuzz_util.h): a fixed
# path for a given WORK_DIR, so that the paths the parsers compare are the
# same on every run; in memory when possible (on the disk the file-reading
# targets ran 2.5x slower)
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  VL_FUZZ_TMPDIR=/dev/shm/vl-fuzz-$(printf %s "$work" | cksum | cut -d' ' -f1)
else
  VL_FUZZ_TMPDIR="$work/tmp"
fi
export VL_FUZZ_TMPDIR
rm -rf "$VL_FUZZ_TMPDIR" && mkdir -p "$VL_FUZZ_TMPDIR"
trap 'rm -rf "$VL_FUZZ_TMPDIR"' EXIT
echo "fuzz: regression inputs and seeds"
find "$regress" "$seeds" -type f -print0 | sort -z | xargs -0 "$fuzzer" $opts -runs=1
rm -rf "$work/corpus" && mkdir -p "$work/corpus"
if [ -n "${VL_FUZZ_EXPLORE:-}" ]; then
  mkdir -p "$work/explore-corpus"
  echo "fuzz: exploring for $VL_FUZZ_EXPLORE s (random seed, corpus kept in $work/explore-corpus)"
  # shellcheck disable=SC2086
  exec "$fuzzer" $opts -max_total_time="$VL_FUZZ_EXPLORE" "$work/explore-corpus" "$seeds"
fi
echo "fuzz: $runs runs from seed $seed"
# Without address randomisation where the kernel allows it: compared pointers
# reach libFuzzer's mutation dictionary too (with it, two 20,000-run runs of
# the manifest target once matched exactly; not always).
norand=
if setarch -R true 2> /dev/null; then norand="setarch -R"; fi
# shellcheck disable=SC2086
$norand "$fuzzer" $opts $detopts -detect_leaks=0 -seed="$seed" -runs="$runs" "$work/corpus" "$seeds"
n=$(find "$work/corpus" -type f | wc -l)
echo "fuzz: the $n inputs it kept, with leak detection"
[ "$n" -eq 0 ] && exit 0
# shellcheck disable=SC2086
find "$work/corpus" -type f -print0 | sort -z | xargs -0 "$fuzzer" $opts -runs=1
