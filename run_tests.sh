#!/usr/bin/env bash
# The test command (README): sets up, builds, and runs the whole suite twice:
# a Release build, then an AddressSanitizer + UndefinedBehaviorSanitizer build;
# then fuzzes with libFuzzer (the ONNX loader, model files, .npy, manifests
# and label files, JSON; one ctest test each), deterministically: each
# target's committed regression inputs and seeds, then a fixed number of runs
# (VL_FUZZ_RUNS, default 300000, for ONNX; VL_FUZZ_RUNS_<TARGET> for the
# others, CMakeLists.txt) from seed VL_FUZZ_SEED (default 1) on a fresh
# corpus, so the step fails only for what a change did (tests/fuzz/run_fuzz.sh;
# VL_FUZZ_EXPLORE=SECONDS fuzzes with a random seed instead). Ends with a
# combined line `N passed, N failed`. Between the sanitizer build and the
# fuzzing, an MPI build (-DVIDLSTM_MPI=ON, build-mpi) runs just its MPI tests
# (data-parallel training and sharded extraction at 1-3 ranks under mpirun,
# as root; about a minute). Then an OpenBLAS build (-DVIDLSTM_BLAS=openblas,
# build-openblas) runs only the ONNX tests, so the graph runner's reference
# kernels are what computes them (the Release build hands most operators to
# oneDNN), the large torchvision exports included when build-cache has them
# (about 50 s of CPU for the tests).
set -uo pipefail
cd "$(dirname "$0")"
./setup.sh --no-build || exit 1

jobs=$(nproc)
# Tests are not benchmarks: OpenMP threads that spin while waiting make every
# test several times slower when other processes share the cores (seen 10x on
# a loaded 2-core machine); sleeping waits keep the suite's time steady.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# Sanitizer stack traces need llvm-symbolizer to name functions and lines
# (setup.sh installs Debian's llvm for it); naming it keeps any runtime from
# printing bare addresses, and a missing one is said.
sym=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
if [ -n "$sym" ]; then
  export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$sym}
  export UBSAN_SYMBOLIZER_PATH=${UBSAN_SYMBOLIZER_PATH:-$sym}
else
  echo "run_tests.sh: llvm-symbolizer not found; sanitizer reports will show raw addresses"
fi
fail=0
pass=0
run_suite() { # dir, cmake args...; VL_TARGETS: build only these, VL_CTEST: ctest's selection (e.g. -R x)
  local dir=$1; shift
  # a build that cannot be configured or built counts as a failure
  cmake -S . -B "$dir" "$@" > /dev/null || { echo "run_tests.sh: configuring $dir failed"; fail=$((fail + 1)); return 1; }
  local t targets=()
  for t in ${VL_TARGETS:-}; do targets+=(--target "$t"); done
  cmake --build "$dir" -j"$jobs" "${targets[@]}" > "$dir.log" 2>&1 || { cat "$dir.log"; fail=$((fail + 1)); return 1; }
  # shellcheck disable=SC2086
  (cd "$dir" && ctest --output-on-failure -j1 ${VL_CTEST:-}) | tee "$dir.ctest"
  local rc=${PIPESTATUS[0]}
  local p f
  p=$(grep -oE '[0-9]+% tests passed, [0-9]+ tests failed out of [0-9]+' "$dir.ctest" | tail -1)
  f=$(echo "$p" | sed -E 's/.*passed, ([0-9]+) tests failed out of ([0-9]+)/\1/')
  local total
  total=$(echo "$p" | sed -E 's/.*out of ([0-9]+)/\1/')
  if [ -z "$p" ]; then fail=$((fail + 1)); return 1; fi
  pass=$((pass + total - f)); fail=$((fail + f))
  return "$rc"
}
echo "== Release build =="
run_suite build -DCMAKE_BUILD_TYPE=Release || true
echo "== ASan + UBSan build =="
ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DVIDLSTM_SANITIZE=ON -DVIDLSTM_NATIVE=ON -DVIDLSTM_BENCH=OFF || true
echo "== MPI build: data-parallel training and sharded extraction under mpirun =="
VL_TARGETS="vidlstm_cli gen_seqdata model_diff test_mpi_train" VL_CTEST="-L mpi" \
  run_suite build-mpi -DCMAKE_BUILD_TYPE=Release -DVIDLSTM_MPI=ON -DVIDLSTM_BENCH=OFF || true
echo "== OpenBLAS build: the ONNX runner on its reference kernels (no oneDNN) =="
VL_TARGETS="vidlstm_cli test_onnx test_onnx_ops test_onnx_conformance test_regress test_fuzz_regress test_precision test_tfjs" \
VL_CTEST="-R ^(test_onnx|test_onnx_ops|test_onnx_conformance|test_regress|test_fuzz_regress|test_precision|test_tfjs|cli_info|cli_infer_unsupported|cli_onnx_dir|cli_import_tfjs.*)\$" \
  run_suite build-openblas -DCMAKE_BUILD_TYPE=Release -DVIDLSTM_BLAS=openblas -DVIDLSTM_BENCH=OFF || true
echo "== Fuzzing the parsers (libFuzzer, seed ${VL_FUZZ_SEED:-1}; ONNX ${VL_FUZZ_RUNS:-300000} runs) =="
CC=clang-14 run_suite build-fuzz -DCMAKE_BUILD_TYPE=Debug -DVIDLSTM_FUZZ=ON -DVIDLSTM_TESTS=OFF -DVIDLSTM_BENCH=OFF \
  -DVL_FUZZ_RUNS="${VL_FUZZ_RUNS:-300000}" -DVL_FUZZ_SEED="${VL_FUZZ_SEED:-1}" || true
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
