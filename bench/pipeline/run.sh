#!/usr/bin/env bash
# Whole-pipeline benchmark (issue 13): vidlstm extract / train with the
# ResNet-18 ONNX backbone against the same job in PyTorch
# (bench/pipeline/torch_pipeline.py), and the backbone's standalone
# throughput (build/bench/bench_backbone) at the same batch and threads.
#
#   bench/pipeline/run.sh [--clips DIR] [--long FILE] [--repeat 3] [--jobs "1 2"]
#                         [--threads 2] [--skip-train] [--as-installed] [--out FILE.jsonl]
#   --out FILE    keep the JSON lines there (written as each run ends)
#
#   --clips DIR   class folders (bench/pipeline/make_clips.sh DIR --photos
#                 build-cache/quality/photos.csv); default /tmp/pbench/clips
#   --long FILE   also one long video (make_clips.sh FILE.mp4 --long):
#                 vidlstm extract vs PyTorch's extraction only
#   --repeat N    rounds; every round runs each command once, interleaved
#                 (ours, PyTorch, CNN alone, ...), so load hits all alike
#   --jobs LIST   vidlstm extract --jobs values (default "1 2")
#   --skip-train  extraction only (no `vidlstm train`, PyTorch --extract-only)
#   --as-installed  also PyTorch as installed (no OpenBLAS/jemalloc tuning;
#                 its LSTM training is ~100x slower here: see BENCHMARKS.md)
# Builds nothing: needs build/vidlstm and build/bench/bench_backbone (Release).
# Per round (clips): vidlstm extract --jobs J (each J), vidlstm train on the
# extracted features (training alone), vidlstm train on the videos (the whole
# pipeline), PyTorch tuned, bench_backbone. A fresh output folder and
# --no-cache every time. Wall time and peak RSS from /usr/bin/time (the
# whole process). Medians over the rounds, then ratios vidlstm / PyTorch.
# Prints '#' settings lines, one JSON line per run, then a markdown table.
set -euo pipefail
cd "$(dirname "$0")/../.."
CLIPS=/tmp/pbench/clips LONG= REPEAT=3 JOBS="1 2" THREADS=2 SKIP_TRAIN=0 AS_INSTALLED=0 OUTF=
while [ $# -gt 0 ]; do
  case $1 in
    --clips) CLIPS=$2; shift 2 ;;
    --long) LONG=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --skip-train) SKIP_TRAIN=1; shift ;;
    --as-installed) AS_INSTALLED=1; shift ;;
    --out) OUTF=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
