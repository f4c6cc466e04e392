#!/bin/sh
# Scaling figures of issue 14 (BENCHMARKS.md), in an MPI build:
#   bench/run_mpi_bench.sh BUILD_DIR [REPEATS]
# Interleaved (so the shared machine's load hits all alike), REPEATS rounds of:
#   training: bench_mpi as 1 process x 2 threads, 2 ranks x 1 thread (mpirun),
#             1 process x 1 thread; PyTorch DDP (bench/torch_ddp_ref.py, gloo)
#             as 1 process x 2 threads and 2 ranks x 1 thread, the reference;
#   extraction: vidlstm extract --no-cache of generated videos as 1 process
#             (--jobs 2) and 2 ranks (mpirun, --jobs 1 each);
# then the compute time of one rank at local batches 32..1 (1 thread), the
# input of the scaling model. JSON lines on stdout; medians and ratios are
# worked out in BENCHMARKS.md from them.
set -eu
B=${1:?usage: run_mpi_bench.sh BUILD_DIR [REPEATS]}
N=${2:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
MPI="mpirun --oversubscribe --bind-to none"
echo "# nproc $(nproc); $(lscpu | grep 'Model name' | sed 's/  */ /g'); avx512f: $(grep -c avx512f /proc/cpuinfo) cpus"
echo "# OMP_WAIT_POLICY=$OMP_WAIT_POLICY OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset} OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(mpirun --version | head -1); load $(cut -d' ' -f1-3 /proc/loadavg)"
W=$(mktemp -d /tmp/vl_mpi_bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/v/a" "$W/v/b"
for i in 1 2 3 4; do
  ffmpeg -loglevel error -y -f lavfi -i testsrc=size=320x240:rate=30:duration=$((2 + 2 * i)) -pix_fmt yuv420p "$W/v/a/v$i.mp4"
  ffmpeg -loglevel error -y -f lavfi -i mandelbrot=size=320x240:rate=30 -t $((12 - 2 * i)) -pix_fmt yuv420p "$W/v/b/w$i.mp4"
done
T="--items 256 --epochs 1 --repeats 1"
ext() { # label, command...
  label=$1; shift
  rm -rf "$W/out"
  t0=$(date +%s.%N)
  "$@" --data "$W/v" --out "$W/out" --no-cache --quiet 2> /dev/null
  t1=$(date +%s.%N)
  frames=$(tail -n +2 "$W/out/manifest.csv" | wc -l)
  echo "{\"bench\":\"mpi_extract\",\"setup\":\"$label\",\"seconds\":$(echo "$t1 - $t0" | bc),\"clips\":$frames}"
}
for r in $(seq "$N"); do
  OMP_NUM_THREADS=2 "$B/bench/bench_mpi" $T --threads 2
  OMP_NUM_THREADS=1 $MPI -n 2 "$B/bench/bench_mpi" $T --threads 1
  OMP_NUM_THREADS=1 "$B/bench/bench_mpi" $T --threads 1
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2 /usr/bin/python3 "$(dirname "$0")/torch_ddp_ref.py" --ranks 1 --threads 2
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 "$(dirname "$0")/torch_ddp_ref.py" --ranks 2 --threads 1
  OMP_NUM_THREADS=2 ext "1 process, --jobs 2" "$B/vidlstm" extract --jobs 2
  OMP_NUM_THREADS=1 ext "2 ranks, --jobs 1" $MPI -n 2 "$B/vidlstm" extract --jobs 1
done
for b in 32 16 8 4 2 1; do
  OMP_NUM_THREADS=1 "$B/bench/bench_mpi" --items 64 --epochs 1 --repeats 1 --batch $b --threads 1
done
