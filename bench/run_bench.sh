#!/usr/bin/env bash
# Ours and PyTorch side by side, each configuration in its own process (so
# peak RSS is per configuration), all in one session on the same machine.
#   bench/run_bench.sh [configs...]      default: a b c d e
#   SKIP_AS_INSTALLED=1 skips the (very slow: ~15 s/step on (a)) as-installed run,
#   SKIP_TUNED=1 the tuned (Haswell-kernel) run: tuned-avx512 is PyTorch's best.
#   PRECISIONS="fp32 bf16" also runs ours with bf16 recurrent GEMMs (training).
#   BASE_BIN=path also runs an older bench_rnn (e.g. main's) in each round,
#   labelled "before" (fp32), so an engine change is measured beside its base.
#   ROUNDS=N repeats every configuration's runs N times, interleaved (ours,
#   PyTorch, ours, PyTorch ...); bench/summarize.py takes the median per run kind.
# PyTorch runs three times: as installed (torch.set_num_threads(2) only) and
# tuned (OPENBLAS_NUM_THREADS=1, jemalloc preloaded, not returning memory to
# the kernel), both under the caller's
# OPENBLAS_CORETYPE, then tuned with OPENBLAS_CORETYPE=SkylakeX (AVX-512), so
# the headline ratio compares like with like. Prints one JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bench/bench_rnn}
ITERS=${ITERS:-20}
configs=("${@:-a b c d e}")
[ $# -gt 0 ] || configs=(a b c d e)
echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)  OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}"
$BIN --config none --iters 1 | head -1 || true  # settings line + sgemm peak
# The GEMMs alone: our backend and OpenBLAS under the caller's OPENBLAS_CORETYPE.
JEMALLOC=$(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 2>/dev/null || true)
[ -n "$JEMALLOC" ] || echo "# WARNING: libjemalloc2 is not installed: the tuned PyTorch variants run with glibc malloc (slower; apt-get install libjemalloc2)"
echo "# nproc $(nproc); $(lscpu | grep -m1 'Model name' | xargs); OMP_NUM_THREADS=${OMP_NUM_THREADS:-(unset)} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-(unset)}"
# jemalloc's default decay hands freed pages back to the kernel, and PyTorch's
# step then page-faults them in again (~4x the faults, ~2x slower than no
# jemalloc at all). Keeping them is what "memory is reused" means.
JEMALLOC_CONF="dirty_decay_ms:-1,muzzy_decay_ms:-1"
PRECISIONS=${PRECISIONS:-fp32}
for c in "${configs[@]}"; do
 for round in $(seq "${ROUNDS:-1}"); do
  # (e) has unequal lengths: PyTorch would pack them, which is ~10x slower in
  # its backward; its fastest correct form for this unidirectional net is a
  # padded run plus a gather of each clip's last valid output. Use that.
  tpack=auto
  [ "$c" = e ] && tpack=never
  for mode in train infer; do
    [ "$mode" = infer ] && [ "$c" != a ] && continue
    if [ -n "${BASE_BIN:-}" ] && [ "$mode" = train ]; then
      "$BASE_BIN" --config "$c" --mode "$mode" --iters "$ITERS" --json --no-peak |
        sed 's/"impl": "vidlstm", "variant": "vidlstm"/"impl": "vidlstm-before", "variant": "before", "precision": "fp32"/'
    fi
    for prec in $PRECISIONS; do
      [ "$mode" = infer ] && [ "$prec" != fp32 ] && continue  # inference is fp32
      $BIN --config "$c" --mode "$mode" --iters "$ITERS" --json --no-peak --precision "$prec"
    done
    if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
      [ -n "${SKIP_AS_INSTALLED:-}" ] || VIDLSTM_REF_VARIANT=as-installed /usr/bin/python3 bench/torch_ref.py --config "$c" --mode "$mode" --iters "$ITERS" --pack "$tpack" --json
      [ -n "${SKIP_TUNED:-}" ] || VIDLSTM_REF_VARIANT=tuned OPENBLAS_NUM_THREADS=1 LD_PRELOAD="$JEMALLOC" MALLOC_CONF="$JEMALLOC_CONF" \
        /usr/bin/python3 bench/torch_ref.py --config "$c" --mode "$mode" --iters "$ITERS" --pack "$tpack" --json
      # PyTorch's best here: tuned, and OpenBLAS forced to its AVX-512 kernels
      # (our GEMMs use AVX-512 whatever OPENBLAS_CORETYPE says).
      VIDLSTM_REF_VARIANT=tuned-avx512 OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 LD_PRELOAD="$JEMALLOC" \
        MALLOC_CONF="$JEMALLOC_CONF" \
        /usr/bin/python3 bench/torch_ref.py --config "$c" --mode "$mode" --iters "$ITERS" --pack "$tpack" --json
    fi
  done
 done
done