BIN=${BIN:-build/vidlstm}
BB=${BB:-build/bench/bench_backbone}
ONNX=${ONNX:-$PWD/build-cache/onnx/resnet18.onnx}
PY=${PYTHON:-/usr/bin/python3}
TIME=/usr/bin/time
for f in "$BIN" "$BB"; do [ -x "$f" ] || { echo "run.sh: $f not built (cmake --build build)" >&2; exit 1; }; done
[ -x $TIME ] || { echo "run.sh: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
[ -f "$ONNX" ] || { echo "run.sh: $ONNX missing (tests/fixtures/onnx/gen_onnx.py --large)" >&2; exit 1; }
[ -d "$CLIPS" ] || { echo "run.sh: $CLIPS missing: bench/pipeline/make_clips.sh $CLIPS --photos build-cache/quality/photos.csv" >&2; exit 1; }
[ -z "$LONG" ] || [ -f "$LONG" ] || { echo "run.sh: $LONG missing: bench/pipeline/make_clips.sh $LONG --long" >&2; exit 1; }
JEMALLOC=$(ls /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 2>/dev/null || true)
JEMALLOC_CONF="dirty_decay_ms:-1,muzzy_decay_ms:-1"
CLEAN=(env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS -u LD_PRELOAD -u MALLOC_CONF -u OPENBLAS_CORETYPE)
# PyTorch's best configuration here (bench/run_bench.sh, bench/run_backbone_bench.sh):
# OpenBLAS held to one thread (its threads otherwise fight PyTorch's OpenMP ones),
# jemalloc keeping freed pages, OpenBLAS on its AVX-512 kernels.
TUNED=("${CLEAN[@]}" OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX VIDLSTM_REF_VARIANT=tuned
       ${JEMALLOC:+LD_PRELOAD="$JEMALLOC" MALLOC_CONF="$JEMALLOC_CONF"})

W=$(mktemp -d /tmp/pbench-run.XXXXXX)
trap 'rm -rf "$W"' EXIT
# a private copy: build-cache is shared, and regenerating its fixtures removes the file for a while
cp "$ONNX" "$W/resnet18.onnx" && ONNX=$W/resnet18.onnx
RES=${OUTF:-$W/results.jsonl}  # written as the runs finish (a cut-short run keeps its lines)
: > "$RES"

echo "# machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "# cpu flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|avx512f|avx512_bf16|avx512_vnni|avx512vl|fma)$' | tr '\n' ' ')"
echo "# env: OMP_NUM_THREADS=${OMP_NUM_THREADS:-(unset)} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-(unset)} OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(unset)}; PyTorch tuned: OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX LD_PRELOAD=${JEMALLOC:-(no jemalloc)} MALLOC_CONF=$JEMALLOC_CONF"
echo "# vidlstm: $(git rev-parse --short HEAD 2>/dev/null || echo '?') $BIN; backbone $ONNX; threads $THREADS, CNN batch 16, fps 10"
echo "# pytorch: $("$PY" -c 'import torch, torchvision, av; print("torch", torch.__version__, "torchvision", torchvision.__version__, "av", av.__version__)' 2>&1 | tail -1)"
echo "# data: $CLIPS ($(find "$CLIPS" -mindepth 2 -type f | wc -l) videos, $(du -sh "$CLIPS" | cut -f1))${LONG:+; long: $LONG}"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# run NAME ROUND CMD...: /usr/bin/time around CMD; appends one JSON line
# (wall_s, peak_rss_mb, plus any JSON the command printed last on stdout)
run() {
  local name=$1 round=$2; shift 2
  local tf=$W/time.txt of=$W/stdout.txt
  local load; load=$(cut -d' ' -f1 /proc/loadavg)
  if ! $TIME -f '%e %M' -o "$tf" "$@" > "$of" 2> "$W/stderr.txt"; then
    echo "run.sh: $name failed:" >&2; tail -5 "$W/stderr.txt" >&2; return 1
  fi
  read -r wall rss < <(tail -1 "$tf")
  local extra; extra=$(grep '^{' "$of" | tail -1 || true)
  "$PY" - "$name" "$round" "$wall" "$rss" "$load" "$extra" <<'EOF' | tee -a "$RES"
import json, sys
name, rnd, wall, rss, load, extra = sys.argv[1:]
r = {"run": name, "round": int(rnd), "wall_s": float(wall), "peak_rss_mb": round(int(rss) / 1024, 1), "load1": float(load)}
if extra:
    r["out"] = json.loads(extra)
print(json.dumps(r))
EOF
}

# sampled frames of an extract output (sum of T over the .npy files)
frames_of() {
  "$PY" -c 'import glob, sys, numpy as np; print(sum(np.load(f, mmap_mode="r").shape[0] for f in glob.glob(sys.argv[1] + "/features/*.npy")))' "$1"
}

LONGCSV=$W/long.csv
# one video: a regression "dataset" (classification would want two classes)
[ -z "$LONG" ] || printf 'path,label\n%s,0\n' "$(readlink -f "$LONG")" > "$LONGCSV"
TPARGS=(--onnx "$ONNX" --threads "$THREADS" --batch 16)
[ $SKIP_TRAIN = 1 ] && TPARGS+=(--extract-only)
FRAMES=
for r in $(seq 1 "$REPEAT"); do
  for j in $JOBS; do
    rm -rf "$W/x"
    run "vidlstm extract --jobs $j" "$r" "$BIN" extract --data "$CLIPS" --backbone "$ONNX" --out "$W/x" --no-cache \
      --threads "$THREADS" --jobs "$j" --quiet
    [ -n "$FRAMES" ] || { FRAMES=$(frames_of "$W/x"); echo "{\"run\": \"frames\", \"frames\": $FRAMES}" | tee -a "$RES"; }
    if [ "$j" = "${JOBS%% *}" ]; then
      run "pytorch tuned" "$r" "${TUNED[@]}" "$PY" bench/pipeline/torch_pipeline.py --data "$CLIPS" "${TPARGS[@]}"
      [ $AS_INSTALLED = 0 ] || run "pytorch as-installed" "$r" "${CLEAN[@]}" VIDLSTM_REF_VARIANT=as-installed \
        "$PY" bench/pipeline/torch_pipeline.py --data "$CLIPS" "${TPARGS[@]}"
      run "cnn alone (bench_backbone)" "$r" "$BB" "$ONNX" --batch 16 --iters 10 --threads "$THREADS" --json
      if [ $SKIP_TRAIN = 0 ]; then
        rm -f "$W"/m*.safetensors*
        run "vidlstm train (features)" "$r" "$BIN" train --data "$W/x/manifest.csv" --out "$W/m1.safetensors" \
          --threads "$THREADS" --quiet
      fi
    fi
  done
  if [ $SKIP_TRAIN = 0 ]; then
    rm -f "$W"/m*.safetensors*
    run "vidlstm train (videos)" "$r" "$BIN" train --data "$CLIPS" --backbone "$ONNX" --no-cache --out "$W/m2.safetensors" \
      --threads "$THREADS" --jobs "${JOBS%% *}" --quiet
  fi
  if [ -n "$LONG" ]; then
    rm -rf "$W/xl"
    run "long: vidlstm extract" "$r" "$BIN" extract --data "$LONGCSV" --task regress --backbone "$ONNX" --out "$W/xl" --no-cache \
      --threads "$THREADS" --jobs 1 --quiet
    echo "{\"run\": \"long frames\", \"frames\": $(frames_of "$W/xl")}" | tee -a "$RES"
    run "long: pytorch tuned" "$r" "${TUNED[@]}" "$PY" bench/pipeline/torch_pipeline.py --video "$LONG" "${TPARGS[@]}"
  fi
done
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" bench/pipeline/summarize.py "$RES"
