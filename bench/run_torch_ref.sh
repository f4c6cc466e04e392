#!/usr/bin/env bash
# Run bench/torch_ref.py with the given arguments in two variants:
#   as-installed  only torch.set_num_threads (OpenBLAS keeps its own thread pool)
#   tuned         OPENBLAS_NUM_THREADS=1 and Debian's jemalloc preloaded
# Both inherit OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE etc.) from the caller;
# OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and LD_PRELOAD from the caller are dropped
# so each variant is exactly what its name says.
#   bench/run_torch_ref.sh --input 512 --hidden 256 --batch 32 --steps 60 --classes 2 --threads 2 --json
set -eu
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-/usr/bin/python3}
jemalloc=$(ldconfig -p 2>/dev/null | awk '$1 == "libjemalloc.so.2" { print $NF; exit }')
[ -n "$jemalloc" ] || jemalloc=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
jemalloc=$(readlink -f "$jemalloc" 2>/dev/null || true)
clean=(env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS -u LD_PRELOAD)

"${clean[@]}" VIDLSTM_REF_VARIANT=as-installed "$py" "$here/torch_ref.py" "$@"
if [ -f "$jemalloc" ]; then
  "${clean[@]}" VIDLSTM_REF_VARIANT=tuned OPENBLAS_NUM_THREADS=1 LD_PRELOAD="$jemalloc" "$py" "$here/torch_ref.py" "$@"
else
  echo "run_torch_ref.sh: libjemalloc.so.2 not found (apt-get install libjemalloc2); tuned variant skipped" >&2
  exit 1
fi
